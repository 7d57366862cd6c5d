// Proof 1: orphans are reaped; with reaping switched off the same check finds zombies.
import { existsSync } from 'node:fs';
import t from 'tap';
import { sleep, startInit, waitFor } from '../helpers/init-harness.ts';

const ORPHANS = 100;
// Each `sh -c 'sleep 0.1 & exit'` exits at once and leaves its sleep to be re-parented to PID 1.
const storm = `exec = ["/bin/sh", "-c", "for i in $(seq ${ORPHANS}); do sh -c 'sleep 0.1 & exit'; done; touch \\"$AIOS_STATE_DIR/storm-done\\"; exec sleep 1000"]`;

async function zombiesAfterStorm(faults: string): Promise<number> {
  const init = await startInit({ services: { storm }, env: { AIOS_FAULTS: faults } });
  try {
    await waitFor(() => existsSync(`${init.stateDir}/storm-done`), 20_000, 'the storm to finish');
    await sleep(1_000);
    return init.zombies().length;
  } finally {
    await init.cleanup({ kill: faults !== '' });
  }
}

t.test('100 orphans leave no zombie after 1 s', async (t) => {
  t.equal(await zombiesAfterStorm(''), 0, 'zombies in the namespace');
});

t.test('the same check catches zombies when reaping is off', async (t) => {
  t.ok((await zombiesAfterStorm('no-reaper')) >= ORPHANS * 0.9, 'nearly every orphan stays a zombie');
});
