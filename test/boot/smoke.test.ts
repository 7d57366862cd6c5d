// The smoke boot, as CI runs it: the dev image (kernel + initramfs) and the dev ISO (BIOS and
// UEFI) boot in QEMU to the aios> prompt, answer, and power off in order. The state disk
// persists across boots, and a damaged or full one is reported while boot goes on.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { DEV_ISO, IMAGE_DIR } from '../../src/build/image.ts';
import { smokeBoot, SerialSession, type SmokeResult } from '../../qemu/smoke.ts';
import { chooseAccel, qemuArgs } from '../../qemu/qemu.ts';

if (!existsSync(path.join(IMAGE_DIR, 'initramfs.img')) || !existsSync(DEV_ISO)) {
  t.fail('out/image and out/aios-dev.iso are missing: run `node build.ts` (npm test does)');
  process.exit();
}

// Seven boots under emulation: minutes, not the default seconds.
t.setTimeout(20 * 60_000);

const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-boot-test-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function report(t: Test, result: SmokeResult): void {
  for (const check of result.checks) t.ok(check.ok, check.name, check.ok ? {} : { detail: check.detail });
  if (!result.ok) t.comment(`console:\n${result.console?.slice(-6000)}`);
  t.comment(`timings: ${JSON.stringify(result.timings)}`);
}

/** A raw state disk the host can inspect and damage with e2fsprogs. */
function rawDisk(name: string, mib: number): string {
  const file = path.join(dir, name);
  execFileSync('truncate', ['-s', `${mib}M`, file]);
  return file;
}

t.test('dev image: boot, answers, orderly power-off; the state disk is formatted, then kept', async (t) => {
  const disk = rawDisk('state.img', 256);
  const first = await smokeBoot({ image: IMAGE_DIR, stateDisk: disk, expectReport: [/state: state disk \/dev\/vda mounted on \/var\/lib\/aios \(newly formatted\)/] });
  report(t, first);
  const second = await smokeBoot({ image: IMAGE_DIR, stateDisk: disk, expectReport: [/state: state disk \/dev\/vda mounted on \/var\/lib\/aios\n/] });
  report(t, second);
  // What the first boot wrote is still there: the prompt history and the logs.
  const files = execFileSync('debugfs', ['-R', 'ls -p /', disk], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  t.match(files, /console-history/, 'the prompt history is on the state disk');
  const history = execFileSync('debugfs', ['-R', 'cat /console-history', disk], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  t.equal(history.split('\n').filter((l) => l === 'poweroff').length, 2, 'both boots added to the same history');
});

t.test('a damaged state disk is reported; boot and power-off go on', async (t) => {
  const disk = rawDisk('damaged.img', 64);
  execFileSync('mke2fs', ['-q', '-t', 'ext4', '-L', 'aios-state', disk]);
  // Clear the root directory's inode: e2fsck -p cannot repair that on its own.
  execFileSync('debugfs', ['-w', '-R', 'clri <2>', disk], { stdio: 'ignore' });
  const result = await smokeBoot({ image: IMAGE_DIR, stateDisk: disk, expectReport: [/warning: state disk \/dev\/vda is damaged|state disk \/dev\/vda cannot be mounted|damaged/] });
  report(t, result);
});

t.test('a disk that is not ext4 is left alone and reported', async (t) => {
  const disk = rawDisk('other.img', 16);
  writeFileSync(disk, Buffer.alloc(4096, 0x5a), { flag: 'r+' });
  const result = await smokeBoot({ image: IMAGE_DIR, stateDisk: disk, expectReport: [/not ext4; it was not touched/] });
  report(t, result);
  t.equal(execFileSync('head', ['-c', '4', disk]).toString(), 'ZZZZ', 'the disk was not formatted');
});

t.test('a full state disk is reported', async (t) => {
  const disk = rawDisk('full.img', 64);
  execFileSync('mke2fs', ['-q', '-t', 'ext4', '-m', '0', '-L', 'aios-state', disk]);
  const free = Number(/Free blocks:\s+(\d+)/.exec(execFileSync('dumpe2fs', ['-h', disk], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);
  const filler = path.join(dir, 'filler');
  // Real data: debugfs would store a file of zeros sparsely.
  execFileSync('sh', ['-c', `head -c ${(free - 64) * 4096} /dev/urandom > ${filler}`]);
  execFileSync('debugfs', ['-w', '-R', `write ${filler} filler`, disk], { stdio: 'ignore' });
  const result = await smokeBoot({ image: IMAGE_DIR, stateDisk: disk, expectReport: [/warning: state disk \/dev\/vda is full/], toolChecks: false });
  report(t, result);
});

t.test('dev ISO boots with BIOS (GRUB) and no state disk, and reboots', async (t) => {
  report(t, await smokeBoot({ image: DEV_ISO, stateDisk: null, powerAction: 'reboot', expectReport: [/state disk \/dev\/vda not found/] }));
});

t.test('dev ISO boots with UEFI (OVMF, GRUB)', async (t) => {
  report(t, await smokeBoot({ image: DEV_ISO, uefi: true, stateDisk: rawDisk('uefi.img', 64) }));
});

t.test('a kernel panic is a failed boot, whatever QEMU exits with', async (t) => {
  // init=/nonexistent makes the kernel panic; with -no-reboot QEMU then exits 0.
  const session = new SerialSession(
    qemuArgs({ image: IMAGE_DIR, stateDisk: null, accel: await chooseAccel(path.join(IMAGE_DIR, 'vmlinuz')), extraAppend: 'rdinit=/nonexistent' }),
  );
  const code = await session.exited;
  t.equal(code, 0, 'QEMU exits 0');
  t.match(session.text, /Kernel panic/, 'and the console shows the panic that the smoke check looks for');
});
