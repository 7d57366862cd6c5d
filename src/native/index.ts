// The native addon (aios-native.c) and the aios-spawn helper, found where the build put them:
// next to the executable in the image (/usr/lib/aios), or in src/native/build in development.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface ChildStatus {
  pid: number;
  uid: number;
  /** Exit status when the child exited, null when a signal killed it. */
  code: number | null;
  /** Signal number when a signal killed it, null when it exited. */
  signal: number | null;
  coreDumped: boolean;
}

export interface Native {
  peekChild(): ChildStatus | null;
  reapChild(pid: number): ChildStatus | null;
  setChildSubreaper(on: boolean): void;
  reboot(cmd: number): void;
  mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null): void;
  umount2(target: string, flags: number): void;
  /** chroot(dir), then chdir("/"). */
  chroot(dir: string): void;
  sync(): void;
  setsid(): number;
  setControllingTty(fd: number, steal: boolean): void;
  peerCredentials(fd: number): { pid: number; uid: number; gid: number };
  watchSignal(signum: number, callback: (signum: number) => void): void;
  sigrtmin(): number;
  loadModule(fd: number, params: string): void;
  loadModuleAsync(fd: number, params: string): Promise<void>;
  constants: Record<
    | 'RB_AUTOBOOT' | 'RB_HALT_SYSTEM' | 'RB_POWER_OFF' | 'RB_ENABLE_CAD' | 'RB_DISABLE_CAD'
    | 'MS_RDONLY' | 'MS_NOSUID' | 'MS_NODEV' | 'MS_NOEXEC' | 'MS_REMOUNT' | 'MS_BIND' | 'MS_REC'
    | 'MS_PRIVATE' | 'MS_MOVE' | 'MS_RELATIME' | 'MNT_FORCE' | 'MNT_DETACH',
    number
  >;
}

const ADDON = 'aios_native.node';
const SPAWN_HELPER = 'aios-spawn';
/** The SQLite extension with memory search's ranking (aios-rank.c); node-gyp names it .node. */
const RANK_EXTENSION = 'aios_rank.node';
/** Persistent ggml threadpools for node-llama-cpp's contexts (aios-llama-threads.c). */
const LLAMA_THREADS = 'aios_llama_threads.node';

function candidateDirs(): string[] {
  const dirs: string[] = [];
  if (process.env.AIOS_NATIVE_DIR) dirs.push(process.env.AIOS_NATIVE_DIR);
  dirs.push(path.dirname(process.execPath));
  // In development this file is src/native/index.ts; the bundle replaces import.meta.dirname.
  if (import.meta.dirname) dirs.push(path.join(import.meta.dirname, 'build', 'Release'));
  dirs.push('/usr/lib/aios');
  return dirs;
}

function locate(file: string): string {
  const dirs = candidateDirs();
  for (const dir of dirs) {
    const candidate = path.join(dir, file);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(
    `Cannot find ${file} in ${dirs.join(', ')}. Build it with \`npm run build:native\` ` +
      '(needs python3, make and a C compiler), or set AIOS_NATIVE_DIR to the folder that holds it.',
  );
}

let loaded: Native | undefined;

export function native(): Native {
  if (!loaded) {
    const module = { exports: {} as Native };
    // process.dlopen works both in development and inside the single-executable application,
    // where require() of a file path does not.
    process.dlopen(module, locate(ADDON));
    loaded = module.exports;
  }
  return loaded;
}

export function spawnHelperPath(): string {
  return locate(SPAWN_HELPER);
}

/**
 * The SQLite extension that ranks memory search (aios_bm25, aios-rank.c), or null when it was
 * not built: search then ranks with FTS5's own bm25(), slower at a million memories but the
 * same order. SQLite finds its entry point from the name (sqlite3_aiosrank_init).
 */
export function rankExtension(): string | null {
  for (const dir of candidateDirs()) {
    const file = path.join(dir, RANK_EXTENSION);
    if (existsSync(file)) return file;
  }
  return null;
}

export interface LlamaThreadpools {
  /** The pools attached to live contexts, and how many were made in this process. */
  threadpools(): { live: { threads: number }[]; made: number };
}

let llamaThreads: LlamaThreadpools | undefined;

/**
 * Gives every llama.cpp context node-llama-cpp makes in this process a persistent threadpool
 * (see aios-llama-threads.c). Must run before node-llama-cpp loads its addon: the addon's calls
 * bind to the first definitions in the global scope, which RTLD_GLOBAL puts these in.
 */
export function loadLlamaThreadpools(): LlamaThreadpools {
  if (!llamaThreads) {
    const module = { exports: {} as LlamaThreadpools };
    process.dlopen(module, locate(LLAMA_THREADS), os.constants.dlopen.RTLD_NOW | os.constants.dlopen.RTLD_GLOBAL);
    llamaThreads = module.exports;
  }
  return llamaThreads;
}
