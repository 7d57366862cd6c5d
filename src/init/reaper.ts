// The reaper: no zombie outlives a SIGCHLD, and no exit status is stolen from libuv.
//
// Invariants:
// - Only PIDs that Node did not spawn are ever reaped here. Every child that this process
//   spawns goes through `spawnTracked`, which records its PID before control returns to the
//   event loop; libuv waits for those itself and delivers their exit events.
// - Peeking (waitid WNOWAIT) never consumes a status. When the child in front is one of
//   Node's, the zombies behind it are found through /proc and reaped by PID, and the peek is
//   tried again once libuv has had its turn.
// - A slow safety sweep runs even if a SIGCHLD was coalesced or lost.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { type ChildStatus, native } from '../native/index.ts';
import { listProcesses } from './procfs.ts';
import type { Logger } from '../log.ts';

const SAFETY_SWEEP_MS = 5_000;

export interface ReaperEvents {
  reaped: [ChildStatus];
}

export class Reaper extends EventEmitter<ReaperEvents> {
  readonly #owned = new Set<number>();
  #log: Logger;
  #retryScheduled = false;
  #sweep: NodeJS.Timeout | undefined;
  #enabled = true;
  #steal = false;
  reapedCount = 0;

  constructor(log: Logger) {
    super();
    this.#log = log;
  }

  setLogger(log: Logger): void {
    this.#log = log;
  }

  /**
   * Starts reaping on SIGCHLD and on a slow timer. `enabled: false` and `stealChildren: true`
   * (a naive waitpid(-1) reaper) exist only so that tests can show what goes wrong without them.
   */
  start(options: { enabled: boolean; stealChildren?: boolean }): void {
    this.#enabled = options.enabled;
    this.#steal = options.stealChildren ?? false;
    if (this.#steal) this.#log.warn('reaping children that libuv waits for (AIOS_FAULTS=steal-children): exit events will be lost');
    if (!this.#enabled) {
      this.#log.warn('reaping disabled (AIOS_FAULTS=no-reaper): orphans will stay zombies');
      return;
    }
    native().watchSignal(17 /* SIGCHLD */, () => this.reap());
    this.#sweep = setInterval(() => this.reap(), SAFETY_SWEEP_MS);
    this.#sweep.unref();
    this.reap();
  }

  stop(): void {
    if (this.#sweep) clearInterval(this.#sweep);
  }

  /** Spawns through Node and records the PID so that the reaper leaves it to libuv. */
  spawnTracked(file: string, args: readonly string[], options: SpawnOptions): ChildProcess {
    const child = spawn(file, args, options);
    const pid = child.pid;
    if (pid !== undefined) {
      this.#owned.add(pid);
      child.once('exit', () => {
        this.#owned.delete(pid);
        // A foreign zombie may have been waiting behind this one.
        this.#scheduleRetry();
      });
    }
    return child;
  }

  isOwned(pid: number): boolean {
    return this.#owned.has(pid);
  }

  /** Reaps every foreign zombie child. Safe to call at any time, from anywhere. */
  reap(): void {
    if (!this.#enabled) return;
    for (;;) {
      let status: ChildStatus | null;
      try {
        status = native().peekChild();
      } catch (error) {
        this.#log.error({ err: error }, 'waitid peek failed');
        return;
      }
      if (status === null) return;
      if (this.#owned.has(status.pid) && !this.#steal) {
        this.#reapBehind();
        this.#scheduleRetry();
        return;
      }
      this.#reapOne(status.pid);
    }
  }

  #reapOne(pid: number): void {
    const status = native().reapChild(pid);
    if (status === null) return;
    this.reapedCount += 1;
    this.#log.debug({ pid, code: status.code, signal: status.signal }, 'reaped orphan');
    this.emit('reaped', status);
  }

  /** Zombie children that are not Node's, found through /proc. */
  #reapBehind(): void {
    for (const proc of listProcesses()) {
      if (proc.state === 'Z' && proc.ppid === process.pid && !this.#owned.has(proc.pid)) this.#reapOne(proc.pid);
    }
  }

  #scheduleRetry(): void {
    if (this.#retryScheduled || !this.#enabled) return;
    this.#retryScheduled = true;
    setImmediate(() => {
      this.#retryScheduled = false;
      this.reap();
    });
  }
}
