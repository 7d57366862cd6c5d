// Security audits that only read: permissions of the files an attacker would want, sockets open
// to every network, accounts that can log in, failed logins. Each takes `root` so it can audit
// a mounted image (or a test's fake tree) as well as the running system.
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import * as z from 'zod/mini';
import { defineTool, ToolError, type Tool } from './tool.ts';
import { listeningSockets } from './net-tools.ts';
import { findProgram, runProgram } from './sys-tools.ts';

const audit: Pick<Tool, 'capability' | 'effects' | 'risk' | 'undo'> = { capability: 'sec.audit', effects: ['reads'], risk: 'low', undo: 'none' };

const rootSchema = z._default(
  z.string().check(
    z.refine((v) => path.isAbsolute(v) && !v.includes('\0'), { error: (iss) => `root must be an absolute path, got ${JSON.stringify(iss.input)}` }),
  ),
  '/',
);

const severitySchema = z.enum(['none', 'low', 'medium', 'high']);
type Severity = z.infer<typeof severitySchema>;
const RANK: Record<Severity, number> = { none: 0, low: 1, medium: 2, high: 3 };
const worst = (a: Severity, b: Severity): Severity => (RANK[a] >= RANK[b] ? a : b);

function readOptional(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** id → name from a passwd or group file (name:x:id:…). */
function idNames(file: string): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of (readOptional(file) ?? '').split('\n')) {
    const [name, , id] = line.split(':');
    if (name && id !== undefined && /^\d+$/.test(id) && !names.has(Number(id))) names.set(Number(id), name);
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// File permissions

interface PermissionRule {
  /** As on the running system; `*` matches within one directory, a trailing `/**` a whole tree. */
  pattern: string;
  type: 'file' | 'dir';
  /** The mode a well-kept system has. */
  expected: number;
  /** Bits that may be set without a finding. */
  allowed: number;
  /** Reading it gives something away (password hashes, private keys): read by others is high. */
  secret: boolean;
  /** Groups that may hold the group bits (shadow's group on Debian, ssh_keys on Fedora). */
  groups?: string[];
  why: string;
}

const RULES: PermissionRule[] = [
  { pattern: '/etc/shadow', type: 'file', expected: 0o600, allowed: 0o640, secret: true, groups: ['root', 'shadow'], why: 'password hashes' },
  { pattern: '/etc/gshadow', type: 'file', expected: 0o600, allowed: 0o640, secret: true, groups: ['root', 'shadow'], why: 'group password hashes' },
  { pattern: '/etc/passwd', type: 'file', expected: 0o644, allowed: 0o644, secret: false, why: 'accounts and their uids' },
  { pattern: '/etc/group', type: 'file', expected: 0o644, allowed: 0o644, secret: false, why: 'group membership (wheel grants sudo)' },
  { pattern: '/etc/sudoers', type: 'file', expected: 0o440, allowed: 0o440, secret: false, why: 'who may become root' },
  { pattern: '/etc/sudoers.d', type: 'dir', expected: 0o750, allowed: 0o755, secret: false, why: 'who may become root' },
  { pattern: '/etc/sudoers.d/*', type: 'file', expected: 0o440, allowed: 0o440, secret: false, why: 'who may become root' },
  { pattern: '/etc/ssh/sshd_config', type: 'file', expected: 0o644, allowed: 0o644, secret: false, why: 'how ssh lets people in' },
  { pattern: '/etc/ssh/ssh_host_*_key', type: 'file', expected: 0o600, allowed: 0o640, secret: true, groups: ['root', 'ssh_keys'], why: "the machine's ssh identity (private key)" },
  { pattern: '/etc/ssh/ssh_host_*_key.pub', type: 'file', expected: 0o644, allowed: 0o644, secret: false, why: "the machine's ssh identity (public key)" },
  { pattern: '/root/.ssh', type: 'dir', expected: 0o700, allowed: 0o755, secret: false, why: "root's ssh keys (sshd ignores them if others can write here)" },
  { pattern: '/root/.ssh/authorized_keys', type: 'file', expected: 0o600, allowed: 0o644, secret: false, why: 'whose keys may log in as root' },
  { pattern: '/etc/aios', type: 'dir', expected: 0o755, allowed: 0o755, secret: false, why: 'aiOS configuration' },
  { pattern: '/etc/aios/**', type: 'file', expected: 0o644, allowed: 0o755, secret: false, why: 'aiOS configuration (service files run as root)' },
  { pattern: '/var/lib/aios', type: 'dir', expected: 0o755, allowed: 0o755, secret: false, why: 'aiOS state' },
  { pattern: '/var/lib/aios/audit.db', type: 'file', expected: 0o600, allowed: 0o644, secret: false, why: 'the audit log' },
  { pattern: '/var/lib/aios/audit.db-wal', type: 'file', expected: 0o600, allowed: 0o644, secret: false, why: 'the audit log (write-ahead log)' },
];

const findingSchema = z.object({
  /** The path as the audited system sees it (without `root`). */
  path: z.string(),
  status: z.enum(['ok', 'problem', 'absent']),
  type: z.nullable(z.enum(['file', 'dir', 'symlink', 'other'])),
  mode: z.nullable(z.string()),
  owner: z.nullable(z.string()),
  group: z.nullable(z.string()),
  expected: z.string(),
  severity: severitySchema,
  problems: z.array(z.string()),
  why: z.string(),
});
type Finding = z.infer<typeof findingSchema>;

const octal = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');

function globToRegExp(glob: string): RegExp {
  return new RegExp(`^${glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
}

/** The system paths a rule covers under root; a fixed path is returned even when it is absent. */
function expand(root: string, rule: PermissionRule): string[] {
  if (rule.pattern.endsWith('/**')) {
    const base = rule.pattern.slice(0, -3);
    const out: string[] = [];
    const walk = (dir: string, depth: number): void => {
      let entries: string[];
      try {
        entries = readdirSync(path.join(root, dir)).sort();
      } catch {
        return;
      }
      for (const entry of entries) {
        const system = `${dir}/${entry}`;
        out.push(system);
        // lstat: a symlinked directory is reported, not followed out of the tree.
        if (depth < 4 && lstatSafe(path.join(root, system))?.isDirectory()) walk(system, depth + 1);
      }
    };
    walk(base, 0);
    return out;
  }
  if (!rule.pattern.includes('*')) return [rule.pattern];
  const dir = path.posix.dirname(rule.pattern);
  const match = globToRegExp(path.posix.basename(rule.pattern));
  try {
    return readdirSync(path.join(root, dir))
      .filter((name) => match.test(name))
      .sort()
      .map((name) => `${dir}/${name}`);
  } catch {
    return [];
  }
}

function lstatSafe(file: string): Stats | null {
  try {
    return lstatSync(file);
  } catch {
    return null;
  }
}

function typeOf(s: Stats): Finding['type'] {
  return s.isSymbolicLink() ? 'symlink' : s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other';
}

function judge(root: string, system: string, rule: PermissionRule, users: Map<number, string>, groups: Map<number, string>): Finding {
  const expected = `${octal(rule.expected)} owner root${rule.groups ? ` group ${rule.groups.join(' or ')}` : ''}`;
  const base = { path: system, expected, why: rule.why };
  const full = path.join(root, system);
  let s = lstatSafe(full);
  if (!s) return { ...base, status: 'absent', type: null, mode: null, owner: null, group: null, severity: 'none', problems: [] };
  const problems: string[] = [];
  let severity: Severity = 'none';
  const problem = (level: Severity, text: string): void => {
    problems.push(text);
    severity = worst(severity, level);
  };
  let type = typeOf(s);
  if (s.isSymbolicLink()) {
    let target = '?';
    try {
      target = readlinkSync(full);
    } catch {
      // Reported as a link to an unknown target.
    }
    problem('medium', `is a symbolic link to ${target}: whoever controls the target controls this file`);
    try {
      s = statSync(full);
      type = typeOf(s);
    } catch {
      return { ...base, status: 'problem', type, mode: null, owner: null, group: null, severity, problems: [...problems.slice(0, -1), `is a dangling symbolic link to ${target}`] };
    }
  }
  // A directory that matched a file pattern (e.g. /etc/aios/services) is judged as a directory.
  const wanted = rule.pattern.endsWith('/**') && type === 'dir' ? 'dir' : rule.type;
  const allowed = wanted === 'dir' && rule.type === 'file' ? rule.allowed | 0o111 : rule.allowed;
  if (type !== wanted && type !== 'symlink') problem('medium', `is a ${type}, expected a ${wanted}`);
  const mode = s.mode & 0o7777;
  const excess = mode & ~allowed;
  const owner = users.get(s.uid) ?? String(s.uid);
  const group = groups.get(s.gid) ?? String(s.gid);
  if (s.uid !== 0) problem('high', `owned by ${owner} (uid ${s.uid}), not root: that user can change it`);
  if (excess & 0o002) problem('high', 'anyone can write it');
  if (excess & 0o020) problem('high', `group ${group} can write it`);
  if (excess & 0o004) problem(rule.secret ? 'high' : 'low', `anyone can read it${rule.secret ? ` (${rule.why})` : ''}`);
  if (excess & 0o040) problem(rule.secret ? 'high' : 'low', `group ${group} can read it`);
  if (excess & 0o7000) problem('medium', `has setuid, setgid or sticky bits (${octal(excess & 0o7000)})`);
  if (excess & 0o111 && wanted === 'file') problem('low', 'is executable');
  if (rule.groups && mode & 0o070 && !rule.groups.includes(group) && !(excess & 0o060)) problem(rule.secret ? 'high' : 'medium', `group ${group} has access; expected group ${rule.groups.join(' or ')}`);
  return { ...base, status: problems.length ? 'problem' : 'ok', type, mode: octal(mode), owner, group, severity, problems };
}

export function auditPermissions(root: string): Finding[] {
  const users = idNames(path.join(root, 'etc/passwd'));
  const groups = idNames(path.join(root, 'etc/group'));
  users.set(0, users.get(0) ?? 'root');
  groups.set(0, groups.get(0) ?? 'root');
  const findings: Finding[] = [];
  const seen = new Set<string>();
  for (const rule of RULES) {
    for (const system of expand(root, rule)) {
      if (seen.has(system)) continue;
      seen.add(system);
      findings.push(judge(root, system, rule, users, groups));
    }
  }
  return findings;
}

export const filePermissionsTool = defineTool({
  name: 'sec.file_permissions',
  description: 'Audit owner and mode of sensitive files (shadow, passwd, sudoers, ssh host keys and config, root authorized_keys, /etc/aios, the audit log) and report each problem with a severity.',
  input: z.strictObject({ root: rootSchema }),
  output: z.object({
    root: z.string(),
    checked: z.number(),
    absent: z.number(),
    problems: z.object({ high: z.number(), medium: z.number(), low: z.number() }),
    findings: z.array(findingSchema),
  }),
  ...audit,
  timeoutMs: 10_000,
  paths: (input) => ({ read: [...new Set(RULES.map((r) => path.join(input.root, r.pattern.replace(/\/\*\*$/, '').replace(/\/[^/]*\*[^/]*$/, ''))))] }),
  async run(input) {
    if (!existsSync(input.root)) throw new ToolError('ENOENT', `sec.file_permissions: root ${input.root} does not exist`);
    const findings = auditPermissions(input.root);
    const count = (level: Severity): number => findings.filter((f) => f.severity === level).length;
    return {
      root: input.root,
      checked: findings.filter((f) => f.status !== 'absent').length,
      absent: findings.filter((f) => f.status === 'absent').length,
      problems: { high: count('high'), medium: count('medium'), low: count('low') },
      findings,
    };
  },
  render(r) {
    const bad = r.findings.filter((f) => f.status === 'problem').sort((a, b) => RANK[b.severity] - RANK[a.severity]);
    const lines = [`${r.checked} files checked under ${r.root}: ${r.problems.high} high, ${r.problems.medium} medium, ${r.problems.low} low`];
    for (const f of bad) lines.push(`${f.severity.toUpperCase().padEnd(6)} ${f.path} ${f.mode} ${f.owner}:${f.group} (expected ${f.expected}): ${f.problems.join('; ')}`);
    const absent = r.findings.filter((f) => f.status === 'absent').map((f) => f.path);
    if (absent.length) lines.push(`absent: ${absent.join(' ')}`);
    return lines.join('\n');
  },
});

// ---------------------------------------------------------------------------------------------
// Listening sockets open to every network

const exposedSchema = z.object({
  protocol: z.enum(['tcp', 'tcp6', 'udp', 'udp6']),
  address: z.string(),
  port: z.number(),
  pid: z.nullable(z.number()),
  program: z.nullable(z.string()),
  severity: severitySchema,
  note: z.string(),
});

export const listeningAuditTool = defineTool({
  name: 'sec.listening_audit',
  description: 'Flag listening sockets bound to all addresses (0.0.0.0 or ::), reachable from every network, with the program that owns each.',
  input: z.strictObject({}),
  output: z.object({ exposed: z.array(exposedSchema), localOnly: z.number(), total: z.number() }),
  ...audit,
  timeoutMs: 10_000,
  async run() {
    if (!existsSync('/proc/net/tcp')) throw new ToolError('ENOENT', 'sec.listening_audit: /proc/net/tcp cannot be read (is /proc mounted?)');
    const sockets = listeningSockets();
    const exposed = sockets
      .filter((s) => s.allAddresses)
      .map((s) => {
        const tcp = s.protocol.startsWith('tcp');
        const who = s.program ? `${s.program} (pid ${s.pid})` : 'an unknown process (another network namespace, or one this user may not inspect)';
        return {
          protocol: s.protocol,
          address: s.address,
          port: s.port,
          pid: s.pid,
          program: s.program,
          // An unowned socket cannot be judged, so it counts as worse than a known one.
          severity: (tcp ? (s.program ? 'medium' : 'high') : s.program ? 'low' : 'medium') as Severity,
          note: `${tcp ? 'accepts connections' : 'receives datagrams'} on port ${s.port} from any network, held by ${who}; bind it to 127.0.0.1 or filter it if it is not meant to be public`,
        };
      });
    return { exposed, localOnly: sockets.length - exposed.length, total: sockets.length };
  },
  render(r) {
    if (r.exposed.length === 0) return `no socket is open to all networks (${r.localOnly} listen on specific addresses only)`;
    return [
      `${r.exposed.length} of ${r.total} listening sockets are open to all networks:`,
      ...r.exposed.map((s) => `${s.severity.toUpperCase().padEnd(6)} ${s.protocol} ${s.address.includes(':') ? `[${s.address}]` : s.address}:${s.port}  ${s.program ? `${s.program} (pid ${s.pid})` : 'owner unknown'}`),
    ].join('\n');
  },
});

// ---------------------------------------------------------------------------------------------
// Accounts with a login shell

const NOT_SHELLS = new Set(['nologin', 'false', 'sync', 'shutdown', 'halt', 'true']);

const shellUserSchema = z.object({
  name: z.string(),
  uid: z.number(),
  gid: z.number(),
  home: z.string(),
  shell: z.string(),
  /** From shadow: `empty` means anyone can log in without a password. */
  password: z.enum(['set', 'locked', 'empty', 'unknown']),
  severity: severitySchema,
  notes: z.array(z.string()),
});
type ShellUser = z.infer<typeof shellUserSchema>;

function passwordState(field: string | undefined): ShellUser['password'] {
  if (field === undefined) return 'unknown';
  if (field === '') return 'empty';
  return field.startsWith('!') || field.startsWith('*') ? 'locked' : 'set';
}

export function shellUsers(root: string): ShellUser[] {
  const passwd = readOptional(path.join(root, 'etc/passwd'));
  if (passwd === null) throw new ToolError('ENOENT', `sec.shell_users: ${path.join(root, 'etc/passwd')} cannot be read`);
  const shadowText = readOptional(path.join(root, 'etc/shadow'));
  const shadow = new Map((shadowText ?? '').split('\n').filter(Boolean).map((line) => [line.split(':')[0]!, line.split(':')[1] ?? ''] as const));
  const shellsText = readOptional(path.join(root, 'etc/shells'));
  const shells = shellsText === null ? null : new Set(shellsText.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
  const users: ShellUser[] = [];
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !f[0] || line.startsWith('#')) continue;
    const [name, pass, uid, gid, , home, shellField] = f as [string, string, string, string, string, string, string];
    // login(1) runs /bin/sh for an empty shell field.
    const shell = shellField.trim() || '/bin/sh';
    if (NOT_SHELLS.has(path.posix.basename(shell)) || shell === '/dev/null') continue;
    const notes: string[] = [];
    let severity: Severity = 'none';
    const note = (level: Severity, text: string): void => {
      notes.push(text);
      severity = worst(severity, level);
    };
    let password: ShellUser['password'];
    if (pass !== 'x' && pass !== '*' && pass !== '!') {
      password = passwordState(pass);
      if (pass) note('high', 'password hash is in /etc/passwd, which everyone can read');
    } else {
      password = shadowText === null ? 'unknown' : passwordState(shadow.get(name));
    }
    if (password === 'empty') note('high', `no password: anyone at a console can log in as ${name}`);
    if (Number(uid) === 0 && name !== 'root') note('high', 'uid 0: a second root account');
    if (shells && !shells.has(shell)) note('low', `${shell} is not listed in /etc/shells`);
    if (password === 'unknown') notes.push(shadowText === null ? 'password state unknown (shadow not readable)' : 'no entry in /etc/shadow');
    users.push({ name, uid: Number(uid), gid: Number(gid), home, shell, password, severity, notes });
  }
  return users;
}

export const shellUsersTool = defineTool({
  name: 'sec.shell_users',
  description: 'Accounts in /etc/passwd that have a real login shell (not nologin or false), with their password state and anything suspicious.',
  input: z.strictObject({ root: rootSchema }),
  output: z.object({ root: z.string(), users: z.array(shellUserSchema) }),
  ...audit,
  timeoutMs: 5_000,
  paths: (input) => ({ read: ['etc/passwd', 'etc/shadow', 'etc/shells'].map((f) => path.join(input.root, f)) }),
  async run(input) {
    return { root: input.root, users: shellUsers(input.root) };
  },
  render(r) {
    if (r.users.length === 0) return 'no account has a login shell';
    return r.users.map((u) => `${u.name} (uid ${u.uid}) ${u.shell}, password ${u.password}${u.notes.length ? ` - ${u.notes.join('; ')}` : ''}`).join('\n');
  },
});

// ---------------------------------------------------------------------------------------------
// Failed logins

const attemptSchema = z.object({
  time: z.nullable(z.string()),
  user: z.string(),
  from: z.nullable(z.string()),
  /** The terminal (btmp) or the program that logged it (sshd, login, su). */
  via: z.nullable(z.string()),
});
type Attempt = z.infer<typeof attemptSchema>;
const countSchema = z.array(z.object({ name: z.string(), count: z.number() }));

const failedLoginsSchema = z.object({
  source: z.enum(['lastb', 'btmp', 'auth log', 'none']),
  /** The file read, or null for `none`. */
  file: z.nullable(z.string()),
  note: z.string(),
  total: z.number(),
  /** Newest first, at most `limit`. */
  attempts: z.array(attemptSchema),
  byUser: countSchema,
  byAddress: countSchema,
});
type FailedLogins = z.infer<typeof failedLoginsSchema>;

/** lastb -a -w --time-format iso: `user tty START - END (DURATION)  host`, newest first. */
export function parseLastb(text: string): Attempt[] {
  const attempts: Attempt[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(\S*)\s+(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:?\d\d)(.*)$/.exec(line);
    // The last line, "btmp begins TIME", has the same shape.
    if (!m || (m[2] === 'begins' && !m[4]!.includes('('))) continue;
    const host = /\)\s+(\S+)\s*$/.exec(m[4]!)?.[1] ?? null;
    attempts.push({ time: new Date(m[3]!).toISOString(), user: m[1]!, from: host && host !== '0.0.0.0' ? host : null, via: m[2] || null });
  }
  return attempts;
}

const UTMP_SIZE = 384;

/** btmp is an array of struct utmp (glibc x86-64 and aarch64 layout); read when lastb is absent. */
export function parseBtmp(data: Buffer): Attempt[] {
  const text = (offset: number, length: number): string => {
    const raw = data.subarray(offset, offset + length);
    const end = raw.indexOf(0);
    return raw.subarray(0, end < 0 ? length : end).toString('utf8');
  };
  const attempts: Attempt[] = [];
  for (let at = 0; at + UTMP_SIZE <= data.length; at += UTMP_SIZE) {
    const type = data.readInt32LE(at);
    const user = text(at + 44, 32);
    // LOGIN_PROCESS (6) and USER_PROCESS (7) are what login programs write for a failure.
    if ((type !== 6 && type !== 7) || !user) continue;
    const seconds = data.readInt32LE(at + 340);
    let from: string | null = text(at + 76, 256) || null;
    if (!from && data.readUInt32LE(at + 348) !== 0) from = [...data.subarray(at + 348, at + 352)].join('.');
    attempts.push({ time: seconds ? new Date(seconds * 1000).toISOString() : null, user, from, via: text(at + 8, 32) || null });
  }
  return attempts.reverse();
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A syslog time: RFC 3339 (`2026-11-03T10:00:00+00:00`) or BSD (`Nov  3 10:00:00`, no year: the latest such time not in the future). */
function syslogTime(line: string, now: Date): { time: string | null; rest: string } {
  const iso = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)\s+(.*)$/.exec(line);
  if (iso) {
    const t = new Date(iso[1]!);
    return { time: Number.isNaN(t.getTime()) ? null : t.toISOString(), rest: iso[2]! };
  }
  const bsd = /^([A-Z][a-z]{2})\s+(\d{1,2}) (\d\d):(\d\d):(\d\d)\s+(.*)$/.exec(line);
  if (bsd && MONTHS.includes(bsd[1]!)) {
    const month = MONTHS.indexOf(bsd[1]!);
    let t = new Date(now.getFullYear(), month, Number(bsd[2]), Number(bsd[3]), Number(bsd[4]), Number(bsd[5]));
    if (t.getTime() > now.getTime() + 86_400_000) t = new Date(now.getFullYear() - 1, month, Number(bsd[2]), Number(bsd[3]), Number(bsd[4]), Number(bsd[5]));
    return { time: t.toISOString(), rest: bsd[6]! };
  }
  return { time: null, rest: line };
}

/**
 * Failed logins in an auth log (sshd, login, busybox login, su, sudo). PAM's own
 * "authentication failure" line for sshd is skipped: sshd's "Failed password" line counts it.
 */
export function parseAuthLog(text: string, now = new Date()): Attempt[] {
  const attempts: Attempt[] = [];
  for (const line of text.split('\n')) {
    const { time, rest } = syslogTime(line, now);
    const program = /^\S+\s+([\w.@/-]+?)(?:\[\d+\])?:\s/.exec(rest)?.[1] ?? null;
    let m: RegExpExecArray | null;
    if ((m = /Failed (?:password|publickey|none|keyboard-interactive\/pam) for (?:invalid user )?(\S*) from (\S+)/.exec(rest))) {
      attempts.push({ time, user: m[1]!, from: m[2]!, via: program });
    } else if ((m = /FAILED LOGIN \(\d+\) on '([^']*)' FOR '([^']*)'/.exec(rest))) {
      attempts.push({ time, user: m[2]!, from: null, via: m[1]! });
    } else if ((m = /invalid password for '([^']*)' on '([^']*)'/.exec(rest))) {
      attempts.push({ time, user: m[1]!, from: null, via: m[2]! });
    } else if ((m = /pam_unix\((\w[\w-]*):auth\): authentication failure;.*?(?:rhost=(\S*))?\s+user=(\S+)/.exec(rest)) && m[1] !== 'sshd') {
      attempts.push({ time, user: m[3]!, from: m[2] || null, via: m[1]! });
    } else if ((m = /^\S+\s+sudo(?:\[\d+\])?:\s+(\S+) : (?:\d+ )?incorrect password attempts?/.exec(rest))) {
      attempts.push({ time, user: m[1]!, from: null, via: 'sudo' });
    }
  }
  return attempts.reverse();
}

function tally(values: (string | null)[]): { name: string; count: number }[] {
  const counts = new Map<string, number>();
  for (const v of values) if (v) counts.set(v, (counts.get(v) ?? 0) + 1);
  return [...counts].map(([name, count]) => ({ name, count })).sort((a, b) => b.count - a.count || a.name.localeCompare(b.name)).slice(0, 20);
}

function summarise(source: FailedLogins['source'], file: string | null, note: string, attempts: Attempt[], limit: number): FailedLogins {
  return {
    source,
    file,
    note,
    total: attempts.length,
    attempts: attempts.slice(0, limit),
    byUser: tally(attempts.map((a) => a.user)),
    byAddress: tally(attempts.map((a) => a.from)),
  };
}

const AUTH_LOGS = ['var/log/auth.log', 'var/log/secure', 'var/log/messages'];

export const failedLoginsTool = defineTool({
  name: 'sec.failed_logins',
  description: 'Recent failed login attempts (from lastb and btmp, or else the auth log), counted by user and by source address; says which source was used, or that the system keeps none.',
  input: z.strictObject({
    root: rootSchema,
    limit: z._default(z.int().check(z.gte(1, 'limit must be at least 1'), z.lte(1000, 'limit must be at most 1000')), 50),
  }),
  output: failedLoginsSchema,
  ...audit,
  timeoutMs: 15_000,
  paths: (input) => ({ read: ['var/log/btmp', ...AUTH_LOGS].map((f) => path.join(input.root, f)) }),
  async run(input, context) {
    const btmp = path.join(input.root, 'var/log/btmp');
    if (existsSync(btmp)) {
      const lastb = findProgram('lastb');
      if (lastb) {
        const { exitCode, stdout } = await runProgram(lastb, ['-a', '-w', '--time-format', 'iso', '-f', btmp], { signal: context.signal, timeoutMs: 10_000 });
        if (exitCode === 0) return summarise('lastb', btmp, `read ${btmp} with ${lastb}`, parseLastb(stdout), input.limit);
        // An old or odd lastb (no --time-format): the file is read directly below.
      }
      try {
        return summarise('btmp', btmp, `read ${btmp} directly (no usable lastb program)`, parseBtmp(readFileSync(btmp)), input.limit);
      } catch (error) {
        throw new ToolError((error as { code?: string }).code ?? 'EFAILED', `sec.failed_logins: ${btmp}: ${(error as Error).message}`);
      }
    }
    for (const relative of AUTH_LOGS) {
      const file = path.join(input.root, relative);
      const text = readOptional(file);
      if (text === null) continue;
      return summarise('auth log', file, `no ${btmp}; parsed ${file} for sshd, login, su and sudo failures`, parseAuthLog(text), input.limit);
    }
    return summarise(
      'none',
      null,
      `this system keeps no record of failed logins: no ${btmp} and no ${AUTH_LOGS.map((f) => path.join(input.root, f)).join(', ')} (no syslog daemon writes one)`,
      [],
      input.limit,
    );
  },
  render(r) {
    if (r.source === 'none') return r.note;
    if (r.total === 0) return `no failed logins (${r.note})`;
    return [
      `${r.total} failed logins (${r.note})`,
      `by user: ${r.byUser.map((u) => `${u.name} ${u.count}`).join(', ')}`,
      ...(r.byAddress.length ? [`by address: ${r.byAddress.map((a) => `${a.name} ${a.count}`).join(', ')}`] : []),
      ...r.attempts.slice(0, 10).map((a) => `${a.time?.slice(0, 19).replace('T', ' ') ?? '?'}  ${a.user}${a.from ? ` from ${a.from}` : ''}${a.via ? ` (${a.via})` : ''}`),
    ].join('\n');
  },
});

export const SEC_TOOLS = [filePermissionsTool, listeningAuditTool, shellUsersTool, failedLoginsTool];
