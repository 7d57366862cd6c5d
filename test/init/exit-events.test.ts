// Proofs 2 and 3: 300 managed children exit with every status 0-255 and by 44 signals while
// orphans are being reaped; every exit event arrives with the right code and signal. With a
// naive reaper that also takes libuv's children, the same check sees lost events.
import os from 'node:os';
import t from 'tap';
import { startInit, waitFor, type InitHandle } from '../helpers/init-harness.ts';

const SIGNALS = Object.entries(os.constants.signals)
  .filter(([name, n]) => !['SIGKILL', 'SIGSTOP', 'SIGCHLD', 'SIGCONT', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGURG', 'SIGWINCH', 'SIGIOT', 'SIGPOLL'].includes(name) && n < 32)
  .map(([name, n]) => ({ name, n }));

interface Expected {
  code: number;
  signal: string | null;
}

function servicesFor(): { files: Record<string, string>; expected: Map<string, Expected> } {
  const files: Record<string, string> = {};
  const expected = new Map<string, Expected>();
  // Exit statuses 0-255.
  for (let code = 0; code < 256; code++) {
    const name = `exit-${code}`;
    files[name] = `exec = ["/bin/sh", "-c", "sleep 0.${code % 10}; exit ${code}"]\nrestart = "never"\n`;
    expected.set(name, { code, signal: null });
  }
  // Deaths by signal, up to 300 managed children in all (SIGKILL included: it cannot be caught).
  const signals = [...SIGNALS, { name: 'SIGKILL', n: 9 }];
  for (let i = 0; Object.keys(files).length < 300; i++) {
    const { name: sig, n } = signals[i % signals.length]!;
    const name = `signal-${i}-${sig.toLowerCase()}`;
    files[name] = `exec = ["/bin/sh", "-c", "sleep 0.${i % 10}; kill -${n} $$; sleep 5"]\nrestart = "never"\n`;
    expected.set(name, { code: 128 + n, signal: sig });
  }
  files.orphans = `exec = ["/bin/sh", "-c", "while :; do sh -c 'sleep 0.05 & exit'; done"]\n`;
  return { files, expected };
}

async function settledServices(init: InitHandle, names: string[], timeoutMs: number) {
  return waitFor(async () => {
    const services = await init.services();
    const mine = services.filter((s) => names.includes(s.name));
    return mine.length === names.length && mine.every((s) => s.state === 'down' || s.state === 'failed') ? mine : null;
  }, timeoutMs, 'every service to exit');
}

t.test('every exit status and signal arrives, while orphans are reaped', async (t) => {
  const { files, expected } = servicesFor();
  t.equal(expected.size, 300);
  const init = await startInit({ services: files });
  t.teardown(() => init.cleanup());
  const services = await settledServices(init, [...expected.keys()], 60_000);
  let wrong = 0;
  for (const s of services) {
    const want = expected.get(s.name)!;
    if (s.lastExit?.code !== want.code || s.lastExit?.signal !== want.signal) {
      wrong++;
      t.fail(`${s.name}: got ${JSON.stringify(s.lastExit)}, want ${JSON.stringify(want)}`);
    }
    const wantState = want.code === 0 ? 'down' : 'failed';
    if (s.state !== wantState) t.fail(`${s.name}: state ${s.state}, want ${wantState}`);
  }
  t.equal(wrong, 0, 'no exit event lost or wrong');
  t.equal(init.zombies().length, 0, 'no zombies meanwhile');
  t.ok(init.logEntries().some((e) => e.msg === 'reaped orphan'), 'orphans were reaped during the test');
});

t.test('the same check catches a reaper that steals libuv children', async (t) => {
  const { files, expected } = servicesFor();
  const init = await startInit({ services: files, env: { AIOS_FAULTS: 'steal-children' } });
  t.teardown(() => init.cleanup({ kill: true }));
  const lost = await (async () => {
    try {
      const settled = await settledServices(init, [...expected.keys()], 8_000);
      t.comment(`settled: ${settled.length}`);
      return 0;
    } catch (error) {
      t.comment((error as Error).message);
      const services = await init.services();
      return services.filter((s) => s.state === 'up' || s.state === 'starting').length;
    }
  })();
  t.ok(lost > 0, `exit events lost: ${lost} services stay "up" forever`);
});
