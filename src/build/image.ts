// The dev image: Debian's cloud kernel plus an initramfs holding the staged rootfs (newc cpio,
// zstd), and the same pair as a BIOS+UEFI ISO made by grub-mkrescue.
import { copyFileSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeCpio, type ExtraEntry } from './cpio.ts';
import { ensureKernel } from './kernel.ts';
import { ROOTFS } from './rootfs.ts';
import { OUT, run } from './step.ts';

export const IMAGE_DIR = path.join(OUT, 'image');
export const VMLINUZ = path.join(IMAGE_DIR, 'vmlinuz');
export const INITRAMFS = path.join(IMAGE_DIR, 'initramfs.img');
export const DEV_ISO = path.join(OUT, 'aios-dev.iso');

/** The kernel command line of the dev image (the ISO's GRUB entry uses the same). */
// The last console= is /dev/console, where PID 1 writes: the serial line.
export const KERNEL_CMDLINE = 'console=tty0 console=ttyS0,115200 quiet panic=-1';

// Node aborts before any JavaScript runs when PID 1 has no /dev/console to open.
const DEVICE_NODES: ExtraEntry[] = [
  { path: 'dev/console', type: 'char', mode: 0o600, major: 5, minor: 1 },
  { path: 'dev/null', type: 'char', mode: 0o666, major: 1, minor: 3 },
];

export function buildImage(progress: (message: string) => void): void {
  const kernel = ensureKernel(progress);
  mkdirSync(IMAGE_DIR, { recursive: true });
  copyFileSync(kernel.vmlinuz, VMLINUZ);
  const cpio = path.join(OUT, 'build', 'initramfs.cpio');
  progress('writing the cpio archive');
  const size = writeCpio(ROOTFS, DEVICE_NODES, cpio);
  progress(`compressing ${(size / 2 ** 20).toFixed(0)} MiB with zstd`);
  run('zstd', ['-3', '-T0', '-q', '-f', cpio, '-o', INITRAMFS]);
  rmSync(cpio);
  progress(`initramfs ${(statSync(INITRAMFS).size / 2 ** 20).toFixed(1)} MiB, kernel ${(statSync(VMLINUZ).size / 2 ** 20).toFixed(1)} MiB`);
}

export function buildIso(progress: (message: string) => void): void {
  const tree = path.join(OUT, 'build', 'iso');
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(path.join(tree, 'boot', 'grub'), { recursive: true });
  copyFileSync(VMLINUZ, path.join(tree, 'boot', 'vmlinuz'));
  copyFileSync(INITRAMFS, path.join(tree, 'boot', 'initramfs.img'));
  writeFileSync(
    path.join(tree, 'boot', 'grub', 'grub.cfg'),
    `serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
menuentry "aiOS (development image)" {
  linux /boot/vmlinuz ${KERNEL_CMDLINE} aios.state=/dev/vda
  initrd /boot/initramfs.img
}
`,
  );
  progress('grub-mkrescue (BIOS and UEFI)');
  run('grub-mkrescue', ['-o', DEV_ISO, tree, '--', '-volid', 'AIOS_DEV']);
  rmSync(tree, { recursive: true, force: true });
  progress(`${path.relative(process.cwd(), DEV_ISO)} ${(statSync(DEV_ISO).size / 2 ** 20).toFixed(1)} MiB`);
}
