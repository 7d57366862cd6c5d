// `aios runtime` on a socket, and `aios chat` / `aios shell` over it: a rule answers without a
// model; a request for the strategic tier goes to Claude (a loopback server speaking its wire
// format) within the budget, streamed to stdout; --json is the result for programs; the exit
// status says whether it was answered; bad frames are named; no runtime is said plainly.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { MemoryStore } from '../../src/memory/store.ts';
import { startFakeCloud, type FakeCloud } from '../helpers/fake-cloud.ts';
import { MAIN, waitFor } from '../helpers/init-harness.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-chat-'));
const runDir = path.join(dir, 'run');
const stateDir = path.join(dir, 'state');
mkdirSync(runDir);
mkdirSync(stateDir);
writeFileSync(path.join(dir, 'config.toml'), '[permissions]\nmode = "normal"\n[budget]\ndaily_usd = 1\n');
let fake: FakeCloud;
let runtime: ChildProcess;
let env: NodeJS.ProcessEnv;

t.before(async () => {
  fake = await startFakeCloud();
  env = {
    ...process.env,
    AIOS_RULES_DIR: path.join(import.meta.dirname, '../../rootfs-overlay/etc/aios/rules'),
    AIOS_CONFIG: path.join(dir, 'config.toml'),
    AIOS_SECRETS: path.join(dir, 'no-secrets.toml'),
    AIOS_RUN_DIR: runDir,
    AIOS_STATE_DIR: stateDir,
    ANTHROPIC_API_KEY: 'sk-ant-test',
    ANTHROPIC_BASE_URL: fake.anthropicUrl,
    OPENAI_API_KEY: '',
  };
  runtime = spawn(process.execPath, [MAIN, 'runtime'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  runtime.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  runtime.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(() => /answering on .*aios\.sock \(tiers: reactive, strategic\)/.test(out), 60_000, `the runtime starts: ${out}`);
});
t.teardown(async () => {
  runtime?.kill('SIGTERM');
  await fake?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function aios(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [MAIN, ...args], { env: { ...env, ...extraEnv } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

t.test('a rule answers without a model; its answer is the tool, rendered', async (t) => {
  const run = await aios(['chat', 'free memory']);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stderr, /^\(reactive\)\n→ sys\.memory \{\}\n← ok/);
  t.match(run.stdout, /memory/i);
  t.equal(fake.requests.length, 0, 'no cloud request');
});

t.test('the strategic tier streams its answer to stdout, within the budget', async (t) => {
  fake.anthropic.push({ kind: 'text', text: ['#!/bin/sh\n', 'echo hello\n'], inputTokens: 300, outputTokens: 12 });
  const run = await aios(['chat', 'write a shell script that prints hello']);
  t.equal(run.code, 0, run.stderr);
  t.equal(run.stdout, '#!/bin/sh\necho hello\n\n');
  t.match(run.stderr, /\(strategic\)/);
  t.match(fake.requests.at(-1)!.body, { model: 'claude-sonnet-4-5', stream: true });

  fake.anthropic.push({ kind: 'text', text: ['fine'] });
  const json = await aios(['chat', '--json', '@strategic is this machine ok']);
  t.equal(json.code, 0);
  const result = JSON.parse(json.stdout) as Record<string, unknown>;
  t.match(result, { ok: true, tier: 'strategic', answer: 'fine', rounds: 1, inputTokens: 10, outputTokens: 1 });
  t.ok((result.costUsd as number) > 0, 'the cost is counted');
  t.equal(json.stderr, '', '--json prints nothing else');
});

t.test('aios status: the tiers here and what the cloud budget has spent today', async (t) => {
  const run = await aios(['status', '--json']);
  t.equal(run.code, 0, run.stderr);
  const status = JSON.parse(run.stdout) as { tiers: Record<string, { present: boolean; backend: string | null }>; budget: { usd: number; dailyUsd: number } };
  t.match(status.tiers, { reactive: { present: true }, operational: { present: false }, strategic: { present: true, backend: 'anthropic' } });
  t.ok(status.budget.usd > 0 && status.budget.dailyUsd === 1, `spent $${status.budget.usd} of $${status.budget.dailyUsd}`);
  const text = await aios(['status']);
  t.match(text.stdout, /tiers: reactive, strategic \(anthropic\)\ncloud budget today: \$0\.\d+ of \$1, \d+ of 2000000 tokens/);
});

t.test('the exit status says when it was not answered', async (t) => {
  fake.anthropic.push({ kind: 'error', status: 401, message: 'invalid x-api-key' });
  const run = await aios(['chat', '--json', 'write a python program that sorts a file']);
  t.equal(run.code, 1);
  t.match(JSON.parse(run.stdout), { ok: false, tier: 'strategic', answer: /Could not answer: .*401/ });
});

t.test('usage errors, no runtime, and bad frames on the socket', async (t) => {
  t.match(await aios(['chat']), { code: 2, stderr: /Say what to ask/ });
  t.match(await aios(['chat', '--tier', 'huge', 'x']), { code: 2, stderr: /--tier huge: not a tier/ });
  t.match(await aios(['chat', 'x'], { AIOS_RUN_DIR: path.join(dir, 'nowhere') }), { code: 2, stderr: /the runtime is not running: nothing answers on .*nowhere\/aios\.sock/ });

  const socket = net.connect(path.join(runDir, 'aios.sock'));
  socket.setEncoding('utf8');
  let replies = '';
  socket.on('data', (d: string) => (replies += d));
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write('{nope\n{"cmd":"chat","id":7}\n{"cmd":"dance"}\n{"cmd":"ping","id":1}\n');
  await waitFor(() => replies.split('\n').filter(Boolean).length >= 4, 10_000, 'four replies');
  const lines = replies.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
  t.match(lines[0], { ok: false, code: 'EBADJSON' });
  t.match(lines[1], { id: 7, ok: false, code: 'EINVAL', message: /`text`/ });
  t.match(lines[2], { ok: false, code: 'EINVAL', message: /one of ping, chat, answer, cancel/ });
  t.match(lines[3], { id: 1, ok: true, data: { pong: true, actor: 'user:root' } });
  socket.end();
});

t.test('aios shell: each line a request, on one connection', async (t) => {
  fake.anthropic.push({ kind: 'text', text: ['planned'] });
  const shell = spawn(process.execPath, [MAIN, 'shell'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  shell.stdout.on('data', (d: Buffer) => (out += d.toString()));
  shell.stdin.write('free memory\n');
  await waitFor(() => /← ok[\s\S]*aios> /.test(out), 30_000, 'the first answer');
  shell.stdin.write('@strategic plan my week\n');
  await waitFor(() => /\(strategic\)\nplanned/.test(out), 30_000, 'the second');
  shell.stdin.end();
  t.equal(await new Promise((resolve) => shell.on('exit', resolve)), 0, 'ctrl-D (end of input) ends it');
});

t.test('every request leaves a routing memory', async (t) => {
  const memory = MemoryStore.open(MemoryStore.pathIn(stateDir));
  t.teardown(() => memory.close());
  const routing = memory.search('', { type: 'routing', limit: 20 });
  t.ok(routing.length >= 4, `${routing.length} decisions`);
  t.ok(routing.some((m) => m.metadata.tier === 'strategic' && (m.metadata.costUsd as number) > 0));
});
