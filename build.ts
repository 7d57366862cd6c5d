// The build: bundle -> single executable -> staged rootfs -> dev image -> dev ISO.
//
//   npm run build                 every step (each skipped when its inputs did not change)
//   npm run build -- STEP...      just those steps: bundle, sea, rootfs, image, iso
//   npm run build -- --force      run the steps even if up to date
//
// Outputs (a contract for outside tests): out/aios, out/image/vmlinuz,
// out/image/initramfs.img, out/aios-dev.iso.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BUNDLE, bundle } from './src/build/bundle.ts';
import { buildImage, buildIso, DEV_ISO, INITRAMFS, VMLINUZ } from './src/build/image.ts';
import { KERNEL_CACHE } from './src/build/kernel.ts';
import { ROOTFS, SEA, stageRootfs } from './src/build/rootfs.ts';
import { buildSea, PINNED_NODE } from './src/build/sea.ts';
import { BuildError, ROOT, runStep, type Step } from './src/build/step.ts';

const src = (p: string): string => path.join(ROOT, p);
/** out/aios and the native parts it finds beside itself. */
const seaFiles = (): string[] => [SEA, ...['aios_native.node', 'aios-spawn', 'agent.cjs', 'node_modules'].map((f) => path.join(path.dirname(SEA), f))];

const STEPS: Step[] = [
  {
    name: 'bundle',
    summary: 'bundling src/ with esbuild',
    inputs: () => [src('src'), src('package.json'), src('package-lock.json')],
    outputs: () => [BUNDLE],
    run: () => bundle(),
  },
  {
    name: 'sea',
    summary: 'making the single executable out/aios',
    inputs: () => [BUNDLE, PINNED_NODE, src('src/native/build/Release/aios_native.node'), src('src/native/build/Release/aios-spawn'), src('package-lock.json')],
    outputs: () => seaFiles(),
    run: (progress) => buildSea(progress),
  },
  {
    name: 'rootfs',
    summary: 'staging the root filesystem in out/rootfs',
    inputs: () => [...seaFiles(), src('rootfs-overlay'), src('src/build/rootfs.ts'), KERNEL_CACHE],
    outputs: () => [ROOTFS],
    run: (progress) => stageRootfs(progress),
  },
  {
    name: 'image',
    summary: 'kernel and initramfs in out/image',
    inputs: () => [ROOTFS, KERNEL_CACHE, src('src/build/image.ts')],
    outputs: () => [VMLINUZ, INITRAMFS],
    run: (progress) => buildImage(progress),
  },
  {
    name: 'iso',
    summary: 'the BIOS+UEFI ISO out/aios-dev.iso',
    inputs: () => [VMLINUZ, INITRAMFS, src('src/build/image.ts')],
    outputs: () => [DEV_ISO],
    run: (progress) => buildIso(progress),
  },
];

const HELP = `Usage: npm run build -- [STEP...] [--force]

Steps (all of them, in this order, when none is named):
${STEPS.map((s) => `  ${s.name.padEnd(7)} ${s.summary}`).join('\n')}

A step is skipped when its inputs have not changed since it last ran; --force runs it anyway.
What it needs beyond npm (Debian packages) is installed by \`bash .ci/setup\`.
`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ options: { force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const unknown = positionals.filter((p) => !STEPS.some((s) => s.name === p));
  if (unknown.length > 0) {
    process.stderr.write(`build: unknown step ${unknown.map((u) => `\`${u}\``).join(', ')}.\n\n${HELP}`);
    return 2;
  }
  const selected = positionals.length > 0 ? STEPS.filter((s) => positionals.includes(s.name)) : STEPS;
  const started = performance.now();
  for (const step of selected) {
    try {
      await runStep(step, { force: Boolean(values.force) });
    } catch (error) {
      const message = error instanceof BuildError ? error.message : (error as Error).stack ?? String(error);
      process.stderr.write(`[${step.name}] failed: ${message}\n`);
      return 1;
    }
  }
  process.stderr.write(`build: done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  return 0;
}

process.exitCode = await main();
