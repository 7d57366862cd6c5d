// PID 1's console lines reach every console the kernel command line names, not only
// /dev/console (the last one): the archiso entries end with console=tty0, and the serial line is
// where QEMU -nographic, CI and a headless server's operator read.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { kernelConsoles, mirrorConsoleTo, writeConsole } from '../../src/log.ts';

t.test('the consoles of a command line: the last is /dev/console, the others are mirrored', async (t) => {
  t.same(kernelConsoles('BOOT_IMAGE=/vmlinuz init=/usr/lib/aios/aios-init console=ttyS0,115200 console=tty0 quiet\n'), { primary: '/dev/tty0', others: ['/dev/ttyS0'] });
  t.same(kernelConsoles('console=tty0 console=ttyS0,115200n8'), { primary: '/dev/ttyS0', others: ['/dev/tty0'] });
  t.same(kernelConsoles('console=ttyS0 console=tty0 console=ttyS0'), { primary: '/dev/ttyS0', others: ['/dev/tty0'] });
  t.same(kernelConsoles('quiet console='), { primary: null, others: [] });
});

t.test('a line written to the console also reaches each mirror; a device that is not there is skipped', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-console-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fifo = path.join(dir, 'ttyS0');
  execFileSync('mkfifo', [fifo]);
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  t.teardown(() => closeSync(reader));
  t.same(mirrorConsoleTo([fifo, path.join(dir, 'no-such-tty')]), [fifo]);
  writeConsole('aios: poweroff: services stopped\n');
  const buffer = Buffer.alloc(256);
  const read = readSync(reader, buffer, 0, buffer.length, null);
  t.equal(buffer.subarray(0, read).toString(), 'aios: poweroff: services stopped\n');
});
