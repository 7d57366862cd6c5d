// Some npm packages are not in the bundle (build/rootfs.ts RUNTIME_PACKAGES): native ones
// (better-sqlite3, node-llama-cpp) and ones that cannot be in the startup snapshot (mvdan-sh).
// They are loaded at run time from a node_modules folder. Inside the single executable, require()
// knows only built-in modules, so a require is made for the folder beside the executable
// (/usr/lib/aios/node_modules in the image, out/node_modules next to out/aios); from the
// sources, Node's own resolution finds the project's node_modules. In the image node-llama-cpp
// comes in an archive beside the executable, unpacked into /run/aios on first use.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';

export function requireRuntimePackage<T>(name: string): T {
  const beside = path.join(path.dirname(process.execPath), 'node_modules');
  if (existsSync(path.join(beside, name))) return createRequire(path.join(beside, 'loader.cjs'))(name) as T;
  const base = import.meta.dirname ? path.join(import.meta.dirname, 'packages.ts') : path.join(process.cwd(), 'loader.cjs');
  try {
    return createRequire(base)(name) as T;
  } catch (error) {
    throw new Error(`Cannot load the package ${name}: not in ${beside} nor beside the sources. Run \`npm ci\` (development) or rebuild the image.`, { cause: error });
  }
}

/**
 * An ES module package (node-llama-cpp: its top-level await rules out require), found where
 * requireRuntimePackage looks, and imported by the file its package.json exports.
 */
export async function importRuntimePackage<T>(name: string): Promise<T> {
  const beside = path.join(path.dirname(process.execPath), 'node_modules', name);
  let dir = existsSync(beside) ? beside : null;
  const unpacked = dir ? null : unpackedArchive();
  if (unpacked && existsSync(path.join(unpacked, name))) dir = path.join(unpacked, name);
  // Node's resolution, by hand: a package's exports may hide its package.json from resolve().
  for (let at = import.meta.dirname ?? process.cwd(); !dir; at = path.dirname(at)) {
    const candidate = path.join(at, 'node_modules', name);
    if (existsSync(path.join(candidate, 'package.json'))) dir = candidate;
    else if (path.dirname(at) === at) {
      throw new Error(`Cannot load the package ${name}: not in ${path.dirname(beside)} nor beside the sources. Run \`npm ci\` (development) or rebuild the image.`);
    }
  }
  const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { exports?: Record<string, { import?: string; default?: string } | string>; main?: string };
  const root = manifest.exports?.['.'];
  const entry = (typeof root === 'string' ? root : (root?.import ?? root?.default)) ?? manifest.main ?? 'index.js';
  return (await import(pathToFileURL(path.join(dir, entry)).href)) as T;
}

/**
 * The script a runtime package forked with child_process.fork(), when this process is one.
 * fork() starts process.execPath with the script's path; for the single executable that is
 * aios itself, so aios runs the script the way node would. node-llama-cpp needs this: it tries
 * its binary in a forked child before loading it. Only scripts of the packages beside the
 * executable, and only with fork's IPC channel, so `aios FILE` is never a script runner.
 */
export function forkedPackageScript(argv: string[], forked = process.channel !== undefined): string | null {
  // fork() puts the parent's execArgv (the executable's own --disable-sigusr1) before the script.
  const script = argv.find((a) => !a.startsWith('--'));
  if (!script || !forked || !path.isAbsolute(script) || !/\.[cm]?js$/.test(script)) return null;
  const roots = [path.join(path.dirname(process.execPath), 'node_modules'), path.join(unpackDir(), 'node_modules')];
  return roots.some((root) => script.startsWith(root + path.sep)) && existsSync(script) ? script : null;
}

/** The archive beside the executable that holds node-llama-cpp and its packages (src/build/rootfs.ts). */
const ARCHIVE = 'llama-runtime.tar.gz';

function unpackDir(): string {
  return path.join(process.env.AIOS_RUN_DIR ?? '/run/aios', 'llama-runtime');
}

/**
 * The node_modules folder of the archive beside the executable, unpacked into the run directory
 * the first time it is needed (null when there is no archive). Unpacked under a temporary name
 * and renamed, so that processes at once (the models service and its binary test) never see
 * half of it.
 */
function unpackedArchive(): string | null {
  const archive = path.join(path.dirname(process.execPath), ARCHIVE);
  const target = unpackDir();
  const modules = path.join(target, 'node_modules');
  if (existsSync(modules)) return modules;
  if (!existsSync(archive)) return null;
  mkdirSync(path.dirname(target), { recursive: true });
  const partial = mkdtempSync(`${target}.partial-`);
  try {
    execFileSync('tar', ['-xzf', archive, '-C', partial], { stdio: ['ignore', 'ignore', 'pipe'] });
    renameSync(partial, target);
  } catch (error) {
    rmSync(partial, { recursive: true, force: true });
    // Another process unpacked it first.
    if (existsSync(modules)) return modules;
    throw new Error(`Cannot unpack ${archive} into ${target}: ${((error as { stderr?: Buffer }).stderr?.toString() || (error as Error).message).trim()}`, { cause: error });
  }
  return modules;
}

/**
 * import() of a file, also from code started from the executable's startup snapshot, which
 * has no dynamic import of its own (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING): a script compiled
 * now with the main context's loader does the import.
 */
export function importFile<T>(file: string): Promise<T> {
  const load = new vm.Script('(url) => import(url)', { importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER }).runInThisContext() as (url: string) => Promise<T>;
  return load(pathToFileURL(file).href);
}
