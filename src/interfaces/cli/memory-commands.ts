// `aios memory search|show|add|forget|stats|retain`: the memory database in the state directory,
// read and written directly (the runtime need not be running: rescue, tests).
import type { MemoryStore, MemoryType, RetentionPolicy, RetentionReport, SearchOptions, Tier } from '../../memory/store.ts';
import { confirm, table, UsageError, type Command, type ParsedArgs } from './command.ts';

const UNITS: Record<string, number> = { s: 1_000, min: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `2h`, `3d`, `1w`, `today`, `yesterday`, or a date/time JavaScript reads (`2026-11-20`). */
export function parseWhen(text: string, flag: string, now = new Date()): Date {
  const startOfDay = (d: Date): Date => new Date(d.getFullYear(), d.getMonth(), d.getDate());
  if (text === 'today') return startOfDay(now);
  if (text === 'yesterday') return startOfDay(new Date(now.getTime() - UNITS.d!));
  const relative = /^(\d+)(s|min|h|d|w)$/.exec(text);
  if (relative) return new Date(now.getTime() - Number(relative[1]) * UNITS[relative[2]!]!);
  const absolute = new Date(text);
  if (Number.isNaN(absolute.getTime())) {
    throw new UsageError(`Expected ${flag} to be a time like 2h, 3d, 1w, today, yesterday or 2026-11-20, got \`${text}\`.`);
  }
  return absolute;
}

async function openStore(args: ParsedArgs): Promise<MemoryStore> {
  const { MemoryStore } = await import('../../memory/store.ts');
  const stateDir = (args.values.state as string | undefined) ?? process.env.AIOS_STATE_DIR ?? '/var/lib/aios';
  return MemoryStore.open(MemoryStore.pathIn(stateDir));
}

/** [memory] from the configuration; 'bad' once the error is told. */
async function retentionPolicy(args: ParsedArgs): Promise<RetentionPolicy | 'bad'> {
  const [{ loadMemoryConfig }, { ConfigError, DEFAULT_CONFIG_FILE }] = await Promise.all([import('../../memory/config.ts'), import('../../policy/config.ts')]);
  const file = (args.values.config as string | undefined) ?? process.env.AIOS_CONFIG ?? DEFAULT_CONFIG_FILE;
  try {
    return loadMemoryConfig(file);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`aios memory: ${error.message}\n`);
    return 'bad';
  }
}

function describeRetention(r: RetentionReport, policy: RetentionPolicy): string {
  const n = (count: number, one: string, many = `${one}s`): string => `${count.toLocaleString('en')} ${count === 1 ? one : many}`;
  const removed = r.operational.byAge + r.operational.byCount;
  return [
    `removed ${n(r.expired, 'expired memory', 'expired memories')} and ${n(r.working, 'working memory', 'working memories')} (done, or older than ${n(policy.workingMaxHours, 'hour')})`,
    `summarised and removed ${n(removed, 'operational memory', 'operational memories')}: ${r.operational.byAge.toLocaleString('en')} from before ${r.cutoff.slice(0, 10)}, ${r.operational.byCount.toLocaleString('en')} beyond the newest ${policy.operationalMaxRows.toLocaleString('en')}`,
    `summaries: ${r.summaries.written} written, ${r.summaries.updated} updated; ${n(r.operational.kept, 'operational memory', 'operational memories')} kept`,
  ].join('\n');
}

async function filters(args: ParsedArgs): Promise<SearchOptions> {
  const { MEMORY_TYPES, TIERS } = await import('../../memory/store.ts');
  const options: SearchOptions = {};
  const type = args.values.type as string | undefined;
  if (type !== undefined) {
    if (!MEMORY_TYPES.includes(type as MemoryType)) throw new UsageError(`Expected --type to be one of ${MEMORY_TYPES.join(', ')}, got \`${type}\`.`);
    options.type = type as MemoryType;
  }
  const tier = args.values.tier as string | undefined;
  if (tier !== undefined) {
    if (!TIERS.includes(tier as Tier)) throw new UsageError(`Expected --tier to be one of ${TIERS.join(', ')}, got \`${tier}\`.`);
    options.tier = tier as Tier;
  }
  if (args.values.since !== undefined) options.since = parseWhen(args.values.since as string, '--since');
  if (args.values.until !== undefined) options.until = parseWhen(args.values.until as string, '--until');
  return options;
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export const memoryCommand: Command = {
  name: 'memory',
  summary: 'Search, show, add, forget and count what the machine remembers; apply retention.',
  usage: 'aios memory search QUERY | show ID | add --type T [--tier T] TEXT | forget ID|--query Q [--yes] | stats | retain [--config FILE]  [--json] [--state DIR]',
  help: `Subcommands:
  search QUERY   full-text search, best match first (an empty QUERY lists the newest)
                 --type T, --tier T, --since WHEN, --until WHEN, --limit N (default 20)
                 WHEN: 2h, 3d, 1w, today, yesterday, or a date such as 2026-11-20
  show ID        one memory with everything recorded about it
  add TEXT       remember something (--type, default knowledge; --tier, default long-term)
  forget ID      remove one memory; forget --query Q removes every match (with the filters
                 above); asks first on a terminal, else needs --yes
  stats          how many memories of each type and tier, the database's size
  retain         retention now (the maintenance service runs it on a schedule): removes
                 expired memories and working ones that are done or older than a day, and
                 turns operational memories older than 30 days, or beyond 100,000, into one
                 long-term summary per day and type; limits from [memory] in --config FILE
                 (default $AIOS_CONFIG or /etc/aios/config.toml)
Options:
  --json         machine-readable output (search: [{ id, type, tier, content, createdAt }])
  --state DIR    where memory.db is (default $AIOS_STATE_DIR or /var/lib/aios)
Types: command, chat, system, decision, knowledge, procedure, snapshot, tool, service, package, routing.
Tiers: working, operational, long-term.`,
  options: {
    json: { type: 'boolean' },
    state: { type: 'string' },
    type: { type: 'string' },
    tier: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    limit: { type: 'string' },
    query: { type: 'string' },
    yes: { type: 'boolean', short: 'y' },
    config: { type: 'string' },
  },
  async run(args) {
    const [verb, ...rest] = args.positionals;
    const json = Boolean(args.values.json);
    if (!verb || !['search', 'show', 'add', 'forget', 'stats', 'retain'].includes(verb)) throw new UsageError(`Usage: ${this.usage}`);
    const options = await filters(args);
    const policy = verb === 'retain' ? await retentionPolicy(args) : null;
    if (policy === 'bad') return 1;
    const store = await openStore(args);
    try {
      switch (verb) {
        case 'search': {
          const limit = Number(args.values.limit ?? '20');
          if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`Expected --limit to be a positive integer, got \`${String(args.values.limit)}\`.`);
          const hits = store.search(rest.join(' '), { ...options, limit });
          if (json) print(hits.map(({ id, type, tier, content, createdAt }) => ({ id, type, tier, content, createdAt })));
          else if (hits.length === 0) process.stdout.write('Nothing found.\n');
          else process.stdout.write(`${table([['ID', 'WHEN', 'TYPE', 'TIER', 'WHAT'], ...hits.map((h) => [h.id, h.createdAt.slice(0, 16).replace('T', ' '), h.type, h.tier, h.snippet.replace(/\s+/g, ' ')])])}\n`);
          return 0;
        }
        case 'show': {
          if (rest.length !== 1) throw new UsageError('aios memory show takes one ID (see `aios memory search`).');
          const memory = store.get(rest[0]!);
          if (!memory) {
            process.stderr.write(`aios memory: no memory ${rest[0]}.\n`);
            return 1;
          }
          if (json) print(memory);
          else process.stdout.write(`${Object.entries(memory).map(([k, v]) => `${k.padEnd(11)} ${typeof v === 'object' && v !== null ? JSON.stringify(v) : (v ?? '-')}`).join('\n')}\n`);
          return 0;
        }
        case 'add': {
          const text = rest.join(' ');
          if (text.trim() === '') throw new UsageError('Give the text to remember, e.g. aios memory add --type procedure "restart nginx after editing its config".');
          const memory = store.add({ type: options.type ?? 'knowledge', tier: options.tier ?? 'long-term', content: text, source: 'cli' });
          if (json) print(memory);
          else process.stdout.write(`remembered ${memory.id}\n`);
          return 0;
        }
        case 'forget': {
          const query = args.values.query as string | undefined;
          if ((query === undefined) === (rest.length !== 1)) throw new UsageError('Give either one ID or --query Q: aios memory forget ID | aios memory forget --query "old logs".');
          const what = query === undefined ? `memory ${rest[0]}` : `every memory matching "${query}"${options.type ? ` of type ${options.type}` : ''} (${store.countMatching(query, options)} now)`;
          if (!args.values.yes) {
            if (!process.stdin.isTTY) throw new UsageError(`Forgetting ${what} cannot be undone: add --yes to confirm.`);
            if (!(await confirm(`Forget ${what}? This cannot be undone.`))) {
              process.stderr.write('Nothing was forgotten.\n');
              return 1;
            }
          }
          const removed = query === undefined ? (store.forget(rest[0]!) ? 1 : 0) : store.forgetMatching(query, options);
          if (json) print({ forgotten: removed });
          else process.stdout.write(`forgot ${removed} ${removed === 1 ? 'memory' : 'memories'}\n`);
          return query === undefined && removed === 0 ? 1 : 0;
        }
        case 'retain': {
          const report = store.retain(policy!);
          if (json) print(report);
          else process.stdout.write(`${describeRetention(report, policy!)}\n`);
          return 0;
        }
        default: {
          const stats = { ...store.stats(), ranking: store.ranking };
          if (json) print(stats);
          else {
            process.stdout.write(
              `${stats.total} memories in ${store.file} (${(stats.fileBytes / 2 ** 20).toFixed(1)} MiB, schema ${stats.schemaVersion}, ranked by ${stats.ranking})\n` +
                `by type: ${Object.entries(stats.byType).map(([k, v]) => `${k} ${v}`).join(', ') || '-'}\n` +
                `by tier: ${Object.entries(stats.byTier).map(([k, v]) => `${k} ${v}`).join(', ') || '-'}\n` +
                (stats.oldest ? `from ${stats.oldest} to ${stats.newest}\n` : ''),
            );
          }
          return 0;
        }
      }
    } catch (error) {
      const { MemoryError } = await import('../../memory/store.ts');
      if (!(error instanceof MemoryError)) throw error;
      process.stderr.write(`aios memory: ${error.message}\n`);
      return 1;
    } finally {
      store.close();
    }
  },
};
