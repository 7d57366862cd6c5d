// The QEMU command line for aiOS images: the dev image (kernel + initramfs) or an ISO
// (BIOS, or UEFI with OVMF), serial console on stdio, a persistent state disk, user-mode
// networking with the web console's port forwarded, and KVM where it really works.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { HOST_SHARE_LABEL, STATE_DISK_LABEL } from '../src/disks.ts';

export const ROOT = path.resolve(import.meta.dirname, '..');
export const OUT = path.join(ROOT, 'out');
export const DEFAULT_IMAGE = path.join(OUT, 'image');
export const DEFAULT_STATE_DISK = path.join(OUT, 'state.qcow2');
const STATE_DISK_SIZE = '4G';
/** Same as the ISO's GRUB entry (src/build/image.ts); the state disk is named when there is one. */
export const DEV_CMDLINE = 'console=tty0 console=ttyS0,115200 quiet panic=-1';

export type Accel = 'kvm' | 'tcg';

export interface BootOptions {
  /** A folder with vmlinuz and initramfs.img, or an ISO file. */
  image: string;
  uefi?: boolean;
  /** null: no state disk (ephemeral). */
  stateDisk: string | null;
  accel: Accel;
  memoryMiB?: number;
  cpus?: number;
  /** The host share disk (host-share.ts), attached read-only; null or absent for none. */
  hostShare?: string | null;
  /** Host port forwarded to the guest's web console (9090); null for none. */
  webPort?: number | null;
  extraAppend?: string;
  extraArgs?: string[];
}

export class BootError extends Error {}

export function qemuBinary(): string {
  const found = spawnSync('sh', ['-c', 'command -v qemu-system-x86_64'], { encoding: 'utf8' }).stdout.trim();
  if (!found) throw new BootError('qemu-system-x86_64 is not installed: apt-get install qemu-system-x86 qemu-utils (or bash .ci/setup).');
  return found;
}

export function isIso(image: string): boolean {
  return image.endsWith('.iso');
}

export function qemuArgs(options: BootOptions): string[] {
  const args = ['-nographic', '-no-reboot', '-m', String(options.memoryMiB ?? 1024), '-smp', String(options.cpus ?? 2)];
  args.push(...(options.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg', '-cpu', 'max']));
  if (isIso(options.image)) {
    if (!existsSync(options.image)) throw new BootError(`${options.image} does not exist: build it first (npm run build).`);
    args.push('-cdrom', options.image, '-boot', 'd');
    if (options.uefi) args.push(...uefiArgs());
  } else {
    const kernel = path.join(options.image, 'vmlinuz');
    const initrd = path.join(options.image, 'initramfs.img');
    for (const file of [kernel, initrd]) if (!existsSync(file)) throw new BootError(`${file} does not exist: run \`npm run build\` first.`);
    const state = options.stateDisk ? 'aios.state=/dev/vda' : '';
    // Init also finds the share by its label without this (an ISO's command line is fixed);
    // named, init waits for it like for the state disk.
    const host = options.hostShare ? `aios.host=LABEL=${HOST_SHARE_LABEL}` : '';
    args.push('-kernel', kernel, '-initrd', initrd, '-append', [DEV_CMDLINE, state, host, options.extraAppend].filter(Boolean).join(' '));
  }
  if (options.stateDisk) {
    const format = options.stateDisk.endsWith('.qcow2') ? 'qcow2' : 'raw';
    args.push('-drive', `file=${options.stateDisk},if=virtio,format=${format},cache=writeback`);
  }
  if (options.hostShare) args.push('-drive', `file=${options.hostShare},if=virtio,format=raw,readonly=on`);
  const forward = options.webPort ? `,hostfwd=tcp:127.0.0.1:${options.webPort}-:9090` : '';
  args.push('-netdev', `user,id=net0${forward}`, '-device', 'virtio-net-pci,netdev=net0', '-device', 'virtio-rng-pci');
  args.push(...(options.extraArgs ?? []));
  return args;
}

function uefiArgs(): string[] {
  const code = ['/usr/share/OVMF/OVMF_CODE_4M.fd', '/usr/share/OVMF/OVMF_CODE.fd'].find(existsSync);
  const varsTemplate = ['/usr/share/OVMF/OVMF_VARS_4M.fd', '/usr/share/OVMF/OVMF_VARS.fd'].find(existsSync);
  if (!code || !varsTemplate) throw new BootError('UEFI firmware not found: apt-get install ovmf');
  const vars = path.join(OUT, 'cache', path.basename(varsTemplate));
  mkdirSync(path.dirname(vars), { recursive: true });
  if (!existsSync(vars)) copyFileSync(varsTemplate, vars);
  return ['-drive', `if=pflash,format=raw,readonly=on,file=${code}`, '-drive', `if=pflash,format=raw,file=${vars}`];
}

/**
 * Makes the state disk on first use. The dev image names it /dev/vda and its init formats it
 * when blank; the archiso image names it by label (aios.state=LABEL=aios-state), which a blank
 * disk has not, so for that image the disk is made formatted (ext4, the label init would give).
 */
export function ensureStateDisk(file: string, options: { formatted?: boolean } = {}): void {
  if (existsSync(file)) return;
  mkdirSync(path.dirname(file), { recursive: true });
  const format = file.endsWith('.qcow2') ? 'qcow2' : 'raw';
  const raw = options.formatted && format === 'qcow2' ? `${file}.raw.tmp` : file;
  const step = (tool: string, args: string[], pkg: string): void => {
    const result = spawnSync(tool, args, { encoding: 'utf8' });
    if (result.status !== 0) {
      rmSync(raw, { force: true });
      throw new BootError(`${tool} ${args.join(' ')} failed: ${result.stderr || result.error?.message}. apt-get install ${pkg}`);
    }
  };
  if (!options.formatted) return step('qemu-img', ['create', '-q', '-f', format, file, STATE_DISK_SIZE], 'qemu-utils');
  step('qemu-img', ['create', '-q', '-f', 'raw', raw, STATE_DISK_SIZE], 'qemu-utils');
  step('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', STATE_DISK_LABEL, raw], 'e2fsprogs');
  if (raw !== file) {
    step('qemu-img', ['convert', '-q', '-O', 'qcow2', raw, file], 'qemu-utils');
    rmSync(raw, { force: true });
  }
}

/** The volume label of an ISO 9660 image (primary volume descriptor, 32 KiB in); null if it is none. */
export function isoVolumeLabel(iso: string): string | null {
  let fd: number | undefined;
  try {
    fd = openSync(iso, 'r');
    const descriptor = Buffer.alloc(72);
    if (readSync(fd, descriptor, 0, 72, 32_768) !== 72 || descriptor.subarray(1, 6).toString('latin1') !== 'CD001') return null;
    return descriptor.subarray(40, 72).toString('latin1').trim();
  } catch {
    return null;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Whether the image finds its state disk by label: the archiso ISO (labelled AIOS_<yyyymm>), not the dev ISO (AIOS_DEV). */
export function findsStateByLabel(image: string): boolean {
  if (!isIso(image)) return false;
  const label = isoVolumeLabel(image);
  return label !== null && label.startsWith('AIOS_') && label !== 'AIOS_DEV';
}

/**
 * KVM or TCG. AIOS_QEMU_ACCEL=kvm|tcg forces one. Otherwise KVM is tried for real: on nested
 * or paravirtual hosts /dev/kvm opens but the guest aborts or hangs silently, so a kernel is
 * booted with KVM and must print within a few seconds. The answer is kept per host boot.
 */
export async function chooseAccel(kernel: string | null, log: (message: string) => void = () => {}): Promise<Accel> {
  const forced = process.env.AIOS_QEMU_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return forced;
  if (forced) throw new BootError(`Expected AIOS_QEMU_ACCEL to be kvm or tcg, got \`${forced}\`.`);
  if (!existsSync('/dev/kvm')) return 'tcg';
  const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  const cache = path.join(OUT, 'cache', 'kvm-probe.json');
  try {
    const cached = JSON.parse(readFileSync(cache, 'utf8')) as { bootId: string; accel: Accel };
    if (cached.bootId === bootId) return cached.accel;
  } catch {
    // Probe below.
  }
  if (!kernel || !existsSync(kernel)) return 'tcg';
  log('checking whether KVM works here (once per host boot)');
  const accel = (await kernelPrintsUnderKvm(kernel)) ? 'kvm' : 'tcg';
  mkdirSync(path.dirname(cache), { recursive: true });
  writeFileSync(cache, JSON.stringify({ bootId, accel }));
  log(accel === 'kvm' ? 'KVM works: using it' : 'KVM does not work here: using TCG (software emulation)');
  return accel;
}

function kernelPrintsUnderKvm(kernel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(qemuBinary(), ['-accel', 'kvm', '-cpu', 'host', '-m', '256', '-nographic', '-no-reboot', '-kernel', kernel, '-append', 'console=ttyS0 panic=-1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 5_000);
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      if (output.includes('Linux version')) done(true);
    });
    child.on('exit', () => done(output.includes('Linux version')));
    child.on('error', () => done(false));
  });
}

/** The options qemu/boot.ts and qemu/smoke.ts share: which image, which firmware, which state disk. */
export function parseImageArgs(argv: string[], defaultStateDisk: (image: string) => string) {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      image: { type: 'string' },
      iso: { type: 'string' },
      uefi: { type: 'boolean' },
      state: { type: 'string' },
      ephemeral: { type: 'boolean' },
      memory: { type: 'string' },
      port: { type: 'string' },
      models: { type: 'string' },
      secrets: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  const image = path.resolve(values.iso ?? values.image ?? DEFAULT_IMAGE);
  const stateDisk = values.ephemeral ? null : path.resolve(values.state ?? defaultStateDisk(image));
  const memoryMiB = values.memory === undefined ? undefined : Number(values.memory);
  if (memoryMiB !== undefined && !(Number.isInteger(memoryMiB) && memoryMiB >= 256)) {
    throw new BootError(`Expected --memory to be a number of MiB, at least 256, got \`${values.memory}\`.`);
  }
  const share = values.models !== undefined || values.secrets !== undefined ? { models: values.models, secrets: values.secrets } : null;
  return { values, positionals, image, stateDisk, memoryMiB, share };
}
