// esbuild: the TypeScript sources into one ES module, the single executable's main script.
// Native packages stay outside (loaded from /usr/lib/aios/node_modules at run time).
import path from 'node:path';
import { build } from 'esbuild';
import { NATIVE_PACKAGES } from './rootfs.ts';
import { OUT, ROOT } from './step.ts';

export const BUNDLE = path.join(OUT, 'build', 'main.mjs');

export async function bundle(): Promise<void> {
  await build({
    entryPoints: [path.join(ROOT, 'src', 'main.ts')],
    outfile: BUNDLE,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node26',
    external: NATIVE_PACKAGES,
    sourcemap: false,
    legalComments: 'none',
    logLevel: 'warning',
    // CommonJS dependencies call require(); inside the executable import.meta.url may be unset.
    banner: {
      js: "import { createRequire as __aiosCreateRequire } from 'node:module'; const require = __aiosCreateRequire(import.meta.url ?? process.execPath);",
    },
  });
}
