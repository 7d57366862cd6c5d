// Builds llama.cpp's llama-bench for bench/local.ts's anchor: its two source files, from the
// llama.cpp release node-llama-cpp carries (llama/gitRelease.bundle, the release its binaries
// were built from), compiled here and linked against node-llama-cpp's own prebuilt libraries
// (libllama, libllama-common, libggml and the CPU variants it picks at run time). So the anchor
// runs the very kernels the whole path runs, and what differs is only what lies between: Node,
// node-llama-cpp, the models service. (A llama-bench built from the whole source is a different
// binary: with -march=native it segfaults here, the CPU reports AMX and the AMX repacking of
// Q8_0 weights crashes; without it, it is about half as fast as the prebuilt libraries.)
// Offline; about 25 s on two cores; skipped when out/llama-bench/bin/llama-bench exists.
//
//   node bench/llama-bench.ts
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(import.meta.dirname, '..');
const PACKAGE = path.join(ROOT, 'node_modules', 'node-llama-cpp', 'llama');
/** node-llama-cpp's prebuilt x86_64 CPU libraries. */
export const PREBUILT = path.join(ROOT, 'node_modules', '@node-llama-cpp', 'linux-x64', 'bins', 'linux-x64');
const SOURCE = path.join(ROOT, 'out', 'llama-src');
export const LLAMA_BENCH = path.join(ROOT, 'out', 'llama-bench', 'bin', 'llama-bench');

if (import.meta.main) {
  if (existsSync(LLAMA_BENCH)) {
    process.stderr.write(`llama-bench: ${LLAMA_BENCH} is there\n`);
  } else {
    const { tag } = JSON.parse(readFileSync(path.join(PACKAGE, 'llama.cpp.info.json'), 'utf8')) as { tag: string };
    rmSync(SOURCE, { recursive: true, force: true });
    process.stderr.write(`llama-bench: cloning llama.cpp ${tag} from node-llama-cpp's bundle\n`);
    execFileSync('git', ['clone', '--quiet', path.join(PACKAGE, 'gitRelease.bundle'), SOURCE], { stdio: ['ignore', 'ignore', 'inherit'] });
    // The library names carry the release (libllama.v0.4.0.so): link to the files that are there.
    const lib = (prefix: string): string => {
      const name = execFileSync('ls', [PREBUILT], { encoding: 'utf8' }).split('\n').find((f) => f.startsWith(prefix) && f.endsWith('.so'));
      if (!name) throw new Error(`${PREBUILT} has no ${prefix}*.so: npm ci`);
      return `-l:${name}`;
    };
    process.stderr.write(`llama-bench: compiling tools/llama-bench against ${path.relative(ROOT, PREBUILT)}\n`);
    mkdirSync(path.dirname(LLAMA_BENCH), { recursive: true });
    const include = ['include', 'ggml/include', 'common', 'vendor'].map((dir) => `-I${path.join(SOURCE, dir)}`);
    const sources = ['llama-bench.cpp', 'main.cpp'].map((file) => path.join(SOURCE, 'tools', 'llama-bench', file));
    const libraries = [`-L${PREBUILT}`, lib('libllama-common'), lib('libllama.'), lib('libggml.'), lib('libggml-base'), `-Wl,-rpath,${PREBUILT}`, '-pthread'];
    execFileSync('g++', ['-std=c++17', '-O2', '-DNDEBUG', ...include, ...sources, '-o', LLAMA_BENCH, ...libraries], { stdio: ['ignore', 'inherit', 'inherit'] });
    process.stderr.write(`llama-bench: ${LLAMA_BENCH}\n`);
  }
}
