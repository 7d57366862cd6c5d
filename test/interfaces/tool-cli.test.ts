// `aios tools`, `aios policy check`, `aios approvals | approve | deny` as a user runs them: the
// real command line in child processes, with their own state and run directories.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { MAIN } from '../helpers/init-harness.ts';

interface Dirs {
  dir: string;
  env: Record<string, string>;
}

function dirs(t: Test): Dirs {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-tool-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, env: { AIOS_STATE_DIR: path.join(dir, 'state'), AIOS_RUN_DIR: path.join(dir, 'run') } };
}

function environment(env: Record<string, string>): NodeJS.ProcessEnv {
  // A configuration named by the environment of whoever runs the tests must not decide them.
  const { AIOS_CONFIG: _, ...rest } = process.env;
  return { ...rest, ...env };
}

async function aios(args: string[], env: Record<string, string>) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--disable-sigusr1', MAIN, ...args], { env: environment(env) });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

async function verdict(args: string[], env: Record<string, string>): Promise<Record<string, unknown>> {
  const r = await aios(['policy', 'check', '--json', ...args], env);
  if (r.code !== 0) throw new Error(`policy check ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

/** `aios tools run` in the background, stdin not a terminal, so that it waits for `aios approve|deny`. */
function runInBackground(args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['--disable-sigusr1', MAIN, 'tools', 'run', ...args], { env: environment(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    exited,
    stdout: () => stdout,
    stderr: () => stderr,
    /** The approval id it printed on stderr, once the whole request (through "answer with") is there. */
    async approvalId(): Promise<string> {
      for (let i = 0; i < 300; i++) {
        const id = /approval needed \(([0-9a-f]{8})\)[\s\S]*answer with/.exec(stderr)?.[1];
        if (id) return id;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`no approval id on stderr: ${stderr}`);
    },
  };
}

t.test('policy check --json: exactly verdict, rule and reason', async (t) => {
  const { env } = dirs(t);
  const rm = await aios(['policy', 'check', '--json', '--', 'rm -rf /'], env);
  t.equal(rm.code, 0, 'a verdict, even a deny, is an answer');
  t.equal(rm.stdout, '{"verdict":"deny","rule":"builtin:system-tree","reason":"`rm -rf /` recursively changes / or a top-level system directory"}\n');
  t.same(Object.keys(JSON.parse(rm.stdout)), ['verdict', 'rule', 'reason']);
  t.same(await verdict(['--', 'ls /tmp'], env), { verdict: 'allow', rule: 'mode:normal', reason: '`ls /tmp` only reads' });
  t.same(await verdict(['--tool', 'fs.write', '--args', '{"path":"/etc/aios/x","content":""}'], env), {
    verdict: 'approval',
    rule: 'builtin:protected-path',
    reason: 'fs.write would change /etc/aios/x, a protected path (needs approval in every mode)',
  });
  t.same(await verdict(['--mode', 'paranoid', '--', 'ls /tmp'], env), {
    verdict: 'approval',
    rule: 'mode:paranoid',
    reason: '`ls /tmp` is not on the allow list (paranoid mode allows only what auto_allow names)',
  });
  t.same(await verdict(['--tool', 'fs.nope'], env), { verdict: 'deny', rule: 'builtin:unknown-tool', reason: 'there is no tool `fs.nope` (see `aios tools`)' });
  const text = await aios(['policy', 'check', '--', 'ls /tmp'], env);
  t.equal(text.stdout, 'allow: `ls /tmp` only reads\n  rule: mode:normal (mode normal)\n');
  const badMode = await aios(['policy', 'check', '--mode', 'reckless', '--', 'ls'], env);
  t.equal(badMode.code, 2);
  t.match(badMode.stderr, /Expected --mode to be one of safe, normal, paranoid, trusted, got `reckless`\./);
  const twoWords = await aios(['policy', 'check', '--', 'ls', '/tmp'], env);
  t.equal(twoWords.code, 2);
  t.match(twoWords.stderr, /quote it: it arrived as several words/);
});

t.test('policy check --config: the configured rules, and a bad configuration named by key', async (t) => {
  const { dir, env } = dirs(t);
  const config = path.join(dir, 'config.toml');
  writeFileSync(config, '[permissions]\ndeny = ["ls *"]\n');
  t.same(await verdict(['--config', config, '--', 'ls /tmp'], env), { verdict: 'deny', rule: 'deny: ls *', reason: 'matches the configured deny rule `ls *`' });
  t.same(await verdict(['--config', config, '--', 'cat /etc/hostname'], env), { verdict: 'allow', rule: 'mode:normal', reason: '`cat /etc/hostname` only reads' });
  const bad = path.join(dir, 'bad.toml');
  writeFileSync(bad, '[permissions]\nmode = "bogus"\n');
  const r = await aios(['policy', 'check', '--config', bad, '--', 'ls'], env);
  t.equal(r.code, 2);
  t.equal(r.stdout, '');
  t.match(r.stderr, `${bad}: [permissions.mode] Invalid option: expected one of "safe"|"normal"|"paranoid"|"trusted", got \`"bogus"\``);
  const missing = await aios(['policy', 'check', '--config', path.join(dir, 'nope.toml'), '--', 'ls'], env);
  t.equal(missing.code, 2, 'a configuration named but missing is an error, not the defaults');
  t.match(missing.stderr, /Cannot read the configuration .*nope\.toml/);
});

t.test('tools: the list, one tool, and the definitions for a model', async (t) => {
  const { env } = dirs(t);
  const list = await aios(['tools'], env);
  t.equal(list.code, 0);
  const lines = list.stdout.trimEnd().split('\n');
  t.ok(lines.length >= 50, `${lines.length} lines`);
  t.match(lines[0], /^TOOL\s+RISK\s+EFFECTS\s+DESCRIPTION$/);
  t.match(list.stdout, /^fs\.delete\s+high\s+writes,destructive\s+Delete/m);

  const show = await aios(['tools', 'show', 'fs.read'], env);
  t.equal(show.code, 0);
  t.match(show.stdout, /^fs\.read: Read a text file/);
  t.match(show.stdout, /^arguments:\n  path\s+string\s+required\n  maxBytes\s+integer\s+default 1048576\n/m);
  t.match(show.stdout, /^Run it: aios tools run fs\.read --args '\{"path":"\.\.\."\}'$/m);

  const openai = await aios(['tools', '--format', 'openai'], env);
  const parsed = JSON.parse(openai.stdout) as { type: string; function: { name: string; parameters: { type: string } } }[];
  t.ok(Array.isArray(parsed) && parsed.length === lines.length - 1, 'one definition per tool');
  t.match(parsed.find((d) => d.function.name === 'fs_read'), { type: 'function', function: { name: 'fs_read', parameters: { type: 'object', required: ['path'] } } });
  for (const format of ['anthropic', 'mcp']) {
    const r = await aios(['tools', '--format', format], env);
    t.equal((JSON.parse(r.stdout) as unknown[]).length, parsed.length, format);
  }
  const badFormat = await aios(['tools', '--format', 'gemini'], env);
  t.equal(badFormat.code, 2);
  t.match(badFormat.stderr, /Expected --format to be anthropic, openai or mcp, got `gemini`\./);
  const missing = await aios(['tools', 'show', 'fs.nope'], env);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /no tool `fs\.nope`/);
});

t.test('tools run: the result, and the audit log shows the call', async (t) => {
  const { env } = dirs(t);
  const r = await aios(['tools', 'run', 'fs.stat', '--args', '{"path":"/etc/hostname"}', '--json'], env);
  t.equal(r.code, 0, r.stderr);
  t.match(JSON.parse(r.stdout), { ok: true, data: { path: '/etc/hostname', type: 'file' }, decision: { verdict: 'allow', rule: 'mode:normal' }, auditSeq: 1 });
  const tail = await aios(['audit', 'tail', '--json'], env);
  const rows = JSON.parse(tail.stdout) as Record<string, unknown>[];
  t.equal(rows.length, 1);
  t.match(rows[0], { seq: 1, actor: /^user:cli:/, tool: 'fs.stat', args: '{"path":"/etc/hostname"}', verdict: 'allow', rule: 'mode:normal', approval: null, status: 'ok' });

  const denied = await aios(['tools', 'run', 'shell.exec', '--args', '{"command":"rm -rf /"}'], env);
  t.equal(denied.code, 1);
  t.equal(denied.stderr, 'aios tools run: EDENIED: shell.exec is denied by the policy (builtin:system-tree): `rm -rf /` recursively changes / or a top-level system directory\n');
  const badJson = await aios(['tools', 'run', 'fs.stat', '--args', '{path'], env);
  t.equal(badJson.code, 2);
  t.match(badJson.stderr, /Expected --args to be JSON/);
  const verified = await aios(['audit', 'verify', '--json'], env);
  t.match(JSON.parse(verified.stdout), { ok: true, rows: 2 });
});

t.test('a call that needs approval waits for `aios approve`, listed meanwhile; the file goes only then', async (t) => {
  const { dir, env } = dirs(t);
  const file = path.join(dir, 'doomed');
  writeFileSync(file, 'bye');
  const run = runInBackground(['fs.delete', '--args', JSON.stringify({ path: file }), '--json'], env);
  t.teardown(() => run.child.kill('SIGKILL'));
  const id = await run.approvalId();
  // The arguments as they will run: canonical JSON, defaults filled in.
  t.match(run.stderr(), `approval needed (${id}): fs.delete {"path":"${file}","recursive":false}\n  why: fs.delete removes or stops things (mode:normal)\n`);
  t.match(run.stderr(), `answer with \`aios approve ${id}\` or \`aios deny ${id}\``);

  const pending = await aios(['approvals', '--json'], env);
  const requests = JSON.parse(pending.stdout) as Record<string, unknown>[];
  t.equal(requests.length, 1);
  t.match(requests[0], { id, tool: 'fs.delete', args: JSON.stringify({ path: file, recursive: false }), state: 'pending', rule: 'mode:normal', actor: /^user:cli:/ });
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(existsSync(file), true, 'nothing happens while it waits');
  t.equal(run.child.exitCode, null, 'and it is still waiting');

  const approved = await aios(['approve', id], env);
  t.equal(approved.code, 0);
  t.match(approved.stdout, `${id}: approved (fs.delete`);
  t.equal(await run.exited, 0, run.stderr());
  t.match(JSON.parse(run.stdout()), { ok: true, decision: { verdict: 'approval', rule: 'mode:normal' }, approval: new RegExp(`^${id} by user:cli:`) });
  t.equal(existsSync(file), false, 'deleted once approved');
  t.equal(readdirSync(path.join(env.AIOS_STATE_DIR!, 'snapshots')).length, 1, 'after a snapshot');

  const after = await aios(['approvals', '--json'], env);
  t.same(JSON.parse(after.stdout), [], 'nothing is waiting any more');
  const all = await aios(['approvals', '--all', '--json'], env);
  t.match(JSON.parse(all.stdout), [{ id, state: 'used' }]);
  const again = await aios(['approve', id], env);
  t.equal(again.code, 1, 'an approval is answered once');
  t.match(again.stderr, `aios approve: Approval request ${id} is already used`);
  const tail = JSON.parse((await aios(['audit', 'tail', '--json'], env)).stdout) as Record<string, unknown>[];
  t.match(tail.at(-1), { tool: 'fs.delete', verdict: 'approval', status: 'ok', approval: new RegExp(`^${id} by user:cli:`) });
});

t.test('`aios deny` makes the waiting call fail with EREFUSED, and the file stays', async (t) => {
  const { dir, env } = dirs(t);
  const file = path.join(dir, 'keep');
  writeFileSync(file, 'stay');
  const run = runInBackground(['fs.delete', '--args', JSON.stringify({ path: file })], env);
  t.teardown(() => run.child.kill('SIGKILL'));
  const id = await run.approvalId();
  const denied = await aios(['deny', id], env);
  t.equal(denied.code, 0);
  t.equal(await run.exited, 1);
  t.match(run.stderr(), new RegExp(`aios tools run: EREFUSED: fs\\.delete did not run: approval request ${id} was denied by user:cli:\\S+\\n$`));
  t.equal(existsSync(file), true);
  const tail = JSON.parse((await aios(['audit', 'tail', '--json'], env)).stdout) as Record<string, unknown>[];
  t.match(tail.at(-1), { tool: 'fs.delete', verdict: 'approval', status: 'denied', approval: new RegExp(`^${id} denied by user:cli:`) });
});

t.test('approve and deny of an unknown id: exit 1 with a message', async (t) => {
  const { env } = dirs(t);
  for (const verb of ['approve', 'deny']) {
    const r = await aios([verb, 'nonexistent'], env);
    t.equal(r.code, 1);
    t.equal(r.stderr, `aios ${verb}: No approval request \`nonexistent\` (see \`aios approvals\`).\n`);
  }
  const none = await aios(['approvals'], env);
  t.equal(none.stdout, 'Nothing is waiting for approval.\n');
  const usage = await aios(['approve'], env);
  t.equal(usage.code, 2);
});
