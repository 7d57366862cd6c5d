// Boots aiOS in QEMU with the serial console on this terminal.
//
//   node qemu/boot.ts [--iso FILE [--uefi]] [--image DIR] [--ephemeral] [--state FILE] [--models DIR] [--secrets FILE] [-- QEMU ARGS]
//
// Quit QEMU with ctrl-A then X (or type `poweroff` at the prompt).
import { spawn } from 'node:child_process';
import path from 'node:path';
import { makeHostShare, memoryForModels } from './host-share.ts';
import { BootError, chooseAccel, DEFAULT_STATE_DISK, ensureStateDisk, findsStateByLabel, isIso, parseImageArgs, qemuArgs, qemuBinary } from './qemu.ts';

const HELP = `Usage: node qemu/boot.ts [OPTIONS] [-- QEMU ARGS]

Boots the dev image (out/image, made by \`npm run build\`) or an ISO in QEMU, with the serial
console here. The aios> prompt appears after a few seconds.

Options:
  --image DIR      a folder with vmlinuz and initramfs.img (default out/image)
  --iso FILE       boot an ISO instead (out/aios-dev.iso, or the archiso one)
  --uefi           boot the ISO with UEFI firmware (OVMF) instead of BIOS
  --state FILE     the persistent state disk, made on first use (default out/state.qcow2)
  --ephemeral      no state disk: nothing survives the power-off
  --memory MIB     guest memory (default 1024, or 1024 plus the largest model with --models)
  --port N         host port forwarded to the web console's 9090 (default 9090; 0 for none)
  --models PATH    a folder of GGUF models (or one .gguf file) for the local AI tiers
  --secrets FILE   a TOML file with API keys for the strategic tier, e.g.
                     [anthropic]
                     api_key = "sk-ant-..."
                   (and/or [openai] api_key = "sk-...")

--models and --secrets go to the guest on a read-only disk (out/host-share.img, made once
and kept while the files are unchanged), mounted on /run/aios/host; the banner then names
the tiers that are live. Models up to 3.5 GiB serve the operational tier, larger ones the
tactical tier.

Environment: AIOS_QEMU_ACCEL=kvm|tcg forces the accelerator (default: KVM if it really works).
Quit: type \`poweroff\` at the prompt, or press ctrl-A then X.
`;

async function main(): Promise<number> {
  const { values, positionals, image, stateDisk, memoryMiB, share } = parseImageArgs(process.argv.slice(2), () => DEFAULT_STATE_DISK);
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (stateDisk) ensureStateDisk(stateDisk, { formatted: findsStateByLabel(image) });
  const hostShare = share ? makeHostShare(share, undefined, (m) => process.stderr.write(`boot: ${m}\n`)) : null;
  const accel = await chooseAccel(isIso(image) ? null : path.join(image, 'vmlinuz'), (m) => process.stderr.write(`boot: ${m}\n`));
  const port = Number(values.port ?? '9090');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new BootError(`Expected --port to be a port number, got \`${values.port}\`.`);
  const args = qemuArgs({
    image,
    uefi: values.uefi,
    stateDisk,
    accel,
    memoryMiB: memoryMiB ?? (hostShare ? memoryForModels(hostShare) : undefined),
    hostShare: hostShare?.image ?? null,
    webPort: port || null,
    extraArgs: positionals,
  });
  process.stderr.write(
    `boot: ${path.relative(process.cwd(), image) || image} with ${accel.toUpperCase()}${stateDisk ? `, state disk ${path.relative(process.cwd(), stateDisk)}` : ', no state disk'}` +
      `${hostShare ? `, host share: ${[hostShare.models.map((m) => m.name).join(', '), hostShare.secrets ? 'secrets' : ''].filter(Boolean).join(' and ')}` : ''}` +
      `${port ? `, web console port ${port}` : ''}. Quit: \`poweroff\` at the prompt, or ctrl-A X.\n`,
  );
  const child = spawn(qemuBinary(), args, { stdio: 'inherit' });
  return new Promise((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
}

try {
  process.exitCode = await main();
} catch (error) {
  if (!(error instanceof BootError) && !(error instanceof TypeError)) throw error;
  process.stderr.write(`boot: ${error.message}\n`);
  process.exitCode = 2;
}
