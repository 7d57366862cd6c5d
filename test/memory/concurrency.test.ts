// Several processes on one memory.db at once, as the runtime has them: 4 writers, one of them
// in a "container" (bubblewrap, the state directory bind-mounted at another path, as a
// systemd-nspawn container sees it), and 4 searchers (one also running retention), for
// AIOS_CONCURRENCY_SECONDS (default 60), all opening a new database at the same moment.
// No operation fails: no "database is locked", nor any other error, reaches a caller (WAL, the
// busy timeout and IMMEDIATE write transactions; with the timeout at 0 this test fails). Every
// row a writer saw committed is there and found by search afterwards, and nothing else is;
// SQLite's integrity_check and FTS5's integrity-check pass.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { MemoryStore } from '../../src/memory/store.ts';

const SECONDS = Number(process.env.AIOS_CONCURRENCY_SECONDS ?? 60);
const WORKER = path.resolve('test/memory/concurrency-worker.ts');
const BWRAP = '/usr/bin/bwrap';
const REPO = path.resolve(import.meta.dirname, '../..');
const INSIDE = '/mnt/aios-state';

interface Outcome {
  name: string;
  code: number | null;
  committed: string[];
  errors: string[];
  operations: number | null;
  stderr: string;
}

function run(name: string, argv: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => {
      const lines = out.split('\n');
      const done = lines.find((l) => l.startsWith('done '));
      resolve({
        name,
        code,
        committed: lines.filter((l) => l.startsWith('committed ')).map((l) => l.slice('committed '.length)),
        errors: lines.filter((l) => l.startsWith('error ')),
        operations: done ? Number(done.slice('done '.length)) : null,
        stderr,
      });
    });
  });
}

t.test(`4 writers (one in a container) and 4 searchers for ${SECONDS} s: no failed operation, nothing lost`, { timeout: (SECONDS + 120) * 1000 }, async (t) => {
  if (!existsSync(BWRAP)) {
    t.fail(`${BWRAP} is needed for the container writer (Debian/Arch package bubblewrap)`);
    return;
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-memory-concurrency-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = MemoryStore.pathIn(dir);
  // Node starts in ~150 ms: the deadline counts from after that, so that all run together.
  const deadline = String(Date.now() + 1_000 + SECONDS * 1000);
  const node = (role: string, at: string, name: string): string[] => [process.execPath, WORKER, role, at, deadline, name];
  // The sandbox as src/sandbox/bwrap.ts sets it up, with the state directory at another path.
  const container = [BWRAP, '--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp', '--tmpfs', '/mnt', '--bind', dir, INSIDE,
    // The checkout (and its pinned node) may itself live under /tmp, which the sandbox replaces.
    '--ro-bind', REPO, REPO, '--unshare-all', '--new-session', '--die-with-parent', '--cap-drop', 'ALL', '--', ...node('writer', path.join(INSIDE, 'memory.db'), 'wc')];
  const outcomes = await Promise.all([
    run('w1', node('writer', file, 'w1')),
    run('w2', node('writer', file, 'w2')),
    run('w3', node('writer', file, 'w3')),
    run('wc', container),
    ...['s1', 's2', 's3', 's4'].map((name) => run(name, node('searcher', file, name))),
  ]);

  for (const o of outcomes) {
    // (stderr is not checked: under tap, its process hooks complain in the read-only container.)
    t.equal(o.code, 0, `${o.name} exited 0${o.code !== 0 && o.stderr ? `: ${o.stderr.trim().split('\n').slice(-3).join(' ')}` : ''}`);
    t.same(o.errors.slice(0, 5), [], `${o.name}: no operation failed (${o.errors.length} did)`);
    t.ok((o.operations ?? 0) > 0, `${o.name} did ${o.operations} operations`);
  }
  const writers = outcomes.filter((o) => o.name.startsWith('w'));
  t.ok(writers.find((o) => o.name === 'wc')!.committed.length > 0, 'the container wrote through its own path');

  const store = MemoryStore.open(file);
  t.teardown(() => store.close());
  t.equal(store.check(), 'ok', 'integrity_check and the FTS integrity-check pass');
  let total = 0;
  for (const o of writers) {
    const missing = o.committed.filter((id) => store.get(id) === null);
    t.same(missing.slice(0, 5), [], `${o.name}: all ${o.committed.length} committed rows are there`);
    // Every row has its writer's name as a word: search finds exactly that writer's rows.
    const found = store.search(o.name, { limit: 10_000_000 }).map((h) => h.id);
    t.same(found.sort(), [...o.committed].sort(), `${o.name}: search finds exactly its rows`);
    total += o.committed.length;
  }
  t.equal(store.stats().total, total, 'no row but the committed ones');
  t.comment(`${total} rows written; ${outcomes.map((o) => `${o.name} ${o.operations}`).join(', ')} operations`);
});
