// One logger per process; subsystems take children (`log.child({ subsystem: 'reaper' })`).
// Destinations are synchronous: PID 1's last words before a fault must reach the disk.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger, type Level } from 'pino';

export type { Logger };

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
  fileLevel?: Level;
  name: string;
}

export function createLogger(options: LogOptions): Logger {
  const streams: pino.StreamEntry[] = [
    { level: options.consoleLevel, stream: pino.destination({ dest: 2, sync: true }) },
  ];
  if (options.file) {
    mkdirSync(path.dirname(options.file), { recursive: true });
    streams.push({
      level: options.fileLevel ?? 'debug',
      stream: pino.destination({ dest: options.file, sync: true, mkdir: true }),
    });
  }
  const lowest = streams
    .map((s) => s.level ?? 'info')
    .reduce((a, b) => (pino.levels.values[a]! <= pino.levels.values[b]! ? a : b));
  return pino(
    {
      name: options.name,
      level: lowest,
      base: { pid: process.pid },
      redact: { paths: ['*.apiKey', '*.token', '*.password', 'headers.authorization'], censor: '[redacted]' },
    },
    pino.multistream(streams),
  );
}
