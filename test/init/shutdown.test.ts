// Proof 7: shutdown. A graceful service exits 0 within the grace period; a TERM-ignoring
// service and a setsid'd orphan are killed; afterwards only PID 1 remains; mounts made in the
// namespace are gone.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { logged, startInit, waitFor } from '../helpers/init-harness.ts';

t.test('poweroff stops everything in order and leaves only PID 1', async (t) => {
  const init = await startInit({
    services: {
      graceful: `exec = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]\n`,
      stubborn: `exec = ["/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"]\nstop_timeout = 1\n`,
      orphaner: `exec = ["/bin/sh", "-c", "setsid sh -c 'trap \\"\\" TERM; exec sleep 1003' & exec sleep 1000"]\n`,
      mounter: `exec = ["/bin/sh", "-c", "mkdir -p \\"$AIOS_STATE_DIR/mnt\\" && mount -t tmpfs aios-test-tmpfs \\"$AIOS_STATE_DIR/mnt\\" && exec sleep 1000"]\n`,
      // Depends on graceful: must be stopped before it.
      dependent: `exec = ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.1; done"]\ndepends_on = ["graceful"]\n`,
    },
    args: ['--shutdown-grace', '1'],
  });
  t.teardown(() => init.cleanup({ kill: true }));
  await waitFor(() => init.processes().some((p) => p.cmdline === 'sleep 1003'), 10_000, 'the orphan');
  await waitFor(() => readFileSync('/proc/' + init.hostPid() + '/mounts', 'utf8').includes('aios-test-tmpfs'), 10_000, 'the mount');
  // A process that no service owns (it entered the namespace from outside) and ignores SIGTERM:
  // only the kill(-1) phase can reach it.
  const intruder = spawn('nsenter', ['--target', String(init.hostPid()), '--pid', '--', 'sh', '-c', "trap '' TERM; exec sleep 1004"], {
    stdio: 'ignore',
    detached: true,
  });
  t.teardown(() => intruder.kill('SIGKILL'));
  await waitFor(() => init.processes().some((p) => p.cmdline === 'sleep 1004'), 10_000, 'the intruder');
  await init.request({ cmd: 'poweroff' });
  const exit = await init.exited;
  t.equal(exit.code, 0, 'a container powers off with status 0');

  const stopped = Object.fromEntries(
    logged(init, 'shutdown: ').filter((e) => e.service).map((e) => [e.service as string, e.lastExit as { code: number; signal: string | null }]),
  );
  t.same(stopped.graceful, { code: 0, signal: null }, 'the graceful service exited 0');
  t.same(stopped.stubborn, { code: 137, signal: 'SIGKILL' }, 'the TERM-ignoring service was killed');
  const order = logged(init, '-> down').map((e) => e.service);
  t.ok(order.indexOf('dependent') < order.indexOf('graceful'), `dependent stopped before its dependency (${order.join(', ')})`);

  t.ok(logged(init, 'still running after 1000 ms: SIGKILL').length === 1, 'the intruder needed SIGKILL after the grace');
  const done = logged(init, 'shutdown complete')[0]!;
  t.same(done.processesLeft, [], 'only PID 1 remained');
  t.notOk((done.mountsLeft as string[]).some((m) => m.endsWith('/state/mnt')), 'the tmpfs made in the namespace was unmounted');
  t.ok(logged(init, 'unmounted').some((e) => String(e.target).endsWith('/state/mnt')), 'and the unmount is logged');
});
