// Shutdown, in the order of s6-linux-init and systemd-shutdown:
//   services in reverse dependency order (each: stop signal, grace, SIGKILL) → sync →
//   SIGTERM + SIGCONT to every remaining process → grace while reaping → SIGKILL → reap until
//   none → unmount in reverse order (read-only remount when busy) → sync → reboot(2).
//
// Invariants:
// - As PID 1 of a machine this never returns: reboot(2) ends the machine, and if it fails
//   we hang (an exit would panic the kernel).
// - As PID 1 of a container we exit with the status a container runtime expects:
//   0 after poweroff or halt, 129 after reboot (what a parent sees when reboot(2) is
//   called inside a PID namespace).
// - As a subreaper we only ever signal our own descendants, never kill(-1).
import { closeLogFiles, writeConsole } from '../log.ts';
import { native } from '../native/index.ts';
import { API_FILESYSTEMS } from './early-mounts.ts';
import { listProcesses, otherUserProcesses, readMounts, type ProcessInfo } from './procfs.ts';
import type { InitMode } from './mode.ts';
import type { Reaper } from './reaper.ts';
import type { PowerAction } from './signals.ts';
import type { Supervisor } from '../supervisor/supervisor.ts';
import type { Logger } from '../log.ts';

export interface ShutdownContext {
  mode: InitMode;
  supervisor: Supervisor;
  reaper: Reaper;
  log: Logger;
  /** Mount points present when init started: a container leaves these alone. */
  startupMounts: ReadonlySet<string>;
  graceMs: number;
  /** Called once the services are down, before the remaining processes are killed. */
  afterServicesStopped?(): Promise<void>;
  /** Called just before the end (closing sockets, removing the cgroup folder). */
  beforeEnd(): void;
}

export const CONTAINER_EXIT_STATUS: Record<PowerAction, number> = { poweroff: 0, halt: 0, reboot: 129 };

const POLL_MS = 25;

export async function shutdown(action: PowerAction, ctx: ShutdownContext): Promise<never> {
  const { log } = ctx;
  const started = Date.now();
  const step = (name: string): void => log.info({ step: name, ms: Date.now() - started }, `shutdown: ${name}`);

  if (ctx.mode === 'machine') announce(`aios: ${action}: stopping services`);
  step('stopping services');
  await ctx.supervisor.stopAll();
  for (const service of ctx.supervisor.list()) {
    log.info({ service: service.name, lastExit: service.lastExit }, `shutdown: ${service.name} stopped`);
  }
  await ctx.afterServicesStopped?.();
  native().sync();

  step('terminating remaining processes');
  await killRemaining(ctx);
  ctx.reaper.reap();

  const processesLeft = remaining(ctx.mode).map((p) => ({ pid: p.pid, comm: p.comm, state: p.state }));
  step('unmounting');
  await ctx.supervisor.closeLogs();
  if (ctx.mode === 'machine') {
    log.info({ action, processesLeft, ms: Date.now() - started }, 'shutdown: closing log files');
    // The state disk is about to be unmounted: from here on the log reaches the console only.
    // (A container detaches busy mounts instead, so its log file stays open to the end.)
    await closeLogFiles();
  }
  const stuck = unmountAll(ctx);
  native().sync();
  ctx.beforeEnd();
  const mountsLeft = readMounts().map((m) => m.target);
  log.info({ action, processesLeft, mountsLeft, ms: Date.now() - started }, `shutdown complete: ${action}`);
  if (ctx.mode === 'machine') {
    const filesystems = stuck.length === 0 ? 'filesystems unmounted' : `could not unmount ${stuck.join(', ')}`;
    announce(`aios: ${action}: services stopped, ${processesLeft.length} processes left, ${filesystems}`);
  }

  if (ctx.mode !== 'machine') {
    process.exit(CONTAINER_EXIT_STATUS[action]);
  }
  const { constants } = native();
  const command = { poweroff: constants.RB_POWER_OFF, halt: constants.RB_HALT_SYSTEM, reboot: constants.RB_AUTOBOOT }[action];
  try {
    native().reboot(command);
  } catch (error) {
    log.fatal({ err: error }, `reboot(2) failed; halting here`);
  }
  // reboot(2) returned: PID 1 must not exit, so wait forever (still reaping on SIGCHLD).
  return new Promise<never>(() => {
    setInterval(() => {}, 2 ** 30);
  });
}

/** Shutdown progress reaches the console whatever the log level: the person there is waiting for it. */
function announce(text: string): void {
  writeConsole(`${text}\n`);
}

/** What is left to kill: everything but us in a PID namespace or machine; our descendants as a subreaper. */
function remaining(mode: InitMode): ProcessInfo[] {
  if (mode !== 'subreaper') return otherUserProcesses();
  const all = listProcesses();
  const children = new Map<number, ProcessInfo[]>();
  for (const p of all) children.set(p.ppid, [...(children.get(p.ppid) ?? []), p]);
  const result: ProcessInfo[] = [];
  const walk = (pid: number): void => {
    for (const child of children.get(pid) ?? []) {
      result.push(child);
      walk(child.pid);
    }
  };
  walk(process.pid);
  return result;
}

function signalRemaining(mode: InitMode, signal: NodeJS.Signals): void {
  if (mode !== 'subreaper') {
    try {
      process.kill(-1, signal);
    } catch {
      // ESRCH: nobody left.
    }
    return;
  }
  for (const p of remaining(mode)) {
    try {
      process.kill(p.pid, signal);
    } catch {
      // Gone already.
    }
  }
}

async function waitUntilGone(ctx: ShutdownContext, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    ctx.reaper.reap();
    if (remaining(ctx.mode).every((p) => p.state === 'Z' && ctx.reaper.isOwned(p.pid))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function killRemaining(ctx: ShutdownContext): Promise<void> {
  if (remaining(ctx.mode).length === 0) return;
  signalRemaining(ctx.mode, 'SIGTERM');
  signalRemaining(ctx.mode, 'SIGCONT');
  if (await waitUntilGone(ctx, ctx.graceMs)) return;
  const stubborn = remaining(ctx.mode).map((p) => `${p.pid} (${p.comm})`);
  ctx.log.warn({ processes: stubborn }, `shutdown: still running after ${ctx.graceMs} ms: SIGKILL`);
  signalRemaining(ctx.mode, 'SIGKILL');
  if (!(await waitUntilGone(ctx, 5_000))) {
    ctx.log.error({ processes: remaining(ctx.mode).map((p) => p.pid) }, 'shutdown: processes survive SIGKILL');
  }
}

/** Returns the mount points that could be neither unmounted nor made read-only. */
function unmountAll(ctx: ShutdownContext): string[] {
  const stuck: string[] = [];
  if (ctx.mode === 'subreaper') return stuck; // the host's mounts are not ours
  const { constants } = native();
  const mounts = readMounts().reverse();
  for (const mount of mounts) {
    if (ctx.mode === 'container' && ctx.startupMounts.has(mount.target)) continue;
    if (ctx.mode === 'machine' && (API_FILESYSTEMS.has(mount.fstype) || mount.target === '/')) continue;
    try {
      native().umount2(mount.target, 0);
      ctx.log.info({ target: mount.target }, `unmounted ${mount.target}`);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      try {
        if (ctx.mode === 'machine') {
          native().mount(null, mount.target, null, constants.MS_REMOUNT | constants.MS_RDONLY, null);
          ctx.log.info({ target: mount.target, code }, `remounted ${mount.target} read-only`);
        } else {
          // A read-only remount would reach the host's superblock: detach instead.
          native().umount2(mount.target, constants.MNT_DETACH);
          ctx.log.info({ target: mount.target, code }, `detached ${mount.target}`);
        }
      } catch (second) {
        stuck.push(mount.target);
        ctx.log.warn({ target: mount.target, err: second }, `cannot unmount ${mount.target}`);
      }
    }
  }
  if (ctx.mode === 'machine') {
    try {
      native().mount(null, '/', null, constants.MS_REMOUNT | constants.MS_RDONLY, null);
    } catch {
      // The initramfs root (rootfs) cannot be made read-only; nothing on it needs saving.
    }
  }
  return stuck;
}
