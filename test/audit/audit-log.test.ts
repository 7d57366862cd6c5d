// The audit log: append, verify, and tampering of every kind named by the first bad seq.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import Database from 'better-sqlite3';
import { AuditLog, GENESIS, rowHash, type AuditInput } from '../../src/audit/audit-log.ts';
import { canonicalJson } from '../../src/audit/canonical.ts';

function entry(i: number): AuditInput {
  return { actor: 'user:console', tool: 'service.restart', args: { name: `svc${i}`, apiKey: 'sk-secret' }, verdict: 'allow', rule: 'auto_allow:service.*', approval: null, result: { ok: true, i }, status: 'ok' };
}

function freshLog(t: Test, rows = 10): { log: AuditLog; file: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-audit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const log = AuditLog.open(AuditLog.pathIn(dir));
  for (let i = 1; i <= rows; i++) log.append(entry(i));
  return { log, file: log.file };
}

/** Tampering happens behind the log's back, as an attacker with the file would: triggers off first. */
function tamper(file: string, sql: string, ...params: unknown[]): void {
  const db = new Database(file);
  db.exec('DROP TRIGGER IF EXISTS audit_append_only_update; DROP TRIGGER IF EXISTS audit_append_only_delete;');
  db.prepare(sql).run(...params);
  db.close();
}

t.test('rows chain from the genesis hash; secrets never reach the table', async (t) => {
  const { log } = freshLog(t, 3);
  const rows = log.tail(10);
  t.equal(rows.length, 3);
  t.equal(rows[0]!.prevHash, GENESIS);
  t.equal(rows[1]!.prevHash, rows[0]!.hash);
  t.equal(rows[2]!.hash, rowHash(rows[2]!));
  t.notMatch(JSON.stringify(rows), /sk-secret/);
  t.same(JSON.parse(rows[0]!.args), { apiKey: '[redacted]', name: 'svc1' });
  t.same(log.verify(), { ok: true, rows: 3, head: rows[2]!.hash });
  t.same(log.show(2)?.seq, 2);
  t.equal(log.show(99), null);
  log.close();
});

t.test('UPDATE and DELETE are refused through SQLite', async (t) => {
  const { log, file } = freshLog(t, 2);
  log.close();
  const db = new Database(file);
  t.throws(() => db.prepare("UPDATE audit SET status = 'error' WHERE seq = 1").run(), /append-only/);
  t.throws(() => db.prepare('DELETE FROM audit WHERE seq = 1').run(), /append-only/);
  db.close();
});

const tampering: [string, (file: string) => void, number][] = [
  ['a changed argument', (f) => tamper(f, `UPDATE audit SET args = ? WHERE seq = 4`, canonicalJson({ name: 'other' })), 4],
  ['a changed verdict', (f) => tamper(f, "UPDATE audit SET verdict = 'deny' WHERE seq = 6"), 6],
  ['a changed result digest', (f) => tamper(f, "UPDATE audit SET result_digest = 'x' WHERE seq = 2"), 2],
  ['a changed hash', (f) => tamper(f, "UPDATE audit SET hash = ? WHERE seq = 9", 'f'.repeat(64)), 9],
  ['a deleted row', (f) => tamper(f, 'DELETE FROM audit WHERE seq = 5'), 5],
  ['the last row deleted and a forged one in its place', (f) => {
    tamper(f, 'DELETE FROM audit WHERE seq = 10');
    tamper(f, "INSERT INTO audit VALUES (10, '2026-01-01', 'x', 'fs.delete', '{}', 'allow', NULL, NULL, 'd', 'ok', ?, ?)", 'a'.repeat(64), 'b'.repeat(64));
  }, 10],
  ['two rows swapped', (f) => {
    tamper(f, 'UPDATE audit SET seq = 100 WHERE seq = 3');
    tamper(f, 'UPDATE audit SET seq = 3 WHERE seq = 4');
    tamper(f, 'UPDATE audit SET seq = 4 WHERE seq = 100');
  }, 3],
  ['a row inserted in the middle', (f) => {
    for (let seq = 10; seq >= 7; seq--) tamper(f, 'UPDATE audit SET seq = ? WHERE seq = ?', seq + 1, seq);
    tamper(f, "INSERT INTO audit SELECT 7, time, actor, tool, args, verdict, rule, approval, result_digest, status, hash, hash FROM audit WHERE seq = 6");
  }, 7],
];

for (const [what, change, firstBad] of tampering) {
  t.test(`verify names the first bad row: ${what}`, async (t) => {
    const { log, file } = freshLog(t);
    t.same(log.verify().ok, true);
    log.close();
    change(file);
    const reopened = AuditLog.open(file);
    const result = reopened.verify();
    reopened.close();
    t.match(result, { ok: false, firstBad });
    t.ok(!result.ok && result.reason.length > 0, !result.ok ? result.reason : '');
  });
}

t.test('appends from several processes at once keep one unbroken chain', async (t) => {
  const { log, file } = freshLog(t, 0);
  log.close();
  const { spawn } = await import('node:child_process');
  const script = `import { AuditLog } from ${JSON.stringify(path.resolve('src/audit/audit-log.ts'))};
const log = AuditLog.open(${JSON.stringify(file)});
for (let i = 0; i < 200; i++) log.append({ actor: 'p' + process.pid, tool: 't', args: { i }, verdict: 'allow', rule: null, approval: null, result: i, status: 'ok' });
log.close();`;
  const runs = Array.from({ length: 4 }, () => new Promise<number | null>((resolve) => spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' }).on('exit', resolve)));
  t.same(await Promise.all(runs), [0, 0, 0, 0]);
  const reopened = AuditLog.open(file);
  t.match(reopened.verify(), { ok: true, rows: 800 });
  reopened.close();
});
