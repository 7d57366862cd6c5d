// One supervised service: a small state machine with every transition in TRANSITIONS.
//
//   down ──start──▶ starting ──ready──▶ up
//     ▲                │  └──died──┐     │ died / stop
//     │ stop           ▼           ▼     ▼
//   failed ◀──burst── backoff ◀── stopping (the rest of the service is stopped first)
//
// Invariants:
// - A service is `down` only when its main process has exited and nothing of it is left:
//   its process group is empty and, with cgroups, so is its cgroup.
// - Restarts wait at least restart_sec, back off exponentially up to restart_max_sec, and
//   stop after start_limit_burst consecutive quick deaths (state `failed`).
// - A program that cannot be found is `failed` with exit status 127 at once: no respawn storm.
// - A one-shot service (ready.kind "exited") is `up` once its program has exited with status 0,
//   with nothing running; stopping it is immediate (what it left in its group is stopped too).
import { accessSync, constants as fsConstants, existsSync, statSync, type FSWatcher } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { decideRestart } from './backoff.ts';
import type { CgroupRoot, ServiceCgroup } from './cgroup.ts';
import { LogSink } from './log-sink.ts';
import type { ServiceSpec } from './service-spec.ts';
import { lookupGroup, lookupUser } from './users.ts';
import type { Reaper } from '../init/reaper.ts';
import type { Logger } from '../log.ts';

export type ServiceState = 'down' | 'starting' | 'up' | 'stopping' | 'backoff' | 'failed';

const TRANSITIONS: Record<ServiceState, readonly ServiceState[]> = {
  down: ['starting', 'failed'],
  starting: ['up', 'stopping'],
  up: ['stopping'],
  stopping: ['down', 'backoff', 'failed'],
  backoff: ['starting', 'down', 'failed'],
  failed: ['starting', 'down', 'failed'],
};

export interface ExitInfo {
  /** The exit status; 128 + the signal number when a signal killed it (the shell's convention). */
  code: number;
  signal: string | null;
}

export interface ServiceStatus {
  name: string;
  description: string;
  state: ServiceState;
  pid: number | null;
  restarts: number;
  lastExit: ExitInfo | null;
  since: string;
  reason: string;
  dependsOn: string[];
  cgroup: string | null;
  file: string;
  /** Started at boot: the file's `enabled`, unless `aios service enable|disable` said otherwise. */
  enabled: boolean;
}

export interface ServiceEnvironment {
  reaper: Reaper;
  cgroups: CgroupRoot | null;
  spawnHelper: string;
  logDir: string;
  log: Logger;
  /** Passed to every service, so that the programs it runs find aiOS's folders. */
  baseEnv: Record<string, string>;
  /** Whether the state directory (where log files go) is ready yet. */
  stateReady(): boolean;
  /** JSON map of service name to enabled, written by enable/disable (absent: the files decide). */
  enabledFile?: string;
  /** Told every state transition of every service (init remembers them); must not throw. */
  onState?(service: Service, next: ServiceState, previous: ServiceState): void;
}

export interface ServiceEvents {
  state: [ServiceState, ServiceState];
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const STUCK_AFTER_KILL_MS = 5_000;
const READY_POLL_MS = 50;

export class Service extends EventEmitter<ServiceEvents> {
  spec: ServiceSpec;
  state: ServiceState = 'down';
  pid: number | null = null;
  restarts = 0;
  lastExit: ExitInfo | null = null;
  since = new Date();
  reason = '';
  /** Whether the supervisor should keep it running (false after `stop`). */
  wanted: boolean;
  enabled: boolean;
  readonly logs: LogSink;
  readonly #env: ServiceEnvironment;
  readonly #log: Logger;
  #child: ChildProcess | undefined;
  #cgroup: ServiceCgroup | null = null;
  #cgroupWatch: FSWatcher | null = null;
  #pgid = 0;
  #mainExited = true;
  #exit: ExitInfo | null = null;
  #startedAt = 0;
  #consecutive = 0;
  #stopRequested = false;
  #failedReadiness = false;
  #timers = new Set<NodeJS.Timeout>();
  #stopWaiters: (() => void)[] = [];

  constructor(spec: ServiceSpec, env: ServiceEnvironment) {
    super();
    this.spec = spec;
    this.enabled = spec.enabled;
    this.wanted = spec.enabled;
    this.#env = env;
    this.#log = env.log.child({ service: spec.name });
    this.logs = new LogSink({ file: path.join(env.logDir, `${spec.name}.log`), fileReady: env.stateReady() });
  }

  get name(): string {
    return this.spec.name;
  }

  status(): ServiceStatus {
    return {
      name: this.name,
      description: this.spec.description,
      state: this.state,
      pid: this.pid,
      restarts: this.restarts,
      lastExit: this.lastExit,
      since: this.since.toISOString(),
      reason: this.reason,
      dependsOn: this.spec.depends_on,
      cgroup: this.#cgroup?.dir ?? null,
      file: this.spec.file,
      enabled: this.enabled,
    };
  }

  /** Starts it now (the supervisor has checked its dependencies). A fresh start forgets earlier restarts. */
  start(): void {
    if (this.state === 'starting' || this.state === 'up' || this.state === 'stopping') return;
    this.wanted = true;
    this.#clearTimers();
    this.restarts = 0;
    this.#consecutive = 0;
    this.#launch();
  }

  /** Stops it and everything it started; resolves once it is down (or failed to stop). */
  stop(): Promise<void> {
    this.wanted = false;
    switch (this.state) {
      case 'down':
        return Promise.resolve();
      case 'failed':
      case 'backoff':
        this.#clearTimers();
        this.#transition('down', 'stopped');
        return Promise.resolve();
      case 'starting':
      case 'up': {
        this.#stopRequested = true;
        // Asked for first: a finished one-shot has nothing left to stop and settles at once.
        const stopped = this.#whenStopped();
        this.#terminate('stopped');
        return stopped;
      }
      case 'stopping':
        this.#stopRequested = true;
        return this.#whenStopped();
    }
  }

  /** Resolves once the service is no longer starting (up, failed, down...), or after timeoutMs. */
  settled(timeoutMs: number): Promise<void> {
    if (this.state !== 'starting') return Promise.resolve();
    return new Promise((resolve) => {
      const finish = (): void => {
        clearTimeout(timer);
        this.off('state', onState);
        resolve();
      };
      const onState = (next: ServiceState): void => {
        if (next !== 'starting') finish();
      };
      const timer = setTimeout(finish, timeoutMs);
      this.on('state', onState);
    });
  }

  /** Called by the supervisor whenever some process was reaped: the last member of our group may be gone. */
  onProcessGone(): void {
    if (this.state === 'stopping') this.#finishIfEmpty();
  }

  #transition(next: ServiceState, reason: string): void {
    const previous = this.state;
    if (!TRANSITIONS[previous].includes(next)) {
      // A bug, not a runtime condition: log it loudly, but keep the process table consistent.
      this.#log.error({ from: previous, to: next }, 'invalid service state transition');
    }
    this.state = next;
    this.reason = reason;
    this.since = new Date();
    this.#log.info({ from: previous, to: next, reason }, `${this.name}: ${previous} -> ${next}${reason ? ` (${reason})` : ''}`);
    this.emit('state', next, previous);
  }

  #launch(): void {
    const { spec } = this;
    const env: Record<string, string> = { PATH: DEFAULT_PATH, ...this.#env.baseEnv, AIOS_SERVICE: spec.name };
    let uid: number | undefined;
    let gid: number | undefined;
    let userName: string | undefined;
    if (spec.user !== undefined) {
      const account = lookupUser(spec.user);
      if (!account) return this.#failBeforeStart(217, `user \`${spec.user}\` does not exist`);
      if (process.getuid?.() !== 0 && process.getuid?.() !== account.uid) {
        return this.#failBeforeStart(217, `cannot run as \`${spec.user}\`: the supervisor is not root`);
      }
      uid = account.uid;
      gid = account.gid;
      userName = account.name;
      Object.assign(env, { HOME: account.home, USER: account.name, LOGNAME: account.name });
    }
    if (spec.group !== undefined) {
      const group = lookupGroup(spec.group);
      if (group === null) return this.#failBeforeStart(216, `group \`${spec.group}\` does not exist`);
      gid = group;
    }
    Object.assign(env, spec.env);
    const program = resolveProgram(spec.exec[0]!, env.PATH ?? DEFAULT_PATH);
    if (!program.ok) return this.#failBeforeStart(program.code, program.message);
    if (spec.cwd !== undefined && !isDirectory(spec.cwd)) {
      return this.#failBeforeStart(200, `working directory \`${spec.cwd}\` does not exist`);
    }
    if (spec.ready.kind === 'notify') env.NOTIFY_FD = '3';

    try {
      this.#cgroup = this.#env.cgroups?.forService(spec.name, spec.limits, this.#log) ?? null;
    } catch (error) {
      this.#log.warn({ err: error }, 'cannot create the service cgroup: contained by process group only');
      this.#cgroup = null;
    }
    this.#transition('starting', this.restarts > 0 ? `restart ${this.restarts}` : '');
    this.#exit = null;
    this.#failedReadiness = false;
    this.#stopRequested = false;
    this.#startedAt = Date.now();
    let child: ChildProcess;
    try {
      // The helper joins the cgroup while still root, then takes the service's user and groups.
      const helperArgs = [
        ...(this.#cgroup ? ['-c', this.#cgroup.dir] : []),
        ...(gid !== undefined ? ['-g', String(gid)] : []),
        ...(uid !== undefined ? ['-u', String(uid)] : []),
        ...(userName !== undefined ? ['-n', userName] : []),
        '--',
        program.path,
        ...spec.exec.slice(1),
      ];
      child = this.#env.reaper.spawnTracked(this.#env.spawnHelper, helperArgs, {
        // Its own session and process group: signals reach all of it, none reach us.
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe', spec.ready.kind === 'notify' ? 'pipe' : 'ignore'],
        env,
        cwd: spec.cwd ?? '/',
      });
    } catch (error) {
      this.#mainExited = true;
      this.#exit = { code: 126, signal: null };
      this.logs.write('aios', `cannot start: ${(error as Error).message}`);
      this.#transition('stopping', `cannot start: ${(error as Error).message}`);
      this.#finishIfEmpty();
      return;
    }
    this.#child = child;
    this.#mainExited = false;
    this.pid = child.pid ?? null;
    this.#pgid = child.pid ?? 0;
    if (this.#cgroup) this.#cgroupWatch = this.#cgroup.watch(() => this.onProcessGone());
    this.logs.attach(child.stdout!, 'stdout');
    this.logs.attach(child.stderr!, 'stderr');
    child.on('error', (error) => {
      // spawn() failed (the helper itself is missing, or the uid is invalid): no exit event follows.
      this.logs.write('aios', `cannot start: ${error.message}`);
      if (this.#mainExited) return;
      this.#onMainExit(127, null);
    });
    child.on('exit', (code, signal) => this.#onMainExit(code, signal));
    this.#awaitReadiness(child);
  }

  #failBeforeStart(code: number, message: string): void {
    this.lastExit = { code, signal: null };
    this.pid = null;
    this.logs.write('aios', `cannot start: ${message}`);
    this.#log.error({ code }, `${this.name}: cannot start: ${message}`);
    this.#transition('failed', message);
  }

  #awaitReadiness(child: ChildProcess): void {
    const ready = this.spec.ready;
    const becomeUp = (why: string): void => {
      if (this.state !== 'starting' || this.#child !== child) return;
      clearTimeout(deadline);
      this.#transition('up', why);
    };
    const deadline = this.#timer(this.spec.ready_timeout * 1000, () => {
      if (this.state !== 'starting' || this.#child !== child) return;
      this.#failedReadiness = true;
      this.logs.write('aios', `not ready after ${this.spec.ready_timeout} s`);
      this.#terminate(`not ready after ${this.spec.ready_timeout} s`);
    });
    switch (ready.kind) {
      case 'started':
        child.once('spawn', () => becomeUp(''));
        return;
      case 'exited':
        // #onMainExit decides.
        return;
      case 'notify': {
        const notify = child.stdio[3] as Readable | null;
        let buffered = '';
        notify?.setEncoding('utf8');
        notify?.on('data', (chunk: string) => {
          buffered += chunk;
          const lines = buffered.split('\n');
          buffered = lines.pop() ?? '';
          if (lines.some((line) => line === '' || line.split(/\s+/).includes('READY=1'))) becomeUp('notified ready');
        });
        notify?.on('error', () => {});
        return;
      }
      case 'file':
      case 'socket': {
        const probe = ready.kind === 'file' ? () => Promise.resolve(existsSync(ready.path)) : () => socketAccepts(ready.path);
        const poll = (): void => {
          if (this.state !== 'starting' || this.#child !== child) return;
          void probe().then((ok) => (ok ? becomeUp(`${ready.path} is there`) : this.#timer(READY_POLL_MS, poll)));
        };
        poll();
        return;
      }
    }
  }

  #onMainExit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#mainExited) return;
    this.#mainExited = true;
    this.#child = undefined;
    this.pid = null;
    this.#exit = signal ? { code: 128 + (os.constants.signals[signal] ?? 0), signal } : { code: code ?? 0, signal: null };
    this.logs.write('aios', `exited: ${signal ? `killed by ${signal}` : `status ${code}`}`);
    if (this.state === 'starting' && this.spec.ready.kind === 'exited' && code === 0 && !signal) {
      this.#consecutive = 0;
      this.#transition('up', 'done (exited with status 0)');
      return;
    }
    if (this.state === 'stopping') {
      this.#finishIfEmpty();
      return;
    }
    // It died on its own: what it left behind is stopped before anything is decided.
    this.#terminate(signal ? `killed by ${signal}` : `exited with status ${code}`);
  }

  /** Stop signal to the whole service, SIGKILL after stop_timeout; `down`/`backoff`/`failed` once empty. */
  #terminate(reason: string): void {
    this.#transition('stopping', reason);
    this.#signalAll(this.spec.stop_signal as NodeJS.Signals);
    this.#signalAll('SIGCONT');
    this.#timer(this.spec.stop_timeout * 1000, () => {
      this.#log.warn(`${this.name}: still running ${this.spec.stop_timeout} s after ${this.spec.stop_signal}: SIGKILL`);
      this.#signalAll('SIGKILL');
      this.#cgroup?.kill();
      this.#timer(STUCK_AFTER_KILL_MS, () => {
        if (this.state !== 'stopping') return;
        this.#log.error({ pids: this.#cgroup?.pids() }, `${this.name}: processes survive SIGKILL (uninterruptible sleep?); giving up on them`);
        this.#settle();
      });
    });
    this.#finishIfEmpty();
  }

  #signalAll(signal: NodeJS.Signals): void {
    if (this.#pgid > 0) {
      try {
        process.kill(-this.#pgid, signal);
      } catch {
        // The group is empty.
      }
    }
    this.#cgroup?.signal(signal);
  }

  #isEmpty(): boolean {
    if (!this.#mainExited) return false;
    if (this.#pgid > 0) {
      try {
        process.kill(-this.#pgid, 0);
        return false;
      } catch {
        // ESRCH: nobody is left in the process group.
      }
    }
    return !(this.#cgroup?.populated() ?? false);
  }

  #finishIfEmpty(): void {
    if (this.state === 'stopping' && this.#isEmpty()) this.#settle();
  }

  /** Everything of this run is gone: record the exit and decide what comes next. */
  #settle(): void {
    this.#clearTimers();
    this.#cgroupWatch?.close();
    this.#cgroupWatch = null;
    this.#cgroup?.remove();
    this.#pgid = 0;
    const exit = this.#exit ?? { code: 0, signal: null };
    this.lastExit = exit;
    const waiters = this.#stopWaiters;
    this.#stopWaiters = [];
    if (this.#stopRequested || !this.wanted) {
      this.#transition('down', 'stopped');
    } else {
      this.#afterDeath(exit);
    }
    for (const resolve of waiters) resolve();
  }

  #afterDeath(exit: ExitInfo): void {
    const { spec } = this;
    const failure = this.#failedReadiness || exit.code !== 0 || exit.signal !== null;
    const describe = this.#failedReadiness ? 'never became ready' : exit.signal ? `killed by ${exit.signal}` : `exited with status ${exit.code}`;
    if (spec.restart === 'never' || (spec.restart === 'on-failure' && !failure)) {
      this.wanted = false;
      this.#transition(failure ? 'failed' : 'down', describe);
      return;
    }
    const decision = decideRestart(spec, this.#consecutive, Date.now() - this.#startedAt);
    this.#consecutive = decision.consecutive;
    if (!decision.restart) {
      this.wanted = false;
      this.#transition('failed', `${describe}; start limit reached (${spec.start_limit_burst} restarts in a row)`);
      return;
    }
    this.#transition('backoff', `${describe}; restarting in ${decision.delayMs} ms`);
    this.#timer(decision.delayMs, () => {
      if (this.state !== 'backoff') return;
      this.restarts += 1;
      this.#launch();
    });
  }

  #whenStopped(): Promise<void> {
    return new Promise((resolve) => this.#stopWaiters.push(resolve));
  }

  #timer(ms: number, callback: () => void): NodeJS.Timeout {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      callback();
    }, ms);
    this.#timers.add(timer);
    return timer;
  }

  #clearTimers(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}

type Resolved = { ok: true; path: string } | { ok: false; code: number; message: string };

/** Like the shell: a name with a slash is used as is, others are searched in PATH; 127 not found, 126 not executable. */
export function resolveProgram(program: string, searchPath: string): Resolved {
  const candidates = program.includes('/') ? [program] : searchPath.split(':').filter(Boolean).map((dir) => path.join(dir, program));
  let sawNonExecutable = false;
  for (const candidate of candidates) {
    if (!existsSync(candidate)) continue;
    try {
      if (!statSync(candidate).isFile()) {
        sawNonExecutable = true;
        continue;
      }
      accessSync(candidate, fsConstants.X_OK);
      return { ok: true, path: path.resolve(candidate) };
    } catch {
      sawNonExecutable = true;
    }
  }
  if (sawNonExecutable) return { ok: false, code: 126, message: `\`${program}\` is not an executable file` };
  return {
    ok: false,
    code: 127,
    message: program.includes('/') ? `\`${program}\` not found` : `\`${program}\` not found in PATH (${searchPath})`,
  };
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

function socketAccepts(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
