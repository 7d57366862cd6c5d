// Stages the image's root filesystem in out/rootfs: a merged-/usr skeleton, rootfs-overlay/,
// the SEA with its links, the native addon and spawn helper, busybox for the shell tools,
// e2fsprogs for the state disk, the shared libraries all of these need, the kernel modules
// the image loads at boot, and the node_modules of the native npm packages.
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureKernel, moduleClosure } from './kernel.ts';
import { BuildError, OUT, ROOT, requireTool, run } from './step.ts';

export const ROOTFS = path.join(OUT, 'rootfs');
export const SEA = path.join(OUT, 'aios');
/** What the executable finds beside itself (src/native, built by npm ci): out/aios's folder, /usr/lib/aios. */
export const NATIVE_PARTS = ['aios_native.node', 'aios_rank.node', 'aios_llama_threads.node', 'aios-spawn'];

/**
 * npm packages loaded at run time from node_modules beside the executable instead of being
 * bundled: native ones (node-llama-cpp with its prebuilt x86_64 CPU binary, an optional
 * dependency that npm installs explicitly here); mvdan-sh, whose GopherJS runtime cannot live
 * in a V8 startup snapshot (building the snapshot aborts in V8); and the large ones only some
 * tools use (systeminformation, execa), so that every process started from the snapshot is
 * smaller.
 */
export const LLAMA_PACKAGES = ['node-llama-cpp', '@node-llama-cpp/linux-x64'];
export const RUNTIME_PACKAGES: string[] = ['better-sqlite3', 'mvdan-sh', 'systeminformation', 'execa', ...LLAMA_PACKAGES];

/**
 * node-llama-cpp and what it needs go into the image as one gzip archive beside the executable,
 * unpacked on first use (src/native/packages.ts): the kernel unpacks the whole initramfs at every
 * boot, and 45 MB of files that only a machine with a model uses cost half a second of boot
 * under emulation; the archive costs a tenth of that.
 */
export const LLAMA_ARCHIVE = 'llama-runtime.tar.gz';

/** Loaded by PID 1 at boot: first what the state disk needs, the rest once the services are started. */
export const EARLY_KERNEL_MODULES = ['virtio_pci', 'virtio_blk'];
export const KERNEL_MODULES = ['virtio_net', 'virtio_rng'];

/** Busybox applets that the image must not get: PID 1 is aios-init. */
const SKIPPED_APPLETS = new Set(['init', 'linuxrc']);

/** Host programs copied in, with their libraries: the state disk's mkfs and fsck, and the sandbox. */
const HOST_PROGRAMS = ['mke2fs', 'e2fsck', 'bwrap'];

export function stageRootfs(progress: (message: string) => void): void {
  if (!existsSync(SEA)) throw new BuildError(`${SEA} is missing: run \`npm run build -- sea\` first.`);
  rmSync(ROOTFS, { recursive: true, force: true });
  skeleton();

  progress('copying rootfs-overlay');
  cpSync(path.join(ROOT, 'rootfs-overlay'), ROOTFS, { recursive: true, verbatimSymlinks: true });

  stageExecutable(ROOTFS, 'archive', progress);
  // The kernel runs /init from an initramfs.
  symlinkSync('usr/lib/aios/aios-init', path.join(ROOTFS, 'init'));
  const lib = path.join(ROOTFS, 'usr/lib/aios');

  progress('busybox, e2fsprogs and bubblewrap');
  const busybox = realpathSync(requireTool('busybox'));
  copyFileSync(busybox, path.join(ROOTFS, 'usr/bin/busybox'));
  chmodSync(path.join(ROOTFS, 'usr/bin/busybox'), 0o755);
  for (const applet of run(busybox, ['--list']).split('\n').filter(Boolean)) {
    const link = path.join(ROOTFS, 'usr/bin', applet);
    if (SKIPPED_APPLETS.has(applet) || existsSync(link)) continue;
    symlinkSync('busybox', link);
  }
  const binaries = ['aios', ...NATIVE_PARTS].map((file) => path.join(lib, file));
  for (const program of HOST_PROGRAMS) {
    const source = realpathSync(requireTool(program));
    const target = path.join(ROOTFS, 'usr/bin', program);
    // Busybox has applets of the same names: replace the link, never write through it.
    rmSync(target, { force: true });
    copyFileSync(source, target);
    chmodSync(target, 0o755);
    binaries.push(target);
  }
  symlinkSync('mke2fs', path.join(ROOTFS, 'usr/bin/mkfs.ext4'));
  symlinkSync('e2fsck', path.join(ROOTFS, 'usr/bin/fsck.ext4'));
  if (existsSync('/etc/mke2fs.conf')) copyFileSync('/etc/mke2fs.conf', path.join(ROOTFS, 'etc/mke2fs.conf'));

  progress('shared libraries');
  copySharedLibraries(binaries, ROOTFS);

  progress('kernel modules');
  const kernel = ensureKernel(progress);
  const early = moduleClosure(kernel.modules, EARLY_KERNEL_MODULES);
  const late = moduleClosure(kernel.modules, [...EARLY_KERNEL_MODULES, ...KERNEL_MODULES]).filter((m) => !early.includes(m));
  for (const module of [...early, ...late]) {
    const target = path.join(ROOTFS, 'usr/lib/modules', kernel.version, module);
    mkdirSync(path.dirname(target), { recursive: true });
    copyFileSync(path.join(kernel.modules, module), target);
  }
  writeFileSync(path.join(ROOTFS, 'etc/aios/modules-load.early'), `${early.join('\n')}\n`);
  writeFileSync(path.join(ROOTFS, 'etc/aios/modules-load'), `${late.join('\n')}\n`);

  const version = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  writeFileSync(
    path.join(ROOTFS, 'etc/os-release'),
    `NAME="aiOS"\nPRETTY_NAME="aiOS ${version} (development image)"\nID=aios\nID_LIKE=arch\nVERSION_ID=${version}\nHOME_URL="https://github.com/aios"\n`,
  );
}

/**
 * The single executable with its native parts in ROOT/usr/lib/aios, its links in /usr/bin, and
 * the npm packages it loads at run time. node-llama-cpp comes as an archive (the dev image: the
 * kernel unpacks all of an initramfs at every boot) or unpacked (the ISO's squashfs, read on use).
 * The dev image and the archiso airootfs share this.
 */
export function stageExecutable(root: string, llama: 'archive' | 'unpacked', progress: (message: string) => void): void {
  progress('the single executable and its native parts');
  const lib = path.join(root, 'usr/lib/aios');
  mkdirSync(lib, { recursive: true });
  mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
  // The sea step left the executable with its native parts beside it; they stay together.
  for (const file of ['aios', ...NATIVE_PARTS, 'agent.cjs']) {
    copyFileSync(path.join(path.dirname(SEA), file), path.join(lib, file));
    chmodSync(path.join(lib, file), file.endsWith('.cjs') ? 0o644 : 0o755);
  }
  if (llama === 'unpacked') {
    progress('the npm packages loaded at run time, node-llama-cpp unpacked');
    stageNativePackages(lib, RUNTIME_PACKAGES);
  } else {
    stageNativePackages(lib, RUNTIME_PACKAGES.filter((name) => !LLAMA_PACKAGES.includes(name)));
    progress(`node-llama-cpp, archived (${LLAMA_ARCHIVE})`);
    const llamaDir = path.join(OUT, 'build', 'llama-runtime');
    rmSync(llamaDir, { recursive: true, force: true });
    stageNativePackages(llamaDir, LLAMA_PACKAGES);
    run('tar', ['-czf', path.join(lib, LLAMA_ARCHIVE), '--owner=0', '--group=0', '-C', llamaDir, 'node_modules']);
    rmSync(llamaDir, { recursive: true, force: true });
  }
  symlinkSync('aios', path.join(lib, 'aios-init'));
  symlinkSync('../lib/aios/aios', path.join(root, 'usr/bin/aios'));
  symlinkSync('../lib/aios/aios-init', path.join(root, 'usr/bin/aios-init'));
}

function skeleton(): void {
  for (const dir of ['usr/bin', 'usr/lib/x86_64-linux-gnu', 'etc/aios/services', 'dev', 'proc', 'sys', 'run', 'tmp', 'mnt', 'var/lib/aios', 'var/log', 'root']) {
    mkdirSync(path.join(ROOTFS, dir), { recursive: true });
  }
  chmodSync(path.join(ROOTFS, 'tmp'), 0o1777);
  chmodSync(path.join(ROOTFS, 'root'), 0o700);
  // Accounts: the dev image has no filesystem package (the ISO gets Arch's, completed by sysusers).
  writeFileSync(path.join(ROOTFS, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/usr/bin/nologin\n');
  writeFileSync(path.join(ROOTFS, 'etc/group'), 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n');
  // Merged /usr, as on Arch.
  symlinkSync('usr/bin', path.join(ROOTFS, 'bin'));
  symlinkSync('usr/bin', path.join(ROOTFS, 'sbin'));
  symlinkSync('bin', path.join(ROOTFS, 'usr/sbin'));
  symlinkSync('usr/lib', path.join(ROOTFS, 'lib'));
  symlinkSync('usr/lib', path.join(ROOTFS, 'lib64'));
}

/** Copies every shared library the binaries load into a merged-/usr root (the loader into usr/lib). */
export function copySharedLibraries(binaries: string[], root: string): void {
  for (const library of sharedLibraries(binaries)) {
    const target = path.join(root, library.startsWith('/lib64/') ? 'usr/lib' : 'usr/lib/x86_64-linux-gnu', path.basename(library));
    mkdirSync(path.dirname(target), { recursive: true });
    if (!existsSync(target)) copyFileSync(realpathSync(library), target);
  }
}

/** Every shared library the binaries load, by ldd (the dynamic loader included). */
function sharedLibraries(binaries: string[]): string[] {
  const found = new Set<string>();
  for (const binary of binaries) {
    for (const line of run('ldd', [binary]).split('\n')) {
      const match = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
      if (match) found.add(match[1]!);
    }
  }
  return [...found].sort();
}

/**
 * What a package needs at run time on x86_64 glibc: not the C sources it could be rebuilt from
 * (better-sqlite3 carries 10 MB of them) nor the prebuilt binaries of other systems.
 */
function runtimeFile(relative: string, native: boolean): boolean {
  const [top, ...rest] = relative.split(path.sep);
  // A package built with node-gyp: its sources (and their deps/) are for building only; any
  // other package's src/ may be where its code lives (debug's main is src/index.js).
  if (native && (top === 'deps' || top === 'src' || top === 'binding.gyp')) return false;
  // node-llama-cpp's llama/ holds llama.cpp's sources (a 34 MB git bundle) for building it;
  // the prebuilt binary needs only the release files beside them.
  if (top === 'llama' && rest.length > 0) return rest.length === 1 && rest[0]!.endsWith('.json');
  // Type declarations, documentation and source maps: nothing runs them (the image is boot time).
  if (/\.(d\.[cm]?ts|md|markdown|map)$/.test(relative)) return false;
  if (top === 'prebuilds' && rest.length > 0) return rest.join('/').includes('linux-x64') && !rest.join('/').includes('musl');
  return true;
}

/** Dependencies needed only to compile a native package (headers), never at run time. */
const BUILD_ONLY_PACKAGES = new Set(['node-addon-api']);

/**
 * Copies each runtime package and its dependencies into /usr/lib/aios/node_modules. A package
 * is copied with the node_modules nested in it; what those nested packages need from the top
 * level (ora's own onetime needs mimic-function) is followed as Node would resolve it.
 */
export function stageNativePackages(lib: string, names: string[] = RUNTIME_PACKAGES): void {
  const seen = new Set<string>();
  const copy = (name: string): void => {
    if (seen.has(name) || BUILD_ONLY_PACKAGES.has(name)) return;
    seen.add(name);
    const source = path.join(ROOT, 'node_modules', name);
    if (!existsSync(source)) throw new BuildError(`npm package ${name} is not installed; run \`npm ci\`.`);
    const native = existsSync(path.join(source, 'binding.gyp'));
    cpSync(source, path.join(lib, 'node_modules', name), {
      recursive: true,
      verbatimSymlinks: true,
      filter: (file) => runtimeFile(path.relative(source, file), native),
    });
    for (const dir of packageDirs(source)) {
      const manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
      for (const dep of Object.keys(manifest.dependencies ?? {})) {
        if (!resolvesWithin(dep, dir, source)) copy(dep);
      }
    }
  };
  for (const name of names) copy(name);
}

/** A package's folder and those of the packages nested in its node_modules, at any depth. */
function packageDirs(dir: string): string[] {
  const found = [dir];
  const nested = path.join(dir, 'node_modules');
  if (!existsSync(nested)) return found;
  for (const entry of readdirSync(nested)) {
    const names = entry.startsWith('@') ? readdirSync(path.join(nested, entry)).map((n) => path.join(entry, n)) : [entry];
    for (const name of names) if (existsSync(path.join(nested, name, 'package.json'))) found.push(...packageDirs(path.join(nested, name)));
  }
  return found;
}

/** Whether Node, resolving `dep` from `dir`, finds it in a node_modules inside `top` (copied with it). */
function resolvesWithin(dep: string, dir: string, top: string): boolean {
  for (let at = dir; at.startsWith(top); at = path.dirname(at)) {
    if (existsSync(path.join(at, 'node_modules', dep, 'package.json'))) return true;
    if (at === top) break;
  }
  return false;
}
