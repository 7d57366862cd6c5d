// The response cache: a model's answer to an identical request is reused instead of asked for
// again (and paid for again). Identical means the same tier and model, the same parameters
// (max tokens, temperature), the same tools with the same schemas, and the same messages: the
// key is a SHA-256 over all of them. Entries live in STATE/router.db for `ttlMs`.
import { createHash } from 'node:crypto';
import type BetterSqlite3 from 'better-sqlite3';

export interface CacheKeyParts {
  tier: string;
  model: string;
  maxTokens: number;
  temperature: number | null;
  tools: { name: string; description: string; parameters: unknown }[];
  messages: unknown[];
}

export function cacheKey(parts: CacheKeyParts): string {
  // Sorted keys: the same request written in another key order is the same request.
  const canonical = JSON.stringify(parts, (_key, value: unknown) =>
    value && typeof value === 'object' && !Array.isArray(value) ? Object.fromEntries(Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1))) : value,
  );
  return createHash('sha256').update(canonical).digest('hex');
}

export class ResponseCache {
  readonly #db: BetterSqlite3.Database;
  readonly #ttlMs: number;

  constructor(db: BetterSqlite3.Database, ttlMs: number) {
    this.#db = db;
    this.#ttlMs = ttlMs;
  }

  get<T>(key: string, now = Date.now()): T | null {
    if (this.#ttlMs <= 0) return null;
    const row = this.#db.prepare<[string], { value: string; created_at: number }>('SELECT value, created_at FROM cache WHERE key = ?').get(key);
    if (!row || now - row.created_at > this.#ttlMs) return null;
    return JSON.parse(row.value) as T;
  }

  set(key: string, value: unknown, now = Date.now()): void {
    if (this.#ttlMs <= 0) return;
    this.#db.prepare('INSERT OR REPLACE INTO cache (key, value, created_at) VALUES (?, ?, ?)').run(key, JSON.stringify(value), now);
    // Old entries go as new ones come: the table stays the size of what is fresh.
    this.#db.prepare('DELETE FROM cache WHERE created_at < ?').run(now - this.#ttlMs);
  }
}
