// Some npm packages are not in the bundle (build/rootfs.ts RUNTIME_PACKAGES): native ones
// (better-sqlite3, node-llama-cpp) and ones that cannot be in the startup snapshot (mvdan-sh).
// They are loaded at run time from a node_modules folder. Inside the single executable, require()
// knows only built-in modules, so a require is made for the folder beside the executable
// (/usr/lib/aios/node_modules in the image, out/node_modules next to out/aios); from the
// sources, Node's own resolution finds the project's node_modules.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

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
