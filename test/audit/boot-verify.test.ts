// PID 1 verifies the audit chain at boot: a break is reported in boot.json (which the console
// banner, `status` and `sys.boot` show) and in init's log.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { startInit } from '../helpers/init-harness.ts';

function fillLog(stateDir: string, rows: number): string {
  const file = AuditLog.pathIn(stateDir);
  const log = AuditLog.open(file);
  for (let i = 0; i < rows; i++) log.append({ actor: 'test', tool: 'fs.read', args: { path: `/tmp/${i}` }, verdict: 'allow', rule: 'mode:normal', approval: null, result: i, status: 'ok' });
  log.close();
  return file;
}

async function bootReport(runDir: string): Promise<{ audit: { status: string; rows: number | null; message: string }; warnings: string[] }> {
  const file = path.join(runDir, 'boot.json');
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (existsSync(file)) {
      const report = JSON.parse(readFileSync(file, 'utf8'));
      if (report.audit?.status !== 'verifying') return report;
    }
    if (Date.now() > deadline) throw new Error('boot.json never reported the audit check');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

t.test('an intact chain is reported with its length', async (t) => {
  const init = await startInit({ namespace: false, prepare: ({ stateDir }) => fillLog(stateDir, 3) });
  t.teardown(() => init.cleanup());
  const report = await bootReport(init.runDir);
  t.equal(report.audit.status, 'intact');
  t.equal(report.audit.rows, 3);
  t.notOk(report.warnings.some((w) => w.includes('audit')));
});

t.test('a changed row is reported at boot, naming the first bad row', async (t) => {
  const init = await startInit({
    namespace: false,
    prepare: ({ stateDir }) => {
      const file = fillLog(stateDir, 4);
      const db = new Database(file);
      db.exec('DROP TRIGGER audit_append_only_update');
      db.prepare("UPDATE audit SET args = '{}' WHERE seq = 2").run();
      db.close();
    },
  });
  t.teardown(() => init.cleanup());
  const report = await bootReport(init.runDir);
  t.equal(report.audit.status, 'broken');
  t.equal(report.audit.rows, 1, 'one row checks out before the bad one');
  t.match(report.warnings.join('\n'), /audit log BROKEN at row 2/);
  t.match(init.output(), /audit log BROKEN at row 2/, 'init logs it too');
});
