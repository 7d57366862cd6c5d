// What the policy knows about programs: which only read, which write which operands, which
// run other code, and which variables make programs run other code. Unknown programs are
// "unknown", and the modes treat them as changing the system.
import path from 'node:path';
import type { Problem, SimpleCommand } from './shell.ts';

export type CommandEffect = 'read' | 'write' | 'destructive' | 'unknown';

export interface CommandClass {
  effect: CommandEffect;
  /** Paths the command writes (operands and redirections); null: only known at run time. */
  writes: (string | null)[];
  problems: Problem[];
}

/** Programs that only read (with the exceptions checked in READ_ONLY_UNLESS). */
const READ_ONLY = new Set([
  'ls', 'cat', 'head', 'tail', 'grep', 'egrep', 'fgrep', 'rg', 'wc', 'stat', 'file', 'du', 'df', 'free', 'uptime', 'uname', 'id',
  'whoami', 'groups', 'ps', 'pgrep', 'pidof', 'echo', 'printf', 'true', 'false', 'pwd', 'which', 'type', 'realpath', 'readlink',
  'basename', 'dirname', 'sort', 'uniq', 'cut', 'tr', 'diff', 'cmp', 'comm', 'md5sum', 'sha1sum', 'sha256sum', 'sha512sum', 'b2sum',
  'cksum', 'lsblk', 'lscpu', 'lsmod', 'lspci', 'lsusb', 'lsof', 'ss', 'netstat', 'printenv', 'test', '[', 'seq', 'sleep', 'tree',
  'find', 'dmesg', 'mount', 'findmnt', 'ip', 'git', 'date', 'hostname', 'env', 'column', 'nl', 'od', 'xxd', 'hexdump', 'strings',
  'base64', 'jq', 'awk', 'sed', 'tac', 'rev', 'fold', 'fmt', 'expand', 'paste', 'join', 'look', 'getent', 'last', 'who', 'w',
  'nproc', 'arch', 'vmstat', 'iostat', 'mpstat', 'top', 'htop', 'ping', 'dig', 'host', 'nslookup', 'cal', 'locale', 'tty', 'stty',
  'sensors', 'blkid', 'aios', 'pacman', 'ldd', 'whereis', 'expr', 'bc', 'factor', 'numfmt', 'true', ':', 'zcat', 'xzcat', 'bzcat',
  'zgrep', 'gzip', 'xz', 'unxz', 'gunzip', 'bzip2', 'tar', 'journalctl', 'systemctl', 'curl', 'wget',
]);

/** Read-only programs with options or subcommands that change the system. */
const READ_ONLY_UNLESS: Record<string, (args: (string | null)[]) => string | null> = {
  sort: (a) => (a.some((x) => x === '-o' || x?.startsWith('--output') || /^-[a-zA-Z]*o/.test(x ?? '')) ? 'sort -o writes a file' : null),
  dmesg: (a) => (a.some((x) => /^-[a-zA-Z]*[cCDEn]/.test(x ?? '') || /^--(clear|read-clear|console-)/.test(x ?? '')) ? 'dmesg -c/-C/-n changes the kernel log' : null),
  mount: (a) => (a.some((x) => x !== '-l' && x !== '--show-labels') ? 'mount with operands mounts a filesystem' : null),
  ip: (a) => {
    const words = a.filter((x) => x !== null && !x.startsWith('-'));
    return words.some((w) => ['add', 'del', 'delete', 'set', 'change', 'replace', 'flush', 'append', 'prepend', 'exec'].includes(w!)) ? `ip ${words.join(' ')} changes the network` : null;
  },
  date: (a) => (a.some((x) => x === '-s' || x?.startsWith('--set')) ? 'date -s sets the clock' : null),
  hostname: (a) => (a.some((x) => x !== null && !x.startsWith('-')) ? 'hostname NAME renames the machine' : null),
  uniq: (a) => (a.filter((x) => x === null || !x.startsWith('-')).length > 1 ? 'uniq IN OUT writes OUT' : null),
  sed: (a) => (a.some((x) => x === null || /(^|[;}\s])[0-9$,/]*\s*e\b/.test(x)) ? `${RUNS_CODE}a sed script with e runs commands` : a.some((x) => x !== null && (/^-[a-zA-Z]*i/.test(x) || x.startsWith('--in-place') || /(^|[;}\s])[0-9$,/]*\s*w\b/.test(x))) ? 'sed -i, or a sed script with w, writes files' : null),
  awk: (a) => (a.some((x) => x === null || /system\s*\(|\|\s*"|print[^;]*>|getline|-i|--include|-f|--file|-E|--exec|\bexec\b/.test(x)) ? `${RUNS_CODE}this awk program can run commands or write files` : null),
  git: (a) => {
    if (a.some((x) => x === null || x === '-c' || x.startsWith('--config-env') || x.startsWith('--exec-path') || x.startsWith('-c') || x.startsWith('--upload-pack') || x.startsWith('--receive-pack'))) {
      return `${RUNS_CODE}git -c/--config-env/--exec-path/--upload-pack can make git run other programs`;
    }
    const sub = a.find((x) => x !== null && !x.startsWith('-'));
    return ['status', 'log', 'diff', 'show', 'blame', 'rev-parse', 'ls-files', 'describe', 'shortlog', 'grep'].includes(sub ?? '') ? null : `git ${sub ?? ''} may change the repository`;
  },
  find: (a) => (a.some((x) => x === null || ['-delete', '-fprint', '-fprint0', '-fprintf', '-fls'].includes(x)) ? 'find -delete/-fprint changes files' : null),
  env: (a) => (a.length > 0 ? 'env with operands' : null),
  base64: () => null,
  gzip: (a) => (a.some((x) => x === '-c' || x === '--stdout' || x === '-l' || x === '--list' || x === '-t') ? null : 'gzip replaces files'),
  xz: (a) => (a.some((x) => x === '-c' || x === '--stdout' || x === '-l' || x === '--list' || x === '-t') ? null : 'xz replaces files'),
  unxz: (a) => (a.some((x) => x === '-c' || x === '--stdout') ? null : 'unxz replaces files'),
  gunzip: (a) => (a.some((x) => x === '-c' || x === '--stdout' || x === '-l') ? null : 'gunzip replaces files'),
  bzip2: (a) => (a.some((x) => x === '-c' || x === '--stdout') ? null : 'bzip2 replaces files'),
  tar: (a) => (/^-?[a-zA-Z]*[tT]/.test(a[0] ?? '') || a.some((x) => x === '--list' || x === '-t') ? null : 'tar creates or extracts files'),
  pacman: (a) => (a.some((x) => x !== null && /^-(Q|Ss|Si|Sl|Sg|Qi|Ql|Qs|Qo|Qk|Qm|Qdt|F)/.test(x)) && !a.some((x) => x !== null && /^-[a-zA-Z]*[SRUy]/.test(x) && !/^-(Ss|Si|Sl|Sg)/.test(x)) ? null : 'pacman changes packages'),
  aios: (a) => (['status', 'services', 'logs', 'tools', 'policy', 'audit', 'approvals', 'help', '--help'].includes(a[0] ?? '') && !(a[0] === 'audit' && a[1] === undefined) ? null : `aios ${a[0] ?? ''} may change the system`),
  systemctl: (a) => (['status', 'show', 'list-units', 'list-unit-files', 'is-active', 'is-enabled', 'is-failed', 'cat'].includes(a.find((x) => x !== null && !x.startsWith('-')) ?? '') ? null : 'systemctl changes services'),
  journalctl: (a) => (a.some((x) => x === null || /^--(vacuum|rotate|flush|sync|relinquish|setup-keys)/.test(x)) ? 'journalctl changes the journal' : null),
  curl: (a) => (a.some((x) => x === null || /^-[a-zA-Z]*[oOTdFK]/.test(x) || /^--(output|remote-name|upload-file|data|form|config|request|json)/.test(x) || x === '-X') ? 'curl writes files or sends data' : null),
  wget: (a) => (a.some((x) => x === '-O-' || x === '-qO-' || x === '-qO' || x === '--output-document=-') ? null : 'wget writes files'),
  top: (a) => (a.includes('-b') ? null : 'top is interactive'),
  htop: () => 'htop is interactive',
  stty: (a) => (a.length === 0 || a.every((x) => x === '-a' || x === '--all' || x === '-g') ? null : 'stty changes the terminal'),
};

/** The prefix of a READ_ONLY_UNLESS answer that means "runs code this policy cannot read". */
const RUNS_CODE = 'runs code: ';

/** Programs that write their operands; `target`: which operands are written. */
const WRITERS: Record<string, { destructive: boolean; withArg?: string[] }> = {
  rm: { destructive: true },
  rmdir: { destructive: true },
  unlink: { destructive: true },
  shred: { destructive: true, withArg: ['-n', '-s', '--iterations', '--size'] },
  mv: { destructive: true, withArg: ['-t', '-S', '--target-directory', '--suffix'] },
  cp: { destructive: false, withArg: ['-t', '-S', '--target-directory', '--suffix'] },
  install: { destructive: false, withArg: ['-m', '-o', '-g', '-t', '-S', '--mode', '--owner', '--group', '--target-directory'] },
  ln: { destructive: false, withArg: ['-t', '-S', '--target-directory', '--suffix'] },
  touch: { destructive: false, withArg: ['-d', '-r', '-t', '--date', '--reference'] },
  mkdir: { destructive: false, withArg: ['-m', '--mode'] },
  chmod: { destructive: false, withArg: ['--reference'] },
  chown: { destructive: false, withArg: ['--reference', '--from'] },
  chgrp: { destructive: false, withArg: ['--reference'] },
  chattr: { destructive: false },
  setfacl: { destructive: false, withArg: ['-m', '-x', '-M', '-X'] },
  truncate: { destructive: true, withArg: ['-s', '-r', '--size', '--reference'] },
  tee: { destructive: false },
  mkfifo: { destructive: false, withArg: ['-m', '--mode'] },
  mknod: { destructive: false, withArg: ['-m', '--mode'] },
  rsync: { destructive: true },
  patch: { destructive: false, withArg: ['-p', '-i', '-o', '-d', '-r', '-B'] },
  unzip: { destructive: false, withArg: ['-d', '-x'] },
  ed: { destructive: false },
  vi: { destructive: false },
  vim: { destructive: false },
  nano: { destructive: false },
};

/** Programs that change the system as a whole (no path operands to judge). */
const DESTRUCTIVE = new Set([
  'kill', 'killall', 'pkill', 'reboot', 'poweroff', 'halt', 'shutdown', 'init', 'telinit', 'userdel', 'groupdel', 'passwd',
  'chpasswd', 'usermod', 'crontab', 'iptables', 'ip6tables', 'nft', 'sysctl', 'swapoff', 'umount', 'losetup', 'cryptsetup',
  'lvremove', 'vgremove', 'pvremove', 'mdadm', 'dd', 'mkfs', 'wipefs', 'fdisk', 'sfdisk', 'parted', 'sgdisk', 'mkswap', 'kexec',
  'insmod', 'rmmod', 'modprobe', 'systemd-run', 'at', 'batch',
]);

/** Interpreters: with inline code or a script, they run code this policy cannot read. */
const INTERPRETERS: Record<string, string[]> = {
  python: ['-c'], python3: ['-c'], python2: ['-c'], perl: ['-e', '-E'], ruby: ['-e'], node: ['-e', '-p', '--eval', '--print'],
  php: ['-r'], lua: ['-e'], tclsh: [], Rscript: ['-e'], deno: ['eval'], bun: ['-e', '--eval'], osascript: ['-e'], gdb: ['-ex', '-batch'],
};

/**
 * Variables that make programs run other code or load other libraries: setting one turns
 * any command into an unknown one ("PAGER='sh -c ...' git log").
 */
const CODE_VARIABLES = /^(PAGER|GIT_PAGER|MANPAGER|SYSTEMD_PAGER|EDITOR|VISUAL|SUDO_EDITOR|GIT_EDITOR|LESSOPEN|LESSCLOSE|LESSKEY|BROWSER|LD_[A-Z_]+|BASH_ENV|ENV|PROMPT_COMMAND|PS[0-4]|IFS|PATH|CDPATH|SHELLOPTS|BASHOPTS|BASH_FUNC_.*|GIT_[A-Z_]+|SSH_ASKPASS|SUDO_ASKPASS|NODE_OPTIONS|NODE_PATH|PYTHON[A-Z_]*|PERL5?[A-Z_]*|RUBY[A-Z_]*|GCONV_PATH|HOSTALIASES|TMPDIR|HOME|XDG_CONFIG_HOME|MAIL|MAILPATH|GLOBIGNORE|FPATH|ZDOTDIR|TERMINFO|LOCPATH|NLSPATH|MALLOC_[A-Z_]+|GLIBC_TUNABLES|OPENSSL_CONF|SSLKEYLOGFILE|http_proxy|https_proxy|HTTP_PROXY|HTTPS_PROXY|ALL_PROXY|no_proxy)$/;

/** Non-option operands (after `--` everything is an operand). */
export function operands(args: (string | null)[], withArg: string[] = []): (string | null)[] {
  const out: (string | null)[] = [];
  let options = true;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (options && a === '--') {
      options = false;
      continue;
    }
    if (options && a !== null && a.startsWith('-') && a !== '-') {
      if (withArg.includes(a)) i += 1;
      continue;
    }
    out.push(a);
  }
  return out;
}

export function commandName(command: SimpleCommand): string | null {
  const first = command.argv[0];
  if (first === undefined) return '';
  return first === null ? null : path.posix.basename(first);
}

const ASCII_NAME = /^[\x21-\x7e]*$/;

export function classify(command: SimpleCommand): CommandClass {
  const problems: Problem[] = [];
  const writes = [...command.writes];
  for (const { name, value } of command.assigns) {
    if (CODE_VARIABLES.test(name)) {
      problems.push({ kind: 'unjudged', rule: 'builtin:code-variable', reason: `sets ${name}${value === null ? '' : `=${JSON.stringify(value)}`}, which makes programs run other code or load other libraries` });
    }
  }
  const name = commandName(command);
  if (name === null) {
    problems.push({ kind: 'unjudged', rule: 'builtin:dynamic-name', reason: `the command's name is only known at run time${command.via.length ? ` (run by ${command.via.join(' → ')})` : ''}` });
    return { effect: 'unknown', writes, problems };
  }
  if (name === '') return { effect: writes.length > 0 ? 'write' : command.assigns.length > 0 ? 'read' : 'read', writes, problems };
  if (!ASCII_NAME.test(name)) {
    problems.push({ kind: 'refuse', rule: 'builtin:non-ascii-name', reason: `the command name \`${name}\` holds characters outside printable ASCII (a look-alike of another command?)` });
    return { effect: 'unknown', writes, problems };
  }
  const args = command.argv.slice(1);
  const interpreter = INTERPRETERS[name] ?? (/^python3\.\d+$/.test(name) ? INTERPRETERS.python : undefined);
  if (interpreter) {
    const inline = args.some((a) => a === null || interpreter.includes(a) || interpreter.some((f) => a.startsWith(`${f}=`)));
    const script = operands(args)[0];
    if (inline || script !== undefined) {
      problems.push({ kind: 'unjudged', rule: 'builtin:interpreter', reason: `\`${name}\` runs ${inline ? 'inline code' : `the script ${script ?? '(known only at run time)'}`} that is not judged here` });
    } else {
      problems.push({ kind: 'unjudged', rule: 'builtin:interpreter', reason: `\`${name}\` runs code read from its input, which is not judged here` });
    }
    return { effect: 'unknown', writes, problems };
  }
  if (command.moreArgs && WRITERS[name]) {
    problems.push({ kind: 'unjudged', rule: 'builtin:unknown-operands', reason: `\`${name}\` gets operands at run time (${command.via.at(-1) ?? 'xargs'}), so what it changes is not known` });
  }
  const writer = WRITERS[name];
  if (writer) {
    const ops = operands(args, writer.withArg);
    if (name === 'tee' || name === 'touch' || name === 'mkdir' || name === 'rm' || name === 'rmdir' || name === 'unlink' || name === 'shred' || name === 'truncate' || name === 'mkfifo' || name === 'mknod' || name === 'ed' || name === 'vi' || name === 'vim' || name === 'nano') {
      writes.push(...ops);
    } else if (name === 'chmod' || name === 'chown' || name === 'chgrp' || name === 'chattr' || name === 'setfacl') {
      writes.push(...ops.slice(1)); // the mode or owner comes first
    } else if (name === 'patch' || name === 'unzip') {
      writes.push(...ops.slice(0, 1), ...(args.includes('-d') ? [args[args.indexOf('-d') + 1] ?? null] : []));
    } else {
      // cp, mv, ln, install, rsync: the destination is written; mv also removes its sources.
      const target = args.find((_, i) => args[i - 1] === '-t' || args[i - 1] === '--target-directory') ?? args.find((a) => a?.startsWith('--target-directory='))?.slice(20);
      if (target !== undefined) writes.push(target, ...(name === 'mv' ? ops : []));
      else if (name === 'mv' || name === 'rsync') writes.push(...ops);
      else writes.push(ops.at(-1) ?? null);
    }
    return { effect: writer.destructive ? 'destructive' : 'write', writes, problems };
  }
  if (name === 'dd') {
    for (const a of args) if (a === null || a.startsWith('of=')) writes.push(a === null ? null : a.slice(3));
    return { effect: 'destructive', writes, problems };
  }
  if (DESTRUCTIVE.has(name) || name.startsWith('mkfs')) return { effect: 'destructive', writes, problems };
  if (READ_ONLY.has(name)) {
    const why = READ_ONLY_UNLESS[name]?.(args) ?? null;
    if (why === null) return { effect: writes.length > 0 ? 'write' : 'read', writes, problems };
    if (why.startsWith(RUNS_CODE)) problems.push({ kind: 'unjudged', rule: 'builtin:runs-code', reason: why.slice(RUNS_CODE.length) });
    if (name === 'find') return { effect: 'destructive', writes: [...writes, ...findRoots(args)], problems };
    return { effect: 'unknown', writes, problems };
  }
  return { effect: 'unknown', writes, problems };
}

/** The directories find searches: its operands before the first expression word. */
function findRoots(args: (string | null)[]): (string | null)[] {
  const roots: (string | null)[] = [];
  for (const a of args) {
    if (a !== null && (a.startsWith('-') || a === '(' || a === '!')) break;
    roots.push(a);
  }
  return roots.length > 0 ? roots : ['.'];
}

/** Whether a recursive change aims at `/` or a top-level system directory. */
export function recursiveOnSystemTree(command: SimpleCommand): boolean {
  const name = commandName(command);
  if (name === 'find' && command.argv.includes('-delete')) return findRoots(command.argv.slice(1)).some((r) => r !== null && isSystemTree(r));
  if (!name || !['rm', 'chmod', 'chown', 'chgrp', 'shred', 'setfacl', 'chattr'].includes(name)) return false;
  const args = command.argv.slice(1);
  if (args.includes('--no-preserve-root')) return true;
  const recursive = args.some((a) => a !== null && (a === '--recursive' || /^-[a-zA-Z]*[rR]/.test(a)));
  if (!recursive) return false;
  const ops = operands(args).slice(name === 'rm' || name === 'shred' ? 0 : 1);
  return ops.some((op) => op !== null && isSystemTree(op)) || command.globs.some((g) => globReachesSystemTree(g));
}

const SYSTEM_TREES = new Set(['/', '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib64', '/lib32', '/opt', '/proc', '/root', '/run', '/sbin', '/srv', '/sys', '/usr', '/var', '/mnt', '/media']);

function isSystemTree(operand: string): boolean {
  const normal = path.posix.normalize(operand).replace(/\/+$/, '') || '/';
  return SYSTEM_TREES.has(normal);
}

/** `/*`, `/e*`, `/usr/*`: a pattern whose fixed part is at most one level below `/`. */
function globReachesSystemTree(pattern: string): boolean {
  const fixed = globPrefix(pattern);
  return fixed === '/' || isSystemTree(fixed);
}

/** The directory a glob starts from: everything before the first component with a wildcard. */
export function globPrefix(pattern: string): string {
  const normal = path.posix.normalize(pattern);
  const parts = normal.split('/');
  const first = parts.findIndex((p) => /[*?[{]/.test(p));
  const fixed = parts.slice(0, first < 0 ? parts.length : first).join('/');
  return fixed === '' ? (normal.startsWith('/') ? '/' : '.') : fixed;
}
