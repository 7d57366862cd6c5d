// Build steps: progress on stderr, timing, and skipping a step whose inputs did not change
// (a stamp under out/.stamps holds the fingerprint of its inputs).
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const OUT = path.join(ROOT, 'out');

export class BuildError extends Error {}

export interface Step {
  name: string;
  summary: string;
  /** Files and folders whose contents decide whether the step must run again. */
  inputs(): string[];
  /** What the step leaves; a missing output makes it run again. */
  outputs(): string[];
  run(progress: (message: string) => void): Promise<void> | void;
}

/** Hash of every file's path, size and mtime below the inputs (contents would be slow for 100 MB files). */
export function fingerprint(inputs: string[]): string {
  const hash = createHash('sha256');
  const visit = (file: string): void => {
    if (!existsSync(file)) {
      hash.update(`missing:${file}\n`);
      return;
    }
    const stat = statSync(file);
    if (stat.isDirectory()) {
      for (const child of readdirSync(file).sort()) visit(path.join(file, child));
    } else {
      hash.update(`${file}:${stat.size}:${stat.mtimeMs}\n`);
    }
  };
  for (const input of inputs) visit(input);
  return hash.digest('hex');
}

export async function runStep(step: Step, options: { force: boolean }): Promise<{ ran: boolean; ms: number }> {
  const stampDir = path.join(OUT, '.stamps');
  mkdirSync(stampDir, { recursive: true });
  const stamp = path.join(stampDir, step.name);
  const print = (message: string): void => {
    process.stderr.write(`[${step.name}] ${message}\n`);
  };
  const fresh = fingerprint(step.inputs());
  const upToDate = !options.force && existsSync(stamp) && readFileSync(stamp, 'utf8') === fresh && step.outputs().every((o) => existsSync(o));
  if (upToDate) {
    print('up to date');
    return { ran: false, ms: 0 };
  }
  const started = performance.now();
  print(`${step.summary} ...`);
  await step.run(print);
  const ms = performance.now() - started;
  writeFileSync(stamp, fingerprint(step.inputs()));
  print(`done in ${(ms / 1000).toFixed(1)} s`);
  return { ran: true, ms };
}

/** Tools the build runs, with the Debian package that has each. */
const PACKAGES: Record<string, string> = {
  strip: 'binutils',
  zstd: 'zstd',
  'dpkg-deb': 'dpkg',
  'apt-get': 'apt',
  'grub-mkrescue': 'grub-common grub-pc-bin grub-efi-amd64-bin',
  xorriso: 'xorriso',
  mformat: 'mtools',
  busybox: 'busybox-static',
  mke2fs: 'e2fsprogs',
  e2fsck: 'e2fsprogs',
  ldd: 'libc-bin',
  bwrap: 'bubblewrap',
  'qemu-system-x86_64': 'qemu-system-x86',
  'qemu-img': 'qemu-utils',
};

export function which(tool: string): string | null {
  const result = spawnSync('sh', ['-c', `command -v "$1"`, 'sh', tool], { encoding: 'utf8' });
  const found = (result.stdout ?? '').trim();
  if (found) return found;
  for (const dir of ['/usr/sbin', '/sbin']) if (existsSync(path.join(dir, tool))) return path.join(dir, tool);
  return null;
}

export function requireTool(tool: string): string {
  const found = which(tool);
  if (found) return found;
  const pkg = PACKAGES[tool];
  throw new BuildError(`\`${tool}\` is not installed.${pkg ? ` Install it with: apt-get install ${pkg}` : ''} (bash .ci/setup installs everything the build needs.)`);
}

export function run(tool: string, args: string[], options: { cwd?: string } = {}): string {
  try {
    return execFileSync(requireTool(tool), args, { cwd: options.cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    if (error instanceof BuildError) throw error;
    const e = error as { stderr?: string; message: string };
    throw new BuildError(`${tool} ${args.join(' ')} failed: ${(e.stderr || e.message).trim().split('\n').slice(-5).join('\n')}`, { cause: error });
  }
}
