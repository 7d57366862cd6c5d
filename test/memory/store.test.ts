// The memory store: schema versioning, search with filters, the full-text index kept in step
// through updates, deletes and retention, several writing processes, and the CLI's contract.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import { ftsQuery, MemoryStore, SCHEMA_VERSION } from '../../src/memory/store.ts';
import { MAIN } from '../helpers/init-harness.ts';

function tempStore(t: Test): { store: MemoryStore; dir: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-memory-'));
  const store = MemoryStore.open(MemoryStore.pathIn(dir));
  t.teardown(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, dir };
}

t.test('opening applies the migrations once and records the version', async (t) => {
  const { store, dir } = tempStore(t);
  t.equal(store.schemaVersion, SCHEMA_VERSION);
  const again = MemoryStore.open(MemoryStore.pathIn(dir));
  t.equal(again.schemaVersion, SCHEMA_VERSION, 'reopening does not migrate twice');
  again.close();
  const db = new Database(MemoryStore.pathIn(dir));
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
  db.close();
  t.throws(() => MemoryStore.open(MemoryStore.pathIn(dir)), /newer than this aios knows/);
});

t.test('a database of schema 2 (the index without the type word) is migrated with its rows found, by type too', async (t) => {
  const { store, dir } = tempStore(t);
  store.close();
  const file = MemoryStore.pathIn(dir);
  rmSync(file, { force: true });
  // What aios wrote before the type word: the two first migrations, as they were.
  const db = new Database(file);
  db.exec(`CREATE TABLE memories (rowid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, tier TEXT NOT NULL, content TEXT NOT NULL,
     metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)), source TEXT NOT NULL, importance REAL NOT NULL DEFAULT 0.5, created_at TEXT NOT NULL, expires_at TEXT);
   CREATE INDEX memories_type ON memories (type, created_at);
   CREATE INDEX memories_tier ON memories (tier, created_at);
   CREATE INDEX memories_created ON memories (created_at);
   CREATE INDEX memories_expires ON memories (expires_at) WHERE expires_at IS NOT NULL;
   CREATE VIRTUAL TABLE memories_fts USING fts5(content, content='memories', content_rowid='rowid', tokenize='porter unicode61');
   CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN INSERT INTO memories_fts (rowid, content) VALUES (new.rowid, new.content); END;
   CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', old.rowid, old.content); END;
   CREATE TRIGGER memories_au AFTER UPDATE OF content ON memories BEGIN
     INSERT INTO memories_fts (memories_fts, rowid, content) VALUES ('delete', old.rowid, old.content);
     INSERT INTO memories_fts (rowid, content) VALUES (new.rowid, new.content); END;
   CREATE INDEX memories_filters ON memories (rowid, type, tier, created_at);
   PRAGMA user_version = 2;`);
  const insert = db.prepare("INSERT INTO memories (id, type, tier, content, source, created_at) VALUES (?, ?, 'operational', ?, 'test', ?)");
  insert.run('01J0000000000000000000000A', 'package', 'installed nginx from the mirror', '2026-11-01T10:00:00.000Z');
  insert.run('01J0000000000000000000000B', 'decision', 'decided to keep nginx on port 8080', '2026-11-02T10:00:00.000Z');
  insert.run('01J0000000000000000000000C', 'package', 'removed apache', '2026-11-03T10:00:00.000Z');
  db.close();

  const migrated = MemoryStore.open(file);
  t.teardown(() => migrated.close());
  t.equal(migrated.schemaVersion, SCHEMA_VERSION);
  t.equal(migrated.check(), 'ok', 'SQLite and FTS5 integrity checks hold after the rebuild');
  t.same(migrated.search('nginx').map((h) => h.id).sort(), ['01J0000000000000000000000A', '01J0000000000000000000000B']);
  t.same(migrated.search('nginx', { type: 'decision' }).map((h) => h.id), ['01J0000000000000000000000B'], 'the type word narrows the search');
  t.same(migrated.search('decision').map((h) => h.id), [], 'a type name is not a word of every memory of that type');
  t.ok(migrated.forget('01J0000000000000000000000B'));
  t.same(migrated.search('nginx', { type: 'decision' }), [], 'the index follows a delete');
  t.equal(migrated.check(), 'ok');
});

t.test('ids sort by time; search ranks, filters by type, tier, time and metadata', async (t) => {
  const { store } = tempStore(t);
  const day = 86_400_000;
  const now = Date.now();
  const old = store.add({ type: 'package', content: 'installed nginx 1.24', source: 'test', createdAt: new Date(now - 3 * day), metadata: { package: 'nginx' } });
  const recent = store.add({ type: 'package', content: 'installed nginx 1.26 and openssl', source: 'test', createdAt: new Date(now - day / 2), metadata: { package: 'nginx' } });
  const crash = store.add({ type: 'service', tier: 'operational', content: 'nginx crashed with status 1', source: 'init' });
  store.add({ type: 'chat', tier: 'working', content: 'what did I install yesterday?', source: 'console' });
  t.ok(old.id < recent.id && recent.id < crash.id, 'ULIDs sort by creation time');
  t.same(store.search('nginx').map((h) => h.id).sort(), [old.id, recent.id, crash.id].sort());
  t.same(store.search('nginx', { type: 'service' }).map((h) => h.id), [crash.id]);
  t.same(store.search('nginx', { since: new Date(now - day) , type: 'package' }).map((h) => h.id), [recent.id]);
  t.same(store.search('', { tier: 'working' }).map((h) => h.content), ['what did I install yesterday?'], 'an empty query lists');
  t.same(store.search('openssl', { metadata: { package: 'nginx' } }).map((h) => h.id), [recent.id]);
  t.same(store.search('install', {}).length, 3, 'stemming and prefixes: install, installed');
  t.match(store.search('openssl')[0], { snippet: /\[openssl\]/ });
});

t.test('queries are text, never FTS syntax: quotes, operators and punctuation do not throw', async (t) => {
  const { store } = tempStore(t);
  store.add({ type: 'knowledge', content: 'the AND gate; NEAR(x) "quoted" col:umn -minus', source: 'test' });
  for (const q of ['"', 'AND', 'NEAR(', 'col:umn', '-minus', '*', '(a OR b', 'x"y', "'; DROP TABLE memories; --"]) {
    t.doesNotThrow(() => store.search(q), q);
  }
  t.equal(store.search('NEAR(x)').length, 1);
  t.equal(ftsQuery('  '), null);
  t.equal(ftsQuery('a-b'), '"a" "b"');
  t.equal(ftsQuery('a-b', true), '"a" "b"*');
});

t.test('the full-text index follows updates, deletes and retention (the reference systems broke it)', async (t) => {
  const { store } = tempStore(t);
  const keep = store.add({ type: 'knowledge', content: 'alpha bravo', source: 'test' });
  const change = store.add({ type: 'knowledge', content: 'charlie delta', source: 'test' });
  const gone = store.add({ type: 'knowledge', content: 'echo foxtrot', source: 'test' });
  const expiring = store.add({ type: 'system', content: 'golf hotel', source: 'test', expiresAt: new Date(Date.now() - 1000) });
  store.update(change.id, 'india juliet');
  t.same(store.search('charlie'), [], 'the old words of an updated memory are gone from the index');
  t.same(store.search('juliet').map((h) => h.id), [change.id]);
  t.ok(store.forget(gone.id));
  t.same(store.search('foxtrot'), []);
  t.equal(store.expire(), 1);
  t.same(store.search('hotel'), [], 'retention removed it from the index too');
  t.equal(store.get(expiring.id), null);
  t.same(store.search('alpha').map((h) => h.id), [keep.id]);
  t.equal(store.forgetMatching('alpha'), 1);
  t.throws(() => store.forgetMatching('  '), /empty query/);
  t.equal(store.check(), 'ok', 'integrity_check and the FTS integrity-check both pass');
});

t.test('four processes writing at once: no error, every row there and found', async (t) => {
  const { store, dir } = tempStore(t);
  const file = MemoryStore.pathIn(dir);
  const writer = (n: number): Promise<number | null> =>
    new Promise((resolve) => {
      const code = `import { MemoryStore } from ${JSON.stringify(path.resolve('src/memory/store.ts'))};
        const s = MemoryStore.open(${JSON.stringify(file)});
        for (let i = 0; i < 150; i++) s.add({ type: 'system', content: 'writer${n} row ' + i + ' zulu', source: 'w${n}' });
        s.close();`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'inherit', 'inherit'] });
      child.on('exit', resolve);
    });
  const codes = await Promise.all([1, 2, 3, 4].map(writer));
  t.same(codes, [0, 0, 0, 0], 'no writer failed ("database is locked" is waited out)');
  t.equal(store.stats().total, 600);
  t.equal(store.search('zulu', { limit: 10_000 }).length, 600);
  t.equal(store.check(), 'ok');
});

t.test('CLI: add, search --json (the contract), forget asks for --yes without a terminal', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-memory-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const aios = (...args: string[]) => promisify(execFile)(process.execPath, ['--disable-sigusr1', MAIN, 'memory', ...args, '--state', dir]);
  await aios('add', '--type', 'package', 'installed', 'htop');
  const { stdout } = await aios('search', '--json', 'htop');
  const hits = JSON.parse(stdout) as Record<string, unknown>[];
  t.equal(hits.length, 1);
  t.same(Object.keys(hits[0]!).sort(), ['content', 'createdAt', 'id', 'tier', 'type']);
  t.match(hits[0], { type: 'package', tier: 'long-term', content: 'installed htop' });
  await t.rejects(aios('forget', '--query', 'htop'), /add --yes to confirm/);
  t.match((await aios('forget', '--query', 'htop', '--yes')).stdout, /forgot 1 memory/);
  t.same(JSON.parse((await aios('search', '--json', 'htop')).stdout), []);
  await t.rejects(aios('search', '--since', 'lastweek', 'x'), /Expected --since to be a time like/);
});
