// cgroup v2: one cgroup per service, so that stopping a service reaches every process it
// made, also those that left the process group with setsid or a double fork.
//
// Layout: <cgroup2 mount><our own cgroup>/<instance>/<service>. The instance is "aios" for
// the machine's PID 1 and "aios-<random>" otherwise, so that several inits (tests) can share
// a host. Resource limits need the memory/cpu/pids controllers to be delegated to our
// subtree; where they are not (hybrid v1/v2 hosts), limits are reported as not applied.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { readMounts } from '../init/procfs.ts';
import type { Logger } from '../log.ts';

export interface Limits {
  memory_max?: number | 'max' | undefined;
  cpu_weight?: number | undefined;
  pids_max?: number | undefined;
}

const WANTED_CONTROLLERS = ['memory', 'cpu', 'pids'] as const;

export class CgroupRoot {
  readonly dir: string;
  readonly #parent: string;
  readonly #log: Logger;
  readonly #controllers = new Set<string>();
  #delegated = false;

  private constructor(dir: string, parent: string, log: Logger) {
    this.dir = dir;
    this.#parent = parent;
    this.#log = log;
  }

  get controllers(): ReadonlySet<string> {
    return this.#controllers;
  }

  /** Finds the cgroup2 hierarchy and makes our instance folder; null (with the reason logged) if it cannot. */
  static create(log: Logger, options: { machine: boolean }): CgroupRoot | null {
    const mount = readMounts().find((m) => m.fstype === 'cgroup2');
    if (!mount) {
      log.warn('no cgroup2 hierarchy mounted: services are contained by process group only (escapees via setsid survive a stop)');
      return null;
    }
    let own = '/';
    try {
      const line = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
      if (line) own = line.slice(3);
    } catch {
      // Keep the root.
    }
    const parent = path.join(mount.target, own);
    const dir = path.join(parent, options.machine ? 'aios' : `aios-${randomBytes(4).toString('hex')}`);
    try {
      mkdirSync(dir, { recursive: true });
    } catch (error) {
      log.warn({ err: error, dir }, 'cannot create a cgroup: services are contained by process group only');
      return null;
    }
    log.info({ dir }, 'services get their own cgroups');
    return new CgroupRoot(dir, parent, log);
  }

  /**
   * Delegates the memory, cpu and pids controllers to our services. Done on first need (a
   * service with [limits]) or once boot is through, not before the console starts: under
   * emulation these writes cost tens of milliseconds on the way to the prompt.
   */
  delegateControllers(): void {
    if (this.#delegated) return;
    this.#delegated = true;
    const available = readWords(path.join(this.#parent, 'cgroup.controllers'));
    for (const controller of WANTED_CONTROLLERS) {
      if (!available.has(controller)) continue;
      try {
        // The parent must delegate the controller to us, then we to our services. A parent
        // that holds processes itself refuses (EBUSY), except the root cgroup.
        writeFileSync(path.join(this.#parent, 'cgroup.subtree_control'), `+${controller}`);
        writeFileSync(path.join(this.dir, 'cgroup.subtree_control'), `+${controller}`);
        this.#controllers.add(controller);
      } catch {
        // Not delegated here.
      }
    }
    const missing = WANTED_CONTROLLERS.filter((c) => !this.#controllers.has(c));
    if (missing.length > 0) {
      this.#log.info({ dir: this.dir, missing }, `cgroup controllers not available here (${missing.join(', ')}): limits that need them are not applied`);
    }
  }

  /** The service's cgroup, emptied of leftovers from an earlier run, with its limits applied. */
  forService(name: string, limits: Limits, log: Logger): ServiceCgroup {
    if (Object.values(limits).some((v) => v !== undefined)) this.delegateControllers();
    const group = new ServiceCgroup(path.join(this.dir, name));
    if (existsSync(group.dir)) {
      group.kill();
    } else {
      mkdirSync(group.dir);
    }
    const settings: [string, string, string | undefined][] = [
      ['memory', 'memory.max', limits.memory_max === undefined ? undefined : String(limits.memory_max)],
      ['cpu', 'cpu.weight', limits.cpu_weight === undefined ? undefined : String(limits.cpu_weight)],
      ['pids', 'pids.max', limits.pids_max === undefined ? undefined : String(limits.pids_max)],
    ];
    for (const [controller, file, value] of settings) {
      if (value === undefined) continue;
      if (!this.controllers.has(controller)) {
        log.warn({ service: name, file }, `${file} not applied: the ${controller} controller is not available in ${this.dir}`);
        continue;
      }
      try {
        writeFileSync(path.join(group.dir, file), value);
      } catch (error) {
        log.warn({ service: name, file, err: error }, `${file} not applied`);
      }
    }
    return group;
  }

  remove(): void {
    try {
      rmdirSync(this.dir);
    } catch {
      // Still populated or already gone.
    }
  }
}

export class ServiceCgroup {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  pids(): number[] {
    try {
      return readFileSync(path.join(this.dir, 'cgroup.procs'), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map(Number);
    } catch {
      return [];
    }
  }

  populated(): boolean {
    try {
      return /^populated 1$/m.test(readFileSync(path.join(this.dir, 'cgroup.events'), 'utf8'));
    } catch {
      return false;
    }
  }

  signal(signal: NodeJS.Signals): void {
    for (const pid of this.pids()) {
      try {
        process.kill(pid, signal);
      } catch {
        // Already gone.
      }
    }
  }

  /** SIGKILL to everything in the cgroup at once (cgroup.kill, Linux 5.14), or one by one. */
  kill(): void {
    try {
      writeFileSync(path.join(this.dir, 'cgroup.kill'), '1');
    } catch {
      this.signal('SIGKILL');
    }
  }

  /** Calls back when cgroup.events changes (the kernel notifies on populated 1 -> 0). */
  watch(callback: () => void): FSWatcher | null {
    try {
      const watcher = watch(path.join(this.dir, 'cgroup.events'), callback);
      watcher.on('error', () => {});
      return watcher;
    } catch {
      return null;
    }
  }

  remove(): void {
    try {
      rmdirSync(this.dir);
    } catch {
      // Still populated or already gone: the next start empties it.
    }
  }
}

function readWords(file: string): Set<string> {
  try {
    return new Set(readFileSync(file, 'utf8').trim().split(/\s+/).filter(Boolean));
  } catch {
    return new Set();
  }
}
