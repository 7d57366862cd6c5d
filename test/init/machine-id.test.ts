// /etc/machine-id: made at boot when missing, empty or "uninitialized" (an archiso image), kept otherwise.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import pino from 'pino';
import { ensureMachineId } from '../../src/init/early-mounts.ts';

const log = pino({ level: 'silent' });

t.test('made when missing, empty or uninitialized; a valid one is kept', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-machine-id-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'machine-id');
  const made = ensureMachineId(log, file);
  t.match(made, /^[0-9a-f]{32}$/);
  t.equal(readFileSync(file, 'utf8'), `${made}\n`);
  t.equal(statSync(file).mode & 0o777, 0o444);
  t.equal(ensureMachineId(log, file), made, 'kept across calls');
  for (const content of ['', 'uninitialized\n']) {
    rmSync(file, { force: true });
    writeFileSync(file, content);
    const fresh = ensureMachineId(log, file);
    t.match(fresh, /^[0-9a-f]{32}$/, JSON.stringify(content));
    t.not(fresh, made);
  }
});
