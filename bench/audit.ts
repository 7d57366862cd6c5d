// Audit log: append throughput (one row per transaction, synchronous=FULL, as the tools
// pipeline appends) and the time to verify a chain of N rows.
//
//   node bench/audit.ts [--rows 1000000] [--appends 2000]
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AuditLog } from '../src/audit/audit-log.ts';
import { machine, print, round } from './lib.ts';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' }, appends: { type: 'string', default: '2000' } } });
const ROWS = Number(values.rows);
const APPENDS = Number(values.appends);
const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-bench-audit-'));
const entry = (i: number) => ({ actor: 'tier:reactive', tool: 'service.restart', args: { name: `svc${i % 50}` }, verdict: 'allow' as const, rule: 'auto_allow:service.*', approval: null, result: { ok: true, state: 'up' }, status: 'ok' as const });

try {
  const log = AuditLog.open(AuditLog.pathIn(dir));
  let started = performance.now();
  for (let i = 0; i < APPENDS; i++) log.append(entry(i));
  const durableMs = performance.now() - started;
  // The bulk of the million rows, appended the same way but without waiting for the disk on each.
  log.close();
  const bulk = AuditLog.open(AuditLog.pathIn(dir), { synchronous: 'OFF' });
  started = performance.now();
  for (let i = APPENDS; i < ROWS; i++) bulk.append(entry(i));
  const bulkMs = performance.now() - started;
  bulk.close();
  const reopened = AuditLog.open(AuditLog.pathIn(dir));
  started = performance.now();
  const result = reopened.verify();
  const verifyMs = performance.now() - started;
  reopened.close();
  print({
    benchmark: 'audit',
    machine: machine(),
    appendPerSecond: { durable: round(APPENDS / (durableMs / 1000), 0), unsynced: round((ROWS - APPENDS) / (bulkMs / 1000), 0) },
    verify: { rows: result.rows, ok: result.ok, seconds: round(verifyMs / 1000, 2), rowsPerSecond: round(result.rows / (verifyMs / 1000), 0) },
    databaseMiB: round(statSync(AuditLog.pathIn(dir)).size / 2 ** 20, 1),
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
