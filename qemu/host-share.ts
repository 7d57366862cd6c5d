// The host share: GGUF models and a secrets file from the host, given to the guest as a
// read-only ext4 disk labelled aios-host. Init mounts it on /run/aios/host, and the tiers find
// models/*.gguf and secrets.toml there (src/models/tiers.ts). A disk rather than a shared
// folder: the dev image's kernel (Debian's cloud kernel) has neither 9p nor a virtiofsd to
// talk to, and a disk needs nothing on the host but e2fsprogs.
//
// The disk is made with mke2fs and filled with debugfs (no mount, no root needed), and kept
// in out/host-share.img while what it was made from is unchanged (names, sizes, times).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import path from 'node:path';
import { isGguf } from '../src/models/tiers.ts';
import { HOST_SHARE_LABEL } from '../src/disks.ts';
import { BootError, OUT } from './qemu.ts';

export const DEFAULT_HOST_SHARE = path.join(OUT, 'host-share.img');

export interface HostShareInput {
  /** A folder of GGUF files (only *.gguf directly in it are taken), or one GGUF file. */
  models?: string;
  /** A TOML file with [anthropic] and/or [openai] api_key (src/models/tiers.ts). */
  secrets?: string;
}

export interface HostShare {
  image: string;
  models: { name: string; bytes: number }[];
  secrets: boolean;
  /** False when the disk made for the same inputs before was reused. */
  made: boolean;
}

interface Source {
  from: string;
  to: string;
  bytes: number;
  mtimeMs: number;
}

/** Makes (or reuses) the disk for these inputs. Errors say which input is wrong and how. */
export function makeHostShare(input: HostShareInput, image = DEFAULT_HOST_SHARE, progress: (message: string) => void = () => {}): HostShare {
  const sources: Source[] = [];
  const models: HostShare['models'] = [];
  if (input.models !== undefined) {
    for (const file of modelFiles(input.models)) {
      const stat = statSync(file);
      const name = path.basename(file);
      sources.push({ from: path.resolve(file), to: `models/${name}`, bytes: stat.size, mtimeMs: stat.mtimeMs });
      models.push({ name, bytes: stat.size });
    }
  }
  if (input.secrets !== undefined) {
    const stat = fileStat(input.secrets, '--secrets');
    if (!stat.isFile()) throw new BootError(`--secrets ${input.secrets}: not a file. Give a TOML file such as:\n  [anthropic]\n  api_key = "sk-ant-..."`);
    sources.push({ from: path.resolve(input.secrets), to: 'secrets.toml', bytes: stat.size, mtimeMs: stat.mtimeMs });
  }
  if (sources.length === 0) throw new BootError('the host share needs --models or --secrets');
  for (const source of sources) {
    if (/["\n\\]/.test(source.to)) throw new BootError(`${source.from}: rename it (a name with " or \\ cannot go on the disk)`);
  }

  const manifest = JSON.stringify(sources);
  const manifestFile = `${image}.json`;
  if (existsSync(image) && existsSync(manifestFile) && readFileSync(manifestFile, 'utf8') === manifest) {
    return { image, models, secrets: input.secrets !== undefined, made: false };
  }
  const total = sources.reduce((sum, s) => sum + s.bytes, 0);
  // ext4's metadata, and a margin for each file's block rounding.
  const sizeMiB = Math.ceil((total * 1.03) / 2 ** 20) + 32 + sources.length;
  progress(`making ${path.relative(process.cwd(), image) || image} (${formatMiB(total)} from the host; once, while they stay unchanged)`);
  mkdirSync(path.dirname(image), { recursive: true });
  const partial = `${image}.partial`;
  rmSync(manifestFile, { force: true });
  rmSync(partial, { force: true });
  tool('mke2fs', ['-q', '-F', '-t', 'ext4', '-O', '^has_journal', '-L', HOST_SHARE_LABEL, '-E', 'root_owner=0:0', partial, `${sizeMiB}M`]);
  const commands = ['mkdir models', 'sif models mode 040755'];
  for (const source of sources) {
    commands.push(`write "${source.from}" "${source.to}"`);
    // Root's, and the secrets readable by root only: the tiers refuse a key file others can read.
    commands.push(`sif "${source.to}" uid 0`, `sif "${source.to}" gid 0`, `sif "${source.to}" mode ${source.to === 'secrets.toml' ? '0100600' : '0100644'}`);
  }
  const result = tool('debugfs', ['-w', '-f', '-', partial], commands.join('\n'));
  // debugfs exits 0 whatever its commands did: its complaints are the only sign.
  const complaints = result.stderr.split('\n').filter((line) => line.trim() && !/^debugfs \d/.test(line));
  if (complaints.length > 0) {
    rmSync(partial, { force: true });
    throw new BootError(`could not fill the host share disk: ${complaints.join('; ')}`);
  }
  for (const source of sources) {
    const listed = tool('debugfs', ['-R', `stat "${source.to}"`, partial]).stdout;
    if (!new RegExp(`Size: ${source.bytes}\\b`).test(listed)) {
      rmSync(partial, { force: true });
      throw new BootError(`could not fill the host share disk: ${source.to} is not all there (is ${path.dirname(image)} full?)`);
    }
  }
  renameSync(partial, image);
  writeFileSync(manifestFile, manifest);
  return { image, models, secrets: input.secrets !== undefined, made: true };
}

/** The GGUF files a --models argument names, each checked for the GGUF magic. */
function modelFiles(given: string): string[] {
  const stat = fileStat(given, '--models');
  const files = stat.isDirectory()
    ? readdirSync(given)
        .filter((name) => name.toLowerCase().endsWith('.gguf'))
        .sort()
        .map((name) => path.join(given, name))
        .filter((file) => statSync(file).isFile())
    : [given];
  if (files.length === 0) throw new BootError(`--models ${given}: no *.gguf file in that folder. Put GGUF models there (llama.cpp's format), or name one file.`);
  for (const file of files) {
    if (!isGguf(file)) throw new BootError(`--models: ${file} is not a GGUF model (it does not start with GGUF and version 2 or 3)`);
  }
  return files;
}

function fileStat(file: string, flag: string): Stats {
  try {
    return statSync(file);
  } catch (error) {
    throw new BootError(`${flag} ${file}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : (error as Error).message}`);
  }
}

function tool(program: string, args: string[], input?: string): { stdout: string; stderr: string } {
  const found = ['/usr/sbin', '/sbin', '/usr/bin'].map((dir) => path.join(dir, program)).find(existsSync);
  if (!found) throw new BootError(`${program} is not installed: apt-get install e2fsprogs`);
  const result = spawnSync(found, args, { encoding: 'utf8', input, maxBuffer: 64 * 2 ** 20 });
  if (result.status !== 0) throw new BootError(`${program} ${args.join(' ')} failed: ${(result.stderr || result.error?.message || '').trim()}`);
  return { stdout: result.stdout, stderr: result.stderr };
}

function formatMiB(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Guest memory for these models when --memory is not given: the largest model, and 1 GiB for the rest. */
export function memoryForModels(share: HostShare): number {
  const largest = Math.max(0, ...share.models.map((m) => m.bytes));
  return 1024 + Math.ceil(largest / 2 ** 20 / 256) * 256;
}
