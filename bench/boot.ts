// Boot time: QEMU start -> kernel runs /init -> PID 1 code runs -> all services up -> the
// aios> prompt, for the dev image, side by side with the floor: a minimal single executable
// that only prints a prompt, built the same way (same Node, same snapshot options, same
// kernel, cpio + zstd) and booted with the same QEMU arguments. Also the image sizes and the
// build time, cold (empty out/) and warm (nothing changed).
//
//   node bench/boot.ts [--runs 5] [--no-build-times]
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeCpio } from '../src/build/cpio.ts';
import { INITRAMFS, VMLINUZ, DEV_ISO } from '../src/build/image.ts';
import { copySharedLibraries, SEA } from '../src/build/rootfs.ts';
import { OUT, ROOT, run } from '../src/build/step.ts';
import { chooseAccel, qemuArgs } from '../qemu/qemu.ts';
import { SerialSession } from '../qemu/smoke.ts';
import { machine, percentile, print, round } from './lib.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, 'no-build-times': { type: 'boolean' } } });
const RUNS = Number(values.runs);
const FLOOR = path.join(OUT, 'bench', 'floor');

function buildTimes(): { coldSeconds: number; warmSeconds: number } | null {
  if (values['no-build-times']) return null;
  const build = (): number => {
    const started = performance.now();
    execFileSync(process.execPath, [path.join(ROOT, 'build.ts')], { stdio: ['ignore', 'ignore', 'inherit'] });
    return (performance.now() - started) / 1000;
  };
  rmSync(OUT, { recursive: true, force: true });
  const coldSeconds = build();
  const warmSeconds = build();
  return { coldSeconds: round(coldSeconds, 1), warmSeconds: round(warmSeconds, 1) };
}

/** The floor: the pinned Node as a single executable that prints the prompt and nothing else. */
function buildFloor(): string {
  rmSync(FLOOR, { recursive: true, force: true });
  const root = path.join(FLOOR, 'root');
  mkdirSync(path.join(root, 'usr/lib/x86_64-linux-gnu'), { recursive: true });
  symlinkSync('usr/lib', path.join(root, 'lib'));
  symlinkSync('usr/lib', path.join(root, 'lib64'));
  const main = path.join(FLOOR, 'main.cjs');
  writeFileSync(
    main,
    `const v8 = require('node:v8');
const start = () => { process.stdout.write('floor\\naios> '); setInterval(() => {}, 1 << 30); };
if (v8.startupSnapshot.isBuildingSnapshot()) v8.startupSnapshot.setDeserializeMainFunction(start); else start();
`,
  );
  const config = path.join(FLOOR, 'sea-config.json');
  const stripped = path.join(OUT, 'cache', `node-${process.version}-stripped`);
  writeFileSync(config, JSON.stringify({ main, executable: stripped, output: path.join(root, 'init'), disableExperimentalSEAWarning: true, useSnapshot: true, execArgv: ['--disable-sigusr1'], execArgvExtension: 'none' }));
  run(process.execPath, ['--build-sea', config]);
  chmodSync(path.join(root, 'init'), 0o755);
  copySharedLibraries([path.join(root, 'init')], root);
  const image = path.join(FLOOR, 'image');
  mkdirSync(image, { recursive: true });
  copyFileSync(VMLINUZ, path.join(image, 'vmlinuz'));
  const cpio = path.join(FLOOR, 'initramfs.cpio');
  writeCpio(root, [{ path: 'dev/console', type: 'char', mode: 0o600, major: 5, minor: 1 }], cpio);
  run('zstd', ['-3', '-T0', '-q', '-f', cpio, '-o', path.join(image, 'initramfs.img')]);
  rmSync(cpio);
  return image;
}

interface BootSample {
  promptMs: number;
  guest?: { pid1ExecSec: number | null; initStartSec: number | null; servicesUpSec: number | null; promptSec: number | null };
}

async function boot(image: string, accel: 'kvm' | 'tcg', full: boolean): Promise<BootSample> {
  const session = new SerialSession(qemuArgs({ image, stateDisk: null, accel, webPort: null }));
  try {
    const prompt = await session.expect('aios> ', { timeoutMs: 120_000, what: 'the prompt' });
    const sample: BootSample = { promptMs: prompt.ms };
    if (full) {
      // "All services up" can come after the prompt (the tty1 console starts once the serial one is ready).
      for (let i = 0; i < 50; i++) {
        const { output } = await session.command('boot --json');
        // Before init has written its report the answer is an error, not JSON.
        if (output.startsWith('{')) {
          const info = JSON.parse(output) as { timeline: NonNullable<BootSample['guest']>; promptSec: number };
          sample.guest = { ...info.timeline, promptSec: info.promptSec };
          if (info.timeline.servicesUpSec !== null) break;
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
    return sample;
  } finally {
    session.kill();
    await session.exited;
  }
}

const build = buildTimes();
execFileSync(process.execPath, [path.join(ROOT, 'build.ts')], { stdio: ['ignore', 'ignore', 'inherit'] });
const floorImage = buildFloor();
const accel = await chooseAccel(VMLINUZ);
const aios: BootSample[] = [];
const floor: BootSample[] = [];
for (let i = 0; i < RUNS; i++) {
  // Alternate, so that a noisy moment hits both.
  floor.push(await boot(floorImage, accel, false));
  aios.push(await boot(path.dirname(INITRAMFS), accel, true));
}
const median = (xs: number[]): number => round(percentile(xs, 50), 0);
const guestMedian = (key: keyof NonNullable<BootSample['guest']>): number | null => {
  const xs = aios.map((s) => s.guest?.[key]).filter((x): x is number => typeof x === 'number');
  return xs.length ? round(percentile(xs, 50), 2) : null;
};
const aiosPrompt = median(aios.map((s) => s.promptMs));
const floorPrompt = median(floor.map((s) => s.promptMs));
const size = (file: string): number => round(statSync(file).size / 2 ** 20, 1);
print({
  benchmark: 'boot',
  machine: machine(),
  accel,
  runs: RUNS,
  qemuStartToPromptMs: { aios: aiosPrompt, floor: floorPrompt, ratio: round(aiosPrompt / floorPrompt), goal: 1.25, all: { aios: aios.map((s) => round(s.promptMs, 0)), floor: floor.map((s) => round(s.promptMs, 0)) } },
  guestSecondsSinceKernelStart: {
    kernelRunsInit: guestMedian('pid1ExecSec'),
    pid1CodeRuns: guestMedian('initStartSec'),
    allServicesUp: guestMedian('servicesUpSec'),
    prompt: guestMedian('promptSec'),
  },
  sizesMiB: { sea: size(SEA), initramfs: size(INITRAMFS), vmlinuz: size(VMLINUZ), devIso: size(DEV_ISO), floorInitramfs: size(path.join(floorImage, 'initramfs.img')) },
  buildSeconds: build,
});
