// Proof 12: the control socket refuses callers that are not root (or an allowed uid), by file
// mode and by SO_PEERCRED; malformed requests get errors that name the problem.
import { execFile } from 'node:child_process';
import { chmodSync } from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';
import t from 'tap';
import { startInit, type InitHandle } from '../helpers/init-harness.ts';

const NOBODY = 65534;
const sleeper = 'exec = ["/bin/sleep", "1000"]\n';

/** Asks for the service list as uid 65534; returns what came back (or the error). */
async function asNobody(init: InitHandle): Promise<string> {
  const script = `
    const s = require('node:net').connect(${JSON.stringify(init.socket)});
    s.on('connect', () => s.write('{"cmd":"services"}\\n'));
    s.on('data', (d) => { process.stdout.write(d); s.end(); });
    s.on('error', (e) => process.stdout.write('error ' + e.code));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { uid: NOBODY, gid: NOBODY, timeout: 10_000 });
  return stdout;
}

t.test('a non-root caller is refused by the socket mode', async (t) => {
  const init = await startInit({ services: { sleeper } });
  t.teardown(() => init.cleanup());
  t.equal(await asNobody(init), 'error EACCES');
});

t.test('with the mode opened up, SO_PEERCRED still refuses it', async (t) => {
  const init = await startInit({ services: { sleeper } });
  t.teardown(() => init.cleanup());
  chmodSync(init.socket, 0o666);
  const answer = JSON.parse(await asNobody(init)) as { ok: boolean; code: string; message: string };
  t.equal(answer.ok, false);
  t.equal(answer.code, 'EACCES');
  t.match(answer.message, /uid 65534 may not control init/);
});

t.test('without the SO_PEERCRED check the same test sees the leak', async (t) => {
  const init = await startInit({ services: { sleeper }, env: { AIOS_FAULTS: 'no-peercred' } });
  t.teardown(() => init.cleanup());
  chmodSync(init.socket, 0o666);
  t.match(JSON.parse(await asNobody(init)), { ok: true });
});

t.test('--allow-uid lets that uid in', async (t) => {
  const init = await startInit({ services: { sleeper }, args: ['--allow-uid', String(NOBODY)] });
  t.teardown(() => init.cleanup());
  chmodSync(init.socket, 0o666);
  t.match(JSON.parse(await asNobody(init)), { ok: true, data: { services: [{ name: 'sleeper' }] } });
});

t.test('malformed frames: clear errors, the connection and init go on', async (t) => {
  const init = await startInit({ services: { sleeper } });
  t.teardown(() => init.cleanup());
  const socket = net.connect(init.socket);
  const lines: Record<string, unknown>[] = [];
  let buffer = '';
  socket.on('data', (d) => {
    buffer += d.toString();
    let i: number;
    while ((i = buffer.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buffer.slice(0, i)) as Record<string, unknown>);
      buffer = buffer.slice(i + 1);
    }
  });
  socket.write('not json\n');
  socket.write('{"id":2,"cmd":"frobnicate"}\n');
  socket.write('{"id":3,"cmd":"start"}\n');
  socket.write('{"id":4,"cmd":"stop","name":"nosuch"}\n');
  socket.write('{"id":5,"cmd":"logs","name":"sleeper","lines":-1}\n');
  socket.write(`{"id":6,"cmd":"ping","pad":"${'x'.repeat(1.5 * 1024 * 1024)}"}\n`);
  socket.write('{"id":7,"cmd":"services","extra":1}\n');
  socket.write('{"id":8,"cmd":"ping"}\n');
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (lines.length >= 8) (clearInterval(check), resolve());
    }, 20);
  });
  socket.end();
  t.match(lines[0], { ok: false, code: 'EBADJSON', message: /not valid JSON/ });
  const byId = Object.fromEntries(lines.slice(1).map((l) => [String(l.id ?? 'frame'), l]));
  t.match(byId['2'], { ok: false, code: 'EBADREQUEST', message: /`cmd` to be one of/ });
  t.match(byId['3'], { ok: false, code: 'EBADREQUEST', message: /`name`/ });
  t.match(byId['4'], { ok: false, code: 'ENOSERVICE', message: /No service named `nosuch` \(known: sleeper\)/ });
  t.match(byId['5'], { ok: false, code: 'EBADREQUEST', message: /`lines`/ });
  t.match(byId.frame, { ok: false, code: 'EFRAME', message: /longer than 1 MiB/ });
  t.match(byId['7'], { ok: false, code: 'EBADREQUEST', message: /unknown field `extra`/ });
  t.match(byId['8'], { ok: true });
  t.match(await init.request({ cmd: 'ping' }), { pid: 1 }, 'init is PID 1 and still answers');
});
