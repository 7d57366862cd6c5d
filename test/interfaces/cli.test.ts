// The `aios` command line against a running init, as a user (or an outside test) would use it.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { MAIN, startInit, waitFor } from '../helpers/init-harness.ts';

const run = promisify(execFile);

async function aios(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [MAIN, ...args], { env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

t.test('help for every command', async (t) => {
  const overview = await aios(['--help']);
  t.equal(overview.code, 0);
  for (const name of ['init', 'services', 'service', 'logs', 'reload', 'poweroff', 'reboot', 'halt', 'console', 'audit']) {
    t.match(overview.stdout, new RegExp(`^  ${name} `, 'm'), `${name} is listed`);
    const help = await aios([name, '--help']);
    t.equal(help.code, 0);
    t.match(help.stdout, new RegExp(`^Usage: aios ${name}`), `${name} --help`);
  }
});

t.test('usage errors say what is wrong and where to look', async (t) => {
  const unknown = await aios(['frobnicate']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown command `frobnicate`.*aios --help/);
  const badFlag = await aios(['services', '--bogus']);
  t.equal(badFlag.code, 2);
  t.match(badFlag.stderr, /Unknown option '--bogus'[\s\S]*aios services --help/);
  const noInit = await aios(['services'], { AIOS_RUN_DIR: '/nonexistent-aios-run' });
  t.equal(noInit.code, 1);
  t.match(noInit.stderr, /no init is listening at \/nonexistent-aios-run\/init\.sock\. Is aios-init running\?/);
});

t.test('services --json, service, logs and poweroff against a running init', async (t) => {
  const init = await startInit({
    services: {
      app: 'exec = ["/bin/sh", "-c", "echo started; exec sleep 1000"]\n',
      crash: 'exec = ["/bin/sh", "-c", "exit 4"]\nrestart = "never"\n',
    },
  });
  t.teardown(() => init.cleanup());
  const env = { AIOS_RUN_DIR: init.runDir };
  await waitFor(async () => (await init.services()).find((s) => s.name === 'crash')?.state === 'failed', 5_000, 'crash to fail');

  const listed = await aios(['services', '--json'], env);
  t.equal(listed.code, 0);
  const services = JSON.parse(listed.stdout) as Record<string, unknown>[];
  t.same(services.map((s) => Object.keys(s)), [
    ['name', 'state', 'pid', 'restarts', 'lastExit'],
    ['name', 'state', 'pid', 'restarts', 'lastExit'],
  ], 'exactly the contract fields');
  t.match(services, [
    { name: 'app', state: 'up', pid: Number, restarts: 0, lastExit: null },
    { name: 'crash', state: 'failed', pid: null, restarts: 0, lastExit: { code: 4, signal: null } },
  ]);

  const table = await aios(['services', '--run', init.runDir]);
  t.match(table.stdout, /^NAME\s+STATE\s+PID/);
  t.match(table.stdout, /^crash\s+failed\s+-\s+0\s+4/m);

  const logs = await aios(['logs', 'app', '-n', '5'], env);
  t.match(logs.stdout, /started/);

  const stop = await aios(['service', 'stop', 'app', '--json'], env);
  t.equal(stop.code, 0);
  t.match(JSON.parse(stop.stdout), { name: 'app', state: 'down', lastExit: { code: 143, signal: 'SIGTERM' } });
  const missing = await aios(['service', 'start', 'nosuch'], env);
  t.equal(missing.code, 1);
  t.match(missing.stderr, /No service named `nosuch`/);

  const off = await aios(['poweroff'], env);
  t.equal(off.code, 0);
  t.equal((await init.exited).code, 0);
});

t.test('logs -f follows new lines', async (t) => {
  const init = await startInit({ services: { ticker: 'exec = ["/bin/sh", "-c", "i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.1; done"]\n' } });
  t.teardown(() => init.cleanup());
  const child = execFile(process.execPath, [MAIN, 'logs', 'ticker', '-f', '-n', '0', '--json'], { env: { ...process.env, AIOS_RUN_DIR: init.runDir } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await waitFor(() => out.split('\n').filter(Boolean).length >= 3, 5_000, 'three followed lines');
  child.kill('SIGINT');
  const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { text: string });
  t.match(lines[0]!.text, /^tick \d+$/);
});
