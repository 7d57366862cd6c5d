// The production image: the archiso profile in archiso/ staged with aiOS in its airootfs, then
// built by mkarchiso into out/aios-<version>-x86_64.iso (plus a .sha256 beside it).
//
// mkarchiso runs where it can: on PATH (an Arch host, as root), else in an archlinux container
// with podman or docker. These development machines have neither an Arch mirror nor a container
// registry, so here the build stops with what to install; `--dry-run` stages the profile work
// directory exactly as mkarchiso would get it, which the tests check.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { SEA, stageExecutable } from './rootfs.ts';
import { BuildError, OUT, ROOT, which } from './step.ts';

export const PROFILE_SOURCE = path.join(ROOT, 'archiso');
export const ARCHISO_OUT = path.join(OUT, 'archiso');
/** The profile as mkarchiso gets it: archiso/ with the airootfs filled in and the version written. */
export const STAGED_PROFILE = path.join(ARCHISO_OUT, 'profile');
export const MKARCHISO_LOG = path.join(ARCHISO_OUT, 'mkarchiso.log');
/** The container image used where mkarchiso is not installed (AIOS_ARCHISO_IMAGE overrides it). */
export const ARCHLINUX_IMAGE = 'docker.io/library/archlinux:latest';

export interface IsoOptions {
  /** Menu timeouts of 0 (CI boots), and `-smoke` in the version and the file name. */
  smoke: boolean;
  /** Stage the profile and say what would run, without running it. */
  dryRun: boolean;
}

export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The version mkarchiso names the ISO with: package.json's, `-smoke` for the smoke variant. */
export function isoVersion(smoke: boolean): string {
  return `${packageVersion()}${smoke ? '-smoke' : ''}`;
}

/** mkarchiso writes `${iso_name}-${iso_version}-${arch}.iso` into its output folder. */
export function isoPath(smoke: boolean): string {
  return path.join(OUT, `aios-${isoVersion(smoke)}-x86_64.iso`);
}

/**
 * Modes that mkarchiso's copy of airootfs would lose (it copies with --no-preserve=mode: files
 * become 644 and folders 755), as file_permissions entries: every executable and every folder
 * that is not 755, keyed by its path in the image. Links have no mode of their own.
 */
export function permissionEntries(airootfs: string): [string, string][] {
  const entries: [string, string][] = [];
  const visit = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const file = path.join(dir, name);
      const stat = lstatSync(file);
      if (stat.isSymbolicLink()) continue;
      const mode = stat.mode & 0o7777;
      if (mode !== (stat.isDirectory() ? 0o755 : 0o644)) entries.push([`/${path.relative(airootfs, file)}`, `0:0:${mode.toString(8).padStart(3, '0')}`]);
      if (stat.isDirectory()) visit(file);
    }
  };
  visit(airootfs);
  return entries;
}

const VERSION_LINE = /^iso_version=.*$/m;
const PERMISSIONS_MARKER = "  # The staged files' modes follow (build.ts iso).";

/** Stages out/archiso/profile: the profile, its airootfs (rootfs-overlay, the profile's own files on top, aiOS), version and modes. */
export function stageProfile(options: Pick<IsoOptions, 'smoke'>, progress: (message: string) => void): { profile: string; iso: string } {
  if (!existsSync(SEA)) throw new BuildError(`${SEA} is missing: run \`npm run build -- sea\` first.`);
  rmSync(STAGED_PROFILE, { recursive: true, force: true });
  mkdirSync(ARCHISO_OUT, { recursive: true });
  progress(`staging the profile in ${path.relative(ROOT, STAGED_PROFILE)}`);
  cpSync(PROFILE_SOURCE, STAGED_PROFILE, { recursive: true, verbatimSymlinks: true, filter: (file) => !file.startsWith(path.join(PROFILE_SOURCE, 'airootfs')) });
  const airootfs = path.join(STAGED_PROFILE, 'airootfs');
  mkdirSync(airootfs);
  cpSync(path.join(ROOT, 'rootfs-overlay'), airootfs, { recursive: true, verbatimSymlinks: true });
  // The profile's own files win: Arch's services (udev, sysusers) and the network after udev.
  cpSync(path.join(PROFILE_SOURCE, 'airootfs'), airootfs, { recursive: true, verbatimSymlinks: true, force: true });
  stageExecutable(airootfs, 'unpacked', progress);

  const profiledef = path.join(STAGED_PROFILE, 'profiledef.sh');
  let text = readFileSync(profiledef, 'utf8');
  if (!VERSION_LINE.test(text) || !text.includes(PERMISSIONS_MARKER)) {
    throw new BuildError(`${path.relative(ROOT, path.join(PROFILE_SOURCE, 'profiledef.sh'))} must keep its iso_version= line and the line \`${PERMISSIONS_MARKER.trim()}\` inside file_permissions: the build writes there.`);
  }
  const entries = permissionEntries(airootfs);
  text = text.replace(VERSION_LINE, `iso_version="${isoVersion(options.smoke)}"`);
  text = text.replace(PERMISSIONS_MARKER, [PERMISSIONS_MARKER, ...entries.map(([file, mode]) => `  ["${file}"]="${mode}"`)].join('\n'));
  writeFileSync(profiledef, text);
  if (options.smoke) setSmokeTimeouts(STAGED_PROFILE);
  progress(`profile staged: ${entries.length} modes kept in file_permissions${options.smoke ? ', menu timeouts 0' : ''}`);
  return { profile: STAGED_PROFILE, iso: isoPath(options.smoke) };
}

/** The smoke variant boots its first entry at once (syslinux counts tenths, and its 0 means wait forever). */
function setSmokeTimeouts(profile: string): void {
  const edit = (file: string, pattern: RegExp, value: string): void => {
    const text = readFileSync(file, 'utf8');
    if (!pattern.test(text)) throw new BuildError(`${path.relative(profile, file)} has no timeout line to set for the smoke variant.`);
    writeFileSync(file, text.replace(pattern, value));
  };
  edit(path.join(profile, 'efiboot/loader/loader.conf'), /^timeout\s+\d+$/m, 'timeout 0');
  edit(path.join(profile, 'syslinux/syslinux.cfg'), /^TIMEOUT\s+\d+$/m, 'TIMEOUT 1');
  for (const cfg of ['grub/grub.cfg', 'grub/loopback.cfg']) edit(path.join(profile, cfg), /^timeout=\d+$/m, 'timeout=0');
}

export interface Builder {
  /** How it runs, in words, for the progress line. */
  describe: string;
  command: string[];
}

/**
 * How mkarchiso can run here: itself (an Arch host, as root), or in an archlinux container with
 * podman or docker (the first whose `info` works). Null when none can.
 */
export function findBuilder(profile: string, env: NodeJS.ProcessEnv = process.env): Builder | null {
  const mkarchiso = which('mkarchiso');
  if (mkarchiso) {
    return { describe: `mkarchiso (${mkarchiso})`, command: [mkarchiso, '-v', '-w', path.join(ARCHISO_OUT, 'work'), '-o', OUT, profile] };
  }
  const image = env.AIOS_ARCHISO_IMAGE || ARCHLINUX_IMAGE;
  for (const engine of ['podman', 'docker']) {
    const program = which(engine);
    if (!program || spawnSync(program, ['info'], { stdio: 'ignore', timeout: 30_000 }).status !== 0) continue;
    // mkarchiso needs root and loop-free mounts for pacstrap: a privileged container. Its work
    // folder stays in the container; only out/ is shared, where the profile is and the ISO goes.
    // The image may be weeks old: the keyring made sure of, and a full upgrade, not a partial one.
    const script = 'pacman-key --init && pacman -Syu --noconfirm --needed archiso && mkarchiso -v -w /tmp/archiso-work -o /aios/out /aios/out/archiso/profile';
    return {
      describe: `mkarchiso in a ${image} container (${engine})`,
      command: [program, 'run', '--rm', '--privileged', '-v', `${OUT}:/aios/out`, image, 'bash', '-c', script],
    };
  }
  return null;
}

export const NO_BUILDER = `cannot build the ISO here: mkarchiso is not on PATH, and neither podman nor docker works.
Do one of these:
  - on Arch Linux: \`pacman -S archiso\`, then \`sudo npm run build -- iso\` (mkarchiso runs as root);
  - anywhere else: install podman (\`apt-get install podman\`) or Docker, able to pull ${ARCHLINUX_IMAGE}
    (or set AIOS_ARCHISO_IMAGE to an archlinux image you have), then \`npm run build -- iso\`.
\`npm run build -- iso --dry-run\` stages the profile in out/archiso/profile without building it.`;

export async function buildArchIso(options: IsoOptions, progress: (message: string) => void): Promise<void> {
  const { profile, iso } = stageProfile(options, progress);
  const builder = findBuilder(profile);
  if (options.dryRun) {
    progress(`dry run: the profile is staged in ${path.relative(process.cwd(), profile)}`);
    progress(builder ? `would run ${builder.describe}: ${builder.command.join(' ')}` : NO_BUILDER.split('\n')[0]!);
    progress(`and would leave ${path.relative(process.cwd(), iso)} and ${path.relative(process.cwd(), `${iso}.sha256`)}`);
    return;
  }
  if (!builder) throw new BuildError(NO_BUILDER);
  if (builder.command[0]!.endsWith('mkarchiso') && process.getuid?.() !== 0) {
    throw new BuildError('mkarchiso must run as root: run `sudo npm run build -- iso`.');
  }
  rmSync(iso, { force: true });
  rmSync(`${iso}.sha256`, { force: true });
  progress(`running ${builder.describe}; its whole output goes to ${path.relative(process.cwd(), MKARCHISO_LOG)}`);
  await runLogged(builder.command, MKARCHISO_LOG, progress);
  if (!existsSync(iso)) {
    throw new BuildError(`mkarchiso finished but ${path.relative(process.cwd(), iso)} is not there; see ${path.relative(process.cwd(), MKARCHISO_LOG)}.`);
  }
  const sum = await sha256(iso);
  writeFileSync(`${iso}.sha256`, `${sum}  ${path.basename(iso)}\n`);
  progress(`${path.relative(process.cwd(), iso)} ${(statSync(iso).size / 2 ** 20).toFixed(1)} MiB, sha256 ${sum.slice(0, 16)}… (${path.basename(iso)}.sha256)`);
}

/** Runs the command with its output in the log; mkarchiso's own step lines are the progress. */
function runLogged(command: string[], log: string, progress: (message: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const file = createWriteStream(log);
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let lastStep = '';
    for (const stream of [child.stdout!, child.stderr!]) {
      stream.pipe(file, { end: false });
      createInterface({ input: stream }).on('line', (line) => {
        // "[mkarchiso] INFO: Installing packages to '…'..." and pacman's ":: Synchronizing ...".
        const step = /^\[mkarchiso\] (?:INFO|WARNING|ERROR): (.*)$/.exec(line)?.[1] ?? /^:: (.*)$/.exec(line)?.[1];
        if (step) {
          lastStep = step;
          progress(step);
        }
      });
    }
    child.on('error', (error) => {
      file.end();
      reject(new BuildError(`cannot run ${command[0]}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      file.end();
      if (code === 0) return resolve();
      const status = signal ? `killed by ${signal}` : `status ${code}`;
      reject(new BuildError(`${path.basename(command[0]!)} failed (${status})${lastStep ? ` at: ${lastStep}` : ''}; the whole output is in ${path.relative(process.cwd(), log)}.`));
    });
  });
}

function sha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
