// service enable/disable: remembered in STATE/services-enabled.json, applied when init starts
// (and when the state disk is ready), never starting or stopping anything by itself.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { startInit, waitFor } from '../helpers/init-harness.ts';

const sleeper = 'exec = ["/bin/sleep", "1000"]\n';

t.test('a service disabled in the state directory does not start; enable records it without starting', async (t) => {
  const init = await startInit({
    services: { kept: sleeper, skipped: sleeper },
    namespace: false,
    prepare: ({ stateDir }) => writeFileSync(path.join(stateDir, 'services-enabled.json'), JSON.stringify({ skipped: false })),
  });
  t.teardown(() => init.cleanup());
  await waitFor(async () => (await init.services()).find((s) => s.name === 'kept' && s.state === 'up'), 10_000, 'kept up');
  const skipped = (await init.request({ cmd: 'status', name: 'skipped' })) as { state: string; enabled: boolean };
  t.match(skipped, { state: 'down', enabled: false });

  const enabled = (await init.request({ cmd: 'enable', name: 'skipped' })) as { state: string; enabled: boolean };
  t.match(enabled, { state: 'down', enabled: true }, 'enable does not start it now');
  t.same(JSON.parse(readFileSync(path.join(init.stateDir, 'services-enabled.json'), 'utf8')), { skipped: true });

  const disabled = (await init.request({ cmd: 'disable', name: 'kept' })) as { state: string; enabled: boolean };
  t.match(disabled, { state: 'up', enabled: false }, 'disable does not stop it now');
  t.same(JSON.parse(readFileSync(path.join(init.stateDir, 'services-enabled.json'), 'utf8')), { skipped: true, kept: false });

  await t.rejects(init.request({ cmd: 'enable', name: 'nope' }), /No service named `nope`/);
});

t.test('a broken services-enabled.json is reported and ignored: the files decide', async (t) => {
  const init = await startInit({
    services: { kept: sleeper },
    namespace: false,
    prepare: ({ stateDir }) => writeFileSync(path.join(stateDir, 'services-enabled.json'), '{not json'),
  });
  t.teardown(() => init.cleanup());
  await waitFor(async () => (await init.services()).find((s) => s.name === 'kept' && s.state === 'up'), 10_000, 'kept up');
  t.match(init.output(), /ignoring .*services-enabled\.json/);
});
