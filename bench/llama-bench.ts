// Builds llama.cpp's llama-bench from the source node-llama-cpp carries (llama/gitRelease.bundle,
// a git bundle of the release its binaries were built from), for bench/local.ts's anchor.
// Offline; a few minutes on two cores; skipped when out/llama-bench/bin/llama-bench exists.
// Not -march=native: the build machines' CPUs report AMX, and llama-bench built with it
// segfaults when it repacks Q8_0 weights; AVX2, FMA, F16C, AVX-512 (with VNNI and BF16) are named instead.
//
//   node bench/llama-bench.ts
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(import.meta.dirname, '..');
const PACKAGE = path.join(ROOT, 'node_modules', 'node-llama-cpp', 'llama');
const SOURCE = path.join(ROOT, 'out', 'llama-src');
const TARGET = path.join(ROOT, 'out', 'llama-bench', 'bin', 'llama-bench');

if (existsSync(TARGET)) {
  process.stderr.write(`llama-bench: ${TARGET} is there\n`);
} else {
  const { tag } = JSON.parse(readFileSync(path.join(PACKAGE, 'llama.cpp.info.json'), 'utf8')) as { tag: string };
  rmSync(SOURCE, { recursive: true, force: true });
  process.stderr.write(`llama-bench: cloning llama.cpp ${tag} from node-llama-cpp's bundle\n`);
  execFileSync('git', ['clone', '--quiet', path.join(PACKAGE, 'gitRelease.bundle'), SOURCE], { stdio: 'inherit' });
  process.stderr.write('llama-bench: configuring (CPU only: AVX2, FMA, F16C, AVX-512 with VNNI and BF16)\n');
  execFileSync('cmake', ['-S', SOURCE, '-B', path.join(SOURCE, 'build'), '-DCMAKE_BUILD_TYPE=Release', '-DGGML_NATIVE=OFF', '-DGGML_AVX=ON', '-DGGML_AVX2=ON', '-DGGML_FMA=ON', '-DGGML_F16C=ON', '-DGGML_AVX512=ON', '-DGGML_AVX512_VNNI=ON', '-DGGML_AVX512_BF16=ON', '-DGGML_AVX_VNNI=ON', '-DLLAMA_CURL=OFF', '-DBUILD_SHARED_LIBS=OFF', '-DLLAMA_BUILD_TESTS=OFF', '-DLLAMA_BUILD_EXAMPLES=OFF', '-DLLAMA_BUILD_SERVER=OFF'], { stdio: ['ignore', 'ignore', 'inherit'] });
  process.stderr.write('llama-bench: building\n');
  execFileSync('cmake', ['--build', path.join(SOURCE, 'build'), '--target', 'llama-bench', '-j', '2'], { stdio: ['ignore', 'ignore', 'inherit'] });
  mkdirSync(path.dirname(TARGET), { recursive: true });
  copyFileSync(path.join(SOURCE, 'build', 'bin', 'llama-bench'), TARGET);
  execFileSync('chmod', ['755', TARGET]);
  process.stderr.write(`llama-bench: ${TARGET}\n`);
}
