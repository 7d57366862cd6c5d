// The maintenance service: a periodic snapshot when one is due (pruned to keep_automatic),
// memory retention each round, a record in memory, and a prompt stop on SIGTERM.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { MemoryStore } from '../../src/memory/store.ts';
import { maintainOnce, PERIODIC_DESCRIPTION } from '../../src/recovery/maintenance.ts';
import { listSnapshots } from '../../src/recovery/snapshots.ts';

const ENTRY = path.resolve(import.meta.dirname, '../../src/entry.ts');

function setup(t: Test, snapshots: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-maintain-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tree = path.join(dir, 'etc');
  const stateDir = path.join(dir, 'state');
  mkdirSync(tree);
  mkdirSync(stateDir);
  writeFileSync(path.join(tree, 'hostname'), 'box\n');
  const configFile = path.join(dir, 'config.toml');
  writeFileSync(configFile, `[snapshots]\npaths = [${JSON.stringify(tree)}]\n${snapshots}\n[memory]\noperational_max_days = 7\n`);
  return { dir, tree, stateDir, configFile, runDir: path.join(dir, 'run') };
}

t.test('aios maintain --once: a periodic snapshot when due, retention, a memory of it', async (t) => {
  const s = setup(t, 'interval_minutes = 60');
  const run = () => spawnSync(process.execPath, [ENTRY, 'maintain', '--once', '--json', '--state', s.stateDir, '--config', s.configFile], { encoding: 'utf8' });
  const first = run();
  t.equal(first.status, 0, first.stderr);
  const report = JSON.parse(first.stdout);
  t.match(report, { snapshot: { taken: /^[0-9A-Z]{26}$/ }, memory: { expired: Number } });
  t.match(listSnapshots(s.stateDir), [{ ok: true, metadata: { trigger: 'automatic', description: PERIODIC_DESCRIPTION } }]);
  const second = JSON.parse(run().stdout);
  t.match(second, { snapshot: { skipped: /the next one is due at / } }, 'not due again within the hour');
  const store = MemoryStore.open(MemoryStore.pathIn(s.stateDir));
  t.teardown(() => store.close());
  t.match(store.search('', { type: 'snapshot' }), [{ content: new RegExp(`snapshot ${report.snapshot.taken} taken \\(automatic\\)`), source: 'agent:maintenance' }]);
});

t.test('periodic snapshots off, and pruning to keep_automatic', async (t) => {
  const off = setup(t, 'interval_minutes = 0');
  const context = { stateDir: off.stateDir, configFile: off.configFile, runDir: off.runDir, actor: 'agent:maintenance' };
  t.match(await maintainOnce(context), { snapshot: { skipped: /off/ } });

  const kept = setup(t, 'interval_minutes = 60\nkeep_automatic = 2');
  const keptContext = { stateDir: kept.stateDir, configFile: kept.configFile, runDir: kept.runDir, actor: 'agent:maintenance' };
  const manual = spawnSync(process.execPath, [ENTRY, 'snapshot', '-d', 'mine', '--state', kept.stateDir, '--config', kept.configFile], { encoding: 'utf8' });
  t.equal(manual.status, 0, manual.stderr);
  const hour = 3_600_000;
  for (let i = 1; i <= 4; i++) t.match(await maintainOnce(keptContext, { now: new Date(Date.now() + i * 2 * hour) }), { snapshot: { taken: String } });
  const listed = listSnapshots(kept.stateDir).map((s) => (s.ok ? s.metadata.trigger : 'bad'));
  t.same(listed, ['manual', 'automatic', 'automatic'], 'the newest two automatic ones and the manual one');
});

t.test('the service stops promptly on SIGTERM between rounds', async (t) => {
  const s = setup(t, 'interval_minutes = 60');
  const child = spawn(process.execPath, [ENTRY, 'maintain', '--state', s.stateDir, '--config', s.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => ((out += chunk.toString()), out.includes('\n') && resolve())));
  t.match(out, /snapshot [0-9A-Z]{26} taken/);
  const started = Date.now();
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.equal(code, 0);
  t.ok(Date.now() - started < 3_000, 'within 3 s');
});
