// The smoke boot, as CI runs it: the dev image (kernel + initramfs) and the dev ISO (BIOS and
// UEFI) boot in QEMU to the aios> prompt, answer, and power off in order. The state disk
// persists across boots, and a damaged or full one is reported while boot goes on. With a
// generated model on the host share (qemu/boot.ts --models), the prompt answers through the
// local tier: the models service started on demand, node-llama-cpp loaded from the image.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { DEV_ISO, IMAGE_DIR } from '../../src/build/image.ts';
import { smokeBoot, SerialSession, type SmokeResult } from '../../qemu/smoke.ts';
import { chooseAccel, qemuArgs } from '../../qemu/qemu.ts';
import { makeHostShare } from '../../qemu/host-share.ts';
import { TINY_LLAMA, writeLlamaModel } from '../../src/models/gguf.ts';

if (!existsSync(path.join(IMAGE_DIR, 'initramfs.img')) || !existsSync(DEV_ISO)) {
  t.fail('out/image and out/aios-dev.iso are missing: run `node build.ts` (npm test does)');
  process.exit();
}

// Eight boots under emulation: minutes, not the default seconds.
t.setTimeout(30 * 60_000);

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

t.test('dev ISO boots with BIOS (GRUB) and no state disk, and reboots; the host share is found by its label', async (t) => {
  // The ISO's fixed command line names no host share, and names /dev/vda as the state disk:
  // here that is the share (a secrets file without keys, so the tiers stay as they are).
  const secrets = path.join(dir, 'no-keys.toml');
  writeFileSync(secrets, '# no keys here\n', { mode: 0o600 });
  const share = makeHostShare({ secrets }, path.join(dir, 'secrets-share.img'));
  report(
    t,
    await smokeBoot({
      image: DEV_ISO,
      stateDisk: null,
      hostShare: share.image,
      powerAction: 'reboot',
      expectReport: [/\/dev\/vda is the host share \(label aios-host\), not a state disk: the state lives in memory/, /host share \/dev\/vda on \/run\/aios\/host \(read-only\): a secrets file/],
    }),
  );
});

t.test('dev ISO boots with UEFI (OVMF, GRUB)', async (t) => {
  report(t, await smokeBoot({ image: DEV_ISO, uefi: true, stateDisk: rawDisk('uefi.img', 64) }));
});

t.test('with --models: the banner names the local tier, and what the rules do not answer goes to the model', async (t) => {
  const models = path.join(dir, 'models');
  mkdirSync(models);
  writeLlamaModel(path.join(models, 'tiny.gguf'), TINY_LLAMA);
  const share = makeHostShare({ models }, path.join(dir, 'host-share.img'));
  const session = new SerialSession(qemuArgs({ image: IMAGE_DIR, stateDisk: null, accel: await chooseAccel(path.join(IMAGE_DIR, 'vmlinuz')), hostShare: share.image, memoryMiB: 1536 }));
  t.teardown(() => session.kill());
  const prompt = await session.expect('aios> ', { timeoutMs: 90_000, what: 'the prompt' });
  const tiers = await session.expect(/AI tiers: rules, then operational \(tiny\.gguf\)\.[\s\S]*?aios> /, { from: prompt.end, timeoutMs: 90_000, what: 'the tiers once the host share is mounted' });
  t.match(session.text.slice(prompt.end, tiers.end), /host share \/dev\/vda on \/run\/aios\/host \(read-only\): model tiny\.gguf/, 'the boot report names the host share');

  // A random 64-wide model under software emulation: a short answer, and time to give it; its
  // vocabulary is nearly one token a character, so the prompt needs the model's whole context.
  let from = session.text.length;
  session.send('tool fs.write {"path":"/etc/aios/config.toml","mode":"append","content":"max_tokens = 24\\ncontext_size = 16384\\noperational_timeout_seconds = 900\\n[router]\\nlocal_tools = 1\\n"}\r');
  await session.expect(/run it\? \[y\/N\/describe\/edit\] /, { from, what: 'the approval for the protected config file' });
  from = session.text.length;
  session.send('y\r');
  await session.expect(/appended \/etc\/aios\/config\.toml[\s\S]*?aios> /, { from, what: 'the config written' });

  const answer = await session.command('what does the load average mean', 600_000);
  t.match(answer.output, /^\(operational(, wanted \w+)?\)\n\(starting the models service…\)\n/, 'routed to the operational tier, whose service init starts on demand');
  t.notMatch(answer.output, /error:|hands on/, 'and the local model answered');
  t.comment(`answered in ${Math.round(answer.ms / 1000)} s (under emulation, the models service's start and the model's load included): ${JSON.stringify(answer.output)}`);
  const status = await session.command('is models running');
  t.match(status.output, /models: up/, 'the models service stays up');
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
