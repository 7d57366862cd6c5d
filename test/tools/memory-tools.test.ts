// memory.search end to end: a question typed at the prompt → the reactive decision → the tool
// pipeline (policy, audit) → the lines a person reads, against a temporary state directory
// holding memories of the kinds the runtime records.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { MemoryStore, type NewMemory } from '../../src/memory/store.ts';
import { decide } from '../../src/models/reactive.ts';
import { loadRules } from '../../src/models/rules.ts';
import { ApprovalStore } from '../../src/policy/approvals.ts';
import { permissionsSchema } from '../../src/policy/config.ts';
import { Policy } from '../../src/policy/policy.ts';
import { runToolCall, type PipelineOptions } from '../../src/tools/pipeline.ts';
import { memorySearchTool } from '../../src/tools/memory-tools.ts';
import { toolMap } from '../../src/tools/registry.ts';

const RULES = loadRules(path.join(import.meta.dirname, '../../rootfs-overlay/etc/aios/rules'));

process.env.TZ = 'UTC';
const NOW = new Date('2026-03-04T15:30:00Z'); // a Wednesday

function setup(t: Test, withMemory = true): { dir: string; options: PipelineOptions; memory: MemoryStore | undefined } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-memory-search-'));
  const audit = AuditLog.open(AuditLog.pathIn(dir));
  const approvals = ApprovalStore.open(path.join(dir, 'run'));
  const memory = withMemory ? MemoryStore.open(MemoryStore.pathIn(dir)) : undefined;
  t.teardown(() => {
    memory?.close();
    audit.close();
    approvals.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const options: PipelineOptions = {
    tools: toolMap(),
    policy: new Policy(permissionsSchema.parse({})),
    audit,
    approvals,
    actor: 'user:console',
    context: { runDir: path.join(dir, 'run'), stateDir: dir, signal: new AbortController().signal },
    memory,
  };
  return { dir, options, memory };
}

/** What the console prints for a line typed at the prompt. */
async function ask(line: string, options: PipelineOptions, now = NOW): Promise<string> {
  const decision = decide(line, RULES, now);
  if (decision.kind === 'error') return `error: ${decision.message}`;
  if (decision.kind !== 'call') throw new Error(`${line}: decided ${decision.kind}`);
  const result = await runToolCall(decision.name, decision.args, options);
  if (!result.ok) return `error: ${result.message}`;
  return options.tools.get(decision.name)!.render(result.data as never);
}

const DAY = 86_400_000;

t.test('time questions answered from memory', async (t) => {
  const { dir, options, memory } = setup(t);
  const today = new Date('2026-03-04T00:30:00Z');
  const yesterday = new Date('2026-03-03T01:30:00Z');
  const lastMonth = new Date(today.getTime() - 40 * DAY);
  const service = (name: string, event: string, content: string, at: Date, crashed = false): NewMemory => ({
    type: 'service',
    content,
    source: 'init',
    metadata: { service: name, event, code: crashed ? 1 : null, signal: null, restarts: 0, crashed },
    createdAt: at,
  });
  const pkg = (action: string, packages: string[], at: Date, auditSeq: number): NewMemory => ({
    type: 'package',
    content: `${action === 'install' ? 'installed' : 'removed'} ${packages.join(', ')}`,
    source: 'user:console',
    metadata: { action, packages, tool: `pkg.${action}`, auditSeq, paths: ['/usr', '/etc', '/var/lib/pacman', '/var/cache/pacman/pkg'] },
    createdAt: at,
  });
  const call = (content: string, at: Date, metadata: Record<string, unknown>): NewMemory => ({ type: 'tool', content, source: 'user:console', metadata: { ok: true, changes: true, ...metadata }, createdAt: at });
  memory!.addMany([
    pkg('install', ['htop'], lastMonth, 101),
    pkg('install', ['nginx', 'mailcap'], yesterday, 102),
    call('pkg.install {"names":["nginx"]} → ok (allow)', yesterday, { tool: 'pkg.install', auditSeq: 102, paths: ['/usr', '/etc'] }),
    pkg('remove', ['vim'], yesterday, 103),
    service('nginx', 'exit', 'nginx crashed: exited with status 1; restarting in 1000 ms', yesterday, true),
    service('nginx', 'restart', 'nginx restarted (restart 1)', yesterday),
    service('nginx', 'exit', 'nginx crashed: killed by SIGSEGV; restarting in 1000 ms', new Date(today.getTime() + 60_000), true),
    service('nginx', 'exit', 'nginx stopped', new Date(today.getTime() + 120_000)),
    service('sshd', 'exit', 'sshd crashed: exited with status 255', new Date(today.getTime() + 180_000), true),
    call('fs.write {"path":"/etc/nginx/nginx.conf"} → ok (notify)', today, { tool: 'fs.write', auditSeq: 104, paths: ['/etc/nginx/nginx.conf'] }),
    call('fs.write {"path":"/etc/shadow"} → EDENIED: …', today, { tool: 'fs.write', auditSeq: 105, ok: false, paths: ['/etc/shadow'] }),
    call('fs.write {"path":"/srv/www/index.html"} → ok (allow)', today, { tool: 'fs.write', auditSeq: 106, paths: ['/srv/www/index.html'] }),
    call('fs.delete {"path":"/etc/nginx"} → ok (allow)', lastMonth, { tool: 'fs.delete', auditSeq: 107, paths: ['/etc/nginx'] }),
    call('fs.stat {"path":"/etc/hosts"} → ok (allow)', today, { tool: 'fs.stat', auditSeq: 108, changes: false }),
    { type: 'chat', content: 'what did I install yesterday', source: 'user:console', metadata: { session: 's', role: 'user' }, createdAt: today },
  ]);
  const lines = (text: string) => text.split('\n').map((l) => l.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d {2}/, ''));

  t.same(lines(await ask('what did I install yesterday', options)), ['installed nginx, mailcap'], 'installs of yesterday only');
  t.equal(await ask('what did I install yesterday', options), '2026-03-03 01:30  installed nginx, mailcap', 'each line starts with the local time');
  t.same(lines(await ask('what did I install', options)), ['installed nginx, mailcap', 'installed htop'], 'no time: all of them, newest first');
  t.same(lines(await ask('what did I remove yesterday', options)), ['removed vim']);
  t.equal(await ask('what did I install last week', options), 'nothing recorded between 2026-02-23 00:00 and 2026-03-02 00:00');

  t.same(lines(await ask('when did nginx last crash', options)), ['nginx crashed: killed by SIGSEGV; restarting in 1000 ms'], 'the newest crash; a later stop is no crash');
  t.same(lines(await ask('when did nginx last restart?', options)), ['nginx restarted (restart 1)']);
  t.equal(await ask('when did postgres last crash', options), 'nothing recorded');

  t.same(
    lines(await ask('what changed in /etc this week', options)),
    ['fs.write {"path":"/etc/nginx/nginx.conf"} → ok (notify)', 'removed vim', 'installed nginx, mailcap'],
    'writes under /etc and package changes, not a failed call, not /srv, not last month, the pkg.install call once',
  );
  t.same(lines(await ask('what changed in /etc/nginx', options)), ['fs.write {"path":"/etc/nginx/nginx.conf"} → ok (notify)', 'removed vim', 'installed nginx, mailcap', 'fs.delete {"path":"/etc/nginx"} → ok (allow)', 'installed htop'], 'a call on a folder above the prefix changed it too');

  const happened = lines(await ask('what happened today', options));
  t.same(happened, [
    'sshd crashed: exited with status 255',
    'nginx stopped',
    'nginx crashed: killed by SIGSEGV; restarting in 1000 ms',
    'fs.write {"path":"/srv/www/index.html"} → ok (allow)',
    'fs.write {"path":"/etc/nginx/nginx.conf"} → ok (notify)',
  ], 'events and changes of today, newest first: no read-only call, no failed call, no chat');

  t.match(await ask('what happened on the day of the storm', options), /^error: I don't know the time/);

  // A call this test really makes is found the same way.
  const file = path.join(dir, 'www', 'index.html');
  t.equal((await runToolCall('fs.write', { path: file, content: 'hi', parents: true }, options)).ok, true);
  t.match(await ask(`what changed in ${dir} today`, options, new Date()), new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d {2}fs\\.write \\{"path":"${file}","content":"hi","parents":true\\} → ok`));
});

t.test('the tool itself: filters, validation, and no database made by reading', async (t) => {
  const { dir, options } = setup(t, false);
  const result = await runToolCall('memory.search', { query: 'nginx' }, options);
  t.same(result.ok && result.data, { range: null, memories: [] });
  t.notOk(existsSync(MemoryStore.pathIn(dir)), 'searching an empty state directory creates no database');
  t.equal(memorySearchTool.render({ range: null, memories: [] }), 'nothing recorded');

  const bad = await runToolCall('memory.search', { when: 'the day before the storm' }, options);
  t.match(bad, { ok: false, code: 'EINVAL', message: /when must be a time phrase such as today, yesterday/ });
  t.match(await runToolCall('memory.search', { since: 'last tuesday' }, options), { ok: false, code: 'EINVAL', message: /since: must be a date like 2026-11-20/ });
  t.match(await runToolCall('memory.search', { since: '2026-03-02', until: '2026-03-01' }, options), { ok: false, code: 'EINVAL', message: /until .* must be after since/ });
  t.match(await runToolCall('memory.search', { pathPrefix: 'etc' }, options), { ok: false, code: 'EINVAL', message: /absolute path/ });
  t.match(await runToolCall('memory.search', { event: 'explode' }, options), { ok: false, code: 'EINVAL' });
  t.match(await runToolCall('memory.search', { limit: 5000 }, options), { ok: false, code: 'EINVAL', message: /limit must be at most 200/ });

  const store = MemoryStore.open(MemoryStore.pathIn(dir));
  t.teardown(() => store.close());
  store.add({ type: 'knowledge', content: 'nginx config lives in /etc/nginx', source: 'cli', createdAt: new Date('2026-03-01T10:00:00Z') });
  store.add({ type: 'chat', content: 'how do I configure nginx', source: 'user:console', createdAt: new Date('2026-03-02T10:00:00Z') });
  const found = await runToolCall('memory.search', { query: 'nginx', since: '2026-03-02' }, options);
  t.match(found, { ok: true, data: { range: { since: '2026-03-02T00:00:00.000Z', until: null }, memories: [{ type: 'chat', content: 'how do I configure nginx' }] } });
  t.equal(found.ok && (found.data as { memories: unknown[] }).memories.length, 1);
  const typed = await runToolCall('memory.search', { query: 'nginx', type: 'knowledge' }, options);
  t.match(typed, { ok: true, data: { memories: [{ type: 'knowledge' }] } });
  t.equal(found.decision?.verdict, 'allow', 'a read: allowed in normal mode');
  t.ok(found.auditSeq > 0, 'and audited');
});
