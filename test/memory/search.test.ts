// Search as the store promises it: bm25 best first (equal scores newest first) among the newest
// RANK_WINDOW matches that pass the filters, every match when the limit asks for more; the same
// answer whichever side (the filter's index or the full-text index) drives the query; snippets;
// the last word as a prefix only when the words find nothing and no memory has it as a word. Each result is compared with a
// reference computed the slow way: every match scored by FTS5, filtered and ordered here.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import { ftsQuery, MemoryStore, RANK_WINDOW, type Memory, type MemoryType, type NewMemory, type SearchOptions } from '../../src/memory/store.ts';

const DAY = 86_400_000;
const NOW = Date.parse('2026-11-20T12:00:00Z');

function tempStore(t: Test): { store: MemoryStore; file: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-memory-search-'));
  const file = MemoryStore.pathIn(dir);
  const store = MemoryStore.open(file);
  t.teardown(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, file };
}

/** What search should return, computed without the store's query plans. */
function reference(file: string, query: string, options: SearchOptions & { limit: number }): string[] {
  const db = new Database(file, { readonly: true });
  try {
    const scored = db
      .prepare<[string], { rowid: number; rank: number }>('SELECT rowid, bm25(memories_fts) AS rank FROM memories_fts WHERE memories_fts MATCH ?')
      .all(ftsQuery(query)!);
    const rows = new Map(
      db
        .prepare<[], { rowid: number; id: string; type: string; tier: string; created_at: string; metadata: string }>('SELECT rowid, id, type, tier, created_at, metadata FROM memories')
        .all()
        .map((r) => [r.rowid, r]),
    );
    const passing = scored
      .filter(({ rowid }) => {
        const row = rows.get(rowid)!;
        const metadata = JSON.parse(row.metadata) as Record<string, unknown>;
        return (
          (!options.type || row.type === options.type) &&
          (!options.tier || row.tier === options.tier) &&
          (!options.since || row.created_at >= options.since.toISOString()) &&
          (!options.until || row.created_at < options.until.toISOString()) &&
          Object.entries(options.metadata ?? {}).every(([k, v]) => JSON.stringify(metadata[k]) === JSON.stringify(v))
        );
      })
      .sort((a, b) => b.rowid - a.rowid)
      .slice(0, Math.max(RANK_WINDOW, options.limit));
    return passing
      .sort((a, b) => a.rank - b.rank || b.rowid - a.rowid)
      .slice(0, options.limit)
      .map((s) => rows.get(s.rowid)!.id);
  } finally {
    db.close();
  }
}

const TYPES: MemoryType[] = ['service', 'package', 'tool', 'decision'];
const WORDS = ['nginx', 'crashed', 'restarted', 'installed', 'openssl', 'disk', 'full', 'lease'];

/** Row i: a few words (repeated and of varying length, so that bm25 scores differ), a type, an hour. */
function memory(i: number, rareEvery = 500): NewMemory {
  const words = [WORDS[i % 8], WORDS[(i * 3) % 8], `svc${i % 7}`, ...Array.from({ length: i % 5 }, () => WORDS[(i * 5) % 8])];
  return {
    type: i % rareEvery === 0 ? 'decision' : TYPES[i % 3]!,
    tier: i % 4 === 0 ? 'working' : 'operational',
    content: `${words.join(' ')} ${'x'.repeat(i % 3)} row${i}`,
    source: 'test',
    metadata: { host: `h${i % 5}` },
    createdAt: new Date(NOW - (30_000 - i) * 60_000),
  };
}

t.test('ranking: bm25 among the newest matches, ties newest first, every match when the limit asks', async (t) => {
  const { store, file } = tempStore(t);
  // The oldest match is the best one (shortest); then more than a window's worth of longer ones.
  const best = store.add({ type: 'knowledge', content: 'quokka', source: 'test', createdAt: new Date(NOW - 10 * DAY) });
  store.addMany(Array.from({ length: RANK_WINDOW + 50 }, (_, i) => ({ type: 'knowledge' as const, content: `quokka ${'filler '.repeat(1 + (i % 4))}n${i}`, source: 'test', createdAt: new Date(NOW - DAY + i * 1000) })));
  const hits = store.search('quokka', { limit: 10 });
  t.same(hits.map((h) => h.id), reference(file, 'quokka', { limit: 10 }));
  t.notOk(hits.some((h) => h.id === best.id), 'an old match beyond the newest window is not ranked');
  t.ok(hits.every((h, i) => i === 0 || hits[i - 1]!.rank! <= h.rank!), 'best first');
  const every = store.search('quokka', { limit: RANK_WINDOW + 100 });
  t.equal(every.length, RANK_WINDOW + 51, 'a limit above the window ranks every match');
  t.equal(every[0]!.id, best.id, 'and then the oldest, best match comes first');
  t.same(every.map((h) => h.id), reference(file, 'quokka', { limit: RANK_WINDOW + 100 }));
  // Equal scores: the newer first.
  const a = store.add({ type: 'knowledge', content: 'wombat tie', source: 'test' });
  const b = store.add({ type: 'knowledge', content: 'wombat tie', source: 'test' });
  t.same(store.search('wombat').map((h) => h.id), [b.id, a.id]);
});

t.test('filters give the reference answer whichever index drives the query', async (t) => {
  const { store, file } = tempStore(t);
  // 30,000 rows. Content: row i has WORDS[i % 8], WORDS[3i % 8] and (i % 5 times) WORDS[5i % 8].
  for (let start = 0; start < 30_000; start += 1_000) store.addMany(Array.from({ length: 1_000 }, (_, k) => memory(start + k)));
  const hours = (h: number): Date => new Date(NOW - h * 60 * 60_000);
  const cases: [string, SearchOptions][] = [
    ['nginx', {}],
    ['crashed installed', {}],
    // The full-text index drives: no indexed filter, or one that more than 20,000 rows pass.
    ['disk svc3', { tier: 'operational' }],
    ['disk', { tier: 'operational' }], // more passing matches than the window
    ['crashed', { metadata: { host: 'h2' } }],
    ['crashed installed', { tier: 'operational', metadata: { host: 'h1' } }],
    ['installed', { until: hours(100) }],
    // The filter's rows drive: a type (10,000 rows, or 60), a tier, the last hours.
    ['openssl svc3', { type: 'service' }],
    ['openssl', { type: 'decision' }],
    ['nginx', { tier: 'working' }],
    ['full', { since: hours(5) }],
    ['full', { since: hours(20), until: hours(10), type: 'tool' }],
    ['nginx', { type: 'decision', metadata: { host: 'h0' } }],
    ['crashed', { type: 'package', metadata: { host: 'h2' } }],
  ];
  for (const [query, options] of cases) {
    for (const limit of [5, 20]) {
      const got = store.search(query, { ...options, limit });
      const want = reference(file, query, { ...options, limit });
      t.same(got.map((h) => h.id), want, `${query} ${JSON.stringify(options)} limit ${limit}`);
      t.ok(want.length > 0, `${query} ${JSON.stringify(options)} finds something`);
      t.ok(got.every((h) => /\[[^\]]+\]/.test(h.snippet)), 'each hit has a snippet with the match marked');
    }
  }
  t.same(store.search('nginx', { type: 'knowledge' }), [], 'a filter no row passes');
  // The store remembers that 22,500 rows passed tier = operational and lets the index drive
  // for a while. When most of them go, that is only a slower plan: the answer stays right.
  const db = new Database(file);
  db.prepare("DELETE FROM memories WHERE tier = 'operational' AND rowid % 10 <> 0").run();
  db.close();
  for (const [query, options] of [['disk', { tier: 'operational' }], ['disk svc3', { tier: 'operational' }]] as const) {
    t.same(store.search(query, { ...options, limit: 20 }).map((h) => h.id), reference(file, query, { ...options, limit: 20 }), `${query} after deletes`);
  }
});

t.test('the last word is a prefix only when the words as typed find nothing and no memory has it', async (t) => {
  const { store } = tempStore(t);
  const nginx = store.add({ type: 'service', content: 'nginx crashed', source: 'test' });
  const longer = store.add({ type: 'service', content: 'nginxproxy crashed', source: 'test' });
  const installed = store.add({ type: 'package', content: 'installed vim', source: 'test' });
  t.same(store.search('nginx').map((h) => h.id), [nginx.id], 'a whole word is not also a prefix');
  t.same(store.search('ngin').map((h) => h.id).sort(), [nginx.id, longer.id].sort(), 'nothing as typed: the start of a word');
  t.same(store.search('crashed ngin').map((h) => h.id).sort(), [nginx.id, longer.id].sort());
  t.same(store.search('install').map((h) => h.id), [installed.id], 'stemming: install finds installed');
  // nginx is a word some memory has: when the other words or the filters rule it out, it is not
  // guessed into a longer word.
  const proxy = store.add({ type: 'package', content: 'restart nginxproxy', source: 'test' });
  t.same(store.search('restart nginx'), [], 'a known word is not taken as a prefix');
  t.same(store.search('nginx', { type: 'package' }), [], 'nor when a filter rules it out');
  t.same(store.search('restart ngin').map((h) => h.id), [proxy.id], 'an unknown one is');
  t.equal(store.countMatching('restart nginx'), 0, 'forget follows the same rule');
  t.equal(store.forgetMatching('ngin'), 3, 'forget finds what search finds');
});

t.test('results carry the whole memory', async (t) => {
  const { store } = tempStore(t);
  const added: Memory = store.add({ type: 'decision', tier: 'long-term', content: 'chose chrony over ntpd', source: 'agent', metadata: { why: 'smaller' }, importance: 0.9 });
  const [hit] = store.search('chrony');
  t.match(hit, { ...added, snippet: 'chose [chrony] over ntpd' });
  t.type(hit!.rank, 'number');
});
