// The network as this machine sees it: interfaces, addresses, routes, name lookups, ping, an
// HTTP GET, listening sockets and the firewall. Read from /proc and /sys where the kernel says
// it plainly; programs (ip, ping, nft) run with argument arrays and are optional: the
// development image has only busybox.
import { readdirSync, readFileSync, readlinkSync, realpathSync, existsSync } from 'node:fs';
import { isIP } from 'node:net';
import dns from 'node:dns';
import os from 'node:os';
import * as z from 'zod/mini';
import { defineTool, ToolError, type Tool } from './tool.ts';
import { findProgram, formatBytes, runProgram } from './sys-tools.ts';

const readOnly: Pick<Tool, 'capability' | 'effects' | 'risk' | 'undo'> = { capability: 'net.read', effects: ['reads'], risk: 'low', undo: 'none' };

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;

/** A host name or an IP address; never something a program could read as an option. */
export const hostSchema = z.string().check(
  z.refine((v) => !v.startsWith('-'), { error: (iss) => `must not start with '-', got ${JSON.stringify(iss.input)}` }),
  z.refine((v) => HOSTNAME.test(v) || isIP(v) !== 0, { error: (iss) => `expected a host name or an IP address, got ${JSON.stringify(iss.input)}` }),
);

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Interfaces and addresses

const addressSchema = z.object({
  interface: z.string(),
  family: z.enum(['IPv4', 'IPv6']),
  address: z.string(),
  prefixLength: z.number(),
  cidr: z.string(),
  internal: z.boolean(),
  /** IPv6 only: link-local addresses need the interface to be reached (fe80::1%eth0). */
  scope: z.nullable(z.enum(['host', 'link', 'global'])),
});
type Address = z.infer<typeof addressSchema>;

function ipv6Scope(address: string): 'host' | 'link' | 'global' {
  if (address === '::1') return 'host';
  return /^fe[89ab]/i.test(address) ? 'link' : 'global';
}

function allAddresses(): Address[] {
  const out: Address[] = [];
  for (const [name, list] of Object.entries(os.networkInterfaces())) {
    for (const a of list ?? []) {
      const prefixLength = Number(a.cidr?.split('/')[1] ?? (a.family === 'IPv4' ? 32 : 128));
      out.push({
        interface: name,
        family: a.family,
        address: a.address,
        prefixLength,
        cidr: a.cidr ?? `${a.address}/${prefixLength}`,
        internal: a.internal,
        scope: a.family === 'IPv6' ? ipv6Scope(a.address) : null,
      });
    }
  }
  return out;
}

const interfaceSchema = z.object({
  name: z.string(),
  kind: z.enum(['loopback', 'physical', 'wireless', 'bridge', 'bond', 'virtual', 'unknown']),
  state: z.string(),
  mac: z.nullable(z.string()),
  mtu: z.nullable(z.number()),
  speedMbps: z.nullable(z.number()),
  addresses: z.array(z.string()),
});
type Interface = z.infer<typeof interfaceSchema>;

function interfaceKind(dir: string, type: string | null): Interface['kind'] {
  if (type === '772') return 'loopback';
  if (existsSync(`${dir}/wireless`) || existsSync(`${dir}/phy80211`)) return 'wireless';
  if (existsSync(`${dir}/bridge`)) return 'bridge';
  if (existsSync(`${dir}/bonding`)) return 'bond';
  try {
    return realpathSync(dir).includes('/virtual/') ? 'virtual' : 'physical';
  } catch {
    return 'unknown';
  }
}

function numberOrNull(text: string | null): number | null {
  const n = text === null ? Number.NaN : Number(text);
  // A link that is down reports speed -1 (or cannot be read at all).
  return Number.isFinite(n) && n >= 0 ? n : null;
}

export const interfacesTool = defineTool({
  name: 'net.interfaces',
  description: 'Network interfaces with kind (loopback, physical, wireless, bridge, virtual), state, MAC, MTU, link speed and addresses.',
  input: z.strictObject({}),
  output: z.array(interfaceSchema),
  ...readOnly,
  timeoutMs: 5_000,
  async run() {
    const addresses = allAddresses();
    let names: string[];
    try {
      names = readdirSync('/sys/class/net');
    } catch {
      // No /sys: what Node sees is all there is (interfaces without an address are missed).
      names = [...new Set(addresses.map((a) => a.interface))];
    }
    return names.sort().map((name) => {
      const dir = `/sys/class/net/${name}`;
      const type = readText(`${dir}/type`);
      const mac = readText(`${dir}/address`);
      return {
        name,
        kind: interfaceKind(dir, type),
        state: readText(`${dir}/operstate`) ?? 'unknown',
        mac: mac && mac !== '00:00:00:00:00:00' ? mac : null,
        mtu: numberOrNull(readText(`${dir}/mtu`)),
        speedMbps: numberOrNull(readText(`${dir}/speed`)),
        addresses: addresses.filter((a) => a.interface === name).map((a) => a.cidr),
      };
    });
  },
  render(list) {
    const width = Math.max(4, ...list.map((i) => i.name.length));
    return list
      .map((i) => `${i.name.padEnd(width)}  ${i.state.padEnd(7)} ${i.kind}${i.mac ? ` ${i.mac}` : ''}${i.mtu ? ` mtu ${i.mtu}` : ''}${i.speedMbps ? ` ${i.speedMbps} Mb/s` : ''}  ${i.addresses.join(' ') || '(no address)'}`)
      .join('\n');
  },
});

export const addressesTool = defineTool({
  name: 'net.addresses',
  description: 'The IP addresses of this machine, per interface, optionally only one interface or one family.',
  input: z.strictObject({
    interface: z.optional(z.string().check(z.regex(/^[^/\s\0]{1,15}$/, 'not an interface name (1 to 15 characters, no / or spaces)'))),
    family: z.optional(z.enum(['IPv4', 'IPv6'])),
  }),
  output: z.array(addressSchema),
  ...readOnly,
  timeoutMs: 5_000,
  async run(input) {
    return allAddresses().filter((a) => (!input.interface || a.interface === input.interface) && (!input.family || a.family === input.family));
  },
  render(list) {
    return list.length === 0 ? '(no addresses)' : list.map((a) => `${a.interface}  ${a.cidr}${a.scope && a.scope !== 'global' ? ` (${a.scope})` : ''}`).join('\n');
  },
});

// ---------------------------------------------------------------------------------------------
// Routes

const routeSchema = z.object({
  family: z.enum(['IPv4', 'IPv6']),
  /** CIDR, or `default`. */
  destination: z.string(),
  gateway: z.nullable(z.string()),
  interface: z.nullable(z.string()),
  metric: z.nullable(z.number()),
  protocol: z.nullable(z.string()),
});
type Route = z.infer<typeof routeSchema>;

/** /proc/net/route writes IPv4 addresses as host-order (little-endian) hex. */
export function procIPv4(hex: string): string {
  const n = Number.parseInt(hex, 16);
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff].join('.');
}

/** The shortest text form of 16 bytes (RFC 5952): longest run of zero groups as `::`. */
export function formatIPv6(bytes: Uint8Array): string {
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return `::ffff:${[...bytes.slice(12)].join('.')}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength && j - i >= 2) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** 32 hex digits in network order (/proc/net/ipv6_route). */
function hexToBytes(hex: string): Uint8Array {
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

function prefixFromMask(maskHex: string): number {
  let n = Number.parseInt(maskHex, 16) >>> 0;
  let bits = 0;
  while (n) {
    bits += n & 1;
    n >>>= 1;
  }
  return bits;
}

const RTF_GATEWAY = 0x2;
const RTF_REJECT = 0x200;
const RTF_CACHE = 0x01000000;
const RTF_LOCAL = 0x80000000;

export function parseProcRoute(text: string): Route[] {
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 8)
    .map(([iface, destination, gateway, flags, , , metric, mask]) => {
      const prefix = prefixFromMask(mask!);
      return {
        family: 'IPv4' as const,
        destination: prefix === 0 ? 'default' : `${procIPv4(destination!)}/${prefix}`,
        gateway: Number.parseInt(flags!, 16) & RTF_GATEWAY ? procIPv4(gateway!) : null,
        interface: iface!,
        metric: Number(metric),
        protocol: null,
      };
    });
}

/** The main table as `ip -6 route` shows it: /proc/net/ipv6_route also lists local, multicast and reject routes. */
export function parseProcIPv6Route(text: string): Route[] {
  const routes: Route[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [dest, destPrefix, , , nextHop, metric, , , flagsHex, iface] = f as [string, string, string, string, string, string, string, string, string, string];
    const flags = Number.parseInt(flagsHex, 16) >>> 0;
    if (flags & (RTF_REJECT | RTF_CACHE | RTF_LOCAL) || dest.startsWith('ff')) continue;
    const prefix = Number.parseInt(destPrefix, 16);
    routes.push({
      family: 'IPv6',
      destination: prefix === 0 ? 'default' : `${formatIPv6(hexToBytes(dest))}/${prefix}`,
      gateway: /^0+$/.test(nextHop) ? null : formatIPv6(hexToBytes(nextHop)),
      interface: iface,
      metric: Number.parseInt(metric, 16),
      protocol: null,
    });
  }
  return routes;
}

interface IpJsonRoute {
  dst?: string;
  gateway?: string;
  dev?: string;
  metric?: number;
  protocol?: string;
}

async function routesFromIp(ip: string, signal: AbortSignal): Promise<Route[] | null> {
  const routes: Route[] = [];
  for (const family of ['IPv4', 'IPv6'] as const) {
    const { exitCode, stdout } = await runProgram(ip, ['-j', family === 'IPv4' ? '-4' : '-6', 'route', 'show'], { signal, timeoutMs: 5_000 });
    // busybox's ip has no -j: the caller falls back to /proc.
    if (exitCode !== 0) return null;
    let list: IpJsonRoute[];
    try {
      list = JSON.parse(stdout || '[]') as IpJsonRoute[];
    } catch {
      return null;
    }
    for (const r of list) {
      const dst = r.dst ?? 'default';
      routes.push({
        family,
        destination: dst === 'default' || dst.includes('/') ? dst : `${dst}/${family === 'IPv4' ? 32 : 128}`,
        gateway: r.gateway ?? null,
        interface: r.dev ?? null,
        metric: r.metric ?? null,
        protocol: r.protocol ?? null,
      });
    }
  }
  return routes;
}

export const routesTool = defineTool({
  name: 'net.routes',
  description: 'The routing table (IPv4 and IPv6 main table): destination, gateway, interface, metric.',
  input: z.strictObject({}),
  output: z.object({ source: z.string(), routes: z.array(routeSchema) }),
  ...readOnly,
  timeoutMs: 10_000,
  async run(_input, context) {
    const ip = findProgram('ip');
    const viaIp = ip ? await routesFromIp(ip, context.signal) : null;
    if (viaIp) return { source: 'ip -j route', routes: viaIp };
    const v4 = readText('/proc/net/route');
    if (v4 === null) throw new ToolError('ENOENT', 'net.routes: /proc/net/route cannot be read (is /proc mounted?)');
    return { source: '/proc/net/route and /proc/net/ipv6_route', routes: [...parseProcRoute(v4), ...parseProcIPv6Route(readText('/proc/net/ipv6_route') ?? '')] };
  },
  render(r) {
    if (r.routes.length === 0) return '(no routes)';
    return r.routes.map((x) => `${x.destination}${x.gateway ? ` via ${x.gateway}` : ''}${x.interface ? ` dev ${x.interface}` : ''}${x.metric !== null ? ` metric ${x.metric}` : ''}`).join('\n');
  },
});

// ---------------------------------------------------------------------------------------------
// DNS

const RECORD_TYPES = ['A', 'AAAA', 'MX', 'TXT', 'CNAME', 'NS', 'SRV', 'PTR', 'SOA', 'CAA'] as const;
type RecordType = (typeof RECORD_TYPES)[number];

const dnsRecordSchema = z.object({
  value: z.string(),
  priority: z.optional(z.number()),
  weight: z.optional(z.number()),
  port: z.optional(z.number()),
  ttl: z.optional(z.number()),
});
type DnsRecord = z.infer<typeof dnsRecordSchema>;

function cancellable<T>(promise: Promise<T>, signal: AbortSignal, onAbort: () => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const abort = (): void => {
      onAbort();
      reject(new ToolError('ECANCELED', 'net.dns_lookup was cancelled'));
    };
    if (signal.aborted) {
      promise.catch(() => {});
      abort();
      return;
    }
    signal.addEventListener('abort', abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', abort));
  });
}

async function resolveRecords(resolver: dns.promises.Resolver, name: string, type: RecordType): Promise<DnsRecord[]> {
  switch (type) {
    case 'A':
    case 'AAAA':
      return (await (type === 'A' ? resolver.resolve4(name, { ttl: true }) : resolver.resolve6(name, { ttl: true }))).map((r) => ({ value: r.address, ttl: r.ttl }));
    case 'MX':
      return (await resolver.resolveMx(name)).map((r) => ({ value: r.exchange, priority: r.priority }));
    case 'TXT':
      return (await resolver.resolveTxt(name)).map((chunks) => ({ value: chunks.join('') }));
    case 'CNAME':
      return (await resolver.resolveCname(name)).map((value) => ({ value }));
    case 'NS':
      return (await resolver.resolveNs(name)).map((value) => ({ value }));
    case 'SRV':
      return (await resolver.resolveSrv(name)).map((r) => ({ value: r.name, priority: r.priority, weight: r.weight, port: r.port }));
    case 'PTR':
      return (await (isIP(name) ? resolver.reverse(name) : resolver.resolvePtr(name))).map((value) => ({ value }));
    case 'SOA': {
      const s = await resolver.resolveSoa(name);
      return [{ value: `${s.nsname} ${s.hostmaster} ${s.serial} ${s.refresh} ${s.retry} ${s.expire} ${s.minttl}` }];
    }
    case 'CAA':
      return (await resolver.resolveCaa(name)).map((r) => {
        const [tag, value] = Object.entries(r).find(([k]) => k !== 'critical') ?? ['', ''];
        return { value: `${r.critical} ${tag} "${String(value)}"` };
      });
  }
}

export const dnsLookupTool = defineTool({
  name: 'net.dns_lookup',
  description: 'Look up DNS records of a name (A, AAAA, MX, TXT, CNAME, NS, SRV, PTR, SOA, CAA); A and AAAA go through the system resolver (/etc/hosts, then DNS) as programs here see it.',
  input: z.strictObject({
    name: hostSchema,
    type: z._default(z.enum(RECORD_TYPES), 'A'),
  }),
  output: z.object({ name: z.string(), type: z.enum(RECORD_TYPES), source: z.enum(['system resolver', 'dns']), records: z.array(dnsRecordSchema) }),
  capability: 'net.dns',
  effects: ['network'],
  risk: 'low',
  timeoutMs: 15_000,
  undo: 'none',
  async run(input, context) {
    try {
      if (input.type === 'A' || input.type === 'AAAA') {
        // getaddrinfo cannot be interrupted; on cancel the answer is just ignored.
        const found = await cancellable(dns.promises.lookup(input.name, { all: true, family: input.type === 'A' ? 4 : 6 }), context.signal, () => {});
        const unique = [...new Set(found.map((a) => a.address))];
        return { name: input.name, type: input.type, source: 'system resolver' as const, records: unique.map((value) => ({ value })) };
      }
      const resolver = new dns.promises.Resolver({ timeout: 3_000, tries: 2 });
      const records = await cancellable(resolveRecords(resolver, input.name, input.type), context.signal, () => resolver.cancel());
      return { name: input.name, type: input.type, source: 'dns' as const, records };
    } catch (error) {
      if (error instanceof ToolError) throw error;
      const code = (error as { code?: string }).code ?? 'EFAILED';
      // The name exists but has no record of this type: an answer, not a failure.
      if (code === 'ENODATA') return { name: input.name, type: input.type, source: input.type === 'A' || input.type === 'AAAA' ? ('system resolver' as const) : ('dns' as const), records: [] };
      const why = code === 'ENOTFOUND' ? `no such name, or no ${input.type} record` : code === 'ETIMEOUT' ? 'the DNS server did not answer' : code === 'ECONNREFUSED' ? 'the DNS server refused the connection' : (error as Error).message;
      throw Object.assign(new ToolError(code, `net.dns_lookup: ${input.type} ${input.name}: ${why} (${code})`), { cause: error });
    }
  },
  render(r) {
    if (r.records.length === 0) return `${r.name}: no ${r.type} record`;
    return r.records.map((x) => `${r.name} ${r.type} ${x.priority !== undefined ? `${x.priority} ` : ''}${x.weight !== undefined ? `${x.weight} ` : ''}${x.port !== undefined ? `${x.port} ` : ''}${x.value}`).join('\n');
  },
});

// ---------------------------------------------------------------------------------------------
// Ping

const pingSchema = z.object({
  host: z.string(),
  transmitted: z.number(),
  received: z.number(),
  lossPercent: z.number(),
  /** Round-trip times of the replies, in milliseconds. */
  timesMs: z.array(z.number()),
  rttMs: z.nullable(z.object({ min: z.number(), avg: z.number(), max: z.number() })),
  reachable: z.boolean(),
});
type PingResult = z.infer<typeof pingSchema>;

/** Both iputils' and busybox's ping output. */
export function parsePing(host: string, text: string): PingResult {
  const timesMs = [...text.matchAll(/(?:icmp_seq|seq)=\d+.*?time[=<]([\d.]+) ?ms/g)].map((m) => Number(m[1]));
  const counts = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(text);
  const transmitted = counts ? Number(counts[1]) : timesMs.length;
  const received = counts ? Number(counts[2]) : timesMs.length;
  const rtt = /(?:rtt|round-trip) min\/avg\/max(?:\/mdev)? = ([\d.]+)\/([\d.]+)\/([\d.]+)/.exec(text);
  return {
    host,
    transmitted,
    received,
    lossPercent: transmitted ? Math.round(((transmitted - received) / transmitted) * 1000) / 10 : 100,
    timesMs,
    rttMs: rtt ? { min: Number(rtt[1]), avg: Number(rtt[2]), max: Number(rtt[3]) } : null,
    reachable: received > 0,
  };
}

export const pingTool = defineTool({
  name: 'net.ping',
  description: 'Send ICMP echo requests to a host with the ping program and report replies, loss and round-trip times.',
  input: z.strictObject({
    host: hostSchema,
    count: z._default(z.int().check(z.gte(1, 'count must be at least 1'), z.lte(10, 'count must be at most 10')), 3),
    timeoutSeconds: z._default(z.int().check(z.gte(1, 'timeoutSeconds must be at least 1'), z.lte(30, 'timeoutSeconds must be at most 30')), 5),
  }),
  output: pingSchema,
  capability: 'net.ping',
  effects: ['network'],
  risk: 'low',
  timeoutMs: 40_000,
  undo: 'none',
  async run(input, context) {
    const ping = findProgram('ping');
    if (!ping) throw new ToolError('ENOTSUP', 'net.ping: there is no ping program on this system (install iputils, or use net.http_get or net.dns_lookup to check a host)');
    // -W: seconds to wait for each reply; -w: a deadline for the whole run, so a dead host cannot hold us.
    const args = ['-n', '-c', String(input.count), '-W', String(Math.min(input.timeoutSeconds, 10)), '-w', String(input.timeoutSeconds), '--', input.host];
    const { exitCode, stdout, stderr } = await runProgram(ping, args, { signal: context.signal, timeoutMs: (input.timeoutSeconds + 5) * 1000 });
    // Exit 1 means no reply: an answer. Anything else (2: unknown host, bad option) is a failure.
    if (exitCode !== 0 && exitCode !== 1) {
      const message = (stderr || stdout).trim().split('\n').pop() ?? '';
      const code = /unknown host|bad address|not known|failure in name resolution/i.test(message) ? 'ENOTFOUND' : /permission|not permitted/i.test(message) ? 'EPERM' : 'EFAILED';
      throw new ToolError(code, `net.ping: ${input.host}: ${message || `ping exited with status ${exitCode}`}`);
    }
    return parsePing(input.host, stdout);
  },
  render(p) {
    const rtt = p.rttMs ? `, rtt min/avg/max ${p.rttMs.min}/${p.rttMs.avg}/${p.rttMs.max} ms` : '';
    return `${p.host}: ${p.received} of ${p.transmitted} replies (${p.lossPercent}% loss)${rtt}${p.reachable ? '' : ' - no answer'}`;
  },
});

// ---------------------------------------------------------------------------------------------
// HTTP

const BINARY_TYPES = /^(image|audio|video|font)\/|^application\/(octet-stream|zip|gzip|x-tar|pdf|x-xz|zstd|wasm)/i;

const httpSchema = z.object({
  url: z.string(),
  finalUrl: z.string(),
  status: z.number(),
  statusText: z.string(),
  headers: z.record(z.string(), z.string()),
  contentType: z.nullable(z.string()),
  /** The body as UTF-8 text, at most maxBytes of it; empty for a binary type (see `binary`). */
  body: z.string(),
  bytes: z.number(),
  truncated: z.boolean(),
  binary: z.boolean(),
});

export const httpGetTool = defineTool({
  name: 'net.http_get',
  description: 'Fetch an http or https URL with GET and return the status, headers and the start of the body as text.',
  input: z.strictObject({
    url: z.string().check(
      z.refine(
        (v) => {
          try {
            const u = new URL(v);
            return u.protocol === 'http:' || u.protocol === 'https:';
          } catch {
            return false;
          }
        },
        { error: (iss) => `expected an http:// or https:// URL, got ${JSON.stringify(iss.input)}` },
      ),
    ),
    maxBytes: z._default(z.int().check(z.gte(1, 'maxBytes must be at least 1'), z.lte(10 * 1024 * 1024, 'maxBytes must be at most 10485760 (10 MiB)')), 64 * 1024),
    timeoutMs: z._default(z.int().check(z.gte(100, 'timeoutMs must be at least 100'), z.lte(60_000, 'timeoutMs must be at most 60000')), 10_000),
  }),
  output: httpSchema,
  capability: 'net.http',
  effects: ['network', 'reads'],
  risk: 'low',
  timeoutMs: 65_000,
  undo: 'none',
  async run(input, context) {
    const timeout = AbortSignal.timeout(input.timeoutMs);
    const signal = AbortSignal.any([context.signal, timeout]);
    const failed = (error: unknown): never => {
      if (timeout.aborted) throw new ToolError('ETIMEDOUT', `net.http_get: ${input.url}: no complete answer within ${input.timeoutMs} ms`);
      if (context.signal.aborted) throw new ToolError('ECANCELED', 'net.http_get was cancelled');
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw Object.assign(new ToolError(cause?.code ?? 'EFAILED', `net.http_get: ${input.url}: ${cause?.message ?? (error as Error).message}`), { cause: error });
    };
    const response = await fetch(input.url, { method: 'GET', redirect: 'follow', signal }).catch(failed);
    const contentType = response.headers.get('content-type');
    const binary = contentType !== null && BINARY_TYPES.test(contentType);
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    let truncated = false;
    if (response.body) {
      const reader = response.body.getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          const room = input.maxBytes - bytes;
          if (value.byteLength > room) {
            chunks.push(value.subarray(0, room));
            bytes += room;
            truncated = true;
            break;
          }
          chunks.push(value);
          bytes += value.byteLength;
        }
      } catch (error) {
        failed(error);
      } finally {
        // Whatever is left is not wanted: close the connection instead of reading it.
        await reader.cancel().catch(() => {});
      }
    }
    return {
      url: input.url,
      finalUrl: response.url || input.url,
      status: response.status,
      statusText: response.statusText,
      headers: Object.fromEntries(response.headers),
      contentType,
      body: binary ? '' : new TextDecoder('utf-8').decode(Buffer.concat(chunks)),
      bytes,
      truncated,
      binary,
    };
  },
  render(r) {
    const head = `${r.status} ${r.statusText} ${r.finalUrl}${r.contentType ? ` (${r.contentType})` : ''}, ${formatBytes(r.bytes)}${r.truncated ? ' (truncated)' : ''}`;
    if (r.binary) return `${head}\n(binary body not shown)`;
    const preview = r.body.length > 2000 ? `${r.body.slice(0, 2000)}\n…` : r.body;
    return preview ? `${head}\n${preview}` : head;
  },
});

// ---------------------------------------------------------------------------------------------
// Listening sockets

const socketSchema = z.object({
  protocol: z.enum(['tcp', 'tcp6', 'udp', 'udp6']),
  address: z.string(),
  port: z.number(),
  /** Bound to 0.0.0.0 or :: — reachable from every network the machine is on. */
  allAddresses: z.boolean(),
  uid: z.number(),
  inode: z.number(),
  pid: z.nullable(z.number()),
  program: z.nullable(z.string()),
});
export type ListeningSocket = z.infer<typeof socketSchema>;

/** An address in /proc/net/tcp6: four 32-bit words, each in host (little-endian) order. */
function procIPv6(hex: string): string {
  const bytes = new Uint8Array(16);
  for (let word = 0; word < 4; word++) {
    for (let b = 0; b < 4; b++) bytes[word * 4 + b] = Number.parseInt(hex.slice(word * 8 + (3 - b) * 2, word * 8 + (3 - b) * 2 + 2), 16);
  }
  return formatIPv6(bytes);
}

const TCP_LISTEN = '0A';
const UDP_UNCONNECTED = '07';

/** The listening entries of one /proc/net/{tcp,tcp6,udp,udp6} file. */
export function parseProcSockets(protocol: ListeningSocket['protocol'], text: string): Omit<ListeningSocket, 'pid' | 'program'>[] {
  const out: Omit<ListeningSocket, 'pid' | 'program'>[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [local, remote, state] = [f[1]!, f[2]!, f[3]!];
    const udp = protocol.startsWith('udp');
    // A UDP socket "listens" when it is bound but not connected to one peer.
    if (udp ? state !== UDP_UNCONNECTED || !/^0+:0000$/.test(remote) : state !== TCP_LISTEN) continue;
    const [addressHex, portHex] = local.split(':') as [string, string];
    const address = protocol.endsWith('6') ? procIPv6(addressHex) : procIPv4(addressHex);
    out.push({
      protocol,
      address,
      port: Number.parseInt(portHex, 16),
      allAddresses: address === '0.0.0.0' || address === '::',
      uid: Number(f[7]),
      inode: Number(f[9]),
    });
  }
  return out;
}

/** Which process holds each socket inode, found through /proc/PID/fd links (`socket:[INODE]`). */
export function socketOwners(inodes: Set<number>): Map<number, { pid: number; program: string }> {
  const owners = new Map<number, { pid: number; program: string }>();
  if (inodes.size === 0) return owners;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return owners;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // Gone, or not ours to look at.
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (!m) continue;
      const inode = Number(m[1]);
      if (!inodes.has(inode) || owners.has(inode)) continue;
      owners.set(inode, { pid: Number(pid), program: readText(`/proc/${pid}/comm`) ?? '?' });
    }
    if (owners.size === inodes.size) break;
  }
  return owners;
}

export function listeningSockets(): ListeningSocket[] {
  const found = (['tcp', 'tcp6', 'udp', 'udp6'] as const).flatMap((protocol) => parseProcSockets(protocol, readText(`/proc/net/${protocol}`) ?? ''));
  const owners = socketOwners(new Set(found.map((s) => s.inode).filter((i) => i > 0)));
  return found
    .map((s) => ({ ...s, pid: owners.get(s.inode)?.pid ?? null, program: owners.get(s.inode)?.program ?? null }))
    .sort((a, b) => a.port - b.port || a.protocol.localeCompare(b.protocol));
}

export const listeningTool = defineTool({
  name: 'net.listening',
  description: 'Listening TCP and bound UDP sockets with address, port and the process (pid, program) that owns each.',
  input: z.strictObject({ protocol: z.optional(z.enum(['tcp', 'udp'])) }),
  output: z.array(socketSchema),
  ...readOnly,
  timeoutMs: 10_000,
  async run(input) {
    if (!existsSync('/proc/net/tcp')) throw new ToolError('ENOENT', 'net.listening: /proc/net/tcp cannot be read (is /proc mounted?)');
    return listeningSockets().filter((s) => !input.protocol || s.protocol.startsWith(input.protocol));
  },
  render(list) {
    if (list.length === 0) return '(nothing listening)';
    return list.map((s) => `${s.protocol.padEnd(4)}  ${(s.address.includes(':') ? `[${s.address}]:${s.port}` : `${s.address}:${s.port}`).padEnd(28)}  ${s.program ? `${s.program} (pid ${s.pid})` : '?'}`).join('\n');
  },
});

// ---------------------------------------------------------------------------------------------
// Firewall

const ruleSchema = z.object({
  handle: z.nullable(z.number()),
  /** A short reading of the rule (e.g. `tcp dport 22 accept`); `expr` has it exactly. */
  summary: z.string(),
  comment: z.nullable(z.string()),
  expr: z.array(z.unknown()),
});
const chainSchema = z.object({
  name: z.string(),
  type: z.nullable(z.string()),
  hook: z.nullable(z.string()),
  priority: z.nullable(z.number()),
  policy: z.nullable(z.string()),
  rules: z.array(ruleSchema),
});
const tableSchema = z.object({ family: z.string(), name: z.string(), chains: z.array(chainSchema) });
const firewallSchema = z.object({ backend: z.literal('nftables'), tables: z.array(tableSchema), ruleCount: z.number() });
type Firewall = z.infer<typeof firewallSchema>;

type Json = Record<string, unknown>;

function describeValue(value: unknown): string {
  if (value === null || typeof value !== 'object') return String(value);
  const v = value as Json;
  if (Array.isArray(v)) return v.map(describeValue).join(', ');
  if ('set' in v) return `{ ${describeValue(v.set)} }`;
  if ('range' in v) return (v.range as unknown[]).map(describeValue).join('-');
  if ('prefix' in v) {
    const p = v.prefix as Json;
    return `${describeValue(p.addr)}/${describeValue(p.len)}`;
  }
  if ('payload' in v) {
    const p = v.payload as Json;
    return `${String(p.protocol ?? '')} ${String(p.field ?? '')}`.trim();
  }
  if ('meta' in v) return `meta ${String((v.meta as Json).key)}`;
  if ('ct' in v) return `ct ${String((v.ct as Json).key)}`;
  return JSON.stringify(v);
}

/** One statement of nft's JSON as the text `nft list ruleset` would roughly show. */
function describeStatement(statement: unknown): string {
  const s = statement as Json;
  const [key, value] = Object.entries(s)[0] ?? ['?', null];
  const v = value as Json | null;
  switch (key) {
    case 'match': {
      const op = v?.op === '==' || v?.op === 'in' ? '' : ` ${String(v?.op)}`;
      return `${describeValue(v?.left)}${op} ${describeValue(v?.right)}`;
    }
    case 'accept':
    case 'drop':
    case 'return':
    case 'continue':
      return key;
    case 'reject':
      return 'reject';
    case 'jump':
    case 'goto':
      return `${key} ${String(v?.target)}`;
    case 'counter':
      return v && 'packets' in v ? `counter packets ${String(v.packets)} bytes ${String(v.bytes)}` : 'counter';
    case 'log':
      return v?.prefix ? `log prefix "${String(v.prefix)}"` : 'log';
    default:
      return key;
  }
}

export function parseNftRuleset(json: string): Firewall {
  const items = ((JSON.parse(json) as { nftables?: Json[] }).nftables ?? []);
  const tables = new Map<string, Firewall['tables'][number]>();
  const tableKey = (family: unknown, name: unknown): string => `${String(family)} ${String(name)}`;
  const chainOf = (family: unknown, table: unknown, name: unknown): Firewall['tables'][number]['chains'][number] | undefined =>
    tables.get(tableKey(family, table))?.chains.find((c) => c.name === name);
  let ruleCount = 0;
  for (const item of items) {
    if (item.table) {
      const t = item.table as Json;
      tables.set(tableKey(t.family, t.name), { family: String(t.family), name: String(t.name), chains: [] });
    } else if (item.chain) {
      const c = item.chain as Json;
      tables.get(tableKey(c.family, c.table))?.chains.push({
        name: String(c.name),
        type: typeof c.type === 'string' ? c.type : null,
        hook: typeof c.hook === 'string' ? c.hook : null,
        priority: typeof c.prio === 'number' ? c.prio : null,
        policy: typeof c.policy === 'string' ? c.policy : null,
        rules: [],
      });
    } else if (item.rule) {
      const r = item.rule as Json;
      const expr = Array.isArray(r.expr) ? (r.expr as unknown[]) : [];
      chainOf(r.family, r.table, r.chain)?.rules.push({
        handle: typeof r.handle === 'number' ? r.handle : null,
        summary: expr.map(describeStatement).join(' '),
        comment: typeof r.comment === 'string' ? r.comment : null,
        expr,
      });
      ruleCount++;
    }
  }
  return { backend: 'nftables', tables: [...tables.values()], ruleCount };
}

export const firewallTool = defineTool({
  name: 'net.firewall',
  description: 'The nftables firewall ruleset: tables, chains with hook and policy, and their rules.',
  input: z.strictObject({}),
  output: firewallSchema,
  ...readOnly,
  timeoutMs: 10_000,
  async run(_input, context) {
    const nft = findProgram('nft');
    if (!nft) throw new ToolError('ENOTSUP', 'nft is not installed on this system, so there is no nftables ruleset to show (the production image has nftables; the development image does not)');
    const { exitCode, stdout, stderr } = await runProgram(nft, ['-j', 'list', 'ruleset'], { signal: context.signal, timeoutMs: 8_000 });
    if (exitCode !== 0) {
      const message = stderr.trim() || `nft exited with status ${exitCode}`;
      throw new ToolError(/not permitted|permission denied/i.test(message) ? 'EPERM' : 'EFAILED', `net.firewall: ${message}`);
    }
    try {
      return parseNftRuleset(stdout.trim() || '{"nftables":[]}');
    } catch (error) {
      throw Object.assign(new ToolError('EFAILED', `net.firewall: nft -j printed something that is not JSON: ${(error as Error).message}`), { cause: error });
    }
  },
  render(f) {
    if (f.tables.length === 0) return 'nftables: no tables (nothing is filtered)';
    const lines: string[] = [];
    for (const t of f.tables) {
      lines.push(`table ${t.family} ${t.name}`);
      for (const c of t.chains) {
        lines.push(`  chain ${c.name}${c.hook ? ` (${c.type ?? 'filter'} hook ${c.hook} priority ${c.priority ?? 0}; policy ${c.policy ?? 'accept'})` : ''}`);
        for (const r of c.rules) lines.push(`    ${r.summary}${r.comment ? `  # ${r.comment}` : ''}`);
      }
    }
    return lines.join('\n');
  },
});

export const NET_TOOLS = [interfacesTool, addressesTool, routesTool, dnsLookupTool, pingTool, httpGetTool, listeningTool, firewallTool];
