// sec.*: audits of a fake root tree with planted mistakes, and of sockets this test opens.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import type * as z from 'zod/mini';
import { callTool, type Tool, type ToolContext } from '../../src/tools/tool.ts';
import { SEC_TOOLS, failedLoginsTool, filePermissionsTool, listeningAuditTool, parseAuthLog, shellUsersTool } from '../../src/tools/sec-tools.ts';
import { findProgram } from '../../src/tools/sys-tools.ts';

const context: ToolContext = { runDir: os.tmpdir(), stateDir: os.tmpdir(), signal: new AbortController().signal };
const isRoot = process.getuid?.() === 0;

async function ok<O>(t: Test, tool: Tool<z.ZodMiniType, O>, args: unknown): Promise<O> {
  const result = await callTool(tool, args, context);
  if (!result.ok) throw new Error(`${tool.name} failed: ${result.code} ${result.message}`);
  t.ok(tool.output.safeParse(result.data).success, `${tool.name}: data matches its output schema`);
  t.type(tool.render(result.data), 'string');
  return result.data;
}

function fakeRoot(t: Test): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'aios-sec-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

/** Writes ROOT/relative with exactly this mode (and owner, where the test runs as root). */
function plant(root: string, relative: string, mode: number, text = '', uid = 0, gid = 0): void {
  const file = path.join(root, relative);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  // chown first: it clears setuid bits.
  if (isRoot) chownSync(file, uid, gid);
  chmodSync(file, mode);
}

function dir(root: string, relative: string, mode: number, uid = 0, gid = 0): void {
  const d = path.join(root, relative);
  mkdirSync(d, { recursive: true });
  if (isRoot) chownSync(d, uid, gid);
  chmodSync(d, mode);
}

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'daemon:x:1:1::/:/usr/sbin/nologin',
  'sync:x:4:65534:sync:/bin:/bin/sync',
  'alice:x:1000:1000::/home/alice:/bin/zsh',
  'bob:x:1002:1002::/home/bob:/bin/false',
  'toor:x:0:0::/root:/bin/sh',
  'nopass:x:1001:1001::/home/nopass:',
  'legacy:$6$salt$hash:1003:1003::/home/legacy:/bin/bash',
  'weird:x:1004:1004::/:/opt/shell',
  '',
].join('\n');
const SHADOW = ['root:!*:20000::::::', 'alice:$6$salt$hash:20000:0:99999:7:::', 'toor:$6$x$y:20000::::::', 'nopass::20000::::::', 'bob:!:20000::::::', ''].join('\n');
const GROUP = ['root:x:0:', 'shadow:x:42:', 'users:x:100:', 'alice:x:1000:', ''].join('\n');

t.test('the family reads only', async (t) => {
  t.same(SEC_TOOLS.map((x) => x.name), ['sec.file_permissions', 'sec.listening_audit', 'sec.shell_users', 'sec.failed_logins']);
  for (const tool of SEC_TOOLS) t.same([tool.effects, tool.undo], [['reads'], 'none'], tool.name);
  const bad = await callTool(filePermissionsTool, { root: 'relative/dir' }, context);
  t.same(bad.ok ? 'ok' : [bad.code, /root must be an absolute path/.test(bad.message)], ['EINVAL', true]);
});

t.test('sec.file_permissions finds every planted mistake, and nothing on the well-kept files', { skip: !isRoot && 'needs root to plant files owned by root and by others' }, async (t) => {
  const root = fakeRoot(t);
  plant(root, 'etc/passwd', 0o644, PASSWD);
  plant(root, 'etc/group', 0o664, GROUP);
  plant(root, 'etc/shadow', 0o644, SHADOW);
  plant(root, 'etc/sudoers', 0o440, 'root ALL=(ALL:ALL) ALL\n');
  dir(root, 'etc/sudoers.d', 0o750);
  plant(root, 'etc/sudoers.d/alice', 0o440, 'alice ALL=(ALL) NOPASSWD: ALL\n', 1000, 1000);
  plant(root, 'etc/sudoers.d/99-open', 0o666);
  plant(root, 'etc/ssh/sshd_config', 0o755);
  plant(root, 'etc/ssh/ssh_host_ed25519_key', 0o644);
  plant(root, 'etc/ssh/ssh_host_ed25519_key.pub', 0o644);
  plant(root, 'etc/ssh/ssh_host_rsa_key', 0o640, '', 0, 100);
  plant(root, 'etc/ssh/ssh_host_ecdsa_key', 0o640, '', 0, 42);
  dir(root, 'etc/aios', 0o755);
  dir(root, 'etc/aios/services', 0o777);
  plant(root, 'etc/aios/services/web.toml', 0o644);
  plant(root, 'etc/aios/config.toml', 0o4664, '', 0, 1000);
  dir(root, 'var/lib/aios', 0o755);
  plant(root, 'var/lib/aios/audit.db', 0o600);

  const r = await ok(t, filePermissionsTool, { root });
  t.equal(r.root, root);
  const by = new Map(r.findings.map((f) => [f.path, f]));
  const check = (p: string, severity: string, mode: string | null, problems: RegExp[]): void => {
    const f = by.get(p);
    if (!f) {
      t.fail(`no finding for ${p}`);
      return;
    }
    t.equal(f.severity, severity, `${p} severity`);
    t.equal(f.mode, mode, `${p} mode`);
    t.equal(f.problems.length, problems.length, `${p}: ${f.problems.join('; ')}`);
    problems.forEach((re, i) => t.match(f.problems[i], re, p));
  };
  check('/etc/passwd', 'none', '0644', []);
  check('/etc/group', 'high', '0664', [/group root can write it/]);
  check('/etc/shadow', 'high', '0644', [/anyone can read it \(password hashes\)/]);
  check('/etc/gshadow', 'none', null, []);
  check('/etc/sudoers', 'none', '0440', []);
  check('/etc/sudoers.d', 'none', '0750', []);
  check('/etc/sudoers.d/alice', 'high', '0440', [/owned by alice \(uid 1000\), not root/]);
  check('/etc/sudoers.d/99-open', 'high', '0666', [/anyone can write it/, /group root can write it/, /anyone can read it/]);
  check('/etc/ssh/sshd_config', 'low', '0755', [/is executable/]);
  check('/etc/ssh/ssh_host_ed25519_key', 'high', '0644', [/anyone can read it \(the machine's ssh identity/]);
  check('/etc/ssh/ssh_host_ed25519_key.pub', 'none', '0644', []);
  check('/etc/ssh/ssh_host_rsa_key', 'high', '0640', [/group users has access; expected group root or ssh_keys/]);
  check('/etc/ssh/ssh_host_ecdsa_key', 'high', '0640', [/group shadow has access/]);
  check('/root/.ssh/authorized_keys', 'none', null, []);
  check('/etc/aios/services', 'high', '0777', [/anyone can write it/, /group root can write it/]);
  check('/etc/aios/services/web.toml', 'none', '0644', []);
  check('/etc/aios/config.toml', 'high', '4664', [/group alice can write it/, /setuid, setgid or sticky/]);
  check('/var/lib/aios/audit.db', 'none', '0600', []);
  t.same(
    r.findings.filter((f) => f.status === 'absent').map((f) => f.path),
    ['/etc/gshadow', '/root/.ssh', '/root/.ssh/authorized_keys', '/var/lib/aios/audit.db-wal'],
  );
  t.same(r.problems, { high: 9, medium: 0, low: 1 });
  t.equal(r.checked, r.findings.length - r.absent);
  t.match(filePermissionsTool.render(r), /HIGH\s+\/etc\/shadow 0644 root:root \(expected 0600 owner root group root or shadow\)/);
});

t.test('sec.file_permissions: a symlinked shadow is reported, an empty root is all absent', async (t) => {
  const root = fakeRoot(t);
  const r0 = await ok(t, filePermissionsTool, { root });
  t.equal(r0.checked, 0);
  t.ok(r0.findings.every((f) => f.status === 'absent'));
  t.ok(r0.findings.some((f) => f.path === '/etc/shadow'));
  mkdirSync(path.join(root, 'etc'));
  writeFileSync(path.join(root, 'tmp-shadow'), '');
  chmodSync(path.join(root, 'tmp-shadow'), 0o600);
  (await import('node:fs')).symlinkSync('/tmp/elsewhere-shadow', path.join(root, 'etc/shadow'));
  const r = await ok(t, filePermissionsTool, { root });
  const shadow = r.findings.find((f) => f.path === '/etc/shadow');
  t.equal(shadow?.status, 'problem');
  t.match(shadow?.problems.join(), /dangling symbolic link to \/tmp\/elsewhere-shadow/);
});

t.test('sec.shell_users: real shells only, with password state and warnings', async (t) => {
  const root = fakeRoot(t);
  plant(root, 'etc/passwd', 0o644, PASSWD);
  plant(root, 'etc/shadow', 0o600, SHADOW);
  plant(root, 'etc/shells', 0o644, '# shells\n/bin/sh\n/bin/bash\n/bin/zsh\n');
  const r = await ok(t, shellUsersTool, { root });
  t.same(
    r.users.map((u) => [u.name, u.uid, u.shell, u.password, u.severity]),
    [
      ['root', 0, '/bin/bash', 'locked', 'none'],
      ['alice', 1000, '/bin/zsh', 'set', 'none'],
      ['toor', 0, '/bin/sh', 'set', 'high'],
      ['nopass', 1001, '/bin/sh', 'empty', 'high'],
      ['legacy', 1003, '/bin/bash', 'set', 'high'],
      ['weird', 1004, '/opt/shell', 'unknown', 'low'],
    ],
  );
  const notes = Object.fromEntries(r.users.map((u) => [u.name, u.notes.join('; ')]));
  t.match(notes.toor, /uid 0: a second root account/);
  t.match(notes.nopass, /no password: anyone at a console can log in as nopass/);
  t.match(notes.legacy, /password hash is in \/etc\/passwd/);
  t.match(notes.weird, /\/opt\/shell is not listed in \/etc\/shells; no entry in \/etc\/shadow/);
  rmSync(path.join(root, 'etc/passwd'));
  const missing = await callTool(shellUsersTool, { root }, context);
  t.same(missing.ok ? 'ok' : missing.code, 'ENOENT');
});

t.test('sec.listening_audit flags a socket open to all addresses, not a loopback one', async (t) => {
  const open = net.createServer();
  const local = net.createServer();
  await new Promise<void>((resolve) => open.listen(0, '0.0.0.0', resolve));
  await new Promise<void>((resolve) => local.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    open.close();
    local.close();
  });
  const openPort = (open.address() as net.AddressInfo).port;
  const localPort = (local.address() as net.AddressInfo).port;
  const r = await ok(t, listeningAuditTool, {});
  const mine = r.exposed.find((s) => s.port === openPort);
  t.same(mine && [mine.protocol, mine.address, mine.pid, mine.severity], ['tcp', '0.0.0.0', process.pid, 'medium']);
  t.match(mine?.note, /from any network/);
  t.notOk(r.exposed.some((s) => s.port === localPort), 'the loopback server is not exposed');
  t.ok(r.localOnly >= 1);
  t.equal(r.total, r.exposed.length + r.localOnly);
});

/** struct utmp records (384 bytes) as login programs write them to btmp. */
function utmp(user: string, line: string, host: string, seconds: number, ip?: string): Buffer {
  const b = Buffer.alloc(384);
  b.writeInt32LE(6, 0);
  b.writeInt32LE(1234, 4);
  b.write(line, 8);
  b.write(user, 44);
  b.write(host, 76);
  b.writeInt32LE(seconds, 340);
  if (ip) ip.split('.').forEach((octet, i) => b.writeUInt8(Number(octet), 348 + i));
  return b;
}

const BTMP = Buffer.concat([utmp('root', 'ssh:notty', '10.0.0.5', 1_790_000_000, '10.0.0.5'), utmp('mallory', 'ttyS0', '', 1_790_000_100)]);
const BTMP_ATTEMPTS = [
  { time: '2026-09-21T14:15:00.000Z', user: 'mallory', from: null, via: 'ttyS0' },
  { time: '2026-09-21T14:13:20.000Z', user: 'root', from: '10.0.0.5', via: 'ssh:notty' },
];

t.test('sec.failed_logins reads btmp with lastb where it exists', { skip: !findProgram('lastb') && 'no lastb program on this machine' }, async (t) => {
  const root = fakeRoot(t);
  plant(root, 'var/log/btmp', 0o600, '');
  writeFileSync(path.join(root, 'var/log/btmp'), BTMP);
  const r = await ok(t, failedLoginsTool, { root });
  t.equal(r.source, 'lastb');
  t.equal(r.file, path.join(root, 'var/log/btmp'));
  t.same(r.attempts, BTMP_ATTEMPTS);
  t.same(r.byUser, [{ name: 'mallory', count: 1 }, { name: 'root', count: 1 }]);
  t.same(r.byAddress, [{ name: '10.0.0.5', count: 1 }]);
});

t.test('sec.failed_logins reads btmp itself when there is no lastb', async (t) => {
  const root = fakeRoot(t);
  plant(root, 'var/log/btmp', 0o600, '');
  writeFileSync(path.join(root, 'var/log/btmp'), BTMP);
  const saved = process.env.AIOS_LASTB;
  process.env.AIOS_LASTB = path.join(root, 'no-lastb');
  t.teardown(() => {
    if (saved === undefined) delete process.env.AIOS_LASTB;
    else process.env.AIOS_LASTB = saved;
  });
  const r = await ok(t, failedLoginsTool, { root, limit: 1 });
  t.equal(r.source, 'btmp');
  t.equal(r.total, 2);
  t.same(r.attempts, BTMP_ATTEMPTS.slice(0, 1));
});

const AUTH_LOG = `Nov  3 10:00:00 host sshd[123]: Failed password for invalid user bob from 203.0.113.5 port 5555 ssh2
Nov  3 10:00:01 host sshd[123]: Failed password for root from 203.0.113.5 port 5556 ssh2
Nov  3 10:00:02 host sshd[124]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.5  user=root
2026-11-03T10:05:00.123+00:00 host su[200]: pam_unix(su:auth): authentication failure; logname=alice uid=1000 euid=0 tty=pts/0 ruser=alice rhost=  user=root
Nov  3 10:06:00 host login[300]: FAILED LOGIN (1) on '/dev/tty1' FOR 'admin', Authentication failure
Nov  3 10:07:00 host sudo[400]:    alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/sh
Nov  3 10:07:30 host login[301]: invalid password for 'operator' on 'ttyS0'
Nov  3 10:08:00 host sshd[500]: Accepted publickey for alice from 198.51.100.2 port 4444 ssh2
`;

t.test('sec.failed_logins parses an auth log when there is no btmp', async (t) => {
  const root = fakeRoot(t);
  plant(root, 'var/log/auth.log', 0o640, AUTH_LOG);
  const r = await ok(t, failedLoginsTool, { root });
  t.equal(r.source, 'auth log');
  t.equal(r.file, path.join(root, 'var/log/auth.log'));
  t.match(r.note, /no .*btmp/);
  t.equal(r.total, 6);
  t.same(
    r.attempts.map((a) => [a.user, a.from, a.via]),
    [['operator', null, 'ttyS0'], ['alice', null, 'sudo'], ['admin', null, '/dev/tty1'], ['root', null, 'su'], ['root', '203.0.113.5', 'sshd'], ['bob', '203.0.113.5', 'sshd']],
  );
  t.equal(r.attempts[3]!.time, '2026-11-03T10:05:00.123Z');
  t.same(r.byUser[0], { name: 'root', count: 2 });
  t.same(r.byAddress, [{ name: '203.0.113.5', count: 2 }]);
  // A BSD time has no year: the latest such time that is not in the future.
  const times = parseAuthLog('Dec 31 23:59:59 h sshd[1]: Failed password for x from 1.2.3.4 port 1 ssh2\n', new Date(2027, 0, 1, 12, 0, 0));
  t.equal(new Date(times[0]!.time!).getFullYear(), 2026);
});

t.test('sec.failed_logins says so when the system keeps no record', async (t) => {
  const root = fakeRoot(t);
  const r = await ok(t, failedLoginsTool, { root });
  t.same([r.source, r.file, r.total, r.attempts], ['none', null, 0, []]);
  t.match(r.note, /keeps no record of failed logins/);
  t.match(failedLoginsTool.render(r), /no record/);
});
