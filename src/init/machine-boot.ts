// What PID 1 of a machine does before the services start, after the API filesystems: load
// the kernel modules the image lists, put the state disk under the state directory, and mount
// the host share (models and keys from the machine QEMU runs on) when there is one.
//
// The state disk is only ever formatted when the kernel command line names it
// (aios.state=/dev/vda or aios.state=LABEL=aios-state) and it is blank. A damaged disk is
// mounted read-only, a disk that is unusable or not ext4 is left alone, and a full one is
// reported: in every case boot goes on, and the warning reaches the prompt.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, statfsSync } from 'node:fs';
import path from 'node:path';
import { HOST_SHARE_DIR, HOST_SHARE_LABEL, STATE_DISK_LABEL } from '../disks.ts';
import { native } from '../native/index.ts';
import { runProgram } from './run-program.ts';
import type { Reaper } from './reaper.ts';
import type { Logger } from '../log.ts';

export interface StateDiskReport {
  /** The device named by aios.state=, or null without one. */
  device: string | null;
  mode: 'read-write' | 'read-only' | 'memory';
  formatted: boolean;
  message: string;
  /** Mounted but (nearly) full: what is written there may be lost, and the person was told. */
  full?: boolean;
}

export interface HostShareReport {
  device: string;
  /** What the share holds, in words, for the prompt's boot report. */
  message: string;
}

export interface BootReport {
  warnings: string[];
  state: StateDiskReport | null;
  /** The host share (qemu/boot.ts --models / --secrets), when the machine has one. */
  host?: HostShareReport | null;
  modules: { loaded: number; failed: string[] };
}

const DEVICE_WAIT_MS = 5_000;
const EXT_MAGIC = 0xef53;

export function kernelParameter(name: string): string | null {
  try {
    for (const word of readFileSync('/proc/cmdline', 'utf8').trim().split(/\s+/)) {
      if (word === name) return '';
      if (word.startsWith(`${name}=`)) return word.slice(name.length + 1);
    }
  } catch {
    // No /proc.
  }
  return null;
}

/**
 * Loads the modules listed (relative to /lib/modules/RELEASE) in a list file, in order, on a
 * worker thread: /etc/aios/modules-load.early before the state disk, /etc/aios/modules-load
 * after the services have started (the network service waits for its interface).
 */
export async function loadModules(listFile: string, log: Logger, report: BootReport): Promise<void> {
  let list: string[];
  try {
    list = readFileSync(listFile, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  } catch {
    return;
  }
  const release = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  const failed: string[] = [];
  for (const module of list) {
    let fd: number | undefined;
    try {
      fd = openSync(path.join('/lib/modules', release, module), 'r');
      await native().loadModuleAsync(fd, '');
      report.modules.loaded += 1;
    } catch (error) {
      failed.push(module);
      log.warn({ err: error, module }, `cannot load kernel module ${module}`);
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  report.modules.failed.push(...failed);
  if (failed.length > 0) report.warnings.push(`kernel modules not loaded: ${failed.join(', ')}`);
}

export async function mountStateDisk(reaper: Reaper, log: Logger, stateDir: string, report: BootReport): Promise<void> {
  const wanted = kernelParameter('aios.state');
  mkdirSync(stateDir, { recursive: true });
  const state: StateDiskReport = { device: wanted || null, mode: 'memory', formatted: false, message: '' };
  report.state = state;
  const warn = (message: string): void => {
    state.message = message;
    report.warnings.push(message);
    log.warn({ device: state.device }, message);
  };
  if (!wanted) {
    state.message = 'no state disk (aios.state= not given): the state lives in memory and is lost at power-off';
    log.info(state.message);
    return;
  }
  const device = await waitForDevice(wanted);
  if (!device) return warn(`state disk ${wanted} not found after ${DEVICE_WAIT_MS / 1000} s: the state lives in memory`);
  state.device = device;
  // The ISO's command line names /dev/vda; booted without a state disk, that is the host share.
  if (extLabel(device) === HOST_SHARE_LABEL) {
    return warn(`${device} is the host share (label ${HOST_SHARE_LABEL}), not a state disk: the state lives in memory`);
  }

  const kind = probe(device);
  if (kind === 'blank') {
    log.info({ device }, `formatting the blank state disk ${device} (ext4)`);
    const mkfs = await runProgram(reaper, ['/usr/bin/mke2fs', '-t', 'ext4', '-q', '-F', '-L', STATE_DISK_LABEL, device]);
    if (mkfs.code !== 0) return warn(`cannot format ${device}: ${mkfs.stderr.trim() || `mke2fs status ${mkfs.code}`}; the state lives in memory`);
    state.formatted = true;
  } else if (kind === 'other') {
    return warn(`state disk ${device} is damaged or holds something that is not ext4; it was not touched, and the state lives in memory`);
  }

  // e2fsck -p: 0 clean, 1 repaired, 2 repaired (reboot advised), 4+ left uncorrected.
  const fsck = await runProgram(reaper, ['/usr/bin/e2fsck', '-p', device]);
  let flags = 0;
  if (fsck.code >= 4) {
    flags = native().constants.MS_RDONLY;
    warn(`state disk ${device} is damaged (e2fsck status ${fsck.code}: ${lastLine(fsck.stdout + fsck.stderr)}): mounted read-only`);
  } else if (fsck.code > 0) {
    log.warn({ device, code: fsck.code }, `e2fsck repaired ${device}`);
  }
  try {
    native().mount(device, stateDir, 'ext4', flags | native().constants.MS_NODEV | native().constants.MS_NOSUID, null);
  } catch (error) {
    if (flags === 0) {
      try {
        native().mount(device, stateDir, 'ext4', native().constants.MS_RDONLY, null);
        state.mode = 'read-only';
        return warn(`state disk ${device} could not be mounted read-write (${(error as Error).message}): mounted read-only`);
      } catch {
        // Fall through to memory.
      }
    }
    state.mode = 'memory';
    return warn(`state disk ${device} cannot be mounted (${(error as Error).message}): the state lives in memory`);
  }
  state.mode = flags ? 'read-only' : 'read-write';
  if (!state.message) state.message = `state disk ${device} mounted on ${stateDir}${state.formatted ? ' (newly formatted)' : ''}`;
  log.info({ device, mode: state.mode }, state.message);
  const free = freeSpace(stateDir);
  if (free !== null && (free.bytes < 16 * 2 ** 20 || free.fraction < 0.01)) {
    const message = `state disk ${device} is full (${(free.bytes / 2 ** 20).toFixed(1)} MiB free): logs and memory may not be saved`;
    state.full = true;
    report.warnings.push(message);
    log.warn({ device }, message);
  }
}

/**
 * Mounts the host share read-only on /run/aios/host: the disk labelled aios-host that the boot
 * script makes from the host's models folder and secrets file. aios.host= names it (waited for
 * like the state disk); without it (an ISO's fixed command line) a disk with that label that is
 * already there is taken. Never written, never executed from, no device files.
 */
export async function mountHostShare(log: Logger, report: BootReport): Promise<void> {
  const wanted = kernelParameter('aios.host');
  const device = wanted ? await waitForDevice(wanted) : findByLabel(HOST_SHARE_LABEL);
  if (!device) {
    if (wanted) {
      const message = `host share ${wanted} not found after ${DEVICE_WAIT_MS / 1000} s: no models or keys from the host`;
      report.warnings.push(message);
      log.warn(message);
    }
    return;
  }
  const { MS_RDONLY, MS_NODEV, MS_NOSUID, MS_NOEXEC } = native().constants;
  try {
    mkdirSync(HOST_SHARE_DIR, { recursive: true });
    native().mount(device, HOST_SHARE_DIR, 'ext4', MS_RDONLY | MS_NODEV | MS_NOSUID | MS_NOEXEC, null);
  } catch (error) {
    const message = `host share ${device} cannot be mounted (${(error as Error).message}): no models or keys from the host`;
    report.warnings.push(message);
    log.warn({ device }, message);
    return;
  }
  let models: string[] = [];
  try {
    models = readdirSync(path.join(HOST_SHARE_DIR, 'models')).filter((n) => n.toLowerCase().endsWith('.gguf'));
  } catch {
    // Only secrets.
  }
  const secrets = existsSync(path.join(HOST_SHARE_DIR, 'secrets.toml'));
  const held = [models.length > 0 ? `${models.length === 1 ? 'model' : 'models'} ${models.join(', ')}` : '', secrets ? 'a secrets file' : ''].filter(Boolean).join(' and ') || 'nothing';
  report.host = { device, message: `host share ${device} on ${HOST_SHARE_DIR} (read-only): ${held}` };
  log.info({ device, models, secrets }, report.host.message);
}

function lastLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).pop() ?? '';
}

async function waitForDevice(spec: string): Promise<string | null> {
  const deadline = Date.now() + DEVICE_WAIT_MS;
  // A virtio disk (vda, vdb, ...) cannot appear when the machine has no virtio block device.
  if (/^\/dev\/vd[a-z]+$/.test(spec) && !hasVirtioBlockDevice()) return null;
  for (;;) {
    const found = spec.startsWith('LABEL=') ? findByLabel(spec.slice(6)) : existsSync(spec) ? spec : null;
    if (found) return found;
    if (Date.now() > deadline) return null;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function hasVirtioBlockDevice(): boolean {
  try {
    return readdirSync('/sys/bus/virtio/devices').some((d) => readFileSync(`/sys/bus/virtio/devices/${d}/device`, 'utf8').trim() === '0x0002');
  } catch {
    return false;
  }
}

/** Without udev there is no /dev/disk/by-label: read the ext superblocks ourselves. */
function findByLabel(label: string): string | null {
  let names: string[];
  try {
    names = readdirSync('/sys/class/block');
  } catch {
    return null;
  }
  for (const name of names) {
    const device = `/dev/${name}`;
    if (extLabel(device) === label) return device;
  }
  return null;
}

/** The volume label of an ext2/3/4 file system; null for anything else. */
function extLabel(device: string): string | null {
  const superblock = readBytes(device, 1024, 1024);
  if (!superblock || superblock.readUInt16LE(56) !== EXT_MAGIC) return null;
  return superblock.subarray(120, 136).toString('utf8').replace(/\0+$/, '');
}

/** 'ext' when it has an ext2/3/4 superblock, 'blank' when its first 64 KiB are zero, else 'other'. */
export function probe(device: string): 'ext' | 'blank' | 'other' {
  const head = readBytes(device, 0, 65_536);
  if (!head) return 'other';
  if (head.readUInt16LE(1024 + 56) === EXT_MAGIC) return 'ext';
  return head.every((b) => b === 0) ? 'blank' : 'other';
}

function readBytes(file: string, offset: number, length: number): Buffer | null {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const buffer = Buffer.alloc(length);
    const read = readSync(fd, buffer, 0, length, offset);
    return read === length ? buffer : null;
  } catch {
    return null;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function freeSpace(dir: string): { bytes: number; fraction: number } | null {
  try {
    const stats = statfsSync(dir);
    return { bytes: stats.bavail * stats.bsize, fraction: stats.bavail / stats.blocks };
  } catch {
    return null;
  }
}
