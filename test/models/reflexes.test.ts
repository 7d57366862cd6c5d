// Reflexes as data: [[reflex]] tables in the rules files, checked against readings, each
// firing once per thing within its cooldown; bad ones are left out with a message naming them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { dueReflexes, fillIn, firingKey, loadReflexes, readMachine, type Reading } from '../../src/models/reflexes.ts';
import { loadRules } from '../../src/models/rules.ts';

const SHIPPED = path.join(import.meta.dirname, '../../rootfs-overlay/etc/aios/rules');

function rulesDir(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-reflexes-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

t.test('the shipped reflexes load, and the intent rules still load beside them', async (t) => {
  const loaded = loadReflexes(SHIPPED);
  t.same(loaded.problems, []);
  t.match(loaded.reflexes, [{ name: 'disk-full', reading: 'disk.used_percent', above: 90, builtin: 'free-space' }, { name: 'services-failed' }, { name: 'memory-low' }]);
  t.same(loadRules(SHIPPED).problems, [], 'a rules file may hold [[reflex]] tables');
});

t.test('bad reflexes are left out, each named with its problem; a later file replaces or disables by name', async (t) => {
  const dir = rulesDir({
    '10-a.toml': `[[reflex]]\nname = "a"\nreading = "disk.used_percent"\nabove = 80\nbuiltin = "free-space"\n\n[[reflex]]\nname = "b"\nreading = "disk.used_percent"\nabove = 80\ngoal = "g"\n\n[[reflex]]\nname = "no-action"\nreading = "load.per_cpu"\nabove = 2\n\n[[reflex]]\nname = "both"\nreading = "load.per_cpu"\nabove = 2\nbelow = 1\ngoal = "g"\n\n[[reflex]]\nname = "what"\nreading = "cpu.temperature"\nabove = 2\ngoal = "g"\n`,
    '20-b.toml': `[[reflex]]\nname = "a"\nreading = "memory.used_percent"\nabove = 99\ngoal = "g"\n\n[[reflex]]\nname = "b"\nreading = "disk.used_percent"\nabove = 1\ngoal = "g"\ndisabled = true\n`,
  });
  const loaded = loadReflexes(dir);
  t.match(loaded.reflexes, [{ name: 'a', reading: 'memory.used_percent', above: 99 }]);
  t.equal(loaded.reflexes.length, 1, 'b is disabled by the later file');
  t.match(loaded.problems, [/10-a\.toml: reflex\[2\] "no-action": give what it does/, /10-a\.toml: reflex\[3\] "both": give exactly one of `above` and `below`/, /10-a\.toml: reflex\[4\] "what": `reading`: expected `reading` to be one of disk\.used_percent/]);
});

t.test('due: past the threshold, per subject, not again within the cooldown', async (t) => {
  const dir = rulesDir({ 'r.toml': `[[reflex]]\nname = "full"\nreading = "disk.used_percent"\nabove = 90\ncooldown_seconds = 60\ngoal = "{subject} at {value} %"\n\n[[reflex]]\nname = "idle"\nreading = "load.per_cpu"\nbelow = 0.1\ntool = "sys.status"\n` });
  const { reflexes } = loadReflexes(dir);
  const readings: Reading[] = [
    { name: 'disk.used_percent', subject: '/', value: 95.04 },
    { name: 'disk.used_percent', subject: '/var/lib/aios', value: 90 },
    { name: 'disk.used_percent', subject: '/srv', value: 91 },
    { name: 'load.per_cpu', subject: 'machine', value: 0.5 },
  ];
  const now = 1_000_000;
  const due = dueReflexes(reflexes, readings, new Map(), now);
  t.same(due.map((f) => `${f.reflex.name} ${f.reading.subject}`), ['full /', 'full /srv'], 'over 90, not at 90; the load is not under 0.1');
  t.equal(fillIn(due[0]!.reflex.goal, due[0]!.reading), '/ at 95 %');
  t.same(fillIn({ path: '{subject}', n: 1, list: ['{value}'] }, due[1]!.reading), { path: '/srv', n: 1, list: ['91'] });
  const last = new Map([[firingKey(due[0]!.reflex, due[0]!.reading), now - 30_000]]);
  t.same(dueReflexes(reflexes, readings, last, now).map((f) => f.reading.subject), ['/srv'], 'within the cooldown: not again');
  t.same(dueReflexes(reflexes, readings, last, now + 31_000).map((f) => f.reading.subject), ['/', '/srv'], 'after it: again');
});

t.test('the machine readings: writable file systems only, memory, load, failed services', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-readings-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'with space'));
  const mounts = path.join(dir, 'mounts');
  writeFileSync(mounts, ['proc /proc proc rw 0 0', `/dev/vda ${dir} ext4 rw,relatime 0 0`, `/dev/vdb ${path.join(dir, 'with\\040space')} ext4 rw 0 0`, `/dev/vdc /run/aios/host ext4 ro,nodev 0 0`, `/dev/vda ${dir} ext4 rw 0 0`].join('\n'));
  const meminfo = path.join(dir, 'meminfo');
  writeFileSync(meminfo, 'MemTotal:        1000 kB\nMemFree:          100 kB\nMemAvailable:     250 kB\n');
  const readings = readMachine({ mounts, meminfo, failedServices: 2 });
  t.same(readings.filter((r) => r.name === 'disk.used_percent').map((r) => r.subject), [dir, path.join(dir, 'with space')], 'no /proc, no read-only mount, each once');
  t.match(readings, [{}, {}, { name: 'memory.used_percent', subject: 'machine', value: 75 }, { name: 'load.per_cpu', subject: 'machine' }, { name: 'services.failed', value: 2 }]);
});
