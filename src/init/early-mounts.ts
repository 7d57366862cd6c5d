// Early boot for PID 1 of a bare initramfs: the API filesystems, then the hostname and machine id.
// Whatever is already mounted (after archiso's switch_root, for example) is left alone.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmdirSync, statfsSync, writeFileSync } from 'node:fs';
import { native } from '../native/index.ts';
import { readMounts } from './procfs.ts';
import type { Logger } from '../log.ts';

interface EarlyMount {
  fstype: string;
  target: string;
  flags: ('MS_NOSUID' | 'MS_NODEV' | 'MS_NOEXEC')[];
  data: string | null;
  optional?: boolean;
}

const EARLY_MOUNTS: EarlyMount[] = [
  { fstype: 'proc', target: '/proc', flags: ['MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC'], data: null },
  { fstype: 'sysfs', target: '/sys', flags: ['MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC'], data: null },
  { fstype: 'devtmpfs', target: '/dev', flags: ['MS_NOSUID'], data: 'mode=0755' },
  { fstype: 'devpts', target: '/dev/pts', flags: ['MS_NOSUID', 'MS_NOEXEC'], data: 'gid=5,mode=620,ptmxmode=666' },
  { fstype: 'tmpfs', target: '/dev/shm', flags: ['MS_NOSUID', 'MS_NODEV'], data: 'mode=1777' },
  { fstype: 'tmpfs', target: '/run', flags: ['MS_NOSUID', 'MS_NODEV'], data: 'mode=0755' },
  { fstype: 'tmpfs', target: '/tmp', flags: ['MS_NOSUID', 'MS_NODEV'], data: 'mode=1777' },
  { fstype: 'cgroup2', target: '/sys/fs/cgroup', flags: ['MS_NOSUID', 'MS_NODEV', 'MS_NOEXEC'], data: 'nsdelegate', optional: true },
];

/** The filesystem types that belong to the kernel's interfaces, not to data. */
export const API_FILESYSTEMS = new Set([
  'proc', 'sysfs', 'devtmpfs', 'devpts', 'cgroup', 'cgroup2', 'securityfs', 'debugfs', 'tracefs',
  'pstore', 'efivarfs', 'bpf', 'mqueue', 'configfs', 'hugetlbfs', 'fusectl', 'binfmt_misc', 'autofs', 'rootfs',
]);

const RAMFS_MAGIC = 0x858458f6;
const TMPFS_MAGIC = 0x01021994;

/**
 * Makes the initramfs root a mount of its own. The kernel's initial root (rootfs) has no
 * parent mount, and pivot_root(2) refuses to move it: bubblewrap (the sandbox) then fails with
 * "pivot_root: Invalid argument". A bind mount of it, moved onto / and chrooted into, is an
 * ordinary mount with the same files; nothing is copied. (After archiso's switch_root the
 * root is already an ordinary mount, and this does nothing.)
 */
export function leaveInitialRootfs(log: Logger): void {
  const type = statfsSync('/').type;
  if (type !== RAMFS_MAGIC && type !== TMPFS_MAGIC) return;
  const { constants } = native();
  try {
    mkdirSync('/.root', { recursive: true });
    native().mount('/', '/.root', null, constants.MS_BIND, null);
    process.chdir('/.root');
    native().mount('.', '/', null, constants.MS_MOVE, null);
    native().chroot('.');
    process.chdir('/');
    rmdirSync('/.root');
    log.debug('the initramfs root is now a bind mount (for pivot_root)');
  } catch (error) {
    process.chdir('/');
    log.warn({ err: error }, 'cannot turn the initramfs root into a mount of its own: the sandbox (bwrap) will not work');
  }
}

export function mountApiFilesystems(log: Logger): void {
  const { constants } = native();
  let mounted = new Set(readMounts().map((m) => m.target));
  for (const mount of EARLY_MOUNTS) {
    if (mounted.has(mount.target)) continue;
    try {
      mkdirSync(mount.target, { recursive: true });
      const flags = mount.flags.reduce((acc, flag) => acc | constants[flag], 0);
      native().mount(mount.fstype, mount.target, mount.fstype, flags, mount.data);
      log.debug({ target: mount.target, fstype: mount.fstype }, 'mounted');
      // /proc was not there to ask before it was mounted (after archiso's switch_root it is).
      if (mount.target === '/proc') mounted = new Set(readMounts().map((m) => m.target));
    } catch (error) {
      log[mount.optional ? 'warn' : 'error']({ err: error, target: mount.target }, `cannot mount ${mount.fstype} on ${mount.target}`);
    }
  }
}

export function setHostname(log: Logger): void {
  let name = 'aios';
  try {
    name = readFileSync('/etc/hostname', 'utf8').trim() || name;
  } catch {
    // No /etc/hostname: keep the default.
  }
  try {
    writeFileSync('/proc/sys/kernel/hostname', name);
  } catch (error) {
    log.warn({ err: error }, 'cannot set the hostname');
  }
}

/**
 * /etc/machine-id, which programs from Arch packages read (journal files, D-Bus, DHCP client
 * ids): made when it is missing, empty or "uninitialized" (what mkarchiso leaves in an ISO for
 * the first boot), as systemd would. A live machine gets a new one at every boot.
 */
export function ensureMachineId(log: Logger, file = '/etc/machine-id'): string | null {
  try {
    const current = readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{32}$/.test(current)) return current;
  } catch {
    // Missing: made below.
  }
  const id = randomBytes(16).toString('hex');
  try {
    writeFileSync(file, `${id}\n`, { mode: 0o444 });
    return id;
  } catch (error) {
    log.warn({ err: error }, `cannot write ${file}`);
    return null;
  }
}
