// Proofs 8 and 9: crash loops are bounded (floor, backoff, burst limit, exact restart count);
// a missing program fails with 127 and no storm; an invalid file is reported and the rest run.
import { existsSync, readFileSync } from 'node:fs';
import t from 'tap';
import { logged, sleep, startInit, waitFor } from '../helpers/init-harness.ts';

t.test('crash loop: floor, exponential backoff, burst limit, exact count', async (t) => {
  const init = await startInit({
    services: {
      crasher: `exec = ["/bin/sh", "-c", "date +%s.%N >> \\"$AIOS_STATE_DIR/starts\\"; exit 3"]
restart_sec = 0.2
restart_max_sec = 0.5
start_limit_burst = 4
`,
    },
  });
  t.teardown(() => init.cleanup());
  const failed = await waitFor(async () => (await init.services()).find((s) => s.state === 'failed'), 10_000, 'the service to fail');
  await sleep(1_500); // nothing more may happen
  const starts = readFileSync(`${init.stateDir}/starts`, 'utf8').trim().split('\n').map(Number);
  t.equal(starts.length, 5, 'one start and exactly 4 restarts');
  t.equal(failed.restarts, 4, 'restarts counted exactly');
  t.same(failed.lastExit, { code: 3, signal: null });
  const gaps = starts.slice(1).map((s, i) => s - starts[i]!);
  // 0.2, 0.4, then capped at 0.5 (each measured start to start, so a little more).
  const floors = [0.2, 0.4, 0.5, 0.5];
  gaps.forEach((gap, i) => t.ok(gap >= floors[i]! - 0.01 && gap < floors[i]! + 0.3, `gap ${i + 1}: ${gap.toFixed(3)} s, wanted about ${floors[i]} s`));
  t.match((await init.request({ cmd: 'status', name: 'crasher' }) as { reason: string }).reason, /start limit reached/);
});

t.test('a healthy run resets the backoff and the burst count', async (t) => {
  const init = await startInit({
    services: {
      flaky: `exec = ["/bin/sh", "-c", "echo x >> \\"$AIOS_STATE_DIR/starts\\"; sleep 0.3; exit 1"]
restart_sec = 0.1
start_limit_burst = 2
healthy_sec = 0.2
`,
    },
  });
  t.teardown(() => init.cleanup());
  await waitFor(() => lineCount(`${init.stateDir}/starts`) >= 5, 10_000, 'five starts');
  const flaky = (await init.services())[0]!;
  t.not(flaky.state, 'failed', 'more restarts than the burst limit, but each run was healthy');
});

t.test('restart = "always" restarts a clean exit; "on-failure" does not', async (t) => {
  const init = await startInit({
    services: {
      always: `exec = ["/bin/sh", "-c", "echo x >> \\"$AIOS_STATE_DIR/always\\"; exit 0"]\nrestart_sec = 0.1\n`,
      onfailure: `exec = ["/bin/true"]\nrestart = "on-failure"\nrestart_sec = 0.1\n`,
    },
  });
  t.teardown(() => init.cleanup());
  await waitFor(() => lineCount(`${init.stateDir}/always`) >= 3, 10_000, 'restarts');
  const byName = Object.fromEntries((await init.services()).map((s) => [s.name, s]));
  t.equal(byName.onfailure!.state, 'down');
  t.equal(byName.onfailure!.restarts, 0);
});

t.test('a missing program: status 127, failed, no respawn storm', async (t) => {
  const init = await startInit({
    services: {
      missing: 'exec = ["/nonexistent/program", "--flag"]\nrestart_sec = 0\n',
      notexec: 'exec = ["/etc/hostname"]\n',
      fine: 'exec = ["/bin/sleep", "1000"]\n',
    },
  });
  t.teardown(() => init.cleanup());
  await sleep(1_000);
  const byName = Object.fromEntries((await init.services()).map((s) => [s.name, s]));
  t.equal(byName.missing!.state, 'failed');
  t.same(byName.missing!.lastExit, { code: 127, signal: null });
  t.equal(byName.missing!.restarts, 0);
  t.equal(logged(init, 'missing: cannot start').length, 1, 'one attempt, one message');
  t.same(byName.notexec!.lastExit, { code: 126, signal: null }, 'not executable: 126');
  t.equal(byName.fine!.state, 'up');
});

t.test('an invalid file: a clear error naming file and key; the others run', async (t) => {
  const init = await startInit({
    services: {
      good: 'exec = ["/bin/sleep", "1000"]\n',
      badkey: 'exec = ["/bin/sleep", "1"]\nrestart_sec = -1\nfrobnicate = true\n',
      badtoml: 'exec = ["/bin/sleep"\n',
      baddep: 'exec = ["/bin/sleep", "1000"]\ndepends_on = ["nosuch"]\n',
      cycle_a: 'exec = ["/bin/sleep", "1000"]\ndepends_on = ["cycle_b"]\n',
      cycle_b: 'exec = ["/bin/sleep", "1000"]\ndepends_on = ["cycle_a"]\n',
    },
  });
  t.teardown(() => init.cleanup());
  const data = (await init.request({ cmd: 'services' })) as { services: { name: string; state: string }[]; errors: { file: string; message: string }[] };
  t.same(data.services.map((s) => `${s.name}:${s.state}`), ['good:up']);
  const errors = Object.fromEntries(data.errors.map((e) => [e.file.split('/').pop(), e.message]));
  t.match(errors['badkey.toml'], /unknown key `frobnicate`/);
  t.match(errors['badkey.toml'], /key `restart_sec`: Expected `restart_sec` to be a non-negative number of seconds/);
  t.match(errors['badtoml.toml'], /TOML syntax error at line \d+/);
  t.match(errors['baddep.toml'], /unknown service `nosuch`/);
  t.match(errors['cycle_a.toml'], /dependency cycle/);
});

function lineCount(file: string): number {
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').length : 0;
}
