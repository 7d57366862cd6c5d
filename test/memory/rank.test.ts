// aios_bm25 (src/native/aios-rank.c): FTS5's bm25 with each phrase's row count remembered
// between queries. Its scores equal bm25()'s whenever its counts are fresh (after a table's row
// count moved by more than 1 %, after the maximum age, after aios_bm25_forget), and lag within
// those bounds (which shows that it does cache); queries it cannot key safely (a prefix) are
// always counted. The store ranks the same way with it and without it.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { MemoryStore } from '../../src/memory/store.ts';
import { rankExtension } from '../../src/native/index.ts';

const WORDS = ['nginx', 'error', 'install', 'disk', 'full', 'memory', 'cpu', 'network', 'timeout', 'restart', 'package', 'kernel'];
const QUERIES = ['"nginx"', '"nginx" "error"', '"disk full"', '"install" "kernel" "timeout"', '"installed"', '"restart" "package"'];

function text(seed: number): string {
  const words: string[] = [];
  let x = Math.imul(seed + 1, 2654435761) >>> 0;
  for (let i = 0; i < 3 + (seed % 11); i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    words.push(WORDS[(x >>> 16) % WORDS.length]!);
  }
  return words.join(' ');
}

function corpus(): Database.Database {
  const file = rankExtension();
  if (!file) throw new Error('aios_rank.node is not built: npm run build:native');
  const db = new Database(':memory:');
  db.loadExtension(file);
  db.exec("CREATE VIRTUAL TABLE t USING fts5(content, tokenize='porter unicode61')");
  const insert = db.prepare('INSERT INTO t (content) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < 5000; i++) insert.run(text(i));
  })();
  return db;
}

/** The largest relative difference between aios_bm25 and bm25 over the matches of each query. */
function drift(db: Database.Database, queries = QUERIES): number {
  let worst = 0;
  for (const q of queries) {
    const rows = db.prepare<{ q: string }, { a: number; b: number }>('SELECT aios_bm25(t, @q) AS a, bm25(t) AS b FROM t WHERE t MATCH @q').all({ q });
    if (rows.length === 0) throw new Error(`${q} matches nothing`);
    for (const { a, b } of rows) worst = Math.max(worst, Math.abs(a - b) / Math.abs(b));
  }
  return worst;
}

function insertRows(db: Database.Database, n: number, content: (i: number) => string): void {
  const insert = db.prepare('INSERT INTO t (content) VALUES (?)');
  db.transaction(() => {
    for (let i = 0; i < n; i++) insert.run(content(i));
  })();
}

t.test('equal to bm25 on a fresh corpus, and again after the counts go stale and are recounted', async (t) => {
  const db = corpus();
  t.teardown(() => db.close());
  t.ok(drift(db) < 1e-9, 'first queries: counted, equal');
  t.ok(drift(db) < 1e-9, 'again, from the cache: equal');

  // 40 rows (0.8 %) with nginx: within 1 %, the cached count of nginx lags.
  insertRows(db, 40, () => 'nginx nginx restart');
  t.ok(drift(db, ['"nginx"']) > 1e-6, 'within 1 % of new rows the cached counts lag (they are cached)');
  t.ok(drift(db, ['"nginx"*']) < 1e-9, 'a prefix query is never cached');
  // 20 more: 60 rows since the count, more than 1 %: recounted.
  insertRows(db, 20, () => 'nginx restart');
  t.ok(drift(db) < 1e-9, 'after inserts beyond 1 %: equal');

  // Deletes beyond 1 % of the rows (half of them holding nginx).
  db.prepare('DELETE FROM t WHERE rowid IN (SELECT rowid FROM t WHERE t MATCH ? LIMIT 100)').run('"nginx"');
  db.prepare('DELETE FROM t WHERE rowid IN (SELECT rowid FROM t WHERE t MATCH ? LIMIT 100)').run('"memory"');
  t.ok(drift(db) < 1e-9, 'after deletes beyond 1 %: equal');

  // Updates leave the row count alone: the maximum age (or aios_bm25_forget) recounts.
  t.equal(db.prepare('SELECT aios_bm25_max_age(0.3) AS v').pluck().get(), 60, 'the default maximum age is 60 s');
  db.prepare("UPDATE t SET content = 'disk full disk' WHERE rowid IN (SELECT rowid FROM t WHERE t MATCH ? LIMIT 300)").run('"cpu"');
  t.ok(drift(db, ['"disk full"', '"cpu"']) > 1e-6, 'right after updates, the cached counts lag');
  await new Promise((resolve) => setTimeout(resolve, 400));
  t.ok(drift(db) < 1e-9, 'after the maximum age: equal');
  db.prepare("UPDATE t SET content = 'kernel timeout' WHERE rowid IN (SELECT rowid FROM t WHERE t MATCH ? LIMIT 300)").run('"network"');
  db.prepare('SELECT aios_bm25_max_age(60)').run();
  t.ok(drift(db, ['"network"', '"install" "kernel" "timeout"']) > 1e-6, 'lagging again');
  db.prepare('SELECT aios_bm25_forget()').run();
  t.ok(drift(db) < 1e-9, 'after aios_bm25_forget: equal');
});

t.test('the count belongs to the table: two tables with the same words do not share it', (t) => {
  const db = corpus();
  t.teardown(() => db.close());
  db.exec("CREATE VIRTUAL TABLE u USING fts5(content, tokenize='porter unicode61')");
  db.prepare("INSERT INTO u (content) SELECT content FROM t WHERE rowid % 3 = 0 UNION ALL SELECT 'nginx' FROM t WHERE rowid <= 400").run();
  t.ok(drift(db) < 1e-9, 'table t');
  const rows = db.prepare<{ q: string }, { a: number; b: number }>('SELECT aios_bm25(u, @q) AS a, bm25(u) AS b FROM u WHERE u MATCH @q').all({ q: '"nginx"' });
  t.ok(rows.length > 400);
  t.ok(rows.every(({ a, b }) => Math.abs(a - b) / Math.abs(b) < 1e-9), 'table u');
  t.end();
});

t.test('the store ranks the same with aios_bm25 as with bm25', (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-memory-rank-'));
  const file = MemoryStore.pathIn(dir);
  const cached = MemoryStore.open(file);
  const plain = MemoryStore.open(file, { ranking: 'bm25' });
  t.teardown(() => {
    cached.close();
    plain.close();
    rmSync(dir, { recursive: true, force: true });
  });
  t.equal(cached.ranking, 'aios_bm25');
  t.equal(plain.ranking, 'bm25');
  const start = Date.parse('2026-11-01T00:00:00Z');
  cached.addMany(Array.from({ length: 600 }, (_, i) => ({ type: i % 4 === 0 ? 'system' as const : 'command' as const, content: text(i), source: 'test', createdAt: new Date(start + i * 60_000) })));
  for (const query of ['nginx', 'nginx error', 'disk full', 'install kernel timeout', 'installed', 'restar']) {
    for (const options of [{}, { type: 'system' as const }, { limit: 50 }]) {
      const a = cached.search(query, options);
      const b = plain.search(query, options);
      t.ok(a.length > 0, `${query} finds something`);
      t.same(a.map((h) => h.id), b.map((h) => h.id), `${query} ${JSON.stringify(options)}: same order`);
      t.ok(a.every((h, i) => Math.abs(h.rank! - b[i]!.rank!) <= 1e-9 * Math.abs(b[i]!.rank!)), 'same scores');
    }
  }
  t.end();
});
