// Service events from PID 1 into memory ("nginx crashed: exited with status 1; restarting in
// 1000 ms"), so that "when did nginx last crash" has an answer.
//
// Invariants:
// - PID 1 neither loads nor waits on the database: SQLite is native code whose writes are
//   synchronous and may wait on another writer's lock. A batch goes to a short-lived child
//   (`aios memory-ingest`, as the audit check at boot is a child); PID 1 only keeps a queue.
// - Nothing is written before the state directory is ready (a machine's state disk mounted):
//   events wait in the queue until then.
// - The queue is bounded (MAX_QUEUE, the oldest go first) and a batch that cannot be written
//   (disk full, a database that cannot be opened) is dropped: both are counted and logged,
//   never retried without end. After a failure the next attempt waits RETRY_MS.
// - One writer at a time; a timer is armed only while something waits to be written.
import type { Logger } from '../log.ts';
import type { ServiceState } from '../supervisor/service.ts';
import type { Reaper } from './reaper.ts';
import { runProgram } from './run-program.ts';

export type ServiceEventKind = 'start' | 'exit' | 'restart' | 'failed';

/** One memory as `aios memory-ingest` reads it (a JSON line). */
export interface IngestLine {
  type: 'service';
  tier: 'operational';
  content: string;
  source: string;
  metadata: {
    service: string;
    event: ServiceEventKind;
    code: number | null;
    signal: string | null;
    restarts: number;
    /** The service died on its own with a failure (not asked to stop, not a clean exit). */
    crashed: boolean;
  };
  createdAt: string;
}

export interface ServiceSnapshot {
  name: string;
  restarts: number;
  lastExit: { code: number; signal: string | null } | null;
  reason: string;
}

/**
 * What one state transition means as events (none, one, or an exit followed by `failed`). The
 * service's lastExit and reason are already those of the new state when the transition is told.
 */
export function serviceEvents(service: ServiceSnapshot, next: ServiceState, previous: ServiceState, at = new Date()): IngestLine[] {
  const event = (kind: ServiceEventKind, content: string, crashed = false): IngestLine => ({
    type: 'service',
    tier: 'operational',
    content,
    source: 'init',
    metadata: {
      service: service.name,
      event: kind,
      code: kind === 'exit' || kind === 'failed' ? (service.lastExit?.code ?? null) : null,
      signal: kind === 'exit' || kind === 'failed' ? (service.lastExit?.signal ?? null) : null,
      restarts: service.restarts,
      crashed,
    },
    createdAt: at.toISOString(),
  });
  const name = service.name;
  const events: IngestLine[] = [];
  if (next === 'up') events.push(event('start', `${name} started${service.restarts > 0 ? ` (restart ${service.restarts})` : ''}`));
  if (next === 'starting' && previous === 'backoff') events.push(event('restart', `${name} restarted (restart ${service.restarts})`));
  if (previous === 'stopping' && (next === 'down' || next === 'backoff' || next === 'failed')) {
    const exit = service.lastExit;
    const crashed = next !== 'down' && exit !== null && (exit.code !== 0 || exit.signal !== null);
    events.push(event('exit', service.reason === 'stopped' ? `${name} stopped` : `${name} ${crashed ? 'crashed' : 'exited'}: ${service.reason}`, crashed));
  }
  if (next === 'failed') events.push(event('failed', `${name} failed: ${service.reason}`));
  return events;
}

export type WriteOutcome = { ok: true } | { ok: false; reason: string };

export interface ServiceMemoryOptions {
  /** Writes one batch (all or none). Never throws: a failure comes back as the outcome. */
  write(batch: IngestLine[]): Promise<WriteOutcome>;
  log: Logger;
  maxQueue?: number;
  /** How long events gather before a batch is written. */
  delayMs?: number;
  /** The wait before writing again after a failed batch. */
  retryMs?: number;
}

const MAX_QUEUE = 1_000;
const DELAY_MS = 1_000;
const RETRY_MS = 30_000;

export class ServiceMemory {
  readonly #write: ServiceMemoryOptions['write'];
  readonly #log: Logger;
  readonly #maxQueue: number;
  readonly #delayMs: number;
  readonly #retryMs: number;
  #queue: IngestLine[] = [];
  #ready = false;
  #writing: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #failedAt = 0;
  /** Whether this run of failures was said already (on the console, as a warning). */
  #warned = false;
  #quiet = false;
  /** Events that never reached the database: queue overflow and failed batches. */
  dropped = 0;
  written = 0;

  constructor(options: ServiceMemoryOptions) {
    this.#write = options.write;
    this.#log = options.log;
    this.#maxQueue = options.maxQueue ?? MAX_QUEUE;
    this.#delayMs = options.delayMs ?? DELAY_MS;
    this.#retryMs = options.retryMs ?? RETRY_MS;
  }

  get queued(): number {
    return this.#queue.length;
  }

  record(events: IngestLine[]): void {
    if (events.length === 0) return;
    this.#queue.push(...events);
    const over = this.#queue.length - this.#maxQueue;
    if (over > 0) {
      // The newest events answer "when did it last…": the oldest make room.
      this.#queue.splice(0, over);
      this.#drop(over, `more than ${this.#maxQueue} events waiting`);
    }
    this.#schedule();
  }

  /** The state directory is ready: what waited is written from now on. */
  /**
   * The state directory is ready: what waited is written from now on. `alreadyWarned`: the person
   * was told at boot that memory may not be saved (a full disk), so drops are not said again.
   */
  stateReady(options: { alreadyWarned?: boolean } = {}): void {
    this.#ready = true;
    this.#quiet = options.alreadyWarned ?? false;
    this.#schedule();
  }

  /** Writes what is queued now and waits for it (shutdown, before the state disk goes). */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#ready) await this.#writeBatch();
  }

  #schedule(): void {
    if (!this.#ready || this.#timer || this.#writing || this.#queue.length === 0) return;
    const wait = this.#failedAt ? Math.max(this.#delayMs, this.#failedAt + this.#retryMs - Date.now()) : this.#delayMs;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#writeBatch();
    }, wait);
    this.#timer.unref();
  }

  #writeBatch(): Promise<void> {
    if (this.#queue.length === 0) return Promise.resolve();
    const batch = this.#queue;
    this.#queue = [];
    this.#writing = this.#write(batch)
      .catch((error: unknown) => ({ ok: false as const, reason: (error as Error).message ?? String(error) }))
      .then((outcome) => {
        if (outcome.ok) {
          this.written += batch.length;
          if (this.#failedAt) this.#log.info({ dropped: this.dropped }, 'service events reach memory again');
          this.#warned = false;
          this.#failedAt = 0;
        } else {
          this.#failedAt = Date.now();
          this.#drop(batch.length, outcome.reason);
        }
      })
      .finally(() => {
        this.#writing = null;
        this.#schedule();
      });
    return this.#writing;
  }

  /**
   * Said as a warning once per run of failures (PID 1's warnings reach the console, where a
   * retry every 30 s would write over what a person types); the rest go to the log file.
   */
  #drop(count: number, why: string): void {
    this.dropped += count;
    const level = this.#warned || this.#quiet ? 'info' : 'warn';
    this.#warned = true;
    this.#log[level]({ dropped: count, droppedTotal: this.dropped }, `${count} service event${count === 1 ? '' : 's'} not remembered: ${why}`);
  }
}

/** Batches written by `COMMAND memory-ingest --state DIR` (COMMAND: this same executable). */
export function ingestInChild(reaper: Reaper, command: string[], stateDir: string, timeoutMs = 30_000): ServiceMemoryOptions['write'] {
  return async (batch) => {
    const input = `${batch.map((line) => JSON.stringify(line)).join('\n')}\n`;
    const result = await runProgram(reaper, [...command, 'memory-ingest', '--state', stateDir], timeoutMs, input);
    if (result.code === 0) return { ok: true };
    const said = result.stderr.trim().split('\n').at(-1) ?? '';
    return { ok: false, reason: `memory-ingest exited with status ${result.code}${said ? `: ${said}` : ''}` };
  };
}
