// The prompt with a model: the models service runs under the init as a supervised service with a
// generated GGUF, not started at boot (as in the image) but on the first request that needs it;
// what the rules do not answer goes to the operational tier (its route shown, its text
// streamed), what they do answer still runs without a model, the decision is remembered, and
// when the models service is killed the init restarts it and the next request is answered again.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import t from 'tap';
import { stripAnsi } from '../../qemu/smoke.ts';
import { MemoryStore } from '../../src/memory/store.ts';
import { TINY_LLAMA, writeLlamaModel } from '../../src/models/gguf.ts';
import { MAIN, startInit, waitFor } from '../helpers/init-harness.ts';

const RULES_DIR = path.join(import.meta.dirname, '../../rootfs-overlay/etc/aios/rules');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

t.test('requests the rules do not answer go to the local model; the service is supervised', async (t) => {
  const port = await freePort();
  let configFile = '';
  const init = await startInit({
    namespace: false,
    prepare: ({ stateDir, writeService }) => {
      mkdirSync(path.join(stateDir, 'models'));
      writeLlamaModel(path.join(stateDir, 'models', 'tiny.gguf'), TINY_LLAMA);
      configFile = path.join(path.dirname(stateDir), 'config.toml');
      writeFileSync(configFile, `[models]\nlisten = "127.0.0.1:${port}"\nthreads = 1\ncontext_size = 8192\nmax_tokens = 16\n[router]\nlocal_tools = 2\n`);
      writeService('models', `exec = ${JSON.stringify([process.execPath, MAIN, 'models', 'serve', '--state', stateDir, '--config', configFile])}\nrestart = "always"\nenabled = false\n`);
    },
  });
  t.teardown(() => init.cleanup());

  const command = `${process.execPath} ${MAIN} console --run ${init.runDir} --state ${init.stateDir}`;
  const pty = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, AIOS_RULES_DIR: RULES_DIR, AIOS_CONFIG: configFile, TERM: 'xterm', ANTHROPIC_API_KEY: '', OPENAI_API_KEY: '', AIOS_SECRETS: path.join(init.dir, 'none.toml') } });
  let text = '';
  // Decoded as a stream: "…" is three bytes that two reads may split.
  pty.stdout.setEncoding('utf8');
  pty.stdout.on('data', (d: string) => (text += stripAnsi(d)));
  t.teardown(() => pty.kill('SIGKILL'));
  const seen = (pattern: RegExp, from = 0) => waitFor(() => pattern.test(text.slice(from)), 90_000, String(pattern));
  await seen(/aios> /);
  t.match(text, /AI tiers: rules, then operational \(tiny\.gguf\)/, 'the banner says which tiers are live');

  t.equal((await init.services()).find((s) => s.name === 'models')?.state, 'down', 'the models service is not started at boot');
  let from = text.length;
  pty.stdin.write('what does the load average mean\r');
  await seen(/\(operational\)[\s\S]*aios> /, from);
  t.match(text.slice(from), /\(starting the models service…\)/, 'the first request that needs it has init start it');
  t.notMatch(text.slice(from), /error:/, 'answered without an error');

  from = text.length;
  pty.stdin.write('is models running\r');
  await seen(/models: up/, from);
  t.notMatch(text.slice(from), /\(operational\)/, 'a rule still answers without the model');

  // The models service dies: the init restarts it, and the next request is answered.
  const before = (await init.services()).find((s) => s.name === 'models')!;
  process.kill(before.pid!, 'SIGKILL');
  await waitFor(async () => {
    const now = (await init.services()).find((s) => s.name === 'models');
    return now?.state === 'up' && now.pid !== before.pid;
  }, 30_000, 'restarted');
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/health`).catch(() => null))?.ok === true, 60_000, 'answers again');
  from = text.length;
  pty.stdin.write('@operational say something\r');
  await seen(/\(operational\)[\s\S]*aios> /, from);
  t.notMatch(text.slice(from), /error:/);

  pty.stdin.write('\x04');
  const memory = MemoryStore.open(MemoryStore.pathIn(init.stateDir));
  t.teardown(() => memory.close());
  await waitFor(() => memory.search('', { type: 'routing', limit: 10 }).length >= 2, 10_000, 'decisions remembered');
  t.match(memory.search('', { type: 'routing', limit: 10 }).map((m) => m.metadata), [{ tier: 'operational', ok: true }, { tier: 'operational', ok: true }]);
});
