// The memory store: what happened on this machine, in one SQLite database (STATE/memory.db).
//
// Invariants:
// - The full-text index (FTS5, external content) is kept in step with the table by triggers on
//   INSERT, UPDATE and DELETE, inside the same transaction: a search never returns a row that is
//   gone, nor misses one that is there (the reference systems' "database disk image is
//   malformed" came from deleting rows behind the index's back).
// - The schema is versioned by PRAGMA user_version; migrations run in order, each in its own
//   transaction, when the store is opened.
// - WAL, a busy timeout and IMMEDIATE write transactions: several processes read and write at
//   once, and "database is locked" is waited out rather than shown.
// - Ids are ULIDs: they sort by creation time.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { monotonicFactory } from 'ulid';
import { requireRuntimePackage } from '../native/packages.ts';

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
];

export const SCHEMA_VERSION = MIGRATIONS.length;

const COLUMNS = 'id, type, tier, content, metadata, source, importance, created_at AS createdAt, expires_at AS expiresAt';

type Row = Omit<Memory, 'metadata'> & { metadata: string };

function toMemory(row: Row): Memory {
  return { ...row, metadata: JSON.parse(row.metadata) as Record<string, unknown> };
}

/**
 * A person's words as an FTS5 query: each word quoted (so that `-`, `:`, `AND`, quotes and
 * parentheses are text, not syntax), all of them required, the last one as a prefix.
 */
export function ftsQuery(text: string): string | null {
  const words = text.match(/[\p{L}\p{N}_]+/gu) ?? [];
  if (words.length === 0) return null;
  return words.map((w, i) => `"${w}"${i === words.length - 1 ? '*' : ''}`).join(' ');
}

export class MemoryStore {
  readonly file: string;
  readonly #db: BetterSqlite3.Database;
  readonly #ulid = monotonicFactory();

  private constructor(file: string, db: BetterSqlite3.Database) {
    this.file = file;
    this.#db = db;
  }

  static pathIn(stateDir: string): string {
    return path.join(stateDir, 'memory.db');
  }

  static open(file: string): MemoryStore {
    mkdirSync(path.dirname(file), { recursive: true });
    const Database = requireRuntimePackage<typeof BetterSqlite3>('better-sqlite3');
    const db = new Database(file);
    db.pragma('busy_timeout = 10000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    const store = new MemoryStore(file, db);
    store.#migrate();
    return store;
  }

  #migrate(): void {
    const version = this.#db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new MemoryError('ESCHEMA', `${this.file} has schema version ${version}, newer than this aios knows (${SCHEMA_VERSION}); use a newer aios`);
    }
    for (let next = version; next < SCHEMA_VERSION; next++) {
      this.#db
        .transaction(() => {
          this.#db.exec(MIGRATIONS[next]!);
          this.#db.pragma(`user_version = ${next + 1}`);
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
    this.#db
      .transaction(() => {
        this.#db
          .prepare('INSERT INTO memories (id, type, tier, content, metadata, source, importance, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
          .run(memory.id, memory.type, memory.tier, memory.content, JSON.stringify(memory.metadata), memory.source, memory.importance, memory.createdAt, memory.expiresAt);
      })
      .immediate();
    return memory;
  }

  get(id: string): Memory | null {
    const row = this.#db.prepare<[string], Row>(`SELECT ${COLUMNS} FROM memories WHERE id = ?`).get(id);
    return row ? toMemory(row) : null;
  }

  /** Changes the content (and so what search finds); the index follows through the trigger. */
  update(id: string, content: string): Memory {
    const changed = this.#db.transaction(() => this.#db.prepare('UPDATE memories SET content = ? WHERE id = ?').run(content, id).changes).immediate();
    if (changed === 0) throw new MemoryError('ENOENT', `No memory ${id}.`);
    return this.get(id)!;
  }

  /** Full-text search (best first), or the newest memories when the query is empty. */
  search(query: string, options: SearchOptions = {}): SearchHit[] {
    const where: string[] = [];
    const params: unknown[] = [];
    const filter = (sql: string, ...values: unknown[]): void => {
      where.push(sql);
      params.push(...values);
    };
    if (options.type) filter('m.type = ?', options.type);
    if (options.tier) filter('m.tier = ?', options.tier);
    if (options.since) filter('m.created_at >= ?', options.since.toISOString());
    if (options.until) filter('m.created_at < ?', options.until.toISOString());
    for (const [key, value] of Object.entries(options.metadata ?? {})) {
      filter("json_extract(m.metadata, ?) IS json_extract(?, '$')", `$.${JSON.stringify(key)}`, JSON.stringify(value));
    }
    const limit = options.limit ?? 20;
    const match = ftsQuery(query);
    const columns = COLUMNS.split(', ').map((c) => `m.${c}`).join(', ');
    if (match === null) {
      const sql = `SELECT ${columns}, NULL AS rank, substr(m.content, 1, 120) AS snippet FROM memories m${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY m.created_at DESC, m.id DESC LIMIT ?`;
      return this.#db.prepare<unknown[], Row & { rank: null; snippet: string }>(sql).all(...params, limit).map((r) => ({ ...toMemory(r), rank: r.rank, snippet: r.snippet }));
    }
    const sql = `SELECT ${columns}, bm25(memories_fts) AS rank, snippet(memories_fts, 0, '[', ']', '…', 12) AS snippet
      FROM memories_fts JOIN memories m ON m.rowid = memories_fts.rowid
      WHERE memories_fts MATCH ?${where.length ? ` AND ${where.join(' AND ')}` : ''}
      ORDER BY rank LIMIT ?`;
    return this.#db.prepare<unknown[], Row & { rank: number; snippet: string }>(sql).all(match, ...params, limit).map((r) => ({ ...toMemory(r), rank: r.rank, snippet: r.snippet }));
  }

  forget(id: string): boolean {
    return this.#db.transaction(() => this.#db.prepare('DELETE FROM memories WHERE id = ?').run(id).changes).immediate() > 0;
  }

  /** Deletes every memory the query finds (with the same filters as search); returns how many. */
  forgetMatching(query: string, options: Omit<SearchOptions, 'limit'> = {}): number {
    if (ftsQuery(query) === null) throw new MemoryError('EINVAL', 'Refusing to forget with an empty query: name what to forget.');
    return this.#db
      .transaction(() => {
        const ids = this.search(query, { ...options, limit: Number.MAX_SAFE_INTEGER }).map((hit) => hit.id);
        const remove = this.#db.prepare('DELETE FROM memories WHERE id = ?');
        for (const id of ids) remove.run(id);
        return ids.length;
      })
      .immediate();
  }

  /** Retention: removes memories whose expiry has passed; returns how many. */
  expire(now = new Date()): number {
    return this.#db.transaction(() => this.#db.prepare('DELETE FROM memories WHERE expires_at IS NOT NULL AND expires_at <= ?').run(now.toISOString()).changes).immediate();
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
