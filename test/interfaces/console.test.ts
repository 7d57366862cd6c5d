// The aios> prompt on a real terminal (a pty made by script(1)), against a running init:
// answers, ctrl-C cancelling a request that is still running, ctrl-D ending the console.
import { spawn } from 'node:child_process';
import t from 'tap';
import { stripAnsi } from '../../qemu/smoke.ts';
import { MAIN, startInit, waitFor } from '../helpers/init-harness.ts';

t.test('the prompt answers, ctrl-C cancels a running request, ctrl-D ends it', async (t) => {
  const init = await startInit({
    services: {
      // Ignores SIGTERM: restarting it takes its whole stop_timeout.
      slow: 'exec = ["/bin/sh", "-c", "trap \\"\\" TERM; while :; do sleep 0.1; done"]\nstop_timeout = 8\n',
    },
    namespace: false,
  });
  t.teardown(() => init.cleanup());
  const command = `${process.execPath} ${MAIN} console --run ${init.runDir} --state ${init.stateDir}`;
  const pty = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TERM: 'xterm' } });
  let text = '';
  pty.stdout.on('data', (d: Buffer) => (text += stripAnsi(d.toString())));
  const exited = new Promise<number | null>((resolve) => pty.on('exit', resolve));
  const seen = (pattern: RegExp, from = 0) => waitFor(() => pattern.test(text.slice(from)), 15_000, String(pattern));

  await seen(/aios> /);
  await seen(/running: slow/);
  let from = text.length;
  pty.stdin.write('services\r');
  await seen(/slow\s+up/, from);

  from = text.length;
  const started = Date.now();
  pty.stdin.write('restart slow\r');
  await new Promise((resolve) => setTimeout(resolve, 500));
  pty.stdin.write('\x03');
  await seen(/\^C cancelled/, from);
  t.ok(Date.now() - started < 5_000, 'cancelled long before the 8 s stop timeout');
  from = text.length;
  pty.stdin.write('status\r');
  await seen(/services: \d+ of \d+ up/, from);
  t.pass('the prompt answers again after the cancel');

  pty.stdin.write('\x04');
  t.equal(await exited, 0, 'ctrl-D ends the console with status 0');
  t.match(text, /bye/);
});
