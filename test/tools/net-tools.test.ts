// net.*: against this machine's own network (loopback only: no test needs the internet), and
// against fake ping/nft programs where the real one is missing, to check the exact argv.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import type * as z from 'zod/mini';
import { callTool, type Tool, type ToolContext } from '../../src/tools/tool.ts';
import {
  NET_TOOLS, addressesTool, dnsLookupTool, firewallTool, httpGetTool, interfacesTool, listeningTool, parsePing, parseProcIPv6Route, parseProcRoute,
  parseProcSockets, pingTool, routesTool,
} from '../../src/tools/net-tools.ts';
import { findProgram } from '../../src/tools/sys-tools.ts';

const context: ToolContext = { runDir: os.tmpdir(), stateDir: os.tmpdir(), signal: new AbortController().signal };

async function ok<O>(t: Test, tool: Tool<z.ZodMiniType, O>, args: unknown = {}): Promise<O> {
  const result = await callTool(tool, args, context);
  if (!result.ok) throw new Error(`${tool.name} failed: ${result.code} ${result.message}`);
  t.ok(tool.output.safeParse(result.data).success, `${tool.name}: data matches its output schema`);
  t.type(tool.render(result.data), 'string');
  return result.data;
}

async function fails(tool: Tool<z.ZodMiniType, unknown>, args: unknown): Promise<{ code: string; message: string }> {
  const result = await callTool(tool, args, context);
  if (result.ok) throw new Error(`${tool.name} succeeded: ${JSON.stringify(result.data)}`);
  return { code: result.code, message: result.message };
}

function tempDir(t: Test): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-net-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A program that writes its argv (one per line) to DIR/argv and prints OUTPUT. */
function fakeProgram(t: Test, dir: string, name: string, output: string, status = 0): string {
  const file = path.join(dir, name);
  writeFileSync(path.join(dir, `${name}.out`), output);
  writeFileSync(file, `#!/bin/sh\nprintf '%s\\n' "$@" > '${dir}/argv'\ncat '${dir}/${name}.out'\nexit ${status}\n`);
  chmodSync(file, 0o755);
  const variable = `AIOS_${name.toUpperCase()}`;
  const saved = process.env[variable];
  process.env[variable] = file;
  t.teardown(() => {
    if (saved === undefined) delete process.env[variable];
    else process.env[variable] = saved;
  });
  return file;
}

const argvOf = (dir: string): string[] => readFileSync(path.join(dir, 'argv'), 'utf8').split('\n').slice(0, -1);

async function listen(t: Test, server: net.Server, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, host, resolve));
  t.teardown(() => server.close());
  return (server.address() as net.AddressInfo).port;
}

t.test('the family: names, effects and risks', async (t) => {
  t.same(NET_TOOLS.map((x) => x.name), ['net.interfaces', 'net.addresses', 'net.routes', 'net.dns_lookup', 'net.ping', 'net.http_get', 'net.listening', 'net.firewall']);
  t.same(httpGetTool.effects, ['network', 'reads']);
  t.same(pingTool.effects, ['network']);
  for (const tool of NET_TOOLS) t.equal(tool.undo, 'none', tool.name);
});

t.test('net.interfaces and net.addresses: the loopback interface and its address', async (t) => {
  const list = await ok(t, interfacesTool);
  const lo = list.find((i) => i.name === 'lo');
  t.equal(lo?.kind, 'loopback');
  t.ok(lo?.addresses.includes('127.0.0.1/8'), JSON.stringify(lo));
  const addresses = await ok(t, addressesTool, { interface: 'lo', family: 'IPv4' });
  t.same(addresses.map((a) => [a.interface, a.address, a.prefixLength, a.internal]), [['lo', '127.0.0.1', 8, true]]);
  const v6 = await ok(t, addressesTool, { family: 'IPv6' });
  t.ok(v6.every((a) => a.family === 'IPv6' && a.scope !== null));
  t.equal((await fails(addressesTool, { interface: '../x' })).code, 'EINVAL');
});

t.test('net.routes: /proc/net/route and ipv6_route are decoded like ip shows them', async (t) => {
  const v4 = parseProcRoute(
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
      'eth0\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n' +
      'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n',
  );
  t.same(v4, [
    { family: 'IPv4', destination: 'default', gateway: '192.0.2.1', interface: 'eth0', metric: 100, protocol: null },
    { family: 'IPv4', destination: '192.0.2.0/24', gateway: null, interface: 'eth0', metric: 0, protocol: null },
  ]);
  const v6 = parseProcIPv6Route(
    [
      'fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0',
      '00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0',
      // local, multicast and the reject route on lo are not the main table.
      '00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo',
      'ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth0',
      '00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo',
    ].join('\n'),
  );
  t.same(v6, [
    { family: 'IPv6', destination: 'fd00::/64', gateway: null, interface: 'eth0', metric: 256, protocol: null },
    { family: 'IPv6', destination: 'default', gateway: 'fd00::1', interface: 'eth0', metric: 1024, protocol: null },
  ]);
  const live = await ok(t, routesTool);
  t.match(live.source, /^(ip -j route|\/proc\/net\/route)/);
  t.ok(live.routes.every((r) => r.destination === 'default' || r.destination.includes('/')));
});

t.test('net.dns_lookup: localhost through the system resolver; names are checked', async (t) => {
  const r = await ok(t, dnsLookupTool, { name: 'localhost' });
  t.equal(r.source, 'system resolver');
  t.ok(r.records.some((x) => x.value === '127.0.0.1'), JSON.stringify(r));
  for (const name of ['-x', 'a b', 'a;b', '', 'x'.repeat(300)]) {
    const e = await fails(dnsLookupTool, { name });
    t.equal(e.code, 'EINVAL', name);
  }
  t.match((await fails(dnsLookupTool, { name: '-x' })).message, /must not start with '-'/);
  t.equal((await fails(dnsLookupTool, { name: 'localhost', type: 'AXFR' })).code, 'EINVAL');
});

t.test('net.ping: output of iputils and busybox is read the same way', async (t) => {
  const iputils = parsePing(
    '127.0.0.1',
    'PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.\n64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.031 ms\n64 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.050 ms\n\n--- 127.0.0.1 ping statistics ---\n2 packets transmitted, 2 received, 0% packet loss, time 1001ms\nrtt min/avg/max/mdev = 0.031/0.040/0.050/0.009 ms\n',
  );
  t.same(iputils, { host: '127.0.0.1', transmitted: 2, received: 2, lossPercent: 0, timesMs: [0.031, 0.05], rttMs: { min: 0.031, avg: 0.04, max: 0.05 }, reachable: true });
  const busybox = parsePing(
    'h',
    'PING h (10.0.0.9): 56 data bytes\n64 bytes from 10.0.0.9: seq=0 ttl=64 time=0.064 ms\n\n--- h ping statistics ---\n3 packets transmitted, 1 packets received, 66% packet loss\nround-trip min/avg/max = 0.064/0.064/0.064 ms\n',
  );
  t.same([busybox.transmitted, busybox.received, busybox.lossPercent, busybox.timesMs, busybox.rttMs?.avg], [3, 1, 66.7, [0.064], 0.064]);
});

t.test('net.ping: the argv given to ping, with the host after --', async (t) => {
  const dir = tempDir(t);
  fakeProgram(t, dir, 'ping', '64 bytes from 10.1.1.1: icmp_seq=1 ttl=64 time=1.5 ms\n\n1 packets transmitted, 1 received, 0% packet loss, time 0ms\nrtt min/avg/max/mdev = 1.5/1.5/1.5/0.0 ms\n');
  const r = await ok(t, pingTool, { host: 'gateway.lan', count: 1, timeoutSeconds: 2 });
  t.same(argvOf(dir), ['-n', '-c', '1', '-W', '2', '-w', '2', '--', 'gateway.lan']);
  t.same([r.received, r.rttMs?.avg, r.reachable], [1, 1.5, true]);
  for (const host of ['-f', '--help', '127.0.0.1 -f', 'a;reboot']) t.equal((await fails(pingTool, { host })).code, 'EINVAL', host);
  t.equal((await fails(pingTool, { host: 'x', count: 11 })).code, 'EINVAL');
});

t.test('net.ping: no reply is an answer; no ping program is ENOTSUP', async (t) => {
  const dir = tempDir(t);
  fakeProgram(t, dir, 'ping', '\n--- 10.9.9.9 ping statistics ---\n2 packets transmitted, 0 received, 100% packet loss, time 1010ms\n', 1);
  const r = await ok(t, pingTool, { host: '10.9.9.9', count: 2 });
  t.same([r.transmitted, r.received, r.lossPercent, r.reachable, r.rttMs], [2, 0, 100, false, null]);
  process.env.AIOS_PING = path.join(dir, 'no-such-ping');
  const e = await fails(pingTool, { host: '127.0.0.1' });
  t.equal(e.code, 'ENOTSUP');
  t.match(e.message, /no ping program/);
});

t.test('net.ping: the real ping to 127.0.0.1', { skip: !findProgram('ping') && 'no ping program on this machine' }, async (t) => {
  const r = await ok(t, pingTool, { host: '127.0.0.1', count: 1, timeoutSeconds: 5 });
  t.equal(r.transmitted, 1);
  t.equal(r.received, 1);
  t.equal(r.timesMs.length, 1);
});

t.test('net.http_get: status, headers and a body cut at maxBytes from a local server', async (t) => {
  const server = http.createServer((req, res) => {
    if (req.url === '/moved') {
      res.writeHead(302, { location: '/text' }).end();
    } else if (req.url === '/text') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-aios': 'yes' }).end('hello world, '.repeat(1000));
    } else if (req.url === '/slow') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('start');
      // Never ends: the timeout has to cut it.
    } else if (req.url === '/image') {
      res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.alloc(100));
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not here');
    }
  });
  t.teardown(() => server.closeAllConnections());
  const port = await listen(t, server, '127.0.0.1');
  const base = `http://127.0.0.1:${port}`;

  const r = await ok(t, httpGetTool, { url: `${base}/moved`, maxBytes: 20 });
  t.equal(r.status, 200);
  t.equal(r.finalUrl, `${base}/text`);
  t.equal(r.headers['x-aios'], 'yes');
  t.equal(r.body, 'hello world, hello w');
  t.equal(r.bytes, 20);
  t.equal(r.truncated, true);

  const whole = await ok(t, httpGetTool, { url: `${base}/text` });
  t.equal(whole.bytes, 13_000);
  t.equal(whole.truncated, false);

  const missing = await ok(t, httpGetTool, { url: `${base}/nope` });
  t.same([missing.status, missing.body], [404, 'not here']);

  const image = await ok(t, httpGetTool, { url: `${base}/image` });
  t.same([image.binary, image.body, image.bytes], [true, '', 100]);

  const slow = await fails(httpGetTool, { url: `${base}/slow`, timeoutMs: 300 });
  t.equal(slow.code, 'ETIMEDOUT');

  for (const url of ['file:///etc/shadow', 'ftp://127.0.0.1/', 'not a url', `${base}`.replace('http', 'gopher')]) {
    const e = await fails(httpGetTool, { url });
    t.equal(e.code, 'EINVAL', url);
    t.match(e.message, /expected an http:\/\/ or https:\/\/ URL/);
  }
  t.equal((await fails(httpGetTool, { url: base, maxBytes: 0 })).code, 'EINVAL');
});

t.test('net.http_get: a refused connection says so', async (t) => {
  const server = net.createServer();
  const port = await listen(t, server, '127.0.0.1');
  await new Promise((resolve) => server.close(resolve));
  const e = await fails(httpGetTool, { url: `http://127.0.0.1:${port}/` });
  t.equal(e.code, 'ECONNREFUSED');
  t.match(e.message, /127\.0\.0\.1/);
});

t.test('net.listening finds the sockets this test opened, with this process as owner', async (t) => {
  const tcpPort = await listen(t, net.createServer(), '127.0.0.1');
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  t.teardown(() => udp.close());
  const udpPort = udp.address().port;

  const list = await ok(t, listeningTool);
  const tcp = list.find((s) => s.port === tcpPort && s.protocol === 'tcp');
  t.same(tcp && [tcp.address, tcp.allAddresses, tcp.pid, tcp.uid], ['127.0.0.1', false, process.pid, process.getuid!()]);
  t.match(tcp?.program, /node/);
  const u = list.find((s) => s.port === udpPort && s.protocol === 'udp');
  t.same(u && [u.address, u.pid], ['127.0.0.1', process.pid]);

  const onlyUdp = await ok(t, listeningTool, { protocol: 'udp' });
  t.ok(onlyUdp.every((s) => s.protocol.startsWith('udp')));
  t.notOk(onlyUdp.some((s) => s.port === tcpPort && s.protocol === 'tcp'));
});

t.test('net.listening decodes /proc/net/tcp6 addresses', async (t) => {
  const text =
    '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n' +
    '   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1 0 100 0 0 10 0\n' +
    '   1: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   100        0 1235 1 0 100 0 0 10 0\n' +
    '   2: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF00000100007F:9C40 01 00000000:00000000 00:00000000 00000000     0        0 1236 1 0 100 0 0 10 0\n' +
    '   3: B80D0120000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1237 1 0 100 0 0 10 0\n';
  t.same(parseProcSockets('tcp6', text), [
    { protocol: 'tcp6', address: '::', port: 8080, allAddresses: true, uid: 0, inode: 1234 },
    { protocol: 'tcp6', address: '::1', port: 22, allAddresses: false, uid: 100, inode: 1235 },
    // The established connection (state 01) is not listening.
    { protocol: 'tcp6', address: '2001:db8::1', port: 443, allAddresses: false, uid: 0, inode: 1237 },
  ]);
});

const NFT_RULESET = JSON.stringify({
  nftables: [
    { metainfo: { version: '1.0.9', json_schema_version: 1 } },
    { table: { family: 'inet', name: 'filter', handle: 1 } },
    { chain: { family: 'inet', table: 'filter', name: 'input', handle: 1, type: 'filter', hook: 'input', prio: 0, policy: 'drop' } },
    { chain: { family: 'inet', table: 'filter', name: 'mine', handle: 2 } },
    { rule: { family: 'inet', table: 'filter', chain: 'input', handle: 4, expr: [{ match: { op: '==', left: { ct: { key: 'state' } }, right: ['established', 'related'] } }, { accept: null }] } },
    { rule: { family: 'inet', table: 'filter', chain: 'input', handle: 5, comment: 'ssh', expr: [{ match: { op: '==', left: { payload: { protocol: 'tcp', field: 'dport' } }, right: 22 } }, { counter: { packets: 3, bytes: 180 } }, { accept: null }] } },
    { rule: { family: 'inet', table: 'filter', chain: 'input', handle: 6, expr: [{ match: { op: '!=', left: { meta: { key: 'iifname' } }, right: 'lo' } }, { jump: { target: 'mine' } }] } },
  ],
});

t.test('net.firewall reads nft -j list ruleset', async (t) => {
  const dir = tempDir(t);
  fakeProgram(t, dir, 'nft', NFT_RULESET);
  const f = await ok(t, firewallTool);
  t.same(argvOf(dir), ['-j', 'list', 'ruleset']);
  t.equal(f.ruleCount, 3);
  t.same(f.tables.map((x) => [x.family, x.name, x.chains.map((c) => [c.name, c.hook, c.policy, c.rules.length])]), [['inet', 'filter', [['input', 'input', 'drop', 3], ['mine', null, null, 0]]]]);
  t.same(f.tables[0]!.chains[0]!.rules.map((r) => [r.handle, r.summary, r.comment]), [
    [4, 'ct state established, related accept', null],
    [5, 'tcp dport 22 counter packets 3 bytes 180 accept', 'ssh'],
    [6, 'meta iifname != lo jump mine', null],
  ]);
  t.match(firewallTool.render(f), /chain input \(filter hook input priority 0; policy drop\)/);
});

t.test('net.firewall without nft: ENOTSUP, or the real ruleset where nft exists', async (t) => {
  const real = findProgram('nft');
  const result = await callTool(firewallTool, {}, context);
  if (real) {
    t.ok(result.ok || ['EPERM', 'EFAILED'].includes(result.code), JSON.stringify(result));
  } else {
    t.same(result.ok ? 'ok' : [result.code, /nft is not installed on this system/.test(result.message)], ['ENOTSUP', true]);
  }
  const saved = process.env.AIOS_NFT;
  process.env.AIOS_NFT = '/nonexistent/nft';
  t.teardown(() => {
    if (saved === undefined) delete process.env.AIOS_NFT;
    else process.env.AIOS_NFT = saved;
  });
  t.equal((await fails(firewallTool, {})).code, 'ENOTSUP');
});
