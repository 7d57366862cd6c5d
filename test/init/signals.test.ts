// Proofs 4 and 5: every signal in the table starts its documented action (here, as PID 1 of
// a PID namespace: the container column), SIGHUP reloads, SIGUSR1 opens no inspector.
import { spawn } from 'node:child_process';
import { unlinkSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { signalTable } from '../../src/init/signals.ts';
import { CONTAINER_EXIT_STATUS } from '../../src/init/shutdown.ts';
import { logged, sleep, startInit, waitFor } from '../helpers/init-harness.ts';

const sleeper = 'exec = ["/bin/sleep", "1000"]\n';

for (const rule of signalTable().filter((r) => r.container !== 'reload')) {
  t.test(`${rule.name} -> ${rule.container}`, async (t) => {
    const init = await startInit({ services: { sleeper } });
    t.teardown(() => init.cleanup({ kill: true }));
    init.signal(rule.number);
    const exit = await init.exited;
    const action = rule.container as keyof typeof CONTAINER_EXIT_STATUS;
    t.equal(exit.code, CONTAINER_EXIT_STATUS[action], `exit status for ${action}`);
    t.equal(logged(init, `${action} requested by ${rule.name}`).length, 1, 'the request is logged with its signal');
    t.equal(logged(init, `shutdown complete: ${action}`).length, 1, 'shutdown completed');
    t.notMatch(init.output(), /Debugger listening|inspector/i, 'no inspector');
  });
}

t.test('SIGUSR1 halts and opens no inspector', async (t) => {
  const init = await startInit({ services: { sleeper } });
  t.teardown(() => init.cleanup({ kill: true }));
  init.signal('SIGUSR1');
  await init.exited;
  t.equal(logged(init, 'halt requested by SIGUSR1').length, 1);
  t.notMatch(init.output(), /Debugger listening/);
});

t.test('the inspector check sees an inspector where one opens (plain node, no flag)', async (t) => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 3000)'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await sleep(300);
  child.kill('SIGUSR1');
  await waitFor(() => stderr.includes('Debugger listening'), 5_000, 'the inspector banner');
  child.kill('SIGKILL');
  t.match(stderr, /Debugger listening/);
});

t.test('SIGHUP reloads: a changed file takes effect, a removed service stops, a new one starts', async (t) => {
  const init = await startInit({
    services: {
      keep: sleeper,
      change: 'exec = ["/bin/sleep", "1001"]\n',
      remove: 'exec = ["/bin/sleep", "1002"]\n',
    },
  });
  t.teardown(() => init.cleanup());
  const before = Object.fromEntries((await init.services()).map((s) => [s.name, s]));
  init.writeService('change', 'exec = ["/bin/sleep", "2001"]\n');
  unlinkSync(path.join(init.servicesDir, 'remove.toml'));
  init.writeService('added', 'exec = ["/bin/sleep", "3001"]\n');
  init.signal('SIGHUP');
  const after = await waitFor(async () => {
    const services = await init.services();
    const byName = Object.fromEntries(services.map((s) => [s.name, s]));
    return byName.added?.state === 'up' && byName.change?.state === 'up' && !byName.remove ? byName : null;
  }, 10_000, 'the reload to take effect');
  t.equal(after.keep!.pid, before.keep!.pid, 'the unchanged service was not restarted');
  t.not(after.change!.pid, before.change!.pid, 'the changed service was restarted');
  // `up` means started; the helper may still be a moment away from exec'ing the program.
  await waitFor(() => init.processes().some((p) => p.cmdline === '/bin/sleep 2001'), 5_000, 'the changed command');
  const cmdlines = init.processes().map((p) => p.cmdline);
  t.notOk(cmdlines.includes('/bin/sleep 1001'), 'the old command is gone');
  t.notOk(cmdlines.includes('/bin/sleep 1002'), 'the removed service was stopped');
});

t.test('a reload with an invalid file keeps the running version', async (t) => {
  const init = await startInit({ services: { svc: sleeper } });
  t.teardown(() => init.cleanup());
  const pid = (await init.services())[0]!.pid;
  init.writeService('svc', 'exec = [');
  init.signal('SIGHUP');
  await waitFor(() => logged(init, 'invalid service file').length > 0, 5_000, 'the error');
  const services = await init.services();
  t.equal(services[0]!.state, 'up');
  t.equal(services[0]!.pid, pid);
  t.match(String(logged(init, 'invalid service file')[0]!.msg), /svc\.toml: TOML syntax error at line 1/);
});

t.test('as a subreaper in a terminal, ctrl-C (SIGINT) powers off with status 0', async (t) => {
  const init = await startInit({ services: { sleeper }, namespace: false });
  t.teardown(() => init.cleanup());
  init.signal('SIGINT');
  t.equal((await init.exited).code, 0);
  t.equal(logged(init, 'poweroff requested by SIGINT').length, 1);
});
