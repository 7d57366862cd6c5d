// memory.search: what the machine remembers (service events, package changes, tool calls, chat
// turns…), for the prompt's time questions ("what did I install yesterday", "when did nginx
// last crash", "what changed in /etc this week") and for models. Read-only; it goes through the
// pipeline like every tool, so its calls are judged and audited too.
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod/mini';
import { MEMORY_TYPES, MemoryStore, type Memory, type MemoryType, type SearchHit } from '../memory/store.ts';
import { formatLocalTime, parseDate, parseTimePhrase, TIME_PHRASE_EXAMPLES, type TimeRange } from '../memory/time-phrases.ts';
import { absolutePath } from './fs-tools.ts';
import { defineTool, ToolError } from './tool.ts';

const EVENTS = ['start', 'exit', 'crash', 'restart', 'failed', 'install', 'remove', 'upgrade'] as const;
type EventName = (typeof EVENTS)[number];
const PACKAGE_ACTIONS: readonly EventName[] = ['install', 'remove', 'upgrade'];

/** What changed the system: tool calls that write (the others only read), and events. */
const CHANGE_TYPES: MemoryType[] = ['service', 'package', 'snapshot', 'system', 'tool'];

/** Memories read to filter by path or by change: enough for weeks of a busy machine, bounded. */
const SCAN_LIMIT = 2_000;

const point = z.string().check(
  z.maxLength(40, 'must be at most 40 characters'),
  z.refine((v) => parseDate(v) !== null, { error: (iss) => `must be a date like 2026-11-20, 2026-11-20 14:30 or 2026-11-20T14:30:00Z, got ${JSON.stringify(iss.input)}` }),
);

const memorySchema = z.object({ id: z.string(), type: z.string(), createdAt: z.string(), content: z.string(), metadata: z.record(z.string(), z.unknown()) });

const outputSchema = z.object({
  /** The time range searched (ISO times; until null: up to now). */
  range: z.nullable(z.object({ since: z.string(), until: z.nullable(z.string()) })),
  /** Newest first; best match first when there is a query. */
  memories: z.array(memorySchema),
});
type Output = z.infer<typeof outputSchema>;

/** Whether `a` is `b` or a folder above it (paths normalised, no trailing slash). */
function within(a: string, b: string): boolean {
  return a === b || a === '/' || b.startsWith(`${a}/`);
}

function normalise(p: string): string {
  const n = path.posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

/** A call that wrote under the prefix, or over it (removing /etc changes /etc/nginx too). */
function touches(memory: Memory, prefix: string): boolean {
  const paths = memory.metadata.paths;
  if (!Array.isArray(paths)) return false;
  return paths.some((p) => typeof p === 'string' && (within(prefix, normalise(p)) || within(normalise(p), prefix)));
}

export const memorySearchTool = defineTool({
  name: 'memory.search',
  description:
    'Search what this machine remembers: service events (start, exit, crash, restart, failed), package changes, tool calls with the paths they wrote, chat turns. ' +
    'Filter by words, type, time (`when`: a phrase such as yesterday or "last 3 days"; or since/until dates), service, event, or a path prefix ("what changed in /etc"). Newest first.',
  input: z.strictObject({
    query: z._default(z.string().check(z.maxLength(200, 'query is at most 200 characters')), ''),
    type: z.optional(z.enum(MEMORY_TYPES)),
    when: z.optional(
      z.string().check(
        z.maxLength(64, 'when is at most 64 characters'),
        z.refine((v) => parseTimePhrase(v) !== null, { error: (iss) => `when must be a time phrase such as ${TIME_PHRASE_EXAMPLES}; got ${JSON.stringify(iss.input)}` }),
      ),
    ),
    since: z.optional(point),
    until: z.optional(point),
    service: z.optional(z.string().check(z.regex(/^[a-z0-9][a-z0-9_.@-]{0,63}$/, 'not a service name (lower-case letters, digits, and _.@- after the first character)'))),
    event: z.optional(z.enum(EVENTS)),
    pathPrefix: z.optional(absolutePath),
    /** Only what changed the system: service events, package changes, snapshots, tool calls that write. */
    changes: z._default(z.boolean(), false),
    limit: z._default(z.int().check(z.gte(1, 'limit must be at least 1'), z.lte(200, 'limit must be at most 200')), 20),
  }),
  output: outputSchema,
  capability: 'memory.read',
  effects: ['reads'],
  risk: 'low',
  timeoutMs: 10_000,
  undo: 'none',
  async run(input, context) {
    const now = new Date();
    let range: TimeRange | null = input.when ? parseTimePhrase(input.when, now) : null;
    if (input.since || input.until) {
      range = { since: input.since ? parseDate(input.since)! : (range?.since ?? new Date(0)), until: input.until ? parseDate(input.until) : (range?.until ?? null) };
    }
    if (range?.until && range.until <= range.since) throw new ToolError('EINVAL', `memory.search: until (${range.until.toISOString()}) must be after since (${range.since.toISOString()})`);
    const shownRange = range ? { since: range.since.toISOString(), until: range.until?.toISOString() ?? null } : null;

    const file = MemoryStore.pathIn(context.stateDir);
    // Nothing remembered yet: say so, without creating a database as a side effect of reading.
    if (!existsSync(file)) return { range: shownRange, memories: [] };

    const metadata: Record<string, unknown> = {};
    if (input.service) metadata.service = input.service;
    if (input.event === 'crash') Object.assign(metadata, { event: 'exit', crashed: true });
    else if (input.event && PACKAGE_ACTIONS.includes(input.event)) metadata.action = input.event;
    else if (input.event) metadata.event = input.event;

    const prefix = input.pathPrefix ? normalise(input.pathPrefix) : null;
    const changesOnly = input.changes || prefix !== null;
    const types: (MemoryType | undefined)[] = input.type
      ? [input.type]
      : input.event && PACKAGE_ACTIONS.includes(input.event)
        ? ['package']
        : input.event || input.service
          ? ['service']
          : prefix
            ? ['tool', 'package']
            : changesOnly
              ? CHANGE_TYPES
              : [undefined];
    const scan = changesOnly ? SCAN_LIMIT : input.limit;

    const store = MemoryStore.open(file);
    let hits: SearchHit[];
    try {
      hits = types.flatMap((type) =>
        store.search(input.query, { ...(type ? { type } : {}), ...(range ? { since: range.since, ...(range.until ? { until: range.until } : {}) } : {}), metadata, limit: scan }),
      );
    } finally {
      store.close();
    }
    if (changesOnly) hits = hits.filter((m) => m.type !== 'tool' || (m.metadata.ok === true && m.metadata.changes === true));
    if (prefix) hits = hits.filter((m) => touches(m, prefix));
    // A package transaction is remembered twice (the call, and what it changed): show the change.
    const changeOfCall = new Set(hits.filter((m) => m.type !== 'tool' && m.metadata.auditSeq !== undefined).map((m) => m.metadata.auditSeq));
    hits = hits.filter((m) => m.type !== 'tool' || !changeOfCall.has(m.metadata.auditSeq));
    // Best match first for words (bm25 ranks of one index compare across types), else newest first.
    if (hits.some((m) => m.rank !== null)) hits.sort((a, b) => (a.rank ?? 0) - (b.rank ?? 0));
    else hits.sort((a, b) => (b.createdAt + b.id).localeCompare(a.createdAt + a.id));
    return {
      range: shownRange,
      memories: hits.slice(0, input.limit).map(({ id, type, createdAt, content, metadata: m }) => ({ id, type, createdAt, content, metadata: m })),
    };
  },
  render: renderMemories,
});

/** One line a memory, `2026-11-20 14:03  nginx crashed: …` in local time; "nothing recorded" when none. */
export function renderMemories(output: Output): string {
  if (output.memories.length === 0) {
    const range = output.range;
    if (!range) return 'nothing recorded';
    const since = formatLocalTime(new Date(range.since));
    return range.until ? `nothing recorded between ${since} and ${formatLocalTime(new Date(range.until))}` : `nothing recorded since ${since}`;
  }
  return output.memories.map((m) => `${formatLocalTime(new Date(m.createdAt))}  ${m.content.replace(/\s+/g, ' ')}`).join('\n');
}

export const MEMORY_TOOLS = [memorySearchTool];
