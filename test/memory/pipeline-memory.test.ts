// Every tool call leaves a one-line memory (secrets redacted); a memory that cannot be written
// never fails the call.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { MemoryStore } from '../../src/memory/store.ts';
import { ApprovalStore } from '../../src/policy/approvals.ts';
import { permissionsSchema } from '../../src/policy/config.ts';
import { Policy } from '../../src/policy/policy.ts';
import { runToolCall } from '../../src/tools/pipeline.ts';
import { toolMap } from '../../src/tools/registry.ts';

t.test('tool calls are remembered, and a broken memory does not fail them', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-pipeline-memory-'));
  const audit = AuditLog.open(AuditLog.pathIn(dir));
  const approvals = ApprovalStore.open(path.join(dir, 'run'));
  const memory = MemoryStore.open(MemoryStore.pathIn(dir));
  t.teardown(() => {
    audit.close();
    approvals.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const options = {
    tools: toolMap(),
    policy: new Policy(permissionsSchema.parse({})),
    audit,
    approvals,
    actor: 'test',
    context: { runDir: path.join(dir, 'run'), stateDir: dir, signal: new AbortController().signal },
    memory,
  };
  const ok = await runToolCall('fs.stat', { path: dir }, options);
  t.equal(ok.ok, true);
  const missing = await runToolCall('fs.stat', { path: path.join(dir, 'nope') }, options);
  t.equal(missing.ok, false);
  await runToolCall('net.http_get', { url: 'http://127.0.0.1:9/', headers: { authorization: 'Bearer s3cret' } }, options);
  const remembered = memory.search('', { type: 'tool' }).map((m) => m.content).reverse();
  t.match(remembered[0], new RegExp(`^fs\\.stat \\{"path":"${dir}"\\} → ok \\(allow\\)$`));
  t.match(remembered[1], /^fs\.stat .*nope"\} → ENOENT: /);
  t.notMatch(remembered.join('\n'), /s3cret/, 'secrets are redacted in memories as in the audit log');
  t.same(memory.search('', { type: 'tool' }).map((m) => m.metadata.auditSeq).sort(), [1, 2, 3], 'each memory points at its audit row');

  memory.close();
  const after = await runToolCall('fs.stat', { path: dir }, options);
  t.equal(after.ok, true, 'a closed memory store does not fail the call');
});
