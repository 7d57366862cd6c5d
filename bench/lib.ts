// Shared by the benchmarks: statistics, processes in a PID namespace, the JSON result.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const MAIN = path.join(ROOT, 'src', 'entry.ts');

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export function round(n: number, digits = 2): number {
  return Number(n.toFixed(digits));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Processes sharing the PID namespace of `pid`, as the host sees them. */
export function namespaceProcesses(pid: number): { pid: number; state: string }[] {
  let ns: string;
  try {
    ns = readlinkSync(`/proc/${pid}/ns/pid`);
  } catch {
    return [];
  }
  const result: { pid: number; state: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readlinkSync(`/proc/${entry}/ns/pid`) !== ns) continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      result.push({ pid: Number(entry), state: stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) });
    } catch {
      // Gone.
    }
  }
  return result;
}

/** The single child of `pid` (the init that unshare --fork started). */
export function onlyChild(pid: number): number | null {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    return children.length === 1 ? Number(children[0]) : null;
  } catch {
    return null;
  }
}

export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? NaN);
}

export function machine(): Record<string, unknown> {
  return { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, kernel: os.release(), node: process.version, load: os.loadavg().map((l) => round(l)) };
}

export function print(result: unknown): void {
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

/**
 * The init as the image runs it: the single executable out/aios (built first if needed,
 * `node build.ts bundle sea`), which starts from its V8 snapshot.
 */
export async function bundledAios(): Promise<{ argv: string[]; env: NodeJS.ProcessEnv }> {
  execFileSync(process.execPath, [path.join(ROOT, 'build.ts'), 'bundle', 'sea'], { stdio: ['ignore', 'ignore', 'inherit'] });
  return { argv: [path.join(ROOT, 'out', 'aios')], env: { ...process.env } };
}
