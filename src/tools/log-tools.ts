// Searching the logs on the state disk: each service's output as its LogSink writes it
// (STATE/log/NAME.log and the rotated NAME.log.1, one `TIME STREAM TEXT` line each) and
// aios-init's own log (STATE/log/init.log, pino's JSON lines), read straight from the files so
// the search works when init does not answer.
import { closeSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod/mini';
import { defineTool, ToolError } from './tool.ts';

const serviceName = z.string().check(z.regex(/^[a-z0-9][a-z0-9_.@-]{0,63}$/, 'not a service name (lower-case letters, digits, and _.@- after the first character)'));

// init.log is never rotated: only its end is read, as much as a service's two files hold.
const MAX_READ_BYTES = 8 * 1024 * 1024;

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

const matchSchema = z.object({
  service: z.string(),
  time: z.string(),
  /** stdout, stderr or aios for a service; the level (info, warn, error…) for init. */
  stream: z.string(),
  text: z.string(),
});
type Match = z.infer<typeof matchSchema>;

/** The end of a file, from the first whole line. */
function readTail(file: string, maxBytes: number): string {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - maxBytes);
    const buffer = Buffer.alloc(size - start);
    let read = 0;
    while (read < buffer.length) {
      const n = readSync(fd, buffer, read, buffer.length - read, start + read);
      if (n === 0) break;
      read += n;
    }
    const text = buffer.subarray(0, read).toString('utf8');
    return start === 0 ? text : text.slice(text.indexOf('\n') + 1);
  } finally {
    closeSync(fd);
  }
}

/** A LogSink line: `2026-11-03T10:00:00.000Z stdout the text`. */
export function parseServiceLine(service: string, line: string): Match | null {
  const m = /^(\d{4}-\d\d-\d\dT\S+) (stdout|stderr|aios) (.*)$/.exec(line);
  return m ? { service, time: m[1]!, stream: m[2]!, text: m[3]! } : null;
}

/** A pino line of init.log: {"level":30,"time":1762164000000,"msg":"…","subsystem":"…"}. */
export function parseInitLine(line: string): Match | null {
  if (!line.startsWith('{')) return null;
  try {
    const entry = JSON.parse(line) as { level?: number; time?: number; msg?: string; subsystem?: string; service?: string; err?: { message?: string } };
    if (typeof entry.time !== 'number') return null;
    const where = entry.service ?? entry.subsystem;
    const error = entry.err?.message && !entry.msg?.includes(entry.err.message) ? `: ${entry.err.message}` : '';
    return {
      service: 'init',
      time: new Date(entry.time).toISOString(),
      stream: LEVELS[entry.level ?? 30] ?? String(entry.level),
      text: `${where ? `[${where}] ` : ''}${entry.msg ?? ''}${error}`,
    };
  } catch {
    return null;
  }
}

/** `15m`, `2h`, `7d`, `30s` ago, or an ISO date/time; as an ISO time to compare with. */
export function parseSince(since: string, now = Date.now()): string {
  const relative = /^(\d+)([smhd])$/.exec(since);
  if (relative) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 's' | 'm' | 'h' | 'd'];
    return new Date(now - Number(relative[1]) * unit).toISOString();
  }
  const t = new Date(since);
  if (Number.isNaN(t.getTime())) throw new ToolError('EINVAL', `log.search: since must be like 15m, 2h, 7d or an ISO time (2026-11-03T10:00:00Z), got ${JSON.stringify(since)}`);
  return t.toISOString();
}

/** Each service's files, oldest first (NAME.log.1 before NAME.log). */
function logFiles(dir: string): Map<string, string[]> {
  const byService = new Map<string, string[]>();
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return byService;
  }
  for (const entry of entries.sort()) {
    const m = /^(.+)\.log(\.1)?$/.exec(entry);
    if (!m) continue;
    const files = byService.get(m[1]!) ?? [];
    if (m[2]) files.unshift(path.join(dir, entry));
    else files.push(path.join(dir, entry));
    byService.set(m[1]!, files);
  }
  return byService;
}

export const logSearchTool = defineTool({
  name: 'log.search',
  description: "Search the services' logs (and init's own, as service `init`) for a text or a regular expression, optionally for one service, one stream and since a time; returns the latest matching lines.",
  input: z.strictObject({
    pattern: z.string().check(z.minLength(1, 'pattern must not be empty'), z.maxLength(500, 'pattern is at most 500 characters')),
    regex: z._default(z.boolean(), false),
    ignoreCase: z._default(z.boolean(), true),
    service: z.optional(serviceName),
    stream: z.optional(z.enum(['stdout', 'stderr', 'aios'])),
    since: z.optional(z.string().check(z.maxLength(64, 'since is at most 64 characters'))),
    limit: z._default(z.int().check(z.gte(1, 'limit must be at least 1'), z.lte(1000, 'limit must be at most 1000')), 100),
  }),
  output: z.object({
    matches: z.array(matchSchema),
    totalMatches: z.number(),
    truncated: z.boolean(),
    files: z.array(z.string()),
  }),
  capability: 'log.read',
  effects: ['reads'],
  risk: 'low',
  timeoutMs: 20_000,
  undo: 'none',
  async run(input, context) {
    let matcher: (text: string) => boolean;
    if (input.regex) {
      let re: RegExp;
      try {
        re = new RegExp(input.pattern, input.ignoreCase ? 'i' : '');
      } catch (error) {
        throw new ToolError('EINVAL', `log.search: pattern is not a valid regular expression: ${(error as Error).message}`);
      }
      matcher = (text) => re.test(text);
    } else {
      const needle = input.ignoreCase ? input.pattern.toLowerCase() : input.pattern;
      matcher = input.ignoreCase ? (text) => text.toLowerCase().includes(needle) : (text) => text.includes(needle);
    }
    const since = input.since === undefined ? null : parseSince(input.since);
    const dir = path.join(context.stateDir, 'log');
    const all = logFiles(dir);
    if (input.service && !all.has(input.service)) {
      const known = [...all.keys()].sort();
      throw new ToolError('ENOENT', `log.search: no log of service ${input.service} in ${dir} (${known.length ? `logs there: ${known.join(', ')}` : 'no logs there yet'})`);
    }
    const matches: Match[] = [];
    const files: string[] = [];
    for (const [service, serviceFiles] of all) {
      if (input.service && service !== input.service) continue;
      for (const file of serviceFiles) {
        let text: string;
        try {
          text = readTail(file, MAX_READ_BYTES);
        } catch {
          continue; // Rotated away between listing and reading.
        }
        files.push(file);
        const parse = service === 'init' ? parseInitLine : (line: string) => parseServiceLine(service, line);
        for (const line of text.split('\n')) {
          const entry = parse(line);
          if (!entry) continue;
          if (input.stream && entry.stream !== input.stream) continue;
          // ISO times in UTC compare as strings.
          if (since && entry.time < since) continue;
          if (matcher(entry.text)) matches.push(entry);
        }
      }
    }
    matches.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
    return { matches: matches.slice(-input.limit), totalMatches: matches.length, truncated: matches.length > input.limit, files };
  },
  render(r) {
    if (r.totalMatches === 0) return `no matching line (${r.files.length} log files searched)`;
    const width = Math.max(...r.matches.map((m) => m.service.length));
    const lines = r.matches.map((m) => `${m.time.slice(0, 19).replace('T', ' ')} ${m.service.padEnd(width)} ${m.stream === 'stdout' || m.stream === 'info' ? '' : `[${m.stream}] `}${m.text}`);
    if (r.truncated) lines.unshift(`(the latest ${r.matches.length} of ${r.totalMatches} matching lines)`);
    return lines.join('\n');
  },
});

export const LOG_TOOLS = [logSearchTool];
