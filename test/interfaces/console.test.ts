// The aios> prompt on a real terminal (a pty made by script(1)), against a running init:
// answers, ctrl-C cancelling a request that is still running, ctrl-D ending the console, and
// approvals answered at the prompt.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { stripAnsi } from '../../qemu/smoke.ts';
import { MAIN, startInit, waitFor } from '../helpers/init-harness.ts';

/** The rules the image ships (the console reads AIOS_RULES_DIR instead of /etc/aios/rules). */
const RULES_DIR = path.join(import.meta.dirname, '../../rootfs-overlay/etc/aios/rules');

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
  const pty = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, AIOS_RULES_DIR: RULES_DIR, TERM: 'xterm' } });
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
  pty.stdin.write('show failed services\r');
  await seen(/no services/, from);
  from = text.length;
  pty.stdin.write('is slow running?\r');
  await seen(/slow: up \(pid \d+\)/, from);

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

t.test('approvals at the prompt: describe, no, edit (asks the policy again), yes', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-console-approval-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const name of ['a', 'b']) writeFileSync(path.join(dir, name), name);
  writeFileSync(path.join(dir, 'config.toml'), '[permissions]\nmode = "normal"\n');
  const command = `${process.execPath} ${MAIN} console --run ${dir}/run --state ${dir}/state`;
  const pty = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, AIOS_RULES_DIR: RULES_DIR, TERM: 'xterm', AIOS_CONFIG: path.join(dir, 'config.toml') } });
  let text = '';
  pty.stdout.on('data', (d: Buffer) => (text += stripAnsi(d.toString())));
  t.teardown(() => pty.kill());
  const seen = (pattern: RegExp, from = 0) => waitFor(() => pattern.test(text.slice(from)), 15_000, String(pattern));
  await seen(/aios> /);

  // fs.delete removes things: normal mode asks first.
  let from = text.length;
  pty.stdin.write(`tool fs.delete {"path":"${dir}/a"}\r`);
  await seen(/approval needed \[[0-9a-f]{8}\]: fs\.delete[\s\S]*run it\? \[y\/N\/describe\/edit\] /, from).catch((error: Error) => {
    throw new Error(`${error.message}; the console said: ${text.slice(from)}`);
  });
  from = text.length;
  pty.stdin.write('describe\r');
  await seen(/arguments: \{[\s\S]*"path": ".*\/a"[\s\S]*run it\? /, from);
  from = text.length;
  pty.stdin.write('n\r');
  await seen(/fs\.delete did not run: approval request [0-9a-f]+ was denied/, from);
  t.ok(existsSync(path.join(dir, 'a')), 'no: the file is still there');

  // edit: the person changes the call; the changed call is judged (and asked) anew.
  from = text.length;
  pty.stdin.write(`tool fs.delete {"path":"${dir}/a"}\r`);
  await seen(/run it\? /, from);
  from = text.length;
  pty.stdin.write('edit\r');
  await seen(/args> /, from);
  pty.stdin.write('\x15'); // ctrl-U: clear the prefilled arguments
  pty.stdin.write(`{"path":"${dir}/b"}\r`);
  await seen(/running the edited call: fs\.delete[\s\S]*approval needed[\s\S]*\/b[\s\S]*run it\? /, from);
  from = text.length;
  pty.stdin.write('y\r');
  await seen(/deleted .*\/b/, from);
  t.notOk(existsSync(path.join(dir, 'b')), 'the edited call ran');
  t.ok(existsSync(path.join(dir, 'a')), 'the original call did not');
  t.notMatch(text.slice(from), /answered elsewhere/, 'an inline yes is not reported as settled elsewhere');
});
