// Proof 6: stopping a service kills all of it. A grandchild that ignores the stop signal dies
// after stop_timeout; with cgroups, so does one that left the process group with setsid.
// Without cgroups (AIOS_FAULTS=no-cgroup) the same check finds the escapee still running.
import t from 'tap';
import { startInit, waitFor, type InitHandle } from '../helpers/init-harness.ts';

// The main process (sh) exits on SIGTERM; its child ignores SIGTERM; a setsid'd one escapes the group.
const leaky = `exec = ["/bin/sh", "-c", "sh -c 'trap \\"\\" TERM; exec sleep 1001' & setsid sh -c 'trap \\"\\" TERM; exec sleep 1002' & exec sleep 1000"]
stop_timeout = 1
`;

function running(init: InitHandle, cmd: string): boolean {
  return init.processes().some((p) => p.cmdline === cmd && p.state !== 'Z');
}

async function stopLeaky(faults: string) {
  const init = await startInit({ services: { leaky }, env: { AIOS_FAULTS: faults } });
  try {
    await waitFor(() => running(init, 'sleep 1001') && running(init, 'sleep 1002'), 10_000, 'the service to start its children');
    const started = Date.now();
    const status = (await init.request({ cmd: 'stop', name: 'leaky' })) as { state: string };
    return { stopMs: Date.now() - started, state: status.state, grandchild: running(init, 'sleep 1001'), escapee: running(init, 'sleep 1002') };
  } finally {
    await init.cleanup({ kill: true });
  }
}

t.test('stop reaches the whole service, escapees included (cgroup)', async (t) => {
  const result = await stopLeaky('');
  t.equal(result.state, 'down', 'the stop returns once the service is down');
  t.notOk(result.grandchild, 'the TERM-ignoring grandchild is gone');
  t.notOk(result.escapee, 'the setsid escapee is gone');
  t.ok(result.stopMs >= 900, `it took the stop timeout (${result.stopMs} ms): SIGKILL came after the grace`);
});

t.test('without cgroups the same check finds the escapee', async (t) => {
  const result = await stopLeaky('no-cgroup');
  t.notOk(result.grandchild, 'the process group is still killed');
  t.ok(result.escapee, 'the setsid escapee survives: the check would catch a missing cgroup');
});
