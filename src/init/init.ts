// aios-init: PID 1 (or a child subreaper when not PID 1).
//
// The story: set up (mounts, subreaper, reaper, cgroups, control socket, signal handlers),
// start the services, then wait: everything else happens in signal, socket and child
// callbacks. Guarantees:
// - PID 1 never exits except into reboot(2) (a machine) or with the status a container
//   runtime expects (a container); an uncaught exception or rejection is logged
//   synchronously and the loop goes on reaping.
// - No zombie survives a SIGCHLD (see reaper.ts); no exit status of a service is lost.
import { closeSync, constants as fsConstants, mkdirSync, openSync, readFileSync, readSync, realpathSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { isSea } from 'node:sea';
import { attachLogFile, createLogger, kernelConsoles, mirrorConsoleTo, type Logger } from '../log.ts';
import { native, spawnHelperPath } from '../native/index.ts';
import { CgroupRoot } from '../supervisor/cgroup.ts';
import { ControlServer } from '../supervisor/control-server.ts';
import { Supervisor } from '../supervisor/supervisor.ts';
import { ensureMachineId, leaveInitialRootfs, mountApiFilesystems, setHostname } from './early-mounts.ts';
import { loadModules, mountHostShare, mountStateDisk, type BootReport } from './machine-boot.ts';
import { detectMode, type InitMode } from './mode.ts';
import { readMounts } from './procfs.ts';
import { runProgram } from './run-program.ts';
import { ingestInChild, serviceEvents, ServiceMemory } from './service-memory.ts';
import { Reaper } from './reaper.ts';
import { shutdown } from './shutdown.ts';
import { signalTable, type PowerAction } from './signals.ts';
import type { Level } from 'pino';

export interface InitOptions {
  servicesDir: string;
  stateDir: string;
  runDir: string;
  consoleLogLevel: Level;
  allowedUids: number[];
  shutdownGraceMs: number;
  faults: ReadonlySet<Fault>;
}

/** Switches that turn a mechanism off, so that tests can show they would catch its absence. */
export const FAULTS = ['no-reaper', 'steal-children', 'no-cgroup', 'no-peercred', 'throw-on-reload', 'reject-on-reload'] as const;
export type Fault = (typeof FAULTS)[number];

export function parseFaults(value: string | undefined): Set<Fault> {
  const faults = new Set<Fault>();
  for (const item of (value ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(FAULTS as readonly string[]).includes(item)) {
      throw new Error(`Expected AIOS_FAULTS to list some of ${FAULTS.join(', ')}, got \`${item}\`.`);
    }
    faults.add(item as Fault);
  }
  return faults;
}

export async function runInit(options: InitOptions): Promise<never> {
  // /proc may not be mounted yet: remember the monotonic clock, convert once it is.
  const startedAtMs = performance.now();
  const mode = detectMode();
  // The log file waits for the state directory (a machine mounts its state disk there).
  const log = createLogger({ name: 'aios-init', consoleLevel: options.consoleLogLevel, fileLater: true });
  if (mode === 'machine') {
    leaveInitialRootfs(log);
    mountApiFilesystems(log);
    try {
      mirrorConsoleTo(kernelConsoles(readFileSync('/proc/cmdline', 'utf8')).others);
    } catch (error) {
      log.warn({ err: error }, 'cannot read the kernel command line: PID 1 writes to /dev/console only');
    }
  }
  keepRunningOnErrors(() => log);
  const reaper = new Reaper(log.child({ subsystem: 'reaper' }));
  reaper.start({ enabled: !options.faults.has('no-reaper'), stealChildren: options.faults.has('steal-children') });
  const report: BootReport = { warnings: [], state: null, host: null, modules: { loaded: 0, failed: [] } };

  if (mode === 'machine') {
    setHostname(log);
    ensureMachineId(log);
    try {
      // ctrl-alt-del then arrives as SIGINT instead of an immediate reboot.
      native().reboot(native().constants.RB_DISABLE_CAD);
    } catch (error) {
      log.warn({ err: error }, 'cannot disable ctrl-alt-del');
    }
  } else if (mode === 'subreaper') {
    native().setChildSubreaper(true);
  }
  const startupMounts = new Set(readMounts().map((m) => m.target));
  const cgroups = options.faults.has('no-cgroup') ? null : CgroupRoot.create(log.child({ subsystem: 'cgroup' }), { machine: mode === 'machine' });
  if (options.faults.has('no-cgroup')) log.warn('cgroups disabled (AIOS_FAULTS=no-cgroup)');

  /** The state directory is settled (mounted, for a machine): the log file goes there. */
  function useStateDirectory(): void {
    try {
      attachLogFile(log, path.join(options.stateDir, 'log', 'init.log'));
    } catch (error) {
      report.warnings.push(`cannot write ${options.stateDir}/log: ${(error as Error).message}; init logs to the console only`);
      log.warn({ err: error }, 'init logs to the console only');
    }
    log.info({ mode, pid: process.pid, node: process.version, options: { ...options, faults: [...options.faults] } }, 'aios-init starting');
  }
  let stateReady = mode !== 'machine';
  if (stateReady) useStateDirectory();
  // Service events wait here until the state directory is ready, then go to memory in batches.
  const serviceMemory = new ServiceMemory({ write: ingestInChild(reaper, selfCommand(), options.stateDir), log: log.child({ subsystem: 'memory' }) });
  const supervisor = new Supervisor(options.servicesDir, {
    reaper,
    cgroups,
    spawnHelper: spawnHelperPath(),
    logDir: path.join(options.stateDir, 'log'),
    log: log.child({ subsystem: 'supervisor' }),
    baseEnv: { AIOS_STATE_DIR: options.stateDir, AIOS_RUN_DIR: options.runDir, AIOS_SERVICES_DIR: options.servicesDir },
    stateReady: () => stateReady,
    enabledFile: path.join(options.stateDir, 'services-enabled.json'),
    onState: (service, next, previous) => serviceMemory.record(serviceEvents(service, next, previous)),
  });

  let shuttingDown: PowerAction | null = null;
  const control = new ControlServer({
    socketPath: path.join(options.runDir, 'init.sock'),
    supervisor,
    allowedUids: new Set([0, process.getuid?.() ?? 0, ...options.allowedUids]),
    log: log.child({ subsystem: 'control' }),
    checkPeer: !options.faults.has('no-peercred'),
    onPower: (action, by) => requestShutdown(action, by),
    onReload: () => reload('control socket'),
  });

  function requestShutdown(action: PowerAction, by: string): void {
    if (shuttingDown) {
      log.warn({ action, by }, `${action} requested while already shutting down for ${shuttingDown}; ignored`);
      return;
    }
    shuttingDown = action;
    log.info({ action, by }, `${action} requested by ${by}`);
    void shutdown(action, {
      mode,
      supervisor,
      reaper,
      log,
      startupMounts,
      graceMs: options.shutdownGraceMs,
      // The services' last exits reach memory before the state disk goes (a few seconds at most).
      afterServicesStopped: () => Promise.race([serviceMemory.flush(), new Promise<void>((resolve) => setTimeout(resolve, 5_000).unref())]),
      beforeEnd: () => {
        control.close();
        cgroups?.remove();
      },
    });
  }

  let reloading: Promise<unknown> = Promise.resolve();
  function reload(by: string): Promise<unknown> {
    log.info({ by }, 'reloading service definitions');
    injectReloadFaults(options.faults);
    const next = (): Promise<unknown> => (shuttingDown ? Promise.resolve({ skipped: 'shutting down' }) : supervisor.reload());
    reloading = reloading.then(next, next);
    return reloading;
  }

  for (const rule of signalTable()) {
    const action = rule[mode];
    native().watchSignal(rule.number, () => {
      if (action === 'reload') void reload(rule.name);
      else requestShutdown(action, rule.name);
    });
  }

  // Read the services; on a machine only the early ones (the console) start now, so that the
  // prompt's own start-up overlaps with everything below.
  const loaded = supervisor.reload();
  try {
    await control.listen();
  } catch (error) {
    log.error({ err: error }, 'cannot open the control socket; services still run, but `aios` cannot reach init');
  }
  await loaded;

  if (mode === 'machine') {
    // Let the prompt start first: module probing and fsck compete with it for the CPU.
    await supervisor.earlyServicesSettled(5_000);
    await loadModules('/etc/aios/modules-load.early', log, report);
    await mountStateDisk(reaper, log, options.stateDir, report);
    await mountHostShare(log, report);
    useStateDirectory();
  }
  stateReady = true;
  cgroups?.delegateControllers();
  supervisor.stateReady();
  serviceMemory.stateReady({ alreadyWarned: report.state?.full === true });
  log.info({ services: supervisor.list().map((s) => s.name), errors: supervisor.loadErrors.length }, 'aios-init ready');

  const now = uptimeSeconds();
  const initStartSec = now === null ? null : Math.round((now - (performance.now() - startedAtMs) / 1000) * 100) / 100;
  const timeline: BootTimeline = { pid1ExecSec: mode === 'machine' ? kernelRanInitSeconds() : null, initStartSec, servicesUpSec: null };
  const audit: { value: AuditCheck } = { value: { status: 'verifying', rows: null, message: 'audit log: being verified' } };
  const writeBootFile = (): void => writeBootReport(options.runDir, { mode, timeline, ...report, audit: audit.value }, log);
  // The chain is checked in a child process (a long log takes seconds to walk, and PID 1 must
  // keep reaping meanwhile); boot.json waits for it briefly, and is rewritten when it is done.
  const auditDone = verifyAuditChain(reaper, options.stateDir).then((result) => {
    audit.value = result;
    if (result.status !== 'intact') {
      report.warnings.push(result.message);
      log.error({ audit: result }, result.message);
    }
  });
  if ((await Promise.race([auditDone.then(() => true), new Promise((resolve) => setTimeout(resolve, 3_000, false))])) === false) void auditDone.then(() => writeBootFile());
  writeBootFile();
  if (mode === 'machine') void loadModules('/etc/aios/modules-load', log, report).then(writeBootFile);
  whenAllUp(supervisor, () => {
    timeline.servicesUpSec = uptimeSeconds();
    log.info({ seconds: timeline.servicesUpSec }, 'all services up');
    writeBootFile();
  });

  // Nothing below returns: init lives in its callbacks from here on.
  setInterval(() => {}, 2 ** 30);
  return new Promise<never>(() => {});
}

// These handlers are the last line: if they threw, Node would exit and the kernel would panic.
function keepRunningOnErrors(log: () => Logger): void {
  const report = (message: string, fields: Record<string, unknown>): void => {
    try {
      log().fatal(fields, message);
    } catch (loggingError) {
      try {
        writeSync(2, `aios-init: ${message}: ${String((fields.err as Error | undefined)?.stack ?? fields.err)} (and logging failed: ${String(loggingError)})\n`);
      } catch {
        // Nothing left to tell.
      }
    }
  };
  process.on('uncaughtException', (error, origin) => report('uncaught exception in aios-init (continuing)', { err: error, origin }));
  process.on('unhandledRejection', (reason) => report('unhandled promise rejection in aios-init (continuing)', { err: reason }));
}

export interface BootTimeline {
  /** Seconds since the kernel started, when the kernel ran PID 1. */
  pid1ExecSec: number | null;
  /** When init's own code began (after Node started). */
  initStartSec: number | null;
  /** When every enabled service was first up at once. */
  servicesUpSec: number | null;
}

export interface AuditCheck {
  status: 'intact' | 'broken' | 'verifying' | 'error';
  rows: number | null;
  message: string;
}

/** `aios audit verify --json`, run by this same executable. */
async function verifyAuditChain(reaper: Reaper, stateDir: string): Promise<AuditCheck> {
  const argv = [...selfCommand(), 'audit', 'verify', '--json', '--state', stateDir];
  const result = await runProgram(reaper, argv, 10 * 60_000);
  try {
    const verdict = JSON.parse(result.stdout) as { ok: boolean; rows: number; firstBad?: number; reason?: string };
    return verdict.ok
      ? { status: 'intact', rows: verdict.rows, message: `audit log intact: ${verdict.rows} rows` }
      : { status: 'broken', rows: verdict.rows, message: `audit log BROKEN at row ${verdict.firstBad}: ${verdict.reason}. Run \`aios audit verify\` for details.` };
  } catch {
    return { status: 'error', rows: null, message: `could not verify the audit log (${argv.join(' ')} exited ${result.code}: ${result.stderr.trim().split('\n').at(-1) ?? ''})` };
  }
}

/** How to run this program again: the executable alone, or node with the entry script in development. */
function selfCommand(): string[] {
  // In the image execPath is /init, a link whose name would make the program init again.
  return isSea() ? [realpathSync(process.execPath)] : [process.execPath, '--disable-sigusr1', process.argv[1]!];
}

/** RUN/boot.json: what the console banner and `status` show about this boot. */
function writeBootReport(runDir: string, report: object, log: Logger): void {
  try {
    mkdirSync(runDir, { recursive: true });
    // Written whole and renamed: a reader never sees a half-written report.
    const file = path.join(runDir, 'boot.json');
    writeFileSync(`${file}.tmp`, `${JSON.stringify(report, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
  } catch (error) {
    log.warn({ err: error }, 'cannot write boot.json');
  }
}

function whenAllUp(supervisor: Supervisor, callback: () => void): void {
  const check = (): boolean => {
    const wanted = [...supervisor.services.values()].filter((s) => s.spec.enabled);
    return wanted.every((s) => s.state === 'up' || s.state === 'failed' || (s.state === 'down' && !s.wanted));
  };
  if (check()) return callback();
  const timer = setInterval(() => {
    if (!check()) return;
    clearInterval(timer);
    callback();
  }, 20);
}

function uptimeSeconds(): number | null {
  try {
    return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  } catch {
    return null;
  }
}

/**
 * When the kernel ran PID 1, from its own log ("Run /init as init process"). The start time
 * in /proc/1/stat does not tell: PID 1 exists as a kernel thread long before it execs /init.
 */
function kernelRanInitSeconds(): number | null {
  let fd: number | undefined;
  try {
    fd = openSync('/dev/kmsg', fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    const buffer = Buffer.alloc(8192);
    for (let i = 0; i < 5000; i++) {
      const record = buffer.toString('utf8', 0, readSync(fd, buffer));
      // "6,339,3329960,-;Run /init as init process": the third field is microseconds.
      if (/;Run \S+ as init process/.test(record)) return Number(record.split(',')[2]) / 1e6;
    }
  } catch {
    // EAGAIN at the end of the buffer, or no /dev/kmsg (a container).
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return null;
}

function injectReloadFaults(faults: ReadonlySet<Fault>): void {
  if (faults.has('throw-on-reload')) {
    setImmediate(() => {
      throw new Error('injected fault: throw-on-reload');
    });
  }
  if (faults.has('reject-on-reload')) {
    void Promise.reject(new Error('injected fault: reject-on-reload'));
  }
}

export type { InitMode };
