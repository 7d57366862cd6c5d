// Proofs 10 and 11: an uncaught exception or rejection in init's own code is logged and PID 1
// goes on (still reaping, still answering); as a subreaper (not PID 1), orphans of services
// come to init and are reaped.
import { existsSync, readFileSync } from 'node:fs';
import t from 'tap';
import { logged, sleep, startInit, waitFor } from '../helpers/init-harness.ts';

const storm = `exec = ["/bin/sh", "-c", "for i in $(seq 50); do sh -c 'sleep 0.1 & exit'; done; exec sleep 1000"]\nenabled = false\n`;

t.test('uncaught exception and unhandled rejection: logged, PID 1 alive, still reaping', async (t) => {
  const init = await startInit({ services: { storm }, env: { AIOS_FAULTS: 'throw-on-reload,reject-on-reload' } });
  t.teardown(() => init.cleanup());
  init.signal('SIGHUP');
  await waitFor(() => logged(init, 'uncaught exception in aios-init').length > 0 && logged(init, 'unhandled promise rejection').length > 0, 5_000, 'both faults logged');
  t.match(String(logged(init, 'uncaught exception')[0]!.err && (logged(init, 'uncaught exception')[0]!.err as { message: string }).message), /injected fault: throw-on-reload/);
  t.equal(init.child.exitCode, null, 'PID 1 is still running');
  await init.request({ cmd: 'start', name: 'storm' });
  await sleep(1_500);
  t.equal(init.zombies().length, 0, 'orphans made after the fault are reaped');
  t.ok(init.logEntries().some((e) => e.msg === 'reaped orphan'));
});

t.test('subreaper mode: orphans of services are reparented to init and reaped', async (t) => {
  const init = await startInit({
    namespace: false,
    services: {
      orphans: `exec = ["/bin/sh", "-c", "for i in $(seq 20); do sh -c 'sh -c \\"sleep 0.3; cut -d\\\\\\" \\\\\\" -f4 /proc/\\\\$\\\\$/stat >> $AIOS_STATE_DIR/ppids\\" & exit'; done; exec sleep 1000"]\n`,
    },
  });
  t.teardown(() => init.cleanup());
  t.not(init.hostPid(), 1);
  await waitFor(() => existsSync(`${init.stateDir}/ppids`) && readFileSync(`${init.stateDir}/ppids`, 'utf8').trim().split('\n').length === 20, 10_000, 'the orphans to report');
  const ppids = new Set(readFileSync(`${init.stateDir}/ppids`, 'utf8').trim().split('\n').map(Number));
  t.same([...ppids], [init.hostPid()], 'every orphan was re-parented to init, not to the host PID 1');
  await sleep(500);
  t.equal(init.zombies().length, 0, 'and reaped');
});
