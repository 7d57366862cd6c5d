// A service's stdout and stderr: split into lines, timestamped, kept in a ring buffer for
// `aios logs` and appended to STATE/log/NAME.log (rotated to NAME.log.1 past a size).
import { createWriteStream, mkdirSync, renameSync, statSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';

export interface LogLine {
  time: string;
  stream: 'stdout' | 'stderr' | 'aios';
  text: string;
}

const MAX_LINE = 16 * 1024;

export class LogSink {
  readonly #lines: LogLine[] = [];
  readonly #capacity: number;
  readonly #file: string | undefined;
  readonly #maxFileBytes: number;
  #out: WriteStream | undefined;
  #bytes = 0;
  /** False until the state directory is there (early services start before the state disk is mounted). */
  #fileReady: boolean;
  #warned = false;
  readonly #followers = new Set<(line: LogLine) => void>();

  constructor(options: { file?: string; capacity?: number; maxFileBytes?: number; fileReady?: boolean }) {
    this.#capacity = options.capacity ?? 1000;
    this.#file = options.file;
    this.#maxFileBytes = options.maxFileBytes ?? 4 * 1024 * 1024;
    this.#fileReady = options.fileReady ?? true;
  }

  /** The state directory is ready: what was kept in memory so far goes to the file, then everything. */
  enableFile(): void {
    if (this.#fileReady) return;
    this.#fileReady = true;
    for (const line of this.#lines) this.#append(line);
  }

  /** Reads a stream line by line until it ends; a last line without newline is kept too. */
  attach(stream: Readable, name: 'stdout' | 'stderr'): void {
    let pending = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      pending += chunk;
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        this.write(name, pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
      // A process that never prints a newline must not grow our memory without bound.
      while (pending.length > MAX_LINE) {
        this.write(name, pending.slice(0, MAX_LINE));
        pending = pending.slice(MAX_LINE);
      }
    });
    stream.on('end', () => {
      if (pending) this.write(name, pending);
      pending = '';
    });
    stream.on('error', () => {});
  }

  write(stream: LogLine['stream'], text: string): void {
    const line: LogLine = { time: new Date().toISOString(), stream, text };
    this.#lines.push(line);
    if (this.#lines.length > this.#capacity) this.#lines.shift();
    this.#append(line);
    for (const follower of this.#followers) follower(line);
  }

  tail(count: number): LogLine[] {
    return count <= 0 ? [] : this.#lines.slice(-count);
  }

  follow(callback: (line: LogLine) => void): () => void {
    this.#followers.add(callback);
    return () => this.#followers.delete(callback);
  }

  /** Resolves once the file is closed (shutdown waits for it before unmounting). */
  close(): Promise<void> {
    const out = this.#out;
    this.#out = undefined;
    if (!out || out.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 1_000);
      out.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      out.end();
    });
  }

  #unwritable(error: unknown): void {
    if (this.#warned) return;
    this.#warned = true;
    const line: LogLine = { time: new Date().toISOString(), stream: 'aios', text: `cannot write ${this.#file}: ${(error as Error).message}` };
    this.#lines.push(line);
    if (this.#lines.length > this.#capacity) this.#lines.shift();
  }

  #append(line: LogLine): void {
    if (!this.#file || !this.#fileReady) return;
    if (!this.#out) {
      try {
        mkdirSync(path.dirname(this.#file), { recursive: true });
      } catch (error) {
        // A full or read-only state disk must not take the supervisor down: the ring buffer
        // (aios logs NAME) still has every line; the file is tried again on the next line.
        this.#unwritable(error);
        return;
      }
      try {
        this.#bytes = statSync(this.#file).size;
      } catch {
        this.#bytes = 0;
      }
      this.#out = createWriteStream(this.#file, { flags: 'a' });
      this.#out.on('error', (error) => {
        this.#out = undefined;
        this.#unwritable(error);
      });
    }
    const text = `${line.time} ${line.stream} ${line.text}\n`;
    this.#out.write(text);
    this.#bytes += Buffer.byteLength(text);
    if (this.#bytes > this.#maxFileBytes) {
      this.#out.end();
      this.#out = undefined;
      try {
        renameSync(this.#file, `${this.#file}.1`);
      } catch {
        // Keep appending to the same file if the rename fails.
      }
    }
  }
}
