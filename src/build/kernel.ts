// The dev image's kernel: Debian's cloud kernel (serial console, initramfs, devtmpfs and
// ext4 built in; virtio as modules), downloaded with apt and unpacked into out/cache.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { BuildError, OUT, run } from './step.ts';

/** The meta-package always points at Debian's current cloud kernel. */
const META_PACKAGE = 'linux-image-cloud-amd64';

export interface Kernel {
  version: string;
  vmlinuz: string;
  modules: string;
}

export const KERNEL_CACHE = path.join(OUT, 'cache', 'kernel');

/** Unpacks the kernel package once; later builds reuse it (delete out/cache/kernel to update). */
export function ensureKernel(progress: (message: string) => void): Kernel {
  const existing = findUnpacked();
  if (existing) return existing;
  const download = path.join(KERNEL_CACHE, 'download');
  rmSync(download, { recursive: true, force: true });
  mkdirSync(download, { recursive: true });
  let pkg = cloudKernelPackage();
  if (!pkg && process.getuid?.() === 0) {
    // A machine whose package lists were never fetched (or were cleaned) knows no kernel yet.
    progress('apt-get update (the package lists do not name a kernel yet)');
    run('apt-get', ['update', '-qq']);
    pkg = cloudKernelPackage();
  }
  if (!pkg) {
    throw new BuildError(`apt does not know ${META_PACKAGE}. Run \`apt-get update\` as root (Debian 12 has it in the main archive).`);
  }
  progress(`downloading ${pkg} with apt-get download`);
  run('apt-get', ['download', pkg], { cwd: download });
  const deb = readdirSync(download).find((f) => f.endsWith('.deb'));
  if (!deb) throw new BuildError(`apt-get download ${pkg} left no .deb in ${download}`);
  const unpacked = path.join(KERNEL_CACHE, 'unpacked.tmp');
  rmSync(unpacked, { recursive: true, force: true });
  progress(`unpacking ${deb}`);
  run('dpkg-deb', ['-x', path.join(download, deb), unpacked]);
  renameSync(unpacked, path.join(KERNEL_CACHE, 'unpacked'));
  rmSync(download, { recursive: true, force: true });
  const kernel = findUnpacked();
  if (!kernel) throw new BuildError(`${deb} holds no vmlinuz`);
  return kernel;
}

function cloudKernelPackage(): string | null {
  try {
    return /Depends:\s+(linux-image-\S+-cloud-amd64)/.exec(run('apt-cache', ['depends', META_PACKAGE]))?.[1] ?? null;
  } catch {
    return null;
  }
}

function findUnpacked(): Kernel | null {
  const boot = path.join(KERNEL_CACHE, 'unpacked', 'boot');
  if (!existsSync(boot)) return null;
  const vmlinuz = readdirSync(boot).find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz) return null;
  const version = vmlinuz.slice('vmlinuz-'.length);
  return { version, vmlinuz: path.join(boot, vmlinuz), modules: path.join(KERNEL_CACHE, 'unpacked', 'lib', 'modules', version) };
}

/**
 * The modules to load (by name) with everything they depend on, in load order. The package
 * carries no modules.dep (depmod makes it at install time), so dependencies are read from each
 * module's own .modinfo ("depends=a,b").
 */
export function moduleClosure(modulesDir: string, names: string[]): string[] {
  const files = new Map<string, string>();
  const collect = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) collect(full);
      else if (entry.name.endsWith('.ko')) files.set(normalise(entry.name.slice(0, -3)), path.relative(modulesDir, full));
    }
  };
  collect(path.join(modulesDir, 'kernel'));
  const builtin = new Set(
    readFileSync(path.join(modulesDir, 'modules.builtin'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => normalise(path.basename(line, '.ko'))),
  );
  const ordered: string[] = [];
  const visit = (name: string, chain: string[]): void => {
    const key = normalise(name);
    if (builtin.has(key)) return;
    const file = files.get(key);
    if (!file) throw new BuildError(`kernel module ${name}${chain.length ? ` (needed by ${chain.join(' <- ')})` : ''} is not in ${modulesDir}`);
    if (ordered.includes(file)) return;
    const info = readFileSync(path.join(modulesDir, file)).toString('latin1');
    const depends = /\0depends=([^\0]*)\0/.exec(info)?.[1] ?? '';
    for (const dep of depends.split(',').filter(Boolean)) visit(dep, [name, ...chain]);
    ordered.push(file);
  };
  for (const name of names) visit(name, []);
  return ordered;
}

function normalise(name: string): string {
  return name.replace(/-/g, '_');
}
