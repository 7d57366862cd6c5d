// The sandbox for commands the AI runs (shell.exec, process.spawn): bubblewrap.
//
// Invariants:
// - The command sees the system read-only, except the paths the verdict allowed; a private
//   /tmp, /dev and /proc; no aiOS run directory (so no control socket) and no state directory
//   beyond read-only; its own namespaces (no network unless asked); a new session (no TIOCSTI
//   into the caller's terminal); no capabilities and no new privileges.
// - If the sandbox cannot be set up, the command does not run: the call fails with ESANDBOX.
//   Nothing is ever run unsandboxed as a fallback.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ToolError } from '../tools/tool.ts';

export interface SandboxOptions {
  /** Absolute paths the command may change (bound read-write). */
  writable: string[];
  cwd: string;
  network: boolean;
  /** Directories hidden behind an empty tmpfs (aiOS's run directory). */
  hidden: string[];
  timeoutMs: number;
  signal: AbortSignal;
  /** Bytes of stdout and of stderr kept. */
  maxOutput: number;
  env?: Record<string, string>;
}

export interface SandboxResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  timedOut: boolean;
  durationMs: number;
}

/** $AIOS_BWRAP when set (and then only it), else the usual places. */
export function findBwrap(): string | null {
  const chosen = process.env.AIOS_BWRAP;
  if (chosen !== undefined) return existsSync(chosen) ? chosen : null;
  return ['/usr/bin/bwrap', '/bin/bwrap', '/usr/local/bin/bwrap'].find((c) => existsSync(c)) ?? null;
}

export function bwrapArgs(argv: string[], options: Pick<SandboxOptions, 'writable' | 'cwd' | 'network' | 'hidden'>, statusFd: number): string[] {
  const args = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp'];
  for (const dir of options.hidden) if (existsSync(dir)) args.push('--tmpfs', dir);
  for (const dir of options.writable) {
    if (!path.isAbsolute(dir)) throw new ToolError('EINVAL', `writable path ${dir} is not absolute`);
    // Binding the parent of a missing path would open more than the verdict allowed.
    if (!existsSync(dir)) throw new ToolError('ENOENT', `writable path ${dir} does not exist: create it first (fs.mkdir) or name a directory that exists`);
    args.push('--bind', dir, dir);
  }
  args.push('--unshare-all');
  if (options.network) args.push('--share-net');
  args.push('--new-session', '--die-with-parent', '--cap-drop', 'ALL', '--json-status-fd', String(statusFd), '--chdir', options.cwd, '--');
  return [...args, ...argv];
}

/** Runs argv in the sandbox and waits for it (or for the timeout, or for cancellation). */
export function runSandboxed(argv: string[], options: SandboxOptions): Promise<SandboxResult> {
  const bwrap = findBwrap();
  if (!bwrap) {
    return Promise.reject(new ToolError('ESANDBOX', 'bubblewrap (bwrap) is not installed, and commands are never run without the sandbox. Install it (Debian/Arch package `bubblewrap`).'));
  }
  if (options.signal.aborted) return Promise.reject(new ToolError('ECANCELLED', 'the command was cancelled before it started'));
  const statusDir = mkdtempSync(path.join(os.tmpdir(), 'aios-sandbox-'));
  const statusFile = path.join(statusDir, 'status');
  const started = performance.now();
  return new Promise<SandboxResult>((resolve, reject) => {
    let args: string[];
    try {
      // The status goes to a file (fd 3): bwrap writes "exit-code" there only if it ran the command.
      args = bwrapArgs(argv, options, 3);
    } catch (error) {
      rmSync(statusDir, { recursive: true, force: true });
      reject(error);
      return;
    }
    {
      const fd = openSync(statusFile, 'w');
      const child = spawn(bwrap, args, {
        stdio: ['ignore', 'pipe', 'pipe', fd],
        env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/tmp', LANG: 'C.UTF-8', ...options.env },
      });
      closeSync(fd);
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let outBytes = 0;
      let errBytes = 0;
      let truncated = false;
      child.stdout!.on('data', (chunk: Buffer) => {
        if (outBytes < options.maxOutput) out.push(chunk.subarray(0, options.maxOutput - outBytes));
        if (outBytes + chunk.length > options.maxOutput) truncated = true;
        outBytes += chunk.length;
      });
      child.stderr!.on('data', (chunk: Buffer) => {
        if (errBytes < options.maxOutput) err.push(chunk.subarray(0, options.maxOutput - errBytes));
        if (errBytes + chunk.length > options.maxOutput) truncated = true;
        errBytes += chunk.length;
      });
      let timedOut = false;
      const kill = (): void => {
        child.kill('SIGKILL');
      };
      const timer = setTimeout(() => {
        timedOut = true;
        kill();
      }, options.timeoutMs);
      options.signal.addEventListener('abort', kill, { once: true });
      child.on('error', (error) => {
        clearTimeout(timer);
        rmSync(statusDir, { recursive: true, force: true });
        reject(new ToolError('ESANDBOX', `could not start bwrap: ${error.message}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        options.signal.removeEventListener('abort', kill);
        const status = readFileSync(statusFile, 'utf8');
        rmSync(statusDir, { recursive: true, force: true });
        const stderr = Buffer.concat(err).toString('utf8');
        const exit = /"exit-code":\s*(\d+)/.exec(status);
        const missing = /^bwrap: execvp (.*): No such file or directory$/m.exec(stderr);
        if (!exit && missing) {
          reject(new ToolError('ENOENT', `${missing[1]}: no such program in the sandbox (it sees the system's files read-only; give a full path or a program that is installed)`));
          return;
        }
        if (!exit && !timedOut && !options.signal.aborted) {
          reject(new ToolError('ESANDBOX', `the sandbox could not be set up, so the command did not run: ${stderr.trim() || `bwrap exited with ${code ?? signal}`}`));
          return;
        }
        if (options.signal.aborted && !timedOut) {
          reject(new ToolError('ECANCELLED', 'the command was cancelled'));
          return;
        }
        resolve({
          exitCode: exit ? Number(exit[1]) : code,
          signal: exit ? null : signal,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr,
          truncated,
          timedOut,
          durationMs: Math.round(performance.now() - started),
        });
      });
    }
  });
}
