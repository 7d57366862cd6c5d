// The memory store: what happened on this machine, in one SQLite database (STATE/memory.db).
//
// Invariants:
// - The full-text index (FTS5, external content) is kept in step with the table by triggers on
//   INSERT, UPDATE and DELETE, inside the same transaction: a search never returns a row that is
//   gone, nor misses one that is there (the reference systems' "database disk image is
//   malformed" came from deleting rows behind the index's back).
// - The schema is versioned by PRAGMA user_version; migrations run in order, each in its own
//   IMMEDIATE transaction that reads the version again, when the store is opened: processes
//   opening a new database at once run each migration once.
// - WAL, a busy timeout and IMMEDIATE write transactions: several processes (and containers
//   through a bind mount) read and write at once, and "database is locked" is waited out
//   rather than shown (test/memory/concurrency.test.ts).
// - Ids are ULIDs: they sort by creation time.
// - Search ranks by bm25 among the newest RANK_WINDOW matches that pass the filters, every
//   match when the limit asks for more: its cost follows the window, not the word's frequency.
//   The score is FTS5's bm25 computed by aios_bm25 (src/native/aios-rank.c), which remembers
//   how many rows hold each word instead of counting them on every query (recounted when the
//   row count moves by 1 % or after 60 s, so a score can lag an update that long); without that
//   extension (not built), FTS5's own bm25().
// - Retention deletes through the table, in small IMMEDIATE batches; a batch writes the
//   summaries of the rows it removes in the same transaction.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { monotonicFactory } from 'ulid';
import { rankExtension } from '../native/index.ts';
import { requireRuntimePackage } from '../native/packages.ts';
import { factsFrom, mergeFacts, summaryText, type Summarised } from './summary.ts';

export const MEMORY_TYPES = ['command', 'chat', 'system', 'decision', 'knowledge', 'procedure', 'snapshot', 'tool', 'service', 'package', 'routing'] as const;
export type MemoryType = (typeof MEMORY_TYPES)[number];
export const TIERS = ['working', 'operational', 'long-term'] as const;
export type Tier = (typeof TIERS)[number];

export interface Memory {
  id: string;
  type: MemoryType;
  tier: Tier;
  content: string;
  metadata: Record<string, unknown>;
  source: string;
  importance: number;
  createdAt: string;
  expiresAt: string | null;
}

export interface NewMemory {
  type: MemoryType;
  tier?: Tier;
  content: string;
  metadata?: Record<string, unknown>;
  source: string;
  importance?: number;
  expiresAt?: Date | null;
  /** For imports and tests; the default is now. */
  createdAt?: Date;
}

export interface SearchOptions {
  type?: MemoryType;
  tier?: Tier;
  since?: Date;
  until?: Date;
  /** Every key must equal the memory's metadata value (compared as JSON). */
  metadata?: Record<string, unknown>;
  limit?: number;
}

export interface SearchHit extends Memory {
  /** bm25: lower is better; null for a listing without a query. */
  rank: number | null;
  /** The matching part of the content, the matches in [brackets]. */
  snippet: string;
}

export class MemoryError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** How long memories are kept ([memory] in config.toml: see config.ts). */
export interface RetentionPolicy {
  /** Operational memories older than this many days are summarised, then removed. */
  operationalMaxDays: number;
  /** At most this many operational memories are kept: the oldest beyond it go the same way. */
  operationalMaxRows: number;
  /** Working memories older than this many hours, or whose metadata says `done: true`, are cleared. */
  workingMaxHours: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { operationalMaxDays: 30, operationalMaxRows: 100_000, workingMaxHours: 24 };

export interface RetentionReport {
  /** Memories whose expiry had passed. */
  expired: number;
  /** Working memories cleared (done, or older than workingMaxHours). */
  working: number;
  /** Operational memories summarised and removed: older than the cutoff, or beyond the row limit. */
  operational: { byAge: number; byCount: number; kept: number };
  /** Long-term knowledge summaries written, and earlier ones that took in more. */
  summaries: { written: number; updated: number };
  /** Operational memories created before this were due by age. */
  cutoff: string;
}

const DAY_MS = 86_400_000;

const MIGRATIONS: string[] = [
  `CREATE TABLE memories (
     rowid INTEGER PRIMARY KEY,
     id TEXT NOT NULL UNIQUE,
     type TEXT NOT NULL,
     tier TEXT NOT NULL,
     content TEXT NOT NULL,
     metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
     source TEXT NOT NULL,
     importance REAL NOT NULL DEFAULT 0.5,
     created_at TEXT NOT NULL,
     expires_at TEXT
   );
   CREATE INDEX memories_type ON memories (type, created_at);
   CREATE INDEX memories_tier ON memories (tier, created_at);
   CREATE INDEX memories_created ON memories (created_at);
   CREATE INDEX memories_expires ON memories (expires_at) WHERE expires_at IS NOT NULL;
   CREATE VIRTUAL TABLE memories_fts USING fts5(content, content='memories', content_rowid='rowid', tokenize='porter unicode61');
   CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
     INSERT INTO memories_fts (rowid, content) VALUES (new.rowid, new.content);
   END;
   CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
     INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
   END;
   CREATE TRIGGER memories_au AFTER UPDATE OF content ON memories BEGIN
     INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
     INSERT INTO memories_fts (rowid, content) VALUES (new.rowid, new.content);
   END;`,
  // The indexed filters of each row, in rowid order and a few dozen bytes a row: a search that
  // checks its matches against the filters reads this instead of each whole row (see #ranked).
  'CREATE INDEX memories_filters ON memories (rowid, type, tier, created_at);',
  // The index holds each row's type as one more word (TYPE_WORD): a search for a type few rows
  // have ANDs that word with the query's, and FTS5 skips through the common word's long doclist
  // to the type's few rows instead of reading all of it (0.5 ms against 5 at a million rows).
  // The word is in a generated column, so the external-content index still matches its table
  // (FTS5's integrity-check reads it); the rebuild takes a few seconds at a million rows, once.
  `ALTER TABLE memories ADD COLUMN fts_text TEXT GENERATED ALWAYS AS (content || ' aiostype' || type) VIRTUAL;
   DROP TRIGGER memories_ai;
   DROP TRIGGER memories_ad;
   DROP TRIGGER memories_au;
   DROP TABLE memories_fts;
   CREATE VIRTUAL TABLE memories_fts USING fts5(fts_text, content='memories', content_rowid='rowid', tokenize='porter unicode61');
   INSERT INTO memories_fts (memories_fts) VALUES ('rebuild');
   CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
     INSERT INTO memories_fts (rowid, fts_text) VALUES (new.rowid, new.fts_text);
   END;
   CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
     INSERT INTO memories_fts (memories_fts, rowid, fts_text) VALUES ('delete', old.rowid, old.fts_text);
   END;
   CREATE TRIGGER memories_au AFTER UPDATE OF content, type ON memories BEGIN
     INSERT INTO memories_fts (memories_fts, rowid, fts_text) VALUES ('delete', old.rowid, old.fts_text);
     INSERT INTO memories_fts (rowid, fts_text) VALUES (new.rowid, new.fts_text);
   END;`,
];

/** How many phrases an ftsQuery holds (each quoted; "" is a quote inside one). */
function phraseCount(match: string): number {
  return match.replace(/""/g, '').split('"').length >> 1;
}

/**
 * The word the index holds for a row's type: `aiostype` glued to the type, so that it is one
 * token nobody types ("decision" finds what a memory says, not every decision).
 */
function typeWord(type: string): string {
  return `"aiostype${type.replace(/"/g, '""')}"`;
}

export const SCHEMA_VERSION = MIGRATIONS.length;

const COLUMNS = 'id, type, tier, content, metadata, source, importance, created_at AS createdAt, expires_at AS expiresAt';

type Row = Omit<Memory, 'metadata'> & { metadata: string };

function toMemory(row: Row): Memory {
  return { ...row, metadata: JSON.parse(row.metadata) as Record<string, unknown> };
}

const MEMORY_COLUMNS = COLUMNS.split(', ').map((c) => `m.${c}`).join(', ');

/** The filters as SQL on `memories m`: those an index serves, and all of them (metadata too). */
function filterSql(options: SearchOptions): { indexed: string[]; all: string[]; params: Record<string, unknown> } {
  const indexed: string[] = [];
  const params: Record<string, unknown> = {};
  const filter = (sql: string, name: string, value: unknown): void => {
    indexed.push(sql);
    params[name] = value;
  };
  if (options.type) filter('m.type = @type', 'type', options.type);
  if (options.tier) filter('m.tier = @tier', 'tier', options.tier);
  if (options.since) filter('m.created_at >= @since', 'since', options.since.toISOString());
  if (options.until) filter('m.created_at < @until', 'until', options.until.toISOString());
  const all = [...indexed];
  for (const [i, [key, value]] of Object.entries(options.metadata ?? {}).entries()) {
    all.push(`json_extract(m.metadata, @key${i}) IS json_extract(@value${i}, '$')`);
    Object.assign(params, { [`key${i}`]: `$.${JSON.stringify(key)}`, [`value${i}`]: JSON.stringify(value) });
  }
  return { indexed, all, params };
}

/**
 * A person's words as an FTS5 query: each word quoted (so that `-`, `:`, `AND`, quotes and
 * parentheses are text, not syntax), all of them required; with `prefix`, the last one also as
 * the start of a word (`ngin` finds nginx).
 */
export function ftsQuery(text: string, prefix = false): string | null {
  const words = text.match(/[\p{L}\p{N}_]+/gu) ?? [];
  if (words.length === 0) return null;
  return words.map((w, i) => `"${w}"${prefix && i === words.length - 1 ? '*' : ''}`).join(' ');
}

/**
 * How many of the newest matches a search ranks by bm25 (all of them when it asks for more).
 * A common word is in 50,000 of a million memories: ranking them all (and joining each to its
 * row) took 77 ms, the newest 1,000 1.2 ms. What no window saves is bm25's own count of the
 * rows holding each word (about 20 ns a row: 2 ms for a word in a tenth of a million rows).
 */
export const RANK_WINDOW = 1_000;

/**
 * A filtered search starts from the filter's rows instead of from the index when the indexed
 * filters (type, tier, since, until) leave at most this many rows: then checking those rows is
 * cheaper than walking the matches until enough of them pass.
 */
const FILTER_DRIVES_BELOW = 20_000;

/** How much of the database file a connection maps (a million memories take about 400 MiB). */
const MMAP_BYTES = 1 << 30;

/** How long a filter seen to pass many rows is taken to still pass many (see #filterSize). */
const LARGE_FILTER_MS = 60_000;

export interface OpenOptions {
  /**
   * How search scores: 'cached' (aios_bm25, when its extension can be loaded; the default) or
   * 'bm25' (FTS5's own, counting every word's rows on every query).
   */
  ranking?: 'cached' | 'bm25';
}

/**
 * Loads aios_bm25 into the connection; bm25 when the extension is not there (not built) or
 * does not load (built for another machine): search still works, slower at a million rows.
 */
function loadRanking(db: BetterSqlite3.Database): 'aios_bm25' | 'bm25' {
  const extension = rankExtension();
  if (!extension) return 'bm25';
  try {
    db.loadExtension(extension);
    return 'aios_bm25';
  } catch {
    return 'bm25';
  }
}

export class MemoryStore {
  readonly file: string;
  /** The ranking search uses: aios_bm25 when its extension was loaded, else bm25. */
  readonly ranking: 'aios_bm25' | 'bm25';
  readonly #db: BetterSqlite3.Database;
  readonly #ulid = monotonicFactory();
  readonly #statements = new Map<string, BetterSqlite3.Statement>();
  /** Filters recently seen to pass more than FILTER_DRIVES_BELOW rows, and when. */
  readonly #largeFilters = new Map<string, number>();

  private constructor(file: string, db: BetterSqlite3.Database, ranking: 'aios_bm25' | 'bm25') {
    this.file = file;
    this.#db = db;
    this.ranking = ranking;
  }

  static pathIn(stateDir: string): string {
    return path.join(stateDir, 'memory.db');
  }

  static open(file: string, options: OpenOptions = {}): MemoryStore {
    mkdirSync(path.dirname(file), { recursive: true });
    const Database = requireRuntimePackage<typeof BetterSqlite3>('better-sqlite3');
    const db = new Database(file);
    db.pragma('busy_timeout = 10000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    // Pages read through a memory map instead of a read() each: checking a thousand matches
    // against their rows' filters took 4 ms through reads, 2.5 through the map (1M memories).
    db.pragma(`mmap_size = ${MMAP_BYTES}`);
    const store = new MemoryStore(file, db, options.ranking === 'bm25' ? 'bm25' : loadRanking(db));
    store.#migrate();
    // Where search makes its snippets (see #ranked): private to this connection, in memory. The
    // tokenizer is the one memories_fts uses.
    db.pragma('temp_store = MEMORY');
    db.exec("CREATE VIRTUAL TABLE temp.memory_hits USING fts5(content, tokenize='porter unicode61')");
    return store;
  }

  #migrate(): void {
    const version = this.#db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new MemoryError('ESCHEMA', `${this.file} has schema version ${version}, newer than this aios knows (${SCHEMA_VERSION}); use a newer aios`);
    }
    // The version is read again inside each IMMEDIATE transaction: processes that open a new
    // database at the same moment take turns, and each migration runs once.
    for (let done = version >= SCHEMA_VERSION; !done; ) {
      done = this.#db
        .transaction(() => {
          const current = this.#db.pragma('user_version', { simple: true }) as number;
          if (current >= SCHEMA_VERSION) return true;
          this.#db.exec(MIGRATIONS[current]!);
          this.#db.pragma(`user_version = ${current + 1}`);
          return false;
        })
        .immediate();
    }
  }

  get schemaVersion(): number {
    return this.#db.pragma('user_version', { simple: true }) as number;
  }

  /** Many memories in one transaction (an import, a burst of events): all or none. */
  addMany(inputs: NewMemory[]): Memory[] {
    return this.#db.transaction(() => inputs.map((input) => this.add(input))).immediate();
  }

  add(input: NewMemory): Memory {
    const createdAt = input.createdAt ?? new Date();
    const memory: Memory = {
      id: this.#ulid(createdAt.getTime()),
      type: input.type,
      tier: input.tier ?? 'operational',
      content: input.content,
      metadata: input.metadata ?? {},
      source: input.source,
      importance: input.importance ?? 0.5,
      createdAt: createdAt.toISOString(),
      expiresAt: input.expiresAt ? input.expiresAt.toISOString() : null,
    };
    if (!MEMORY_TYPES.includes(memory.type)) throw new MemoryError('EINVAL', `Expected the type to be one of ${MEMORY_TYPES.join(', ')}, got \`${memory.type}\`.`);
    if (!TIERS.includes(memory.tier)) throw new MemoryError('EINVAL', `Expected the tier to be one of ${TIERS.join(', ')}, got \`${memory.tier}\`.`);
    if (memory.content.trim() === '') throw new MemoryError('EINVAL', 'A memory needs some content.');
    const insert = this.#statement('INSERT INTO memories (id, type, tier, content, metadata, source, importance, created_at, expires_at) VALUES (@id, @type, @tier, @content, @metadata, @source, @importance, @createdAt, @expiresAt)');
    this.#db.transaction(() => insert.run({ ...memory, metadata: JSON.stringify(memory.metadata) })).immediate();
    return memory;
  }

  get(id: string): Memory | null {
    const row = this.#statement<Row>(`SELECT ${COLUMNS} FROM memories WHERE id = @id`).get({ id });
    return row ? toMemory(row) : null;
  }

  /** Changes the content (and so what search finds); the index follows through the trigger. */
  update(id: string, content: string): Memory {
    const changed = this.#db.transaction(() => this.#statement('UPDATE memories SET content = @content WHERE id = @id').run({ content, id }).changes).immediate();
    if (changed === 0) throw new MemoryError('ENOENT', `No memory ${id}.`);
    return this.get(id)!;
  }

  /**
   * Full-text search, best first, or the newest memories when the query is empty. The words
   * match whole words after stemming (install finds installed); when they find nothing and no
   * memory holds the last one as a whole word, it is taken as the start of a word (ngin finds
   * nginx). A prefix is the costly kind of query (FTS5 merges the doclists of every word it
   * starts, 10 ms for one common word at a million memories), so it is only asked when the
   * word as typed is unknown: a known word that the filters or the other words rule out is
   * not guessed into a longer one.
   * "Best" is bm25 among the newest RANK_WINDOW matches that pass the filters (every match when
   * fewer match or the limit asks for more), equal scores newest first.
   */
  search(query: string, options: SearchOptions = {}): SearchHit[] {
    const limit = options.limit ?? 20;
    const words = ftsQuery(query);
    if (words === null) return this.#newest(options, limit);
    const hits = this.#ranked(words, options, limit);
    return hits.length === 0 && !this.#knownWord(query) ? this.#ranked(ftsQuery(query, true)!, options, limit) : hits;
  }

  /** Whether some memory holds the query's last word as a whole word (after stemming). */
  #knownWord(query: string): boolean {
    const last = (query.match(/[\p{L}\p{N}_]+/gu) ?? []).at(-1);
    return last !== undefined && this.#statement('SELECT 1 FROM memories_fts WHERE memories_fts MATCH @match LIMIT 1').get({ match: ftsQuery(last) }) !== undefined;
  }

  #newest(options: SearchOptions, limit: number): SearchHit[] {
    const { all, params } = filterSql(options);
    const sql = `SELECT ${MEMORY_COLUMNS}, NULL AS rank, substr(m.content, 1, 120) AS snippet FROM memories m${all.length ? ` WHERE ${all.join(' AND ')}` : ''} ORDER BY m.created_at DESC, m.id DESC LIMIT @limit`;
    return this.#statement<Row & { rank: null; snippet: string }>(sql).all({ ...params, limit }).map((r) => ({ ...toMemory(r), rank: r.rank, snippet: r.snippet }));
  }

  /**
   * Two reads in one snapshot, so that each costly step sees as few rows as it can. First the
   * newest matches (the index walked newest first, stopping after `window`) get a bm25 score and
   * the best `limit` are kept; then only those are read from the table and get a snippet (not
   * by looking each one up in the big index: 30 to 200 µs a lookup, 0.1 to 0.7 ms with a
   * snippet). FTS5's own `ORDER BY rank` was measured slower: it scores every match and
   * ignores a rowid range.
   * Rowid bounds are CAST: better-sqlite3 binds a JavaScript number as a REAL, and FTS5 quietly
   * ignores a REAL bound (SQLite then filters the rows FTS5 returns, so the answer is right but
   * the whole doclist is read: 3 ms instead of 0.07 for a word in 100,000 rows).
   */
  #ranked(match: string, options: SearchOptions, limit: number): SearchHit[] {
    const { indexed, all, params } = filterSql(options);
    const values: Record<string, unknown> = { ...params, match, limit, window: Math.max(RANK_WINDOW, limit) };
    let rankArgs = '';
    const score = (): string => `SELECT memories_fts.rowid AS rid, ${this.ranking === 'aios_bm25' ? `aios_bm25(memories_fts, @match${rankArgs})` : 'bm25(memories_fts)'} AS rank FROM memories_fts`;
    return this.#db.transaction(() => {
      let scored: string;
      if (all.length === 0) {
        scored = `${score()} WHERE memories_fts MATCH @match ORDER BY memories_fts.rowid DESC LIMIT @window`;
      } else {
        // Few rows pass the indexed filters (a rare type, the last hour): start from them. Else
        // walk the matches newest first and look each one's row up until enough pass.
        const few = indexed.length === 0 ? null : this.#filterSize(indexed, params);
        if (few && few.n === 0) return [];
        if (few && few.n <= FILTER_DRIVES_BELOW) {
          Object.assign(values, { lo: few.lo, hi: few.hi });
          // The type's word makes FTS5 skip to the type's rows (see the last migration). The
          // snippets below still look for the person's words only.
          // aios_bm25 scores the person's phrases only (the type word's score would rank by row
          // length); FTS5's bm25() cannot leave a phrase out, so without the extension the
          // search reads the whole doclist as before.
          if (options.type && this.ranking === 'aios_bm25') {
            Object.assign(values, { match: `${match} ${typeWord(options.type)}`, phrases: phraseCount(match) });
            rankArgs = ', CAST(@phrases AS INTEGER)';
          }
          // `+` keeps the IN list away from FTS5, which would restart (and recount bm25's
          // statistics) once per listed rowid.
          scored = `${score()} WHERE memories_fts MATCH @match AND memories_fts.rowid BETWEEN CAST(@lo AS INTEGER) AND CAST(@hi AS INTEGER) AND +memories_fts.rowid IN (SELECT m.rowid FROM memories m WHERE ${all.join(' AND ')}) ORDER BY memories_fts.rowid DESC LIMIT @window`;
        } else {
          // Without a metadata filter, memories_filters answers from its own pages.
          const rows = all.length === indexed.length ? 'memories m INDEXED BY memories_filters' : 'memories m';
          scored = `${score()} CROSS JOIN ${rows} ON m.rowid = memories_fts.rowid WHERE memories_fts MATCH @match AND ${all.join(' AND ')} ORDER BY memories_fts.rowid DESC LIMIT @window`;
        }
      }
      const best = this.#statement<{ rid: number; rank: number }>(`SELECT rid, rank FROM (${scored}) ORDER BY rank, rid DESC LIMIT @limit`).all(values);
      if (best.length === 0) return [];
      // The snippets: the best rows copied into a small in-memory index with the same tokenizer
      // (a snippet depends only on the row and the query), which costs less than walking the
      // big index again (0.4 ms against 2 ms at a million rows, for words that are common).
      const rids = JSON.stringify(best.map((b) => b.rid));
      this.#statement('DELETE FROM temp.memory_hits').run({});
      this.#statement('INSERT INTO temp.memory_hits (rowid, content) SELECT rowid, content FROM memories WHERE rowid IN (SELECT value FROM json_each(@rids))').run({ rids });
      // Two statements: as one (the snippets LEFT JOINed to the rows) SQLite made the snippets
      // again for each row, 0.5 ms instead of 0.1.
      const snippets = new Map(
        this.#statement<{ rid: number; snippet: string }>("SELECT rowid AS rid, snippet(memory_hits, 0, '[', ']', '…', 12) AS snippet FROM temp.memory_hits WHERE memory_hits MATCH @match")
          .all({ match })
          .map((h) => [h.rid, h.snippet]),
      );
      const rows = this.#statement<Row & { rid: number }>(`SELECT ${MEMORY_COLUMNS}, m.rowid AS rid FROM memories m WHERE m.rowid IN (SELECT value FROM json_each(@rids))`).all({ rids });
      const byRid = new Map(rows.map((r) => [r.rid, r]));
      return best.flatMap(({ rid, rank }) => {
        const row = byRid.get(rid);
        if (!row) return [];
        const { rid: _, ...memory } = row;
        return [{ ...toMemory(memory), rank, snippet: snippets.get(rid) ?? memory.content.slice(0, 120) }];
      });
    })();
  }

  /**
   * How many rows pass the indexed filters (up to FILTER_DRIVES_BELOW + 1) and their rowid
   * range, or null when the filters were seen to pass more in the last LARGE_FILTER_MS:
   * counting that far costs a millisecond (a type a third of a million rows hold), and the
   * answer only picks the plan. A count that says few is always fresh, since its range bounds
   * the query.
   */
  #filterSize(indexed: string[], params: Record<string, unknown>): { n: number; lo: number | null; hi: number | null } | null {
    const key = JSON.stringify([indexed, params]);
    const seen = this.#largeFilters.get(key);
    if (seen !== undefined && Date.now() - seen < LARGE_FILTER_MS) return null;
    const size = this.#statement<{ n: number; lo: number | null; hi: number | null }>(`SELECT count(*) AS n, min(rowid) AS lo, max(rowid) AS hi FROM (SELECT m.rowid FROM memories m WHERE ${indexed.join(' AND ')} LIMIT @cap)`).get({ ...params, cap: FILTER_DRIVES_BELOW + 1 })!;
    if (size.n <= FILTER_DRIVES_BELOW) return size;
    if (this.#largeFilters.size >= 256) this.#largeFilters.clear();
    this.#largeFilters.set(key, Date.now());
    return null;
  }

  /** A prepared statement, kept: the same few shapes of query run again and again. */
  #statement<R = unknown>(sql: string): BetterSqlite3.Statement<[Record<string, unknown>], R> {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement as BetterSqlite3.Statement<[Record<string, unknown>], R>;
  }

  forget(id: string): boolean {
    return this.#db.transaction(() => this.#statement('DELETE FROM memories WHERE id = @id').run({ id }).changes).immediate() > 0;
  }

  /** Deletes every memory the query finds (with the same filters as search); returns how many. */
  forgetMatching(query: string, options: Omit<SearchOptions, 'limit'> = {}): number {
    return this.#db
      .transaction(() => {
        const rowids = this.#matching(query, options);
        const remove = this.#statement('DELETE FROM memories WHERE rowid = @rowid');
        for (const rowid of rowids) remove.run({ rowid });
        return rowids.length;
      })
      .immediate();
  }

  /** How many memories forgetMatching would delete now. */
  countMatching(query: string, options: Omit<SearchOptions, 'limit'> = {}): number {
    return this.#matching(query, options).length;
  }

  /** Every memory search with no limit finds (the words; if none, an unknown last word as a prefix), unranked. */
  #matching(query: string, options: Omit<SearchOptions, 'limit'>): number[] {
    const words = ftsQuery(query);
    if (words === null) throw new MemoryError('EINVAL', 'Refusing to forget with an empty query: name what to forget.');
    const { all, params } = filterSql(options);
    const join = all.length ? ' CROSS JOIN memories m ON m.rowid = memories_fts.rowid' : '';
    const statement = this.#statement<{ rid: number }>(`SELECT memories_fts.rowid AS rid FROM memories_fts${join} WHERE memories_fts MATCH @match${all.map((f) => ` AND ${f}`).join('')}`);
    const found = statement.all({ ...params, match: words }).map((r) => r.rid);
    return found.length > 0 || this.#knownWord(query) ? found : statement.all({ ...params, match: ftsQuery(query, true)! }).map((r) => r.rid);
  }

  /** Retention: removes memories whose expiry has passed; returns how many. */
  expire(now = new Date()): number {
    return this.#deleteInBatches('expires_at IS NOT NULL AND expires_at <= @now', { now: now.toISOString() }, 1_000);
  }

  /**
   * Retention, to be run on a schedule: removes expired memories and working memories that are
   * done or old, and summarises operational memories beyond the age or row limit into long-term
   * `knowledge` memories (one per day and type, see summary.ts) before removing them.
   * It works in small IMMEDIATE transactions (`batchSize` rows each) so that writers wait
   * milliseconds, not the whole run; each batch writes its summaries and removes its rows
   * together, so a crash between batches loses nothing and counts nothing twice. Nothing newer
   * than the cutoffs is touched, and the full-text index follows through the triggers.
   */
  retain(options: Partial<RetentionPolicy> & { now?: Date; batchSize?: number } = {}): RetentionReport {
    const policy = { ...DEFAULT_RETENTION };
    for (const key of Object.keys(DEFAULT_RETENTION) as (keyof RetentionPolicy)[]) {
      const value = options[key];
      if (value === undefined) continue;
      if (!Number.isInteger(value) || value < 1) throw new MemoryError('EINVAL', `Expected ${key} to be a positive integer, got \`${String(value)}\`.`);
      policy[key] = value;
    }
    const batch = options.batchSize ?? 1_000;
    if (!Number.isInteger(batch) || batch < 1) throw new MemoryError('EINVAL', `Expected batchSize to be a positive integer, got \`${String(batch)}\`.`);
    const now = options.now ?? new Date();
    const cutoff = new Date(now.getTime() - policy.operationalMaxDays * DAY_MS).toISOString();
    const report: RetentionReport = { expired: 0, working: 0, operational: { byAge: 0, byCount: 0, kept: 0 }, summaries: { written: 0, updated: 0 }, cutoff };

    report.expired = this.#deleteInBatches('expires_at IS NOT NULL AND expires_at <= @now', { now: now.toISOString() }, batch);
    report.working = this.#deleteInBatches("tier = 'working' AND (created_at < @before OR json_type(metadata, '$.done') = 'true')", { before: new Date(now.getTime() - policy.workingMaxHours * 3_600_000).toISOString() }, batch);

    // The last operational memory to go, in (created_at, rowid) order: the newest one older
    // than the cutoff, or further on when more than operationalMaxRows would stay.
    const kept = this.#db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM memories WHERE tier = 'operational' AND created_at >= ?").get(cutoff)!.n;
    const last =
      kept > policy.operationalMaxRows
        ? this.#db.prepare<[string, number], { at: string; rowid: number }>("SELECT created_at AS at, rowid FROM memories WHERE tier = 'operational' AND created_at >= ? ORDER BY created_at, rowid LIMIT 1 OFFSET ?").get(cutoff, kept - policy.operationalMaxRows - 1)
        : this.#db.prepare<[string], { at: string; rowid: number }>("SELECT created_at AS at, rowid FROM memories WHERE tier = 'operational' AND created_at < ? ORDER BY created_at DESC, rowid DESC LIMIT 1").get(cutoff);
    if (last) {
      const due = this.#db.prepare<[{ at: string; rowid: number; batch: number }], Omit<Summarised, 'metadata'> & { rowid: number; metadata: string }>(
        "SELECT rowid, type, content, metadata, created_at AS createdAt FROM memories WHERE tier = 'operational' AND (created_at < @at OR (created_at = @at AND rowid <= @rowid)) ORDER BY created_at, rowid LIMIT @batch",
      );
      const remove = this.#db.prepare<[number]>('DELETE FROM memories WHERE rowid = ?');
      for (;;) {
        const done = this.#db
          .transaction(() => {
            const rows = due.all({ at: last.at, rowid: last.rowid, batch }).map((r) => ({ ...r, metadata: JSON.parse(r.metadata) as Record<string, unknown> }));
            const groups = new Map<string, typeof rows>();
            for (const row of rows) {
              const key = `${row.createdAt.slice(0, 10)} ${row.type}`;
              if (groups.has(key)) groups.get(key)!.push(row);
              else groups.set(key, [row]);
            }
            for (const [key, group] of groups) {
              const [day, type] = key.split(' ') as [string, string];
              report.summaries[this.#summarise(day, type, group)]++;
            }
            for (const row of rows) {
              remove.run(row.rowid);
              if (row.createdAt < cutoff) report.operational.byAge++;
              else report.operational.byCount++;
            }
            return rows.length < batch;
          })
          .immediate();
        if (done) break;
      }
    }
    report.operational.kept = this.#db.prepare("SELECT count(*) AS n FROM memories WHERE tier = 'operational'").pluck().get() as number;
    return report;
  }

  /** Adds `rows` (one day, one type) to that day's summary, writing it if there is none yet. */
  #summarise(day: string, type: string, rows: Summarised[]): 'written' | 'updated' {
    const existing = this.#statement<{ id: string; metadata: string }>(
      "SELECT id, metadata FROM memories WHERE type = 'knowledge' AND source = 'retention' AND json_extract(metadata, '$.day') = @day AND json_extract(metadata, '$.type') = @type LIMIT 1",
    ).get({ day, type });
    const previous = existing ? factsFrom(JSON.parse(existing.metadata) as Record<string, unknown>) : null;
    const facts = mergeFacts(previous, day, type, rows);
    if (existing && previous) {
      this.#statement('UPDATE memories SET content = @content, metadata = @metadata WHERE id = @id').run({ content: summaryText(facts), metadata: JSON.stringify(facts), id: existing.id });
      return 'updated';
    }
    this.add({ type: 'knowledge', tier: 'long-term', content: summaryText(facts), metadata: { ...facts }, source: 'retention', createdAt: new Date(facts.to) });
    return 'written';
  }

  /** DELETE … WHERE `where`, `batch` rows per IMMEDIATE transaction; returns how many. */
  #deleteInBatches(where: string, params: Record<string, unknown>, batch: number): number {
    const statement = this.#db.prepare<[Record<string, unknown>]>(`DELETE FROM memories WHERE rowid IN (SELECT rowid FROM memories WHERE ${where} LIMIT @batch)`);
    let total = 0;
    for (;;) {
      const removed = this.#db.transaction(() => statement.run({ ...params, batch }).changes).immediate();
      total += removed;
      if (removed < batch) return total;
    }
  }

  stats(): { total: number; byType: Record<string, number>; byTier: Record<string, number>; oldest: string | null; newest: string | null; fileBytes: number; schemaVersion: number } {
    const count = (column: 'type' | 'tier'): Record<string, number> =>
      Object.fromEntries(this.#db.prepare<[], { key: string; n: number }>(`SELECT ${column} AS key, count(*) AS n FROM memories GROUP BY ${column} ORDER BY ${column}`).all().map((r) => [r.key, r.n]));
    const span = this.#db.prepare<[], { total: number; oldest: string | null; newest: string | null }>('SELECT count(*) AS total, min(created_at) AS oldest, max(created_at) AS newest FROM memories').get()!;
    const pages = this.#db.pragma('page_count', { simple: true }) as number;
    const pageSize = this.#db.pragma('page_size', { simple: true }) as number;
    return { ...span, byType: count('type'), byTier: count('tier'), fileBytes: pages * pageSize, schemaVersion: this.schemaVersion };
  }

  /** SQLite's own check and FTS5's: "ok" when both hold. */
  check(): string {
    const integrity = (this.#db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; ');
    try {
      this.#db.prepare("INSERT INTO memories_fts (memories_fts, rank) VALUES ('integrity-check', 1)").run();
    } catch (error) {
      return `full-text index: ${(error as Error).message}`;
    }
    return integrity;
  }

  close(): void {
    this.#db.close();
  }
}
