// The addon's calls, on this machine, outside any namespace.
import { spawn } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync } from 'node:fs';
import t from 'tap';
import { native } from '../../src/native/index.ts';

t.test('peek leaves the zombie in place; reap takes it', async (t) => {
  // As a subreaper we inherit the orphan; libuv knows nothing of it, so nobody else reaps it.
  native().setChildSubreaper(true);
  const parent = spawn('/bin/sh', ['-c', "sh -c 'sleep 0.1; exit 7' & exit 0"]);
  await new Promise((resolve) => parent.on('exit', resolve));
  let status = null;
  for (let i = 0; i < 400 && !status; i++) {
    const peeked = native().peekChild();
    if (peeked && peeked.pid !== parent.pid) status = peeked;
    else await new Promise((r) => setTimeout(r, 5));
  }
  t.match(status, { code: 7, signal: null });
  t.match(native().peekChild(), { pid: status!.pid }, 'still there after a peek');
  t.match(native().reapChild(status!.pid), { pid: status!.pid, code: 7 });
  t.equal(native().peekChild(), null, 'gone after the reap');
  t.equal(native().reapChild(status!.pid), null, 'reaping twice finds nothing');
  native().setChildSubreaper(false);
});

t.test('errors carry the errno name', async (t) => {
  t.throws(() => native().umount2('/nonexistent-aios', 0), { code: 'ENOENT', syscall: 'umount2', message: /ENOENT: .*umount2 '\/nonexistent-aios'/ });
  t.throws(() => native().reapChild('x' as unknown as number), { code: 'ERR_INVALID_ARG_TYPE' });
});

t.test('SO_PEERCRED names the process at the other end', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-native-'));
  const socketPath = path.join(dir, 's');
  const cred = await new Promise((resolve) => {
    const server = net.createServer((socket) => {
      const fd = (socket as unknown as { _handle: { fd: number } })._handle.fd;
      resolve(native().peerCredentials(fd));
      socket.destroy();
      server.close();
    });
    server.listen(socketPath, () => net.connect(socketPath).on('error', () => {}));
  });
  t.same(cred, { pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
});

t.test('watchSignal delivers real-time signals', async (t) => {
  const signum = native().sigrtmin() + 7;
  const got = new Promise((resolve) => native().watchSignal(signum, resolve));
  process.kill(process.pid, signum);
  t.equal(await got, signum);
});
