// Cloud spending limits, per day and per request, in money and in tokens, kept in
// STATE/router.db so that they hold across restarts and across processes.
//
// A request reserves its worst case before it is sent (its prompt's tokens plus max_tokens, at
// the model's prices) in an IMMEDIATE transaction that first checks what the day has spent and
// reserved: two requests at once can never together pass a limit. When the answer comes, the
// reservation is settled at what was really used; if the request fails, it is released. A
// reservation whose process died is never settled: it keeps counting at its worst case, so a
// crash can only make the budget stricter, never let it be exceeded.
//
// The same database keeps the response cache (cache.ts).
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import * as z from 'zod/mini';
import { requireRuntimePackage } from '../native/packages.ts';

/** USD per million tokens, input and output. */
export interface Price {
  input: number;
  output: number;
}

/** What the day and each request may spend (USD, tokens of input and output together). */
export const budgetSchema = z.strictObject({
  daily_usd: z._default(z.number().check(z.gte(0)), 5),
  request_usd: z._default(z.number().check(z.gte(0)), 0.5),
  daily_tokens: z._default(z.int().check(z.gte(0)), 2_000_000),
  request_tokens: z._default(z.int().check(z.gte(0)), 200_000),
  /** Prices by model name; a model not listed is charged at the dearest listed price. */
  prices: z._default(z.record(z.string(), z.strictObject({ input: z.number().check(z.gte(0)), output: z.number().check(z.gte(0)) })), {}),
});
export type BudgetConfig = z.infer<typeof budgetSchema>;

/** List prices (USD per million tokens) of the default models; [budget.prices] adds or replaces. */
export const DEFAULT_PRICES: Record<string, Price> = {
  'claude-sonnet-4-5': { input: 3, output: 15 },
  'claude-opus-4-1': { input: 15, output: 75 },
  'claude-haiku-4-5': { input: 1, output: 5 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
};

export interface Reservation {
  id: number;
  worstUsd: number;
  worstTokens: number;
}

export interface Spent {
  day: string;
  usd: number;
  tokens: number;
  /** Requests running now (or whose process died), at their worst case. */
  reservedUsd: number;
  reservedTokens: number;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS spending (
    id INTEGER PRIMARY KEY,
    day TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('reserved', 'spent')),
    usd REAL NOT NULL,
    tokens INTEGER NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS spending_day ON spending (day, state);
  CREATE TABLE IF NOT EXISTS cache (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );`;

/** The local calendar day, as the limits count days. */
export function localDay(now = new Date()): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

export class BudgetError extends Error {}

export function openRouterDb(stateDir: string): BetterSqlite3.Database {
  const file = path.join(stateDir, 'router.db');
  mkdirSync(path.dirname(file), { recursive: true });
  const Database = requireRuntimePackage<typeof BetterSqlite3>('better-sqlite3');
  const db = new Database(file);
  db.pragma('busy_timeout = 10000');
  db.pragma('journal_mode = WAL');
  db.exec(SCHEMA);
  return db;
}

export class Budget {
  readonly #db: BetterSqlite3.Database;
  readonly #config: BudgetConfig;
  readonly #prices: Record<string, Price>;

  constructor(db: BetterSqlite3.Database, config: BudgetConfig) {
    this.#db = db;
    this.#config = config;
    this.#prices = { ...DEFAULT_PRICES, ...config.prices };
  }

  price(model: string): Price {
    const known = this.#prices[model];
    if (known) return known;
    const all = Object.values(this.#prices);
    return { input: Math.max(...all.map((p) => p.input)), output: Math.max(...all.map((p) => p.output)) };
  }

  cost(model: string, inputTokens: number, outputTokens: number): number {
    const p = this.price(model);
    return (inputTokens * p.input + outputTokens * p.output) / 1e6;
  }

  spent(now = new Date()): Spent {
    const day = localDay(now);
    const rows = this.#db.prepare<[string], { state: string; usd: number; tokens: number }>('SELECT state, coalesce(sum(usd), 0) AS usd, coalesce(sum(tokens), 0) AS tokens FROM spending WHERE day = ? GROUP BY state').all(day);
    const of = (state: string) => rows.find((r) => r.state === state) ?? { usd: 0, tokens: 0 };
    return { day, usd: of('spent').usd, tokens: of('spent').tokens, reservedUsd: of('reserved').usd, reservedTokens: of('reserved').tokens };
  }

  /**
   * Reserves a request's worst case, or throws BudgetError saying which limit it would pass.
   * `inputTokens` is the prompt's size; `maxOutputTokens` what the request allows the model.
   */
  reserve(provider: string, model: string, inputTokens: number, maxOutputTokens: number, now = new Date()): Reservation {
    const worstTokens = inputTokens + maxOutputTokens;
    const worstUsd = this.cost(model, inputTokens, maxOutputTokens);
    const c = this.#config;
    if (worstUsd > c.request_usd) throw new BudgetError(`this request could cost $${worstUsd.toFixed(4)}, more than the $${c.request_usd} a request may ([budget] request_usd)`);
    if (worstTokens > c.request_tokens) throw new BudgetError(`this request could use ${worstTokens} tokens, more than the ${c.request_tokens} a request may ([budget] request_tokens)`);
    return this.#db
      .transaction(() => {
        const day = this.spent(now);
        const usd = day.usd + day.reservedUsd;
        const tokens = day.tokens + day.reservedTokens;
        if (usd + worstUsd > c.daily_usd) throw new BudgetError(`today's cloud budget is spent: $${usd.toFixed(4)} of $${c.daily_usd} used or reserved, this request could cost $${worstUsd.toFixed(4)} ([budget] daily_usd)`);
        if (tokens + worstTokens > c.daily_tokens) throw new BudgetError(`today's cloud tokens are spent: ${tokens} of ${c.daily_tokens} used or reserved, this request could use ${worstTokens} ([budget] daily_tokens)`);
        const id = Number(
          this.#db.prepare("INSERT INTO spending (day, provider, model, state, usd, tokens, created_at) VALUES (?, ?, ?, 'reserved', ?, ?, ?)").run(day.day, provider, model, worstUsd, worstTokens, now.toISOString()).lastInsertRowid,
        );
        return { id, worstUsd, worstTokens };
      })
      .immediate();
  }

  /** What the request really used; returns its cost. The model may differ from the one reserved for (a fallback). */
  settle(reservation: Reservation, provider: string, model: string, inputTokens: number, outputTokens: number): number {
    const usd = this.cost(model, inputTokens, outputTokens);
    this.#db.prepare("UPDATE spending SET state = 'spent', provider = ?, model = ?, usd = ?, tokens = ? WHERE id = ?").run(provider, model, usd, inputTokens + outputTokens, reservation.id);
    return usd;
  }

  /** The request was not sent, or failed without an answer: nothing was spent. */
  release(reservation: Reservation): void {
    this.#db.prepare("DELETE FROM spending WHERE id = ? AND state = 'reserved'").run(reservation.id);
  }
}
