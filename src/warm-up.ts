// Code the boot runs once, run at snapshot time instead (src/entry.ts): V8 compiles a function
// on its first call, which costs little here and a good part of a second under emulation, and
// the compiled bytecode is kept in the executable's start-up snapshot. Nothing here may leave
// a handle open (the snapshot cannot hold one), and nothing touches more than a temporary
// folder and one `/bin/sh -c 'exit 0'`.
import { formatBanner, formatBootReport, formatRunning } from './interfaces/console/console.ts';
import { describeZodError, LineSplitter } from './interfaces/control-protocol.ts';
import { parseMounts, parseStat } from './init/procfs.ts';
import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import pino from 'pino';
import type { Reaper } from './init/reaper.ts';
import { Supervisor } from './supervisor/supervisor.ts';
import { formatConsoleLine, REDACT } from './log.ts';
import { decideRestart } from './supervisor/backoff.ts';
import { parseServiceFile, resolveDependencies, type ServiceSpec } from './supervisor/service-spec.ts';
import { bootTool, serviceListTool, serviceLogsTool, serviceRestartTool, statusTool } from './tools/system-tools.ts';

export function warmUpRendering(): void {
  const services = [
    { name: 'console', state: 'up', pid: 2, restarts: 0, reason: '', lastExit: null, description: '', since: '', dependsOn: [], cgroup: null, file: '' },
    { name: 'network', state: 'down', pid: null, restarts: 1, reason: 'waiting for the state disk', lastExit: { code: 1, signal: null }, description: '', since: '', dependsOn: [], cgroup: null, file: '' },
  ] as const;
  formatBanner('0.0.0', 1.5, 'rules only');
  formatRunning([...services]);
  formatBootReport({ state: { message: 'm' }, warnings: ['w'] });
  serviceListTool.render([...services] as never);
  serviceRestartTool.render(services[0] as never);
  serviceLogsTool.render([{ time: '2026-01-01T00:00:00.000Z', stream: 'stderr', text: 'x' }]);
  statusTool.render({
    hostname: 'aios',
    uptimeSeconds: 90061,
    load: [0, 0, 0],
    memory: { totalBytes: 2 ** 30, availableBytes: 2 ** 29 },
    disks: [{ mount: '/', totalBytes: 2 ** 30, freeBytes: 2 ** 20 }],
    services: [{ name: 'console', state: 'up', pid: 2, restarts: 0 }],
    warnings: ['w'],
  });
  bootTool.render({ mode: 'machine', timeline: { pid1ExecSec: 1, initStartSec: 2, servicesUpSec: 3 }, warnings: [], state: null, modules: { loaded: 0, failed: [] }, promptSec: 4 });
  new LineSplitter(8).push('{"cmd":"ping"}\n0123456789\n');
  describeZodError({ issues: [{ code: 'custom', message: 'm', path: ['a'], input: 1 }] });
  formatConsoleLine(JSON.stringify({ level: 30, time: 0, msg: 'm', service: 's', err: { message: 'e' } }));
  // A logger like createLogger's, writing nowhere: pino compiles its redaction and serializers.
  const log = pino({ name: 'warm-up', level: 'debug', redact: REDACT }, pino.multistream([{ level: 'debug', stream: { write() {} } }]));
  log.child({ subsystem: 'warm-up' }).info({ err: new Error('e'), apiKey: 'k' }, 'm');
  parseStat('1 (init) S 0 1 1 0 -1 4194560 0 0 0 0');
  parseMounts('proc /proc proc rw 0 0\n');
  const specs = new Map<string, ServiceSpec>();
  for (const [name, text] of [['a', 'exec = ["/a"]'], ['b', 'exec = ["/b"]\ndepends_on = ["a"]'], ['c', 'exec = ["/c"]\ndepends_on = ["x"]']]) {
    const result = parseServiceFile(`/etc/aios/services/${name}.toml`, text!);
    if (result.ok) specs.set(result.spec.name, result.spec);
  }
  resolveDependencies(specs, []);
  decideRestart({ restart_sec: 1, restart_max_sec: 30, start_limit_burst: 5, healthy_sec: 10 }, 0, 0);
}

/**
 * The path from reading the services to starting the first one (what stands between PID 1's
 * start and the console's), with a stand-in for the process: the service is "spawned",
 * comes up, exits and settles down, all synchronously, leaving no timer behind.
 */
export function warmUpSupervision(): void {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-warm-up-'));
  try {
    writeFileSync(path.join(dir, 'warm-up.toml'), 'exec = ["/bin/sh", "-c", "exit 0"]\nrestart = "never"\nearly = true\n');
    let child: EventEmitter | undefined;
    const reaper = {
      on() {},
      spawnTracked() {
        const stdout = Readable.from([]);
        const stderr = Readable.from([]);
        child = Object.assign(new EventEmitter(), { pid: undefined, stdout, stderr, stdio: [null, stdout, stderr, null] });
        return child;
      },
    } as unknown as Reaper;
    const log = pino({ level: 'debug' }, pino.multistream([{ level: 'debug', stream: { write() {} } }]));
    const supervisor = new Supervisor(dir, {
      reaper,
      cgroups: null,
      spawnHelper: '/bin/true',
      logDir: dir,
      log,
      baseEnv: {},
      stateReady: () => false,
    });
    void supervisor.reload();
    child?.emit('spawn');
    child?.emit('exit', 0, null);
    supervisor.list();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * One real child process, spawned the way services are (its own session, pipes): Node's
 * spawn path is compiled on first use too. The snapshot is taken once the event loop is
 * empty, so the child has exited and nothing of it remains.
 */
export function warmUpSpawn(): void {
  const child = spawn('/bin/sh', ['-c', 'exit 0'], { detached: true, stdio: ['ignore', 'pipe', 'pipe', 'pipe'], env: {}, cwd: '/' });
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', () => {});
  child.stderr?.on('data', () => {});
  child.on('error', () => {});
}

/**
 * The warm-up arms timers and clears them before they fire. Node then still holds the expiry
 * it scheduled for them (cleared timers do not reschedule), and the snapshot would carry that
 * stale expiry into every process started from it: there, new timers were sometimes never
 * scheduled at all (PID 1 stopped restarting services a few seconds after boot, in the image).
 * A timer that really fires leaves Node's timer state empty, as in a fresh process.
 */
export function settleTimers(): void {
  setTimeout(() => {}, 1);
}
