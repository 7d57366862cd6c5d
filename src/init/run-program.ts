// Runs a short program from PID 1 (mke2fs, e2fsck) and collects its output. It goes through
// the reaper's spawnTracked so that the reaper never takes its exit status from libuv.
import type { Reaper } from './reaper.ts';

export interface ProgramResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `input`, when given, is written to the program's stdin (which is then closed). */
export function runProgram(reaper: Reaper, argv: string[], timeoutMs = 60_000, input?: string): Promise<ProgramResult> {
  return new Promise((resolve) => {
    const [file, ...args] = argv;
    const child = reaper.spawnTracked(file!, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: { PATH: '/usr/bin:/bin' } });
    // A program that exits without reading all of it gives EPIPE here: its exit status tells.
    child.stdin?.on('error', () => {});
    child.stdin?.end(input);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: `${stderr}${error.message}` });
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 15), stdout, stderr });
    });
  });
}
