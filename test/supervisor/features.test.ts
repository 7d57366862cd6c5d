// Readiness, dependency order, logs, environment, users and limits, through a running init.
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { logged, startInit, waitFor } from '../helpers/init-harness.ts';

t.test('dependencies start after what they depend on is ready', async (t) => {
  const init = await startInit({
    services: {
      // Ready only when it writes READY=1 to $NOTIFY_FD, half a second in.
      db: `exec = ["/bin/sh", "-c", "sleep 0.5; echo READY=1 >&3; exec sleep 1000"]\nready = { kind = "notify" }\n`,
      web: `exec = ["/bin/sh", "-c", "date +%s.%N > \\"$AIOS_STATE_DIR/web-started\\"; exec sleep 1000"]\ndepends_on = ["db"]\n`,
    },
  });
  t.teardown(() => init.cleanup());
  await waitFor(async () => (await init.services()).every((s) => s.state === 'up'), 10_000, 'db and web up');
  const dbUp = logged(init, 'db: starting -> up')[0]!;
  const webStarting = logged(init, 'web: down -> starting')[0]!;
  t.ok((webStarting.time as number) >= (dbUp.time as number), 'web started after db was ready');
  t.match(dbUp.reason, 'notified ready');
  // `up` for web means started; its first line of shell may still be on its way.
  await waitFor(() => existsSync(`${init.stateDir}/web-started`), 5_000, 'web to run');
});

t.test('readiness by file, and a readiness timeout counts as a failure', async (t) => {
  const init = await startInit({
    services: {
      never: `exec = ["/bin/sleep", "1000"]\nready = { kind = "notify" }\nready_timeout = 0.5\nrestart = "on-failure"\nstart_limit_burst = 1\nrestart_sec = 0.1\n`,
    },
    prepare: (init) => init.writeService('filey', `exec = ["/bin/sh", "-c", "sleep 0.3; touch ${init.runDir}/filey.ready; exec sleep 1000"]\nready = { kind = "file", path = "${init.runDir}/filey.ready" }\n`),
  });
  t.teardown(() => init.cleanup());
  const filey = await waitFor(async () => (await init.services()).find((s) => s.name === 'filey' && s.state === 'up'), 10_000, 'filey up');
  t.ok(filey);
  const never = await waitFor(async () => (await init.services()).find((s) => s.name === 'never' && s.state === 'failed'), 10_000, 'never failed');
  t.equal(never.restarts, 1, 'restarted once, then the burst limit');
  t.match((await init.request({ cmd: 'status', name: 'never' }) as { reason: string }).reason, /never became ready/);
});

t.test('a one-shot service (ready when it exits 0) is up with nothing running, and what depends on it waits for it to finish', async (t) => {
  const init = await startInit({
    services: {
      // Takes half a second, like udev coldplug; its dependent must not start before it is done.
      setup: `exec = ["/bin/sh", "-c", "sleep 0.5; date +%s.%N > \\"$AIOS_STATE_DIR/setup-done\\""]\nready = { kind = "exited" }\nrestart = "never"\n`,
      app: `exec = ["/bin/sh", "-c", "cat \\"$AIOS_STATE_DIR/setup-done\\" > \\"$AIOS_STATE_DIR/app-saw\\"; exec sleep 1000"]\ndepends_on = ["setup"]\n`,
      broken: `exec = ["/bin/sh", "-c", "exit 3"]\nready = { kind = "exited" }\nrestart = "never"\n`,
      after_broken: `exec = ["/bin/sleep", "1000"]\ndepends_on = ["broken"]\n`,
    },
  });
  t.teardown(() => init.cleanup());
  await waitFor(async () => (await init.services()).find((s) => s.name === 'app' && s.state === 'up'), 10_000, 'app up');
  await waitFor(() => existsSync(`${init.stateDir}/app-saw`) && readFileSync(`${init.stateDir}/app-saw`, 'utf8').length > 0, 5_000, 'app to run');
  t.equal(readFileSync(`${init.stateDir}/app-saw`, 'utf8'), readFileSync(`${init.stateDir}/setup-done`, 'utf8'), 'app started after setup had finished');
  const setup = (await init.request({ cmd: 'status', name: 'setup' })) as { state: string; pid: number | null; reason: string };
  t.match(setup, { state: 'up', pid: null, reason: /done/ }, 'setup is up with nothing running');
  const broken = await waitFor(async () => (await init.services()).find((s) => s.name === 'broken' && s.state === 'failed'), 10_000, 'broken failed');
  t.equal(broken.lastExit?.code, 3);
  t.equal((await init.services()).find((s) => s.name === 'after_broken')?.state, 'down', 'what depends on a failed one-shot does not start');
  await init.request({ cmd: 'stop', name: 'setup' });
  t.equal(((await init.request({ cmd: 'status', name: 'setup' })) as { state: string }).state, 'down', 'stopping a finished one-shot is immediate');
  t.equal(((await init.request({ cmd: 'status', name: 'app' })) as { state: string }).state, 'down', 'and stops what depends on it first');
});

t.test('logs: stdout and stderr captured with timestamps, in memory and on disk', async (t) => {
  const init = await startInit({
    services: { talker: `exec = ["/bin/sh", "-c", "echo out-line; echo err-line >&2; printf no-newline; exec sleep 1000"]\n` },
  });
  t.teardown(() => init.cleanup());
  const data = await waitFor(async () => {
    const d = (await init.request({ cmd: 'logs', name: 'talker', lines: 10 })) as { lines: { stream: string; text: string; time: string }[] };
    return d.lines.length >= 2 ? d : null;
  }, 5_000, 'log lines');
  t.match(data.lines, [{ stream: 'stdout', text: 'out-line' }, { stream: 'stderr', text: 'err-line' }].filter((l) => data.lines.some((x) => x.text === l.text)));
  t.ok(data.lines.every((l) => !Number.isNaN(Date.parse(l.time))), 'timestamps');
  await init.request({ cmd: 'stop', name: 'talker' });
  const file = readFileSync(`${init.stateDir}/log/talker.log`, 'utf8');
  t.match(file, /^\S+Z stdout out-line$/m);
  t.match(file, /^\S+Z stderr err-line$/m);
  t.match(file, /^\S+Z stdout no-newline$/m, 'a last line without newline is kept');
});

t.test('environment, working directory and user', async (t) => {
  const init = await startInit({
    services: {
      who: `exec = ["/bin/sh", "-c", "echo \\"$(id -u) $(pwd) $GREETING $PATH\\" > \\"$OUT.tmp\\"; mv \\"$OUT.tmp\\" \\"$OUT\\"; exec sleep 1000"]
cwd = "/tmp"
user = "nobody"
`,
    },
    prepare: (init) => {
      mkdirSync(`${init.runDir}/out`);
      chmodSync(`${init.runDir}/out`, 0o777);
      init.writeService('who', readFileSync(`${init.servicesDir}/who.toml`, 'utf8') + `env = { GREETING = "hello", OUT = "${init.runDir}/out/who" }\n`);
    },
  });
  t.teardown(() => init.cleanup());
  const out = await waitFor(() => {
    try {
      return readFileSync(`${init.runDir}/out/who`, 'utf8').trim();
    } catch {
      return '';
    }
  }, 5_000, 'the output');
  t.equal(out, '65534 /tmp hello /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
});

t.test('limits: applied where the controllers exist, reported where they do not', async (t) => {
  const init = await startInit({
    services: { limited: `exec = ["/bin/sleep", "1000"]\n[limits]\nmemory_max = "64M"\npids_max = 16\ncpu_weight = 50\n` },
  });
  t.teardown(() => init.cleanup());
  const status = (await init.request({ cmd: 'status', name: 'limited' })) as { cgroup: string | null };
  t.ok(status.cgroup, 'the service has a cgroup');
  const controllers = readFileSync(`${status.cgroup}/../cgroup.subtree_control`, 'utf8');
  if (controllers.includes('memory')) {
    t.equal(readFileSync(`${status.cgroup}/memory.max`, 'utf8').trim(), String(64 * 1024 * 1024));
  } else {
    t.ok(logged(init, 'memory.max not applied').length === 1, 'no memory controller here: said so');
  }
  if (controllers.includes('pids')) t.equal(readFileSync(`${status.cgroup}/pids.max`, 'utf8').trim(), '16');
  else t.ok(logged(init, 'pids.max not applied').length === 1);
});
