// esbuild: the TypeScript sources into one CommonJS script, the single executable's main
// script, from which the build makes a V8 startup snapshot (src/entry.ts). Native packages
// stay outside (loaded from /usr/lib/aios/node_modules at run time).
import path from 'node:path';
import { build } from 'esbuild';
import { RUNTIME_PACKAGES } from './rootfs.ts';
import { OUT, ROOT } from './step.ts';

export const BUNDLE = path.join(OUT, 'build', 'main.cjs');
/** The model tiers' code, loaded only when a request needs a model (src/agents/load.ts). */
export const AGENT_BUNDLE = path.join(OUT, 'build', 'agent.cjs');

export async function bundle(): Promise<void> {
  for (const [entry, outfile] of [
    ['entry.ts', BUNDLE],
    [path.join('agents', 'agent-bundle.ts'), AGENT_BUNDLE],
  ] as const) await bundleOne(path.join(ROOT, 'src', entry), outfile);
}

async function bundleOne(entry: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node26',
    // node-llama-cpp among them: loaded by path at run time (importRuntimePackage).
    external: RUNTIME_PACKAGES,
    sourcemap: false,
    // Smaller source text, smaller start-up snapshot; identifiers stay, for stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
    // Development finds the native addon next to its sources; the executable next to itself.
    define: { 'import.meta.dirname': 'undefined' },
  });
}
