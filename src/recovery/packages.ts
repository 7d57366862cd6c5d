// The package set a snapshot records (`pacman -Q`) and how a restore puts it back: versions that
// differ are reinstalled from pacman's cache (no network needed, and the exact version), and
// packages installed since are removed. Where there is no pacman the set is not recorded.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { findProgram, runProgram } from '../tools/sys-tools.ts';
import { parseList } from '../tools/pkg-tools.ts';

export interface InstalledPackage {
  name: string;
  version: string;
}

export const DEFAULT_PACMAN_CACHE = '/var/cache/pacman/pkg';

export async function listPackages(): Promise<InstalledPackage[] | null> {
  const pacman = findProgram('pacman');
  if (!pacman) return null;
  const result = await runProgram(pacman, ['-Q'], { signal: new AbortController().signal, timeoutMs: 60_000 });
  if (result.exitCode !== 0) throw new Error(`pacman -Q exited with status ${result.exitCode}: ${result.stderr.trim()}`);
  return parseList(result.stdout);
}

export interface PackagePlan {
  /** In the snapshot with another version now, or gone: reinstalled from the cache. */
  install: { name: string; version: string; file: string }[];
  /** In the snapshot, but the cache has no file for that version: cannot be put back. */
  missing: { name: string; version: string }[];
  /** Installed since the snapshot: removed. */
  remove: string[];
}

/** pacman names cache files NAME-VERSION-ARCH.pkg.tar.EXT (VERSION is pkgver-pkgrel, with any epoch). */
function cacheFile(cache: string, names: string[], pkg: InstalledPackage): string | null {
  const prefix = `${pkg.name}-${pkg.version}-`;
  const found = names.find((n) => n.startsWith(prefix) && /^[^-]+\.pkg\.tar(\.\w+)?$/.test(n.slice(prefix.length)));
  return found ? path.join(cache, found) : null;
}

export function planPackages(snapshot: InstalledPackage[], now: InstalledPackage[], cache = process.env.AIOS_PACMAN_CACHE ?? DEFAULT_PACMAN_CACHE): PackagePlan {
  const current = new Map(now.map((p) => [p.name, p.version]));
  const wanted = new Set(snapshot.map((p) => p.name));
  const names = existsSync(cache) ? readdirSync(cache) : [];
  const plan: PackagePlan = { install: [], missing: [], remove: [] };
  for (const pkg of snapshot) {
    if (current.get(pkg.name) === pkg.version) continue;
    const file = cacheFile(cache, names, pkg);
    if (file) plan.install.push({ ...pkg, file });
    else plan.missing.push(pkg);
  }
  plan.remove = now.filter((p) => !wanted.has(p.name)).map((p) => p.name);
  return plan;
}

/** Carries out a plan; returns what pacman said for each step that failed. */
export async function applyPackages(plan: PackagePlan): Promise<string[]> {
  const pacman = findProgram('pacman');
  if (!pacman) return ['there is no pacman here, so the package set was not restored'];
  const problems: string[] = [];
  const run = async (args: string[]): Promise<void> => {
    const result = await runProgram(pacman, args, { signal: new AbortController().signal, timeoutMs: 30 * 60_000 });
    if (result.exitCode !== 0) problems.push(`pacman ${args.slice(0, 2).join(' ')} … exited with status ${result.exitCode}: ${(result.stderr.trim() || result.stdout.trim()).split('\n').slice(-3).join(' ')}`);
  };
  if (plan.install.length) await run(['-U', '--noconfirm', '--', ...plan.install.map((p) => p.file)]);
  if (plan.remove.length) await run(['-R', '--noconfirm', '--', ...plan.remove]);
  return problems;
}
