// The build: bundle -> single executable -> staged rootfs -> dev image -> dev ISO, and the
// archiso production ISO when asked for.
//
//   npm run build                 the dev steps (each skipped when its inputs did not change)
//   npm run build -- STEP...      just those steps: bundle, sea, rootfs, image, dev-iso, iso
//   npm run build -- --force      run the steps even if up to date
//   npm run build -- iso [--smoke] [--dry-run]   the ArchLinux ISO with mkarchiso
//
// Outputs (a contract for outside tests): out/aios, out/image/vmlinuz,
// out/image/initramfs.img, out/aios-dev.iso; `iso`: out/aios-<version>-x86_64.iso and .sha256.
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildArchIso, isoPath, PROFILE_SOURCE, type IsoOptions } from './src/build/archiso.ts';
import { BUNDLE, bundle } from './src/build/bundle.ts';
import { buildImage, buildIso, DEV_ISO, INITRAMFS, VMLINUZ } from './src/build/image.ts';
import { KERNEL_CACHE } from './src/build/kernel.ts';
import { NATIVE_PARTS, ROOTFS, SEA, stageRootfs } from './src/build/rootfs.ts';
import { buildSea, PINNED_NODE } from './src/build/sea.ts';
import { BuildError, ROOT, runStep, type Step } from './src/build/step.ts';

const src = (p: string): string => path.join(ROOT, p);
/** out/aios and the native parts it finds beside itself. */
const seaFiles = (): string[] => [SEA, ...[...NATIVE_PARTS, 'agent.cjs', 'node_modules'].map((f) => path.join(path.dirname(SEA), f))];

/** A step that runs only when named (it needs mkarchiso or a container engine). */
type BuildStep = Step & { onlyWhenNamed?: boolean };

const steps = (iso: IsoOptions): BuildStep[] => [
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
    inputs: () => [BUNDLE, PINNED_NODE, ...NATIVE_PARTS.map((file) => src(`src/native/build/Release/${file}`)), src('package-lock.json'), src('src/build/sea.ts')],
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
    name: 'dev-iso',
    summary: 'the dev image as a BIOS+UEFI ISO, out/aios-dev.iso',
    inputs: () => [VMLINUZ, INITRAMFS, src('src/build/image.ts')],
    outputs: () => [DEV_ISO],
    run: (progress) => buildIso(progress),
  },
  {
    name: 'iso',
    summary: `the ArchLinux ISO with mkarchiso, out/${path.basename(isoPath(iso.smoke))} (only when named)`,
    onlyWhenNamed: true,
    inputs: () => [...seaFiles(), PROFILE_SOURCE, src('rootfs-overlay'), src('src/build/archiso.ts'), src('src/build/rootfs.ts'), src('package.json')],
    // A dry run leaves no ISO, so it never counts as done.
    outputs: () => [isoPath(iso.smoke), `${isoPath(iso.smoke)}.sha256`],
    run: (progress) => buildArchIso(iso, progress),
  },
];

const HELP = `Usage: npm run build -- [STEP...] [--force] [--smoke] [--dry-run]

Steps (in this order; with none named, all but iso):
${steps({ smoke: false, dryRun: false })
  .map((s) => `  ${s.name.padEnd(7)} ${s.summary}`)
  .join('\n')}

A step is skipped when its inputs have not changed since it last ran; --force runs it anyway.
For iso:
  --smoke     menu timeouts 0 (CI boots); the file is out/aios-VERSION-smoke-x86_64.iso
  --dry-run   stage the profile in out/archiso/profile and say what would run, without running it
iso runs mkarchiso when it is on PATH (an Arch host, as root), else in an archlinux container
with podman or docker; where none works it says what to install.
What the dev steps need beyond npm (Debian packages) is installed by \`bash .ci/setup\`.
`;

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: { force: { type: 'boolean' }, smoke: { type: 'boolean' }, 'dry-run': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  const STEPS = steps({ smoke: Boolean(values.smoke), dryRun: Boolean(values['dry-run']) });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const unknown = positionals.filter((p) => !STEPS.some((s) => s.name === p));
  if (unknown.length > 0) {
    process.stderr.write(`build: unknown step ${unknown.map((u) => `\`${u}\``).join(', ')}.\n\n${HELP}`);
    return 2;
  }
  if ((values.smoke || values['dry-run']) && !positionals.includes('iso')) {
    process.stderr.write(`build: --smoke and --dry-run are for the iso step: \`npm run build -- iso ${values.smoke ? '--smoke' : '--dry-run'}\`.\n`);
    return 2;
  }
  const selected = positionals.length > 0 ? STEPS.filter((s) => positionals.includes(s.name)) : STEPS.filter((s) => !s.onlyWhenNamed);
  const started = performance.now();
  for (const step of selected) {
    try {
      await runStep(step, { force: Boolean(values.force) || Boolean(values['dry-run']) });
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
