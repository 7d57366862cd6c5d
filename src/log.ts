// One logger per process; subsystems take children (`log.child({ subsystem: 'reaper' })`).
// Destinations are synchronous: PID 1's last words before a fault must reach the disk.
import { constants as fsConstants, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger, type Level } from 'pino';

export type { Logger };

/** Secrets never reach a log: these paths are censored in every entry. */
export const REDACT = { paths: ['*.apiKey', '*.token', '*.password', 'headers.authorization'], censor: '[redacted]' };

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function parseLevel(value: string | undefined, fallback: Level): Level {
  if (value === undefined || value === '') return fallback;
  if (!LEVELS.includes(value)) {
    throw new Error(`Expected the log level to be one of ${LEVELS.join(', ')}, got \`${value}\`.`);
  }
  return value as Level;
}

export interface LogOptions {
  /** Level written to stderr (the console when PID 1). */
  consoleLevel: Level;
  /** When set, everything at fileLevel and above also goes to this file (JSON lines). */
  file?: string;
  /** A file will be attached later (attachLogFile): produce fileLevel entries from the start. */
  fileLater?: boolean;
  fileLevel?: Level;
  name: string;
}

const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** One readable line per entry on the console (the file keeps the JSON); AIOS_LOG_FORMAT=json keeps JSON here too. */
export function formatConsoleLine(json: string): string {
  try {
    const entry = JSON.parse(json) as { level: number; time: number; msg?: string; subsystem?: string; service?: string; err?: { message?: string } };
    const time = new Date(entry.time).toISOString().slice(11, 23);
    const where = entry.service ?? entry.subsystem;
    const error = entry.err?.message && !entry.msg?.includes(entry.err.message) ? `: ${entry.err.message}` : '';
    return `${time} ${(LEVEL_NAMES[entry.level] ?? String(entry.level)).padEnd(5)} ${where ? `[${where}] ` : ''}${entry.msg ?? ''}${error}\n`;
  } catch {
    return json;
  }
}

/**
 * The consoles named on a kernel command line, as device paths: /dev/console is the last one
 * (where PID 1's output goes), the others are mirrored. The ISO names
 * `console=ttyS0,115200 console=tty0`: the screen gets /dev/console, and PID 1's boot and
 * shutdown lines would never reach the serial line that QEMU -nographic and CI read.
 */
export function kernelConsoles(cmdline: string): { primary: string | null; others: string[] } {
  const names = cmdline
    .trim()
    .split(/\s+/)
    .filter((word) => word.startsWith('console=') && word.length > 'console='.length)
    .map((word) => `/dev/${word.slice('console='.length).split(',')[0]}`);
  const primary = names.at(-1) ?? null;
  return { primary, others: [...new Set(names.filter((name) => name !== primary))] };
}

/** Other consoles that get every line PID 1 writes to its own (see kernelConsoles). */
const mirrors: number[] = [];

/** Opens the devices as mirrors of the console; ones that cannot be opened are skipped. */
export function mirrorConsoleTo(devices: string[]): string[] {
  const opened: string[] = [];
  for (const device of devices) {
    try {
      mirrors.push(openSync(device, fsConstants.O_WRONLY | fsConstants.O_NOCTTY | fsConstants.O_NONBLOCK));
      opened.push(device);
    } catch {
      // No such console on this machine (a serial port the hardware lacks).
    }
  }
  return opened;
}

/** A line for the person at the console: fd 2 and every mirror; a console that cannot take it loses it. */
export function writeConsole(text: string): void {
  for (const fd of [2, ...mirrors]) {
    try {
      writeSync(fd, text);
    } catch {
      // See below.
    }
  }
}

// A console that cannot take the line (in the image, init's writes to the serial console fail
// while a console session owns it) loses that line; it must never throw into the caller:
// PID 1 logs from inside its state machines, and a throw there would stop a transition halfway.
const readableStderr = {
  write(line: string): void {
    writeConsole(formatConsoleLine(line));
  },
};

const jsonStderr = {
  write(line: string): void {
    writeConsole(line);
  },
};

/** A log file that can be closed under a live logger: later entries are dropped, never thrown. */
class LogFile {
  readonly #destination: ReturnType<typeof pino.destination>;
  #open = true;

  constructor(destination: ReturnType<typeof pino.destination>) {
    this.#destination = destination;
  }

  write(line: string): void {
    if (!this.#open) return;
    try {
      this.#destination.write(line);
    } catch {
      // A full or vanished disk: the console still gets the entry.
    }
  }

  /** Resolves once the file descriptor is closed (or after a second, whatever happens). */
  close(): Promise<void> {
    if (!this.#open) return Promise.resolve();
    this.#open = false;
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, 1_000);
      this.#destination.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      try {
        this.#destination.flushSync();
        this.#destination.end();
      } catch {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}

const openFiles = new Set<LogFile>();

/**
 * Closes every log file this process opened (later entries reach the console only): PID 1
 * does this before unmounting, or the state disk stays busy.
 */
export async function closeLogFiles(): Promise<void> {
  const files = [...openFiles];
  openFiles.clear();
  await Promise.all(files.map((file) => file.close()));
}

export function createLogger(options: LogOptions): Logger {
  const console = process.env.AIOS_LOG_FORMAT === 'json' ? jsonStderr : readableStderr;
  const streams = pino.multistream([{ level: options.consoleLevel, stream: console }]);
  const fileLevel = options.fileLevel ?? 'debug';
  const lowest = pino.levels.values[options.consoleLevel]! <= pino.levels.values[fileLevel]! ? options.consoleLevel : fileLevel;
  const logger = pino(
    {
      name: options.name,
      level: options.file || options.fileLater ? lowest : options.consoleLevel,
      base: { pid: process.pid },
      redact: REDACT,
    },
    streams,
  );
  files.set(logger, { streams, level: fileLevel });
  if (options.file) attachLogFile(logger, options.file);
  return logger;
}

const files = new WeakMap<Logger, { streams: pino.MultiStreamRes; level: Level }>();

/** Starts writing the logger's entries (JSON lines) to a file too, e.g. once the state disk is mounted. */
export function attachLogFile(logger: Logger, file: string): void {
  const entry = files.get(logger);
  if (!entry) throw new Error('attachLogFile: not a logger made by createLogger');
  mkdirSync(path.dirname(file), { recursive: true });
  const logFile = new LogFile(pino.destination({ dest: file, sync: true, mkdir: true }));
  openFiles.add(logFile);
  entry.streams.add({ level: entry.level, stream: logFile });
}
