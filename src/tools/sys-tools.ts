// The machine itself: operating system, CPU, memory, disks, temperatures, uptime, read through
// systeminformation. Also the two helpers every tool family that runs a program shares:
// finding the program and running it with an argument array.
import { accessSync, constants, readFileSync, statSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as Execa from 'execa';
import type Systeminformation from 'systeminformation';
import { requireRuntimePackage } from '../native/packages.ts';

// Loaded on first use, not into the startup snapshot: 400 KiB that boot does not need.
function si(): typeof Systeminformation {
  return requireRuntimePackage<typeof Systeminformation>('systeminformation');
}
import * as z from 'zod/mini';
import { defineTool, ToolError, type Tool } from './tool.ts';

// The kernel starts PID 1 with no PATH at all; the tools must still find /usr/bin/ping.
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function isExecutable(file: string): boolean {
  try {
    if (!statSync(file).isFile()) return false;
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Where a program is, or null. AIOS_<NAME> (e.g. AIOS_PACMAN) names it outright: tests put a
 * fake program there, and an install with the program somewhere odd can too.
 */
export function findProgram(name: string): string | null {
  const override = process.env[`AIOS_${name.toUpperCase()}`];
  if (override) return isExecutable(override) ? override : null;
  for (const dir of (process.env.PATH || DEFAULT_PATH).split(':')) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

export interface ProgramResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program with an argument array (never a shell) and gives back its exit status: a
 * non-zero status is for the caller to judge (pacman -Ss says "nothing found" with 1). Only not
 * starting, a timeout and a cancel are thrown, as ToolErrors.
 *
 * The program gets its own process group, and a timeout or cancel signals the whole group:
 * killing only the program would leave its children (pacman's hooks, a shell's commands)
 * holding the output pipes, and the call would wait for them.
 */
export async function runProgram(file: string, args: string[], options: { signal: AbortSignal; timeoutMs: number; env?: Record<string, string> }): Promise<ProgramResult> {
  const { execa } = requireRuntimePackage<typeof Execa>('execa');
  const subprocess = execa(file, args, {
    reject: false,
    stdin: 'ignore',
    detached: true,
    // Parsed output must not change with the caller's language.
    env: { LC_ALL: 'C', ...options.env },
    maxBuffer: 64 * 1024 * 1024,
  });
  let stopped: 'timeout' | 'cancel' | null = null;
  let forceKill: NodeJS.Timeout | undefined;
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      if (subprocess.pid) process.kill(-subprocess.pid, signal);
    } catch {
      // The group is already gone.
    }
  };
  const stop = (why: 'timeout' | 'cancel'): void => {
    if (stopped) return;
    stopped = why;
    signalGroup('SIGTERM');
    forceKill = setTimeout(() => signalGroup('SIGKILL'), 2_000);
  };
  const timer = setTimeout(() => stop('timeout'), options.timeoutMs);
  const onAbort = (): void => stop('cancel');
  options.signal.addEventListener('abort', onAbort, { once: true });
  if (options.signal.aborted) stop('cancel');
  let result: Awaited<typeof subprocess>;
  try {
    result = await subprocess;
  } finally {
    clearTimeout(timer);
    clearTimeout(forceKill);
    options.signal.removeEventListener('abort', onAbort);
  }
  const name = path.basename(file);
  if (stopped === 'timeout') throw new ToolError('ETIMEDOUT', `${name} did not finish within ${options.timeoutMs / 1000} s`);
  if (stopped === 'cancel') throw new ToolError('ECANCELED', `${name} was cancelled`);
  if (result.exitCode === undefined) {
    throw Object.assign(new ToolError(result.code ?? 'EFAILED', `${name}: ${result.shortMessage ?? 'could not be run'}`), { cause: result.cause });
  }
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function formatDuration(totalSeconds: number): string {
  const s = Math.floor(totalSeconds);
  const [d, h, m] = [Math.floor(s / 86400), Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60)];
  return [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', `${s % 60}s`].filter(Boolean).join(' ');
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

/** systeminformation's types say number where Linux without sensors gives null. */
function celsius(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

const readOnly: Pick<Tool, 'capability' | 'effects' | 'risk' | 'undo'> = { capability: 'sys.read', effects: ['reads'], risk: 'low', undo: 'none' };

const infoSchema = z.object({
  hostname: z.string(),
  fqdn: z.string(),
  os: z.object({ platform: z.string(), distro: z.string(), release: z.string(), codename: z.string() }),
  kernel: z.string(),
  arch: z.string(),
  virtualization: z.object({
    virtual: z.boolean(),
    /** The hypervisor or container kind when systeminformation recognises it (KVM, VMware, Docker…). */
    host: z.nullable(z.string()),
    model: z.nullable(z.string()),
  }),
  uefi: z.nullable(z.boolean()),
});

export const infoTool = defineTool({
  name: 'sys.info',
  description: 'Operating system, distribution, kernel, hostname, architecture and whether this machine is virtual.',
  input: z.strictObject({}),
  output: infoSchema,
  ...readOnly,
  timeoutMs: 15_000,
  async run() {
    const [info, system] = await Promise.all([si().osInfo(), si().system()]);
    return {
      hostname: info.hostname || os.hostname(),
      fqdn: info.fqdn || info.hostname || os.hostname(),
      os: { platform: info.platform || process.platform, distro: info.distro || 'unknown', release: info.release || '', codename: info.codename || '' },
      kernel: info.kernel || os.release(),
      arch: info.arch || os.arch(),
      virtualization: { virtual: Boolean(system.virtual), host: system.virtualHost || null, model: system.model || null },
      uefi: info.uefi ?? null,
    };
  },
  render(i) {
    const virt = i.virtualization.virtual ? `virtual (${i.virtualization.host ?? i.virtualization.model ?? 'unknown hypervisor'})` : 'not virtual';
    return [`${i.hostname}: ${i.os.distro} ${i.os.release}${i.os.codename ? ` (${i.os.codename})` : ''}`, `kernel ${i.kernel}, ${i.arch}, ${virt}${i.uefi ? ', UEFI' : ''}`].join('\n');
  },
});

const cpuSchema = z.object({
  model: z.string(),
  cores: z.number(),
  physicalCores: z.number(),
  speedGHz: z.nullable(z.number()),
  load: z.object({ one: z.number(), five: z.number(), fifteen: z.number() }),
  usagePercent: z.number(),
  perCore: z.array(z.object({ cpu: z.number(), usagePercent: z.number() })),
});

export const cpuTool = defineTool({
  name: 'sys.cpu',
  description: 'CPU model, core count, load averages and current usage overall and per core (percent).',
  input: z.strictObject({}),
  output: cpuSchema,
  ...readOnly,
  timeoutMs: 10_000,
  async run() {
    const [cpu, load] = await Promise.all([si().cpu(), si().currentLoad()]);
    const [one, five, fifteen] = os.loadavg() as [number, number, number];
    return {
      model: [cpu.manufacturer, cpu.brand].filter(Boolean).join(' ') || os.cpus()[0]?.model || 'unknown',
      cores: cpu.cores || os.cpus().length,
      physicalCores: cpu.physicalCores || cpu.cores,
      speedGHz: cpu.speed > 0 ? cpu.speed : null,
      load: { one, five, fifteen },
      usagePercent: round1(load.currentLoad),
      perCore: load.cpus.map((c, cpuIndex) => ({ cpu: cpuIndex, usagePercent: round1(c.load) })),
    };
  },
  render(c) {
    return [
      `${c.model}: ${c.cores} cores${c.physicalCores !== c.cores ? ` (${c.physicalCores} physical)` : ''}${c.speedGHz ? ` at ${c.speedGHz} GHz` : ''}`,
      `load ${[c.load.one, c.load.five, c.load.fifteen].map((l) => l.toFixed(2)).join(' ')}, usage ${c.usagePercent}%`,
      `per core: ${c.perCore.map((p) => `${p.cpu}:${p.usagePercent}%`).join(' ')}`,
    ].join('\n');
  },
});

const memorySchema = z.object({
  totalBytes: z.number(),
  /** total − available: what programs hold, not counting cache the kernel can drop. */
  usedBytes: z.number(),
  freeBytes: z.number(),
  availableBytes: z.number(),
  buffCacheBytes: z.number(),
  usedPercent: z.number(),
  swap: z.object({ totalBytes: z.number(), usedBytes: z.number(), freeBytes: z.number() }),
});

export const memoryTool = defineTool({
  name: 'sys.memory',
  description: 'Memory and swap in bytes: total, used (total minus available), free, available, buffers and cache.',
  input: z.strictObject({}),
  output: memorySchema,
  ...readOnly,
  timeoutMs: 5_000,
  async run() {
    const m = await si().mem();
    const used = Math.max(0, m.total - m.available);
    return {
      totalBytes: m.total,
      usedBytes: used,
      freeBytes: m.free,
      availableBytes: m.available,
      buffCacheBytes: m.buffcache,
      usedPercent: m.total ? round1((used / m.total) * 100) : 0,
      swap: { totalBytes: m.swaptotal, usedBytes: m.swapused, freeBytes: m.swapfree },
    };
  },
  render(m) {
    return [
      `memory: ${formatBytes(m.usedBytes)} used of ${formatBytes(m.totalBytes)} (${m.usedPercent}%), ${formatBytes(m.availableBytes)} available, ${formatBytes(m.buffCacheBytes)} cache`,
      m.swap.totalBytes ? `swap: ${formatBytes(m.swap.usedBytes)} used of ${formatBytes(m.swap.totalBytes)}` : 'swap: none',
    ].join('\n');
  },
});

const diskSchema = z.object({
  filesystem: z.string(),
  type: z.string(),
  mount: z.string(),
  sizeBytes: z.number(),
  usedBytes: z.number(),
  availableBytes: z.number(),
  usePercent: z.number(),
  readOnly: z.nullable(z.boolean()),
});
type Disk = z.infer<typeof diskSchema>;

// Filesystems that hold no files of anyone's: kernel interfaces and the like.
const PSEUDO_FILESYSTEMS = new Set([
  'proc', 'sysfs', 'devpts', 'cgroup', 'cgroup2', 'securityfs', 'debugfs', 'tracefs', 'pstore', 'bpf', 'mqueue',
  'hugetlbfs', 'configfs', 'fusectl', 'binfmt_misc', 'autofs', 'rpc_pipefs', 'nsfs', 'efivarfs', 'selinuxfs', 'ramfs',
]);

/** /proc/self/mounts escapes spaces and the like as octal (\040). */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/** What df would say, for when systeminformation's df call fails (busybox's df lacks its flags). */
function disksFromMounts(): Disk[] {
  const seen = new Set<string>();
  const disks: Disk[] = [];
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [device, mountField, type, options] = line.split(' ');
    if (!device || !mountField || !type || PSEUDO_FILESYSTEMS.has(type)) continue;
    const mount = unescapeMount(mountField);
    if (seen.has(mount)) continue;
    try {
      const s = statfsSync(mount);
      if (s.blocks === 0) continue;
      seen.add(mount);
      const size = s.blocks * s.bsize;
      const used = (s.blocks - s.bfree) * s.bsize;
      const available = s.bavail * s.bsize;
      disks.push({
        filesystem: device,
        type,
        mount,
        sizeBytes: size,
        usedBytes: used,
        availableBytes: available,
        usePercent: used + available ? round1((used / (used + available)) * 100) : 0,
        readOnly: options?.split(',').includes('ro') ?? null,
      });
    } catch {
      // A mount we may not look into (or one that went away) is simply not listed.
    }
  }
  return disks;
}

export const disksTool = defineTool({
  name: 'sys.disks',
  description: 'Mounted filesystems with device, type, mount point, size, used and available bytes.',
  input: z.strictObject({}),
  output: z.array(diskSchema),
  ...readOnly,
  timeoutMs: 15_000,
  async run() {
    const list = await si().fsSize().catch(() => []);
    if (list.length === 0) return disksFromMounts();
    return list.map((d) => ({
      filesystem: d.fs,
      type: d.type,
      mount: d.mount,
      sizeBytes: d.size,
      usedBytes: d.used,
      availableBytes: d.available,
      usePercent: round1(d.use ?? 0),
      readOnly: d.rw === null || d.rw === undefined ? null : !d.rw,
    }));
  },
  render(disks) {
    if (disks.length === 0) return '(no filesystems)';
    const width = Math.max(5, ...disks.map((d) => d.mount.length));
    return disks
      .map((d) => `${d.mount.padEnd(width)}  ${formatBytes(d.usedBytes)} of ${formatBytes(d.sizeBytes)} used (${d.usePercent}%), ${formatBytes(d.availableBytes)} free  ${d.filesystem} ${d.type}${d.readOnly ? ' ro' : ''}`)
      .join('\n');
  },
});

const temperatureSchema = z.object({
  /** False when the machine exposes no sensor (common in virtual machines): the other fields are then empty. */
  available: z.boolean(),
  mainC: z.nullable(z.number()),
  maxC: z.nullable(z.number()),
  coresC: z.array(z.number()),
  socketsC: z.array(z.number()),
  chipsetC: z.nullable(z.number()),
  note: z.nullable(z.string()),
});

export const temperaturesTool = defineTool({
  name: 'sys.temperatures',
  description: 'CPU temperatures in degrees Celsius (main, maximum, per core); says available:false when the machine has no readable sensor.',
  input: z.strictObject({}),
  output: temperatureSchema,
  ...readOnly,
  timeoutMs: 10_000,
  async run() {
    const t = await si().cpuTemperature();
    const coresC = (t.cores ?? []).map(celsius).filter((c) => c !== null);
    const socketsC = (t.socket ?? []).map(celsius).filter((c) => c !== null);
    const mainC = celsius(t.main);
    const maxC = celsius(t.max);
    const chipsetC = celsius(t.chipset);
    const available = mainC !== null || maxC !== null || chipsetC !== null || coresC.length > 0 || socketsC.length > 0;
    return {
      available,
      mainC,
      maxC,
      coresC,
      socketsC,
      chipsetC,
      note: available ? null : 'no temperature sensor is readable on this machine (no /sys/class/thermal zone or hwmon sensor; usual in a virtual machine)',
    };
  },
  render(t) {
    if (!t.available) return `temperatures: not available - ${t.note}`;
    return [
      `cpu: ${t.mainC ?? '?'} °C${t.maxC !== null ? `, max ${t.maxC} °C` : ''}`,
      ...(t.coresC.length ? [`cores: ${t.coresC.map((c) => `${c} °C`).join(' ')}`] : []),
      ...(t.chipsetC !== null ? [`chipset: ${t.chipsetC} °C`] : []),
    ].join('\n');
  },
});

const uptimeSchema = z.object({
  uptimeSeconds: z.number(),
  bootedAt: z.string(),
  human: z.string(),
  load: z.array(z.number()),
});

export const uptimeTool = defineTool({
  name: 'sys.uptime',
  description: 'How long the machine has been up, when it booted, and the load averages.',
  input: z.strictObject({}),
  output: uptimeSchema,
  ...readOnly,
  timeoutMs: 2_000,
  async run() {
    const uptimeSeconds = si().time().uptime;
    return {
      uptimeSeconds,
      bootedAt: new Date(Date.now() - uptimeSeconds * 1000).toISOString(),
      human: formatDuration(uptimeSeconds),
      load: os.loadavg(),
    };
  },
  render(u) {
    return `up ${u.human} (since ${u.bootedAt.slice(0, 19).replace('T', ' ')} UTC), load ${u.load.map((l) => l.toFixed(2)).join(' ')}`;
  },
});

export const SYS_INFO_TOOLS = [infoTool, cpuTool, memoryTool, disksTool, temperaturesTool, uptimeTool];
