// Memory store: ingest rate (one memory per transaction, and batches of 1,000), and search
// latency p50/p99 at 10k, 100k and 1M memories (goal: p99 under 5 ms at 1M). The anchor is
// the two-word query against a plain SQLite table with LIKE, in the same run.
//
// Queries are what a person or an agent types: one to three words, each of which a few
// thousand rows (or, for the commonest, a tenth of them) contain; some with a filter (a type a
// third of the rows have, a rare type, the last 1% of the time span). `words2` is the query
// mix this benchmark measured first ("<word> item<n>").
//
//   node bench/memory.ts [--sizes 10000,100000,1000000] [--queries 300]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { MemoryStore, type NewMemory, type SearchOptions } from '../src/memory/store.ts';
import { machine, percentile, print, round } from './lib.ts';

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '10000,100000,1000000' }, queries: { type: 'string', default: '300' } } });
const SIZES = values.sizes.split(',').map(Number);
const QUERIES = Number(values.queries);
const LARGEST = Math.max(...SIZES);

const WORDS = ['nginx', 'restart', 'installed', 'package', 'failed', 'exit', 'status', 'disk', 'full', 'network', 'lease', 'openssl', 'upgrade', 'console', 'audit', 'policy', 'sshd', 'cron', 'kernel', 'module'];
function sentence(i: number): string {
  // A few hundred distinct words, so that queries hit thousands of rows, not all of them.
  const parts = [WORDS[i % WORDS.length], `svc${i % 97}`, WORDS[(i * 7) % WORDS.length], `host${i % 13}`, `item${i % 1009}`];
  return `${parts.join(' ')} at step ${i}`;
}
// One memory a second, the newest now. The type does not follow the words (3 and 1000 share
// no factor with 20): a filter and the words are independent.
const START = Date.now() - LARGEST * 1000;
const createdAt = (i: number): Date => new Date(START + i * 1000);
const memory = (i: number): NewMemory => ({
  type: i % 1000 === 999 ? 'decision' : i % 3 === 0 ? 'service' : 'package',
  tier: 'operational',
  content: sentence(i),
  source: 'bench',
  metadata: { n: i },
  createdAt: createdAt(i),
});

type Mix = (q: number, size: number) => [string, SearchOptions];
const MIXES: Record<string, Mix> = {
  words1: (q) => [WORDS[q % WORDS.length]!, {}],
  words2: (q) => [`${WORDS[q % WORDS.length]} item${(q * 31) % 1009}`, {}],
  words3: (q) => [`${WORDS[q % WORDS.length]} svc${(q * 13) % 97} host${q % 13}`, {}],
  typeThird: (q) => [`${WORDS[q % WORDS.length]} svc${(q * 13) % 97}`, { type: 'service' }],
  typeRare: (q) => [WORDS[q % WORDS.length]!, { type: 'decision' }],
  lastPercent: (q, size) => [WORDS[q % WORDS.length]!, { since: createdAt(size - size / 100) }],
};

const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-bench-memory-'));
try {
  const store = MemoryStore.open(MemoryStore.pathIn(dir));
  const anchor = new Database(path.join(dir, 'plain.db'));
  anchor.pragma('journal_mode = WAL');
  anchor.exec('CREATE TABLE m (id INTEGER PRIMARY KEY, content TEXT NOT NULL, created_at TEXT NOT NULL)');
  const anchorInsert = anchor.prepare('INSERT INTO m (content, created_at) VALUES (?, ?)');
  const anchorSearch = anchor.prepare("SELECT id, content FROM m WHERE content LIKE '%' || ? || '%' AND content LIKE '%' || ? || '%' ORDER BY created_at DESC LIMIT 20");

  let started = performance.now();
  const single = 2_000;
  for (let i = 0; i < single; i++) store.add(memory(i));
  const singlePerSecond = single / ((performance.now() - started) / 1000);

  let count = single;
  const results: Record<string, unknown>[] = [];
  let batchedMs = 0;
  let batchedRows = 0;
  for (const size of SIZES) {
    started = performance.now();
    while (count < size) {
      const batch = Array.from({ length: Math.min(1_000, size - count) }, (_, k) => memory(count + k));
      store.addMany(batch);
      count += batch.length;
    }
    batchedMs += performance.now() - started;
    batchedRows = count - single;
    const anchorCount = (anchor.prepare('SELECT count(*) AS n FROM m').get() as { n: number }).n;
    anchor.transaction(() => {
      for (let i = anchorCount; i < size; i++) anchorInsert.run(sentence(i), createdAt(i).toISOString());
    })();

    const all: number[] = [];
    const mixes: Record<string, unknown> = {};
    for (const [name, mix] of Object.entries(MIXES)) {
      const times: number[] = [];
      let hits = 0;
      for (let q = 0; q < QUERIES; q++) {
        const [text, options] = mix(q, size);
        const t0 = performance.now();
        hits += store.search(text, { ...options, limit: 20 }).length;
        times.push(performance.now() - t0);
      }
      all.push(...times);
      mixes[name] = { p50Ms: round(percentile(times, 50), 3), p99Ms: round(percentile(times, 99), 3), meanHits: round(hits / QUERIES, 1) };
    }
    const anchorTimes: number[] = [];
    for (let q = 0; q < QUERIES; q++) {
      const t0 = performance.now();
      anchorSearch.all(WORDS[q % WORDS.length], `item${(q * 31) % 1009}`);
      anchorTimes.push(performance.now() - t0);
    }
    results.push({
      memories: size,
      search: { p50Ms: round(percentile(all, 50), 3), p99Ms: round(percentile(all, 99), 3), queries: all.length },
      mixes,
      anchorLike: { query: 'words2', p50Ms: round(percentile(anchorTimes, 50), 3), p99Ms: round(percentile(anchorTimes, 99), 3) },
      fileMiB: round(store.stats().fileBytes / 2 ** 20, 1),
    });
    process.stderr.write(`bench memory: ${size} done\n`);
  }
  store.close();
  anchor.close();
  print({
    benchmark: 'memory',
    machine: machine(),
    ingestPerSecond: { single: round(singlePerSecond, 0), batchedBy1000: round(batchedRows / (batchedMs / 1000), 0) },
    goal: 'search p99 under 5 ms at 1,000,000 memories',
    results,
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
