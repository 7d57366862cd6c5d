// Crash safety: a write-heavy process (and, alongside it, retention) killed with SIGKILL at a
// random moment, many times over. After every kill the database passes integrity_check and
// FTS5's integrity-check, no row the writer saw committed is missing, and full-text search
// finds exactly the rows in the table. AIOS_CRASH_RUNS sets how many kills (default 200).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { MemoryStore } from '../../src/memory/store.ts';

const RUNS = Number(process.env.AIOS_CRASH_RUNS ?? 200);
const STORE = JSON.stringify(path.resolve('src/memory/store.ts'));

// Writes until killed; prints each id once its transaction has committed.
const WRITER = (file: string, run: number) => `import { writeSync } from 'node:fs';
import { MemoryStore } from ${STORE};
const s = MemoryStore.open(${JSON.stringify(file)});
for (let i = 0; ; i++) {
  const m = s.add({ type: 'system', content: 'kilo run${run} row ' + i + ' ' + 'x'.repeat(i % 200), source: 'crash', expiresAt: i % 3 === 0 ? new Date(Date.now() - 1) : null });
  // Only rows retention leaves alone are updated: an expired one may already be gone.
  if (i % 5 === 0 && i % 3 !== 0) s.update(m.id, m.content + ' lima');
  if (i % 7 === 0) s.forget(m.id); else writeSync(1, m.id + (i % 3 === 0 ? ' expiring' : '') + '\\n');
}`;

// Retention running at the same time, in another process.
const RETENTION = (file: string) => `import { MemoryStore } from ${STORE};
const s = MemoryStore.open(${JSON.stringify(file)});
for (;;) s.expire();`;

function run(code: string, killAfterMs: number): Promise<string> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('exit', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

t.test(`${RUNS} kills at random moments: nothing committed is lost, the index matches the table`, async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-memory-crash-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const failures: string[] = [];
  let committed = new Set<string>();
  let total = 0;
  let file = '';
  for (let i = 0; i < RUNS; i++) {
    // A fresh database every 20 kills keeps each check quick; each one still takes 20 kills in a row.
    if (i % 20 === 0) {
      total += committed.size;
      committed = new Set();
      file = MemoryStore.pathIn(path.join(dir, String(i)));
      MemoryStore.open(file).close();
    }
    // Node and the store take ~150 ms to start: kill between 150 and 450 ms so that most kills land mid-write.
    const killAt = 150 + Math.floor(Math.random() * 300);
    const [written] = await Promise.all([run(WRITER(file, i), killAt), i % 2 === 0 ? run(RETENTION(file), killAt + 20) : Promise.resolve('')]);
    for (const line of written.split('\n')) {
      const [id, flag] = line.split(' ');
      if (id && flag !== 'expiring') committed.add(id);
    }
    const store = MemoryStore.open(file);
    try {
      const check = store.check();
      if (check !== 'ok') failures.push(`run ${i}: ${check}`);
      const rows = store.search('', { limit: 10_000_000 });
      const ids = new Set(rows.map((r) => r.id));
      const lost = [...committed].filter((id) => !ids.has(id));
      if (lost.length > 0) failures.push(`run ${i}: ${lost.length} committed rows lost, e.g. ${lost[0]}`);
      const found = store.search('kilo', { limit: 10_000_000 });
      if (found.length !== rows.length) failures.push(`run ${i}: search finds ${found.length} rows, the table has ${rows.length}`);
      const updated = rows.filter((r) => r.content.endsWith(' lima')).length;
      if (store.search('lima', { limit: 10_000_000 }).length !== updated) failures.push(`run ${i}: updated rows and the index disagree`);
    } finally {
      store.close();
    }
    if (failures.length > 5) break;
  }
  total += committed.size;
  t.same(failures, []);
  t.ok(total > RUNS, `the writers committed ${total} rows that had to survive`);
});
