// `aios audit verify | tail | show` on the state directory's audit.db.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import Database from 'better-sqlite3';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { MAIN } from '../helpers/init-harness.ts';

async function aios(args: string[]) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [MAIN, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

t.test('verify, tail and show; a tampered log fails verify with the row named', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-audit-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = AuditLog.open(AuditLog.pathIn(dir));
  for (let i = 1; i <= 5; i++) log.append({ actor: 'user:console', tool: 'sys.status', args: { i }, verdict: 'allow', rule: 'auto_allow', approval: null, result: { i }, status: 'ok' });
  log.close();

  const verified = await aios(['audit', 'verify', '--state', dir, '--json']);
  t.equal(verified.code, 0);
  t.match(JSON.parse(verified.stdout), { ok: true, rows: 5 });
  const tail = await aios(['audit', 'tail', '-n', '2', '--state', dir]);
  t.match(tail.stdout, /^SEQ\s+TIME\s+ACTOR/);
  t.match(tail.stdout, /^5\s+\S+\s+user:console\s+sys\.status\s+allow\s+ok$/m);
  t.notMatch(tail.stdout, /^3\s/m);
  const shown = await aios(['audit', 'show', '3', '--state', dir, '--json']);
  t.match(JSON.parse(shown.stdout), { seq: 3, tool: 'sys.status', args: '{"i":3}' });
  const missing = await aios(['audit', 'show', '9', '--state', dir]);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no row 9 \(the log has 5 rows\)/);

  const db = new Database(AuditLog.pathIn(dir));
  db.exec('DROP TRIGGER audit_append_only_update');
  db.prepare("UPDATE audit SET verdict = 'deny' WHERE seq = 2").run();
  db.close();
  const broken = await aios(['audit', 'verify', '--state', dir]);
  t.equal(broken.code, 1);
  t.match(broken.stdout, /audit log BROKEN at row 2: row 2 was changed after it was written/);
  const usage = await aios(['audit', 'frobnicate']);
  t.equal(usage.code, 2);
  t.match(usage.stderr, /Usage: aios audit verify \| tail/);
});
