// Cloud budgets: per request and per day, in money and tokens; kept across restarts; never
// exceeded, even by four processes reserving at once; a reservation left by a dead process keeps
// counting; a new day starts afresh. And the response cache's key and expiry.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { Budget, BudgetError, budgetSchema, localDay, openRouterDb } from '../../src/models/budget.ts';
import { cacheKey, ResponseCache } from '../../src/models/cache.ts';

const WORKER = path.join(import.meta.dirname, '../helpers/budget-worker.ts');

function state(t: Test): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-budget-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const config = (over: Record<string, unknown> = {}) => budgetSchema.parse(over);

t.test('limits per request and per day, in money and tokens, with the reason', async (t) => {
  const db = openRouterDb(state(t));
  t.teardown(() => db.close());
  const budget = new Budget(db, config({ daily_usd: 0.05, request_usd: 0.02, daily_tokens: 5000, request_tokens: 3000 }));
  t.throws(() => budget.reserve('anthropic', 'claude-sonnet-4-5', 1000, 2000), new BudgetError('this request could cost $0.0330, more than the $0.02 a request may ([budget] request_usd)'));
  t.throws(() => budget.reserve('openai', 'gpt-4.1-mini', 2500, 1000), /could use 3500 tokens, more than the 3000 a request may \(\[budget\] request_tokens\)/);
  const a = budget.reserve('anthropic', 'claude-sonnet-4-5', 1000, 1000); // $0.018 worst
  t.equal(a.worstUsd, 0.018);
  const b = budget.reserve('anthropic', 'claude-sonnet-4-5', 1000, 1000);
  t.throws(() => budget.reserve('anthropic', 'claude-sonnet-4-5', 1000, 1000), /today's cloud budget is spent: \$0\.0360 of \$0\.05 used or reserved, this request could cost \$0\.0180 \(\[budget\] daily_usd\)/, 'reservations count');
  t.equal(budget.settle(a, 'anthropic', 'claude-sonnet-4-5', 1000, 100), 0.0045, 'settled at what was used');
  budget.release(b);
  t.match(budget.spent(), { usd: 0.0045, tokens: 1100, reservedUsd: 0, reservedTokens: 0 });
  budget.reserve('anthropic', 'claude-sonnet-4-5', 1000, 1000);
  t.throws(() => budget.reserve('openai', 'gpt-4.1-mini', 1000, 1000), /today's cloud tokens are spent: 3100 of 5000 used or reserved, this request could use 2000/);
  t.equal(budget.cost('some-new-model', 1_000_000, 0), 15, 'an unknown model costs the dearest price');
});

t.test('spending survives a restart; a dead process keeps its reservation; a new day is fresh', async (t) => {
  const dir = state(t);
  let db = openRouterDb(dir);
  let budget = new Budget(db, config({ daily_usd: 1 }));
  const r = budget.reserve('anthropic', 'claude-sonnet-4-5', 1000, 1000);
  budget.settle(r, 'anthropic', 'claude-sonnet-4-5', 1000, 1000);
  budget.reserve('anthropic', 'claude-sonnet-4-5', 1000, 1000); // its process "dies": never settled
  db.close();
  db = openRouterDb(dir);
  t.teardown(() => db.close());
  budget = new Budget(db, config({ daily_usd: 1 }));
  t.match(budget.spent(), { usd: 0.018, reservedUsd: 0.018 });
  const tomorrow = new Date(Date.now() + 86_400_000);
  t.match(budget.spent(tomorrow), { usd: 0, reservedUsd: 0 });
});

t.test('four processes reserving at once never pass the daily limit', async (t) => {
  const dir = state(t);
  openRouterDb(dir).close();
  const limits = { daily_usd: 0.1, request_usd: 1, daily_tokens: 10_000_000, request_tokens: 100_000, prices: {} };
  const runs = await Promise.all(
    Array.from({ length: 4 }, () =>
      new Promise<{ granted: number; refused: number }>((resolve, reject) => {
        const child = spawn(process.execPath, [WORKER, dir, '40', JSON.stringify(limits)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { granted: number; refused: number }) : reject(new Error(`worker exited ${code}`))));
      }),
    ),
  );
  const granted = runs.reduce((n, r) => n + r.granted, 0);
  const refused = runs.reduce((n, r) => n + r.refused, 0);
  t.ok(granted > 4 && refused > 0, `${granted} granted, ${refused} refused`);
  const db = openRouterDb(dir);
  t.teardown(() => db.close());
  const spent = new Budget(db, config(limits)).spent();
  t.equal(spent.reservedUsd, 0, 'every reservation was settled or released');
  t.ok(spent.usd <= limits.daily_usd + 1e-9, `spent $${spent.usd.toFixed(4)} of $${limits.daily_usd}`);
});

t.test('a reservation waits for one being made elsewhere, and sees it', async (t) => {
  // Another process is inside its reservation (the write lock held, its row not yet
  // committed): this one's check must wait for it and count it, not read around it.
  const dir = state(t);
  const other = openRouterDb(dir);
  t.teardown(() => other.close());
  const limits = { daily_usd: 0.1, request_usd: 1, daily_tokens: 10_000_000, request_tokens: 100_000, prices: {} };
  other.exec('BEGIN IMMEDIATE');
  other.prepare("INSERT INTO spending (day, provider, model, state, usd, tokens, created_at) VALUES (?, 'anthropic', 'x', 'reserved', 0.09, 1, ?)").run(localDay(), new Date().toISOString());
  const child = spawn(process.execPath, [WORKER, dir, '1', JSON.stringify(limits)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  other.exec('COMMIT');
  await new Promise((resolve) => child.on('exit', resolve));
  t.same(JSON.parse(out), { granted: 0, refused: 1 }, 'refused: 0.09 reserved elsewhere + 0.018 would pass 0.1');
});

t.test('the cache: the key covers model, parameters, tools and messages; entries expire', async (t) => {
  const base = { tier: 'operational', model: 'm', maxTokens: 100, temperature: null, tools: [{ name: 'a', description: 'd', parameters: { type: 'object', properties: {} } }], messages: [{ role: 'user', content: 'hi' }] };
  const key = cacheKey(base);
  t.equal(cacheKey({ ...base, messages: [{ content: 'hi', role: 'user' }] }), key, 'key order does not matter');
  for (const changed of [{ model: 'n' }, { maxTokens: 101 }, { temperature: 0.5 }, { tools: [] }, { messages: [{ role: 'user', content: 'hi!' }] }, { tier: 'tactical' }]) {
    t.not(cacheKey({ ...base, ...changed }), key, JSON.stringify(changed));
  }
  const db = openRouterDb(state(t));
  t.teardown(() => db.close());
  const cache = new ResponseCache(db, 1000);
  cache.set(key, { content: 'hello' }, 10_000);
  t.same(cache.get(key, 10_500), { content: 'hello' });
  t.equal(cache.get(key, 11_001), null, 'expired');
  t.equal(new ResponseCache(db, 0).get(key, 10_500), null, 'a ttl of 0 turns the cache off');
});
