// The archiso profile and `npm run build -- iso`. mkarchiso cannot run on these machines (no Arch
// mirror, no container registry), so this checks what would break a real build or boot: the
// profile as mkarchiso validates it, the staged work directory (--dry-run), the boot entries'
// command lines, file_permissions against the staged airootfs, the package list, nothing of the
// build machine in the image, and the build's plumbing around mkarchiso and a container engine
// (run with stand-ins for them that do what the real ones do to the file system).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { isoPath, MKARCHISO_LOG, packageVersion, PROFILE_SOURCE, STAGED_PROFILE } from '../../src/build/archiso.ts';
import { SEA } from '../../src/build/rootfs.ts';
import { OUT, ROOT } from '../../src/build/step.ts';
import { TINY_LLAMA, writeLlamaModel } from '../../src/models/gguf.ts';
import { loadServiceDirectory } from '../../src/supervisor/service-spec.ts';

const BUILD = path.join(ROOT, 'build.ts');
const AIROOTFS = path.join(STAGED_PROFILE, 'airootfs');
const skip = !existsSync(SEA) && 'run node build.ts first (the profile stages out/aios)';

function build(args: string[], env: NodeJS.ProcessEnv = process.env): { status: number | null; stderr: string } {
  const result = spawnSync(process.execPath, [BUILD, ...args], { cwd: ROOT, env, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stderr: result.stderr };
}

interface Profile {
  scalars: Record<string, string>;
  arrays: Record<string, string[]>;
  permissions: Record<string, string>;
}

/** Sources profiledef.sh in bash, strictly, as mkarchiso does, and reads back what it defines. */
function sourceProfile(dir: string): Profile {
  const script = `set -euo pipefail
declare -A file_permissions=()
source "$1/profiledef.sh"
for v in iso_name iso_label iso_publisher iso_application iso_version install_dir arch pacman_conf airootfs_image_type; do printf 'S\\t%s\\t%s\\n' "$v" "\${!v}"; done
for v in buildmodes bootmodes airootfs_image_tool_options bootstrap_tarball_compression; do declare -n a="$v"; for x in "\${a[@]}"; do printf 'A\\t%s\\t%s\\n' "$v" "$x"; done; unset -n a; done
[[ "$(declare -p file_permissions)" == "declare -A"* ]] || { echo "file_permissions is not an associative array" >&2; exit 3; }
for k in "\${!file_permissions[@]}"; do printf 'P\\t%s\\t%s\\n' "$k" "\${file_permissions[$k]}"; done`;
  const output = execFileSync('bash', ['-c', script, 'bash', dir], { encoding: 'utf8' });
  const profile: Profile = { scalars: {}, arrays: {}, permissions: {} };
  for (const line of output.split('\n').filter(Boolean)) {
    const [kind, key, value] = line.split('\t') as [string, string, string];
    if (kind === 'S') profile.scalars[key] = value;
    else if (kind === 'A') (profile.arrays[key] ??= []).push(value);
    else profile.permissions[key] = value;
  }
  return profile;
}

/** Every kernel command line of every boot entry: systemd-boot, syslinux and GRUB (with loopback). */
function commandLines(dir: string): { where: string; line: string }[] {
  const found: { where: string; line: string }[] = [];
  const add = (file: string, pattern: RegExp): void => {
    for (const match of readFileSync(file, 'utf8').matchAll(pattern)) found.push({ where: path.relative(dir, file), line: match[1]! });
  };
  const entries = path.join(dir, 'efiboot/loader/entries');
  for (const file of readdirSync(entries)) add(path.join(entries, file), /^options\s+(.*)$/gm);
  for (const file of readdirSync(path.join(dir, 'syslinux')).filter((f) => f.endsWith('.cfg'))) add(path.join(dir, 'syslinux', file), /^\s*APPEND\s+(.*)$/gim);
  for (const file of ['grub.cfg', 'loopback.cfg']) add(path.join(dir, 'grub', file), /^\s*linux\s+\S+\s+(.*)$/gm);
  return found;
}

function walk(dir: string, visit: (file: string, stat: Stats) => void): void {
  for (const name of readdirSync(dir)) {
    const file = path.join(dir, name);
    const stat = lstatSync(file);
    visit(file, stat);
    if (stat.isDirectory()) walk(file, visit);
  }
}

t.test('profiledef.sh sources cleanly in bash and defines what mkarchiso requires', async (t) => {
  execFileSync('bash', ['-n', path.join(PROFILE_SOURCE, 'profiledef.sh')]);
  const { scalars, arrays } = sourceProfile(PROFILE_SOURCE);
  for (const name of ['iso_name', 'iso_label', 'iso_publisher', 'iso_application', 'iso_version', 'install_dir', 'arch', 'pacman_conf', 'airootfs_image_type']) {
    t.ok(scalars[name], `${name} is set`);
  }
  t.equal(scalars.iso_name, 'aios', 'the ISO is named aios-<version>-x86_64.iso');
  t.equal(scalars.arch, 'x86_64');
  // An ISO 9660 volume label: at most 32 of A-Z, 0-9 and _. install_dir: mkarchiso's -D says at most 8 of a-z0-9.
  t.match(scalars.iso_label, /^[A-Z0-9_]{1,32}$/);
  t.match(scalars.install_dir, /^[a-z0-9]{1,8}$/);
  t.ok(['squashfs', 'ext4+squashfs', 'erofs'].includes(scalars.airootfs_image_type!), 'an image type mkarchiso supports');
  t.same(arrays.buildmodes, ['iso']);
  // archiso v86 renamed the boot modes; the old names only warn now, and go away.
  t.same(arrays.bootmodes, ['bios.syslinux', 'uefi.systemd-boot']);
  t.ok(existsSync(path.join(PROFILE_SOURCE, scalars.pacman_conf!)), 'pacman_conf is in the profile');
  const pacman = readFileSync(path.join(PROFILE_SOURCE, scalars.pacman_conf!), 'utf8');
  t.match(pacman, /^\[options\]$/m);
  t.match(pacman, /^\[core\]\nInclude = \/etc\/pacman\.d\/mirrorlist$/m);
  t.match(pacman, /^\[extra\]\nInclude = \/etc\/pacman\.d\/mirrorlist$/m);
});

t.test('the boot loaders mkarchiso needs for the boot modes are there', async (t) => {
  const packages = readFileSync(path.join(PROFILE_SOURCE, 'packages.x86_64'), 'utf8').split('\n');
  t.ok(readdirSync(path.join(PROFILE_SOURCE, 'syslinux')).some((f) => f.endsWith('.cfg')), 'bios.syslinux: syslinux/*.cfg');
  t.ok(packages.includes('syslinux'), 'bios.syslinux: the syslinux package');
  const entries = readdirSync(path.join(PROFILE_SOURCE, 'efiboot/loader/entries')).filter((f) => f.endsWith('.conf'));
  t.ok(entries.length > 0, 'uefi.systemd-boot: efiboot/loader/entries/*.conf');
  const loader = readFileSync(path.join(PROFILE_SOURCE, 'efiboot/loader/loader.conf'), 'utf8');
  const fallback = /^default\s+(\S+)$/m.exec(loader)?.[1];
  t.ok(fallback && entries.includes(fallback), `loader.conf's default (${fallback}) is an entry`);
  t.ok(existsSync(path.join(PROFILE_SOURCE, 'grub/grub.cfg')), 'grub/grub.cfg, for uefi.grub and loopback.cfg');
  for (const file of entries) {
    const text = readFileSync(path.join(PROFILE_SOURCE, 'efiboot/loader/entries', file), 'utf8');
    t.match(text, /^title\s+\S/m, `${file} has a title`);
    t.match(text, /^linux\s+\/%INSTALL_DIR%\/boot\/x86_64\/vmlinuz-linux$/m, `${file} boots the kernel mkarchiso copies`);
    t.match(text, /^initrd\s+\/%INSTALL_DIR%\/boot\/x86_64\/initramfs-linux\.img$/m, `${file} loads the initramfs of linux.preset`);
  }
  t.match(readFileSync(path.join(PROFILE_SOURCE, 'airootfs/etc/mkinitcpio.d/linux.preset'), 'utf8'), /^archiso_image="\/boot\/initramfs-linux\.img"$/m);
  const hooks = /^HOOKS=\((.*)\)$/m.exec(readFileSync(path.join(PROFILE_SOURCE, 'airootfs/etc/mkinitcpio.conf.d/archiso.conf'), 'utf8'))?.[1]?.split(/\s+/) ?? [];
  for (const hook of ['base', 'udev', 'archiso', 'block', 'filesystems']) t.ok(hooks.includes(hook), `the initramfs has the ${hook} hook`);
  t.notOk(hooks.includes('autodetect'), 'no autodetect: the image boots on machines other than the builder');
});

t.test('every boot entry starts aios-init with both consoles, next to archiso\'s own parameters', async (t) => {
  const lines = commandLines(PROFILE_SOURCE);
  t.ok(lines.length >= 9, `three entries each for systemd-boot, syslinux and GRUB (found ${lines.length})`);
  for (const { where, line } of lines) {
    const words = line.split(/\s+/);
    t.ok(words.includes('init=/usr/lib/aios/aios-init'), `${where}: init=`);
    t.ok(line.includes('console=ttyS0,115200 console=tty0'), `${where}: console=ttyS0,115200 console=tty0`);
    t.ok(words.includes('archisobasedir=%INSTALL_DIR%'), `${where}: archisobasedir`);
    t.ok(words.includes('archisosearchuuid=%ARCHISO_UUID%') || (where.endsWith('loopback.cfg') && words.some((w) => w.startsWith('img_dev='))), `${where}: how archiso finds its medium`);
    t.notOk(words.some((w) => w.startsWith('init=') && w !== 'init=/usr/lib/aios/aios-init'), `${where}: one init=`);
    const state = words.filter((w) => w.startsWith('aios.state='));
    t.ok(state.length === 0 || (state.length === 1 && state[0] === 'aios.state=LABEL=aios-state'), `${where}: persistence by label, or live`);
  }
  t.ok(lines.some(({ line }) => !line.includes('aios.state=')), 'a live entry that keeps nothing');
});

t.test('menu timeouts are short, and 0 in the smoke variant', { skip }, async (t) => {
  const timeouts = (dir: string) => ({
    systemdBoot: Number(/^timeout\s+(\d+)$/m.exec(readFileSync(path.join(dir, 'efiboot/loader/loader.conf'), 'utf8'))?.[1]),
    // Tenths of a second; 0 would wait forever.
    syslinux: Number(/^TIMEOUT\s+(\d+)$/m.exec(readFileSync(path.join(dir, 'syslinux/syslinux.cfg'), 'utf8'))?.[1]),
    grub: Number(/^timeout=(\d+)$/m.exec(readFileSync(path.join(dir, 'grub/grub.cfg'), 'utf8'))?.[1]),
  });
  const stock = timeouts(PROFILE_SOURCE);
  t.ok(stock.systemdBoot > 0 && stock.systemdBoot <= 5, `systemd-boot ${stock.systemdBoot} s`);
  t.ok(stock.syslinux > 0 && stock.syslinux <= 50, `syslinux ${stock.syslinux / 10} s`);
  t.ok(stock.grub > 0 && stock.grub <= 5, `GRUB ${stock.grub} s`);
  const smoke = build(['iso', '--smoke', '--dry-run']);
  t.equal(smoke.status, 0, smoke.stderr);
  t.same(timeouts(STAGED_PROFILE), { systemdBoot: 0, syslinux: 1, grub: 0 });
  t.equal(sourceProfile(STAGED_PROFILE).scalars.iso_version, `${packageVersion()}-smoke`);
  t.match(smoke.stderr, `would leave ${path.relative(ROOT, isoPath(true))}`);
});

t.test('packages.x86_64: one known name per line, no duplicates, what aiOS needs and nothing it must not have', async (t) => {
  const names = readFileSync(path.join(PROFILE_SOURCE, 'packages.x86_64'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  for (const name of names) t.match(name, /^[a-z0-9@_+][a-z0-9@._+-]*$/, `\`${name}\` is a package name`);
  t.same(names.filter((n, i) => names.indexOf(n) !== i), [], 'no duplicates');
  for (const needed of ['base', 'linux', 'mkinitcpio', 'mkinitcpio-archiso', 'syslinux', 'pacman', 'btrfs-progs', 'nftables', 'iproute2', 'bubblewrap', 'e2fsprogs', 'dhcpcd']) {
    t.ok(names.includes(needed), `has ${needed}`);
  }
  for (const unwanted of ['sudo', 'xorg-server', 'gnome', 'plasma', 'xfce4', 'sddm', 'gdm', 'networkmanager', 'openssh']) {
    t.notOk(names.includes(unwanted), `no ${unwanted}`);
  }
});

t.test('the dry run stages the work directory as mkarchiso gets it', { skip }, async (t) => {
  const result = build(['iso', '--dry-run']);
  t.equal(result.status, 0, result.stderr);
  t.match(result.stderr, /\[iso\] dry run: the profile is staged in out\/archiso\/profile/);
  t.match(result.stderr, new RegExp(`would leave out/aios-${packageVersion().replace(/\./g, '\\.')}-x86_64\\.iso and out/aios-[^ ]+-x86_64\\.iso\\.sha256`));
  t.notOk(existsSync(isoPath(false)), 'a dry run builds nothing');
  for (const file of ['profiledef.sh', 'packages.x86_64', 'pacman.conf', 'syslinux/syslinux.cfg', 'efiboot/loader/loader.conf', 'grub/grub.cfg', 'airootfs/etc/mkinitcpio.d/linux.preset']) {
    t.ok(existsSync(path.join(STAGED_PROFILE, file)), file);
  }
  t.equal(sourceProfile(STAGED_PROFILE).scalars.iso_version, packageVersion(), "the version is package.json's");
  t.same(commandLines(STAGED_PROFILE), commandLines(PROFILE_SOURCE), 'the boot entries as written');

  t.test('file_permissions: every path exists in the staged airootfs, and every mode mkarchiso would lose is there', async (t) => {
    const { permissions } = sourceProfile(STAGED_PROFILE);
    t.ok(Object.keys(permissions).length > 0);
    for (const [file, value] of Object.entries(permissions)) {
      t.match(value, /^\d+:\d+:[0-7]{3,4}$/, `${file}: uid:gid:mode`);
      const target = path.join(AIROOTFS, file);
      t.ok(existsSync(target), `${file} exists in the staged airootfs`);
      t.ok(realpathSync(target).startsWith(AIROOTFS + path.sep), `${file} stays inside airootfs`);
    }
    walk(AIROOTFS, (file, stat) => {
      if (stat.isSymbolicLink()) return;
      const mode = Number(stat.mode) & 0o7777;
      if (mode === (stat.isDirectory() ? 0o755 : 0o644)) return;
      const key = `/${path.relative(AIROOTFS, file)}`;
      t.equal(permissions[key], `0:0:${mode.toString(8)}`, `${key} keeps mode ${mode.toString(8)}`);
    });
    for (const executable of ['/usr/lib/aios/aios', '/usr/lib/aios/aios-spawn', '/usr/lib/aios/network-up']) t.equal(permissions[executable], '0:0:755', executable);
  });

  t.test('the airootfs has aiOS and nothing of the build machine', async (t) => {
    const lib = path.join(AIROOTFS, 'usr/lib/aios');
    t.equal(readFileSync(path.join(lib, 'aios')).subarray(0, 4).toString('latin1'), '\x7fELF', 'the single executable');
    t.equal(readFileSync(path.join(lib, 'aios')).length, statSync(SEA).size, 'the one the sea step made');
    for (const file of ['aios_native.node', 'aios_rank.node', 'aios-spawn', 'agent.cjs', 'node_modules/better-sqlite3/package.json', 'node_modules/node-llama-cpp/package.json', 'node_modules/@node-llama-cpp/linux-x64/package.json']) {
      t.ok(existsSync(path.join(lib, file)), file);
    }
    t.notOk(existsSync(path.join(lib, 'llama-runtime.tar.gz')), 'node-llama-cpp unpacked in the squashfs, not archived');
    t.equal(realpathSync(path.join(AIROOTFS, 'usr/lib/aios/aios-init')), path.join(lib, 'aios'), 'init= names a link to the executable');
    t.equal(realpathSync(path.join(AIROOTFS, 'usr/bin/aios')), path.join(lib, 'aios'));
    // What the dev image takes from the build machine, and Arch's packages provide here (pacman
    // would refuse to install over them).
    for (const debian of ['init', 'bin', 'lib', 'lib64', 'sbin', 'usr/lib/x86_64-linux-gnu', 'usr/bin/busybox', 'usr/bin/mke2fs', 'usr/lib/modules', 'etc/passwd', 'etc/group', 'etc/os-release', 'etc/aios/modules-load']) {
      t.notOk(existsSync(path.join(AIROOTFS, debian)), `no ${debian}`);
    }
    // The checkout, and a builder's home folder (/root is a path of every image, not the builder's).
    const hostPaths = [ROOT, os.homedir()].filter((p) => p !== '/root' && p.length > 1).map((p) => Buffer.from(`${p}/`));
    const offenders: string[] = [];
    const secrets: string[] = [];
    walk(AIROOTFS, (file, stat) => {
      if (!stat.isFile()) return;
      const relative = path.relative(AIROOTFS, file);
      if (/(^|\/)secrets\.toml$|\.(pem|key)$/.test(relative) || (Number(stat.mode) & 0o044) === 0) secrets.push(relative);
      const data = readFileSync(file);
      if (hostPaths.some((p) => data.includes(p))) offenders.push(relative);
      // A key itself, not code that looks for one: the armour line followed by base64.
      if (data.includes('PRIVATE KEY-----') && /-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=]{40}/.test(data.toString('latin1'))) secrets.push(relative);
    });
    t.same(offenders, [], `no file names ${hostPaths.map(String).join(' or ')}`);
    t.same(secrets, [], 'no secrets, and no file that only its owner may read');
  });

  t.test('the airootfs runs a local model from node-llama-cpp unpacked beside the executable, unpacking nothing', async (t) => {
    const state = mkdtempSync(path.join(os.tmpdir(), 'aios-airootfs-model-'));
    const run = mkdtempSync(path.join(os.tmpdir(), 'aios-airootfs-run-'));
    t.teardown(() => {
      rmSync(state, { recursive: true, force: true });
      rmSync(run, { recursive: true, force: true });
    });
    mkdirSync(path.join(state, 'models'));
    writeLlamaModel(path.join(state, 'models', 'tiny.gguf'), TINY_LLAMA);
    const port = 20_000 + Math.floor(Math.random() * 2_000);
    // The staged executable finds its packages beside itself, as /usr/lib/aios/aios will.
    const server = spawn(path.join(AIROOTFS, 'usr/lib/aios/aios'), ['models', 'serve', '--state', state, '--listen', `127.0.0.1:${port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, AIOS_CONFIG: '/dev/null', AIOS_RUN_DIR: run },
    });
    t.teardown(() => server.kill('SIGKILL'));
    let output = '';
    server.stdout.on('data', (d: Buffer) => (output += d.toString()));
    server.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 60_000;
    while (!/listening on/.test(output) && Date.now() < deadline && server.exitCode === null) await new Promise((resolve) => setTimeout(resolve, 100));
    const response = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'local', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
    });
    t.equal(response.status, 200, 'the models service answers', { output });
    t.match(await response.json(), { model: 'tiny', usage: { completion_tokens: 4 } });
    t.notOk(existsSync(path.join(run, 'llama-runtime')), 'nothing was unpacked into the run directory');
  });

  t.test('the services of the image load, with what Arch needs at boot before the network', async (t) => {
    const loaded = loadServiceDirectory(path.join(AIROOTFS, 'etc/aios/services'));
    t.same(loaded.errors, [], 'every service file is valid');
    const byName = new Map(loaded.specs.map((s) => [s.name, s]));
    for (const name of ['console', 'runtime', 'models', 'network', 'sysusers', 'tmpfiles', 'udevd', 'udev-coldplug', 'modules-load']) t.ok(byName.has(name), name);
    t.same(byName.get('network')?.depends_on, ['udev-coldplug'], 'DHCP starts once udev has named the interfaces');
    t.equal(byName.get('udev-coldplug')?.ready.kind, 'exited', 'coldplug is a one-shot: done when it exits');
    t.same(byName.get('tmpfiles')?.depends_on, ['sysusers']);
    t.same(byName.get('udevd')?.ready, { kind: 'socket', path: '/run/udev/control' });
  });
});

t.test('`npm run build -- iso` without mkarchiso, podman or docker says what to install', { skip }, async (t) => {
  const empty = mkdtempSync(path.join(os.tmpdir(), 'aios-nopath-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  const result = build(['iso', '--force'], { ...process.env, PATH: empty });
  t.equal(result.status, 1);
  t.match(result.stderr, /\[iso\] failed: cannot build the ISO here: mkarchiso is not on PATH, and neither podman nor docker works\./);
  t.match(result.stderr, /pacman -S archiso/);
  t.match(result.stderr, /apt-get install podman/);
  t.match(result.stderr, /npm run build -- iso --dry-run/);
  t.notOk(existsSync(isoPath(false)));
});

/** A stand-in for mkarchiso: checks its arguments as mkarchiso would, prints its step lines, writes the ISO named by the profile. */
function fakeMkarchiso(dir: string, options: { failAfterSteps?: boolean } = {}): void {
  writeFileSync(
    path.join(dir, 'mkarchiso'),
    `#!/bin/bash
set -euo pipefail
echo "$@" > "${dir}/args"
while getopts 'vw:o:' opt; do case "$opt" in w) work="$OPTARG" ;; o) out="$OPTARG" ;; esac; done
shift $((OPTIND - 1))
profile="$1"
declare -A file_permissions=()
source "$profile/profiledef.sh"
[[ -f "$profile/packages.$arch" && -d "$profile/airootfs/usr/lib/aios" ]] || { echo "[mkarchiso] ERROR: not a staged profile" >&2; exit 2; }
echo "[mkarchiso] INFO: Validating options..."
echo "[mkarchiso] INFO: Installing packages to '$work/x86_64/airootfs/'..."
echo ":: Synchronizing package databases..."
${options.failAfterSteps ? 'echo "error: failed retrieving file core.db from mirror" >&2; exit 3' : ''}
echo "[mkarchiso] INFO: Creating ISO image..."
printf 'an ISO of %s %s\\n' "$iso_name" "$iso_version" > "$out/$iso_name-$iso_version-$arch.iso"
echo "[mkarchiso] INFO: Done!"
`,
  );
  chmodSync(path.join(dir, 'mkarchiso'), 0o755);
}

t.test('with mkarchiso on PATH: it runs on the staged profile, its steps are the progress, the ISO gets a checksum', { skip }, async (t) => {
  const bin = mkdtempSync(path.join(os.tmpdir(), 'aios-mkarchiso-'));
  const iso = isoPath(false);
  t.teardown(() => {
    rmSync(bin, { recursive: true, force: true });
    rmSync(iso, { force: true });
    rmSync(`${iso}.sha256`, { force: true });
  });
  fakeMkarchiso(bin);
  const result = build(['iso', '--force'], { ...process.env, PATH: `${bin}:/usr/bin:/bin` });
  if (process.getuid?.() !== 0) {
    t.match(result.stderr, /mkarchiso must run as root: run `sudo npm run build -- iso`/);
    return;
  }
  t.equal(result.status, 0, result.stderr);
  t.equal(readFileSync(path.join(bin, 'args'), 'utf8').trim(), `-v -w ${path.join(OUT, 'archiso', 'work')} -o ${OUT} ${STAGED_PROFILE}`);
  t.match(result.stderr, /\[iso\] running mkarchiso \(.*\); its whole output goes to out\/archiso\/mkarchiso\.log/);
  t.match(result.stderr, /\[iso\] Installing packages to/);
  t.match(result.stderr, /\[iso\] Synchronizing package databases\.\.\./);
  const sum = createHash('sha256').update(readFileSync(iso)).digest('hex');
  t.equal(readFileSync(`${iso}.sha256`, 'utf8'), `${sum}  ${path.basename(iso)}\n`, 'sha256sum -c reads it');
  t.equal(spawnSync('sha256sum', ['-c', `${path.basename(iso)}.sha256`], { cwd: OUT }).status, 0);
  t.match(readFileSync(MKARCHISO_LOG, 'utf8'), /\[mkarchiso\] INFO: Done!/, 'the whole output is in the log');
});

t.test('a failing mkarchiso: the step says where it stopped and where the log is, and leaves no ISO', { skip: skip || (process.getuid?.() !== 0 && 'mkarchiso runs as root') }, async (t) => {
  const bin = mkdtempSync(path.join(os.tmpdir(), 'aios-mkarchiso-'));
  t.teardown(() => rmSync(bin, { recursive: true, force: true }));
  fakeMkarchiso(bin, { failAfterSteps: true });
  const result = build(['iso', '--force'], { ...process.env, PATH: `${bin}:/usr/bin:/bin` });
  t.equal(result.status, 1);
  t.match(result.stderr, /\[iso\] failed: mkarchiso failed \(status 3\) at: Synchronizing package databases\.\.\.; the whole output is in out\/archiso\/mkarchiso\.log\./);
  t.match(readFileSync(MKARCHISO_LOG, 'utf8'), /failed retrieving file core\.db/);
  t.notOk(existsSync(isoPath(false)));
  t.notOk(existsSync(`${isoPath(false)}.sha256`));
});

t.test('with a working podman and no mkarchiso: mkarchiso runs in a privileged archlinux container that shares out/', { skip }, async (t) => {
  const bin = mkdtempSync(path.join(os.tmpdir(), 'aios-podman-'));
  const iso = isoPath(true);
  t.teardown(() => {
    rmSync(bin, { recursive: true, force: true });
    rmSync(iso, { force: true });
    rmSync(`${iso}.sha256`, { force: true });
  });
  // Answers `info`; for `run`, records the arguments and makes the ISO in the shared folder.
  writeFileSync(
    path.join(bin, 'podman'),
    `#!/bin/bash
[[ "$1" == info ]] && exit 0
echo "$@" > "${bin}/args"
for a in "$@"; do case "$a" in *:/aios/out) host="\${a%:/aios/out}" ;; esac; done
declare -A file_permissions=()
source "$host/archiso/profile/profiledef.sh"
echo "[mkarchiso] INFO: Creating ISO image..."
echo iso > "$host/$iso_name-$iso_version-$arch.iso"
`,
  );
  chmodSync(path.join(bin, 'podman'), 0o755);
  const result = build(['iso', '--smoke', '--force'], { ...process.env, PATH: `${bin}:/usr/bin:/bin`, AIOS_ARCHISO_IMAGE: '' });
  t.equal(result.status, 0, result.stderr);
  const args = readFileSync(path.join(bin, 'args'), 'utf8').trim();
  t.match(args, `run --rm --privileged -v ${OUT}:/aios/out docker.io/library/archlinux:latest bash -c `);
  t.match(args, /pacman-key --init && pacman -Syu --noconfirm --needed archiso && mkarchiso -v -w \/tmp\/archiso-work -o \/aios\/out \/aios\/out\/archiso\/profile/);
  t.match(result.stderr, /\[iso\] running mkarchiso in a docker\.io\/library\/archlinux:latest container \(podman\)/);
  t.ok(existsSync(`${iso}.sha256`), `${path.basename(iso)}.sha256`);
});
