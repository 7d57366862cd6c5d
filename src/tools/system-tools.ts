// What the system itself knows and what PID 1 does for it: status, boot, the service.* family
// and power. They talk to PID 1 through its control socket (never systemctl).
import { readFileSync, statfsSync } from 'node:fs';
import os from 'node:os';
import * as z from 'zod/mini';
import { initSocketPath, request } from '../interfaces/control-client.ts';
import type { LogLine } from '../supervisor/log-sink.ts';
import type { BootReport } from '../init/machine-boot.ts';
import { readMeminfo } from '../init/procfs.ts';
import type { AuditCheck, BootTimeline } from '../init/init.ts';
import { defineTool, type ToolContext } from './tool.ts';

const serviceName = z.string().check(z.regex(/^[a-z0-9][a-z0-9_.@-]{0,63}$/, 'not a service name (lower-case letters, digits, and _.@- after the first character)'));

const exitInfo = z.nullable(z.object({ code: z.number(), signal: z.nullable(z.string()) }));

export const serviceStatusSchema = z.object({
  name: z.string(),
  description: z.string(),
  state: z.enum(['down', 'starting', 'up', 'stopping', 'backoff', 'failed']),
  pid: z.nullable(z.number()),
  restarts: z.number(),
  lastExit: exitInfo,
  since: z.string(),
  reason: z.string(),
  dependsOn: z.array(z.string()),
  cgroup: z.nullable(z.string()),
  file: z.string(),
  enabled: z.boolean(),
});
type ServiceStatus = z.infer<typeof serviceStatusSchema>;

const byName = z.strictObject({ name: serviceName });

export interface BootInfo extends BootReport {
  mode: string;
  timeline: BootTimeline;
  /** When the first console showed its prompt (seconds since the kernel started). */
  promptSec?: number | null;
  /** The audit chain as init found it at boot. */
  audit?: AuditCheck;
}

const seconds_ = z.nullable(z.number());
const bootInfoSchema = z.object({
  mode: z.string(),
  timeline: z.object({ pid1ExecSec: seconds_, initStartSec: seconds_, servicesUpSec: seconds_ }),
  promptSec: z.optional(seconds_),
  warnings: z.array(z.string()),
  state: z.nullable(z.object({ device: z.nullable(z.string()), mode: z.enum(['read-write', 'read-only', 'memory']), formatted: z.boolean(), message: z.string() })),
  host: z.optional(z.nullable(z.object({ device: z.string(), message: z.string() }))),
  modules: z.object({ loaded: z.number(), failed: z.array(z.string()) }),
  audit: z.optional(z.object({ status: z.enum(['intact', 'broken', 'verifying', 'error']), rows: z.nullable(z.number()), message: z.string() })),
}) satisfies z.ZodMiniType<BootInfo>;

export function readBootInfo(runDir: string): BootInfo | null {
  try {
    return JSON.parse(readFileSync(`${runDir}/boot.json`, 'utf8')) as BootInfo;
  } catch {
    return null;
  }
}

/** One request to PID 1's control socket, given up when the caller cancels. */
function ask(context: ToolContext, body: Record<string, unknown>): Promise<unknown> {
  return request(initSocketPath(context.runDir), body, undefined, undefined, context.signal);
}

async function services(context: ToolContext): Promise<ServiceStatus[]> {
  return ((await ask(context, { cmd: 'services' })) as { services: ServiceStatus[] }).services;
}

function seconds(n: number | null | undefined): string {
  return n === null || n === undefined ? '?' : `${n.toFixed(2)} s`;
}

function duration(totalSeconds: number): string {
  const s = Math.floor(totalSeconds);
  const [d, h, m] = [Math.floor(s / 86400), Math.floor((s % 86400) / 3600), Math.floor((s % 3600) / 60)];
  return [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', `${s % 60}s`].filter(Boolean).join(' ');
}

function mib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(1)} GiB` : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

const statusSchema = z.object({
  hostname: z.string(),
  uptimeSeconds: z.number(),
  load: z.array(z.number()),
  memory: z.object({ totalBytes: z.number(), availableBytes: z.number() }),
  disks: z.array(z.object({ mount: z.string(), totalBytes: z.number(), freeBytes: z.number() })),
  services: z.nullable(z.array(z.object({ name: z.string(), state: z.string(), pid: z.nullable(z.number()), restarts: z.number() }))),
  warnings: z.array(z.string()),
});

export const statusTool = defineTool({
  name: 'sys.status',
  description: 'Uptime, load, memory, disks and services of this machine.',
  input: z.strictObject({}),
  output: statusSchema,
  capability: 'sys.read',
  effects: ['reads'],
  risk: 'low',
  timeoutMs: 10_000,
  undo: 'none',
  async run(_input, context) {
    const meminfo = readMeminfo();
    const disks = ['/', context.stateDir].map((mount) => {
      try {
        const s = statfsSync(mount);
        return { mount, totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
      } catch {
        return { mount, totalBytes: 0, freeBytes: 0 };
      }
    });
    const list = await services(context).catch(() => null);
    const boot = readBootInfo(context.runDir);
    return {
      hostname: os.hostname(),
      uptimeSeconds: os.uptime(),
      load: os.loadavg(),
      memory: { totalBytes: meminfo.MemTotal ?? 0, availableBytes: meminfo.MemAvailable ?? 0 },
      disks,
      services: list?.map(({ name, state, pid, restarts }) => ({ name, state, pid, restarts })) ?? null,
      warnings: boot?.warnings ?? [],
    };
  },
  render(s) {
    const up = s.services?.filter((x) => x.state === 'up').length ?? 0;
    const lines = [
      `${s.hostname}: up ${duration(s.uptimeSeconds)}, load ${s.load.map((l) => l.toFixed(2)).join(' ')}`,
      `memory: ${mib(s.memory.availableBytes)} available of ${mib(s.memory.totalBytes)}`,
      ...s.disks.map((d) => `disk ${d.mount}: ${mib(d.freeBytes)} free of ${mib(d.totalBytes)}`),
      s.services ? `services: ${up} of ${s.services.length} up${s.services.filter((x) => x.state !== 'up').map((x) => `, ${x.name} ${x.state}`).join('')}` : 'services: init does not answer',
      ...s.warnings.map((w) => `warning: ${w}`),
    ];
    return lines.join('\n');
  },
});

export const bootTool = defineTool({
  name: 'sys.boot',
  description: 'How this boot went: the timeline from kernel to prompt, the state disk, the audit chain, warnings.',
  input: z.strictObject({}),
  output: bootInfoSchema,
  capability: 'sys.read',
  effects: ['reads'],
  risk: 'low',
  timeoutMs: 5_000,
  undo: 'none',
  async run(_input, context) {
    const boot = readBootInfo(context.runDir);
    if (!boot) throw Object.assign(new Error(`no boot report in ${context.runDir}/boot.json (is aios-init running?)`), { code: 'ENOENT' });
    let promptSec: number | null = null;
    try {
      promptSec = (JSON.parse(readFileSync(`${context.runDir}/prompt.json`, 'utf8')) as { promptSec: number }).promptSec;
    } catch {
      // No console has shown a prompt yet.
    }
    return { ...boot, promptSec };
  },
  render(b) {
    const t = b.timeline;
    return [
      `boot (${b.mode}): kernel ran /init at ${seconds(t.pid1ExecSec)}, init code at ${seconds(t.initStartSec)}, all services up at ${seconds(t.servicesUpSec)}, prompt at ${seconds(b.promptSec)}`,
      `state: ${b.state?.message ?? 'not a machine boot'}`,
      ...(b.host ? [b.host.message] : []),
      ...(b.audit ? [b.audit.message] : []),
      ...b.warnings.map((w) => `warning: ${w}`),
    ].join('\n');
  },
});

function renderStatus(s: ServiceStatus): string {
  return `${s.name}: ${s.state}${s.pid ? ` (pid ${s.pid})` : ''}${s.enabled ? '' : ', disabled at boot'}${s.reason ? ` - ${s.reason}` : ''}`;
}

export const serviceListTool = defineTool({
  name: 'service.list',
  description: 'The services that PID 1 supervises, with their state; with `state`, only those in it (failed: the ones that gave up).',
  input: z.strictObject({ state: z.optional(serviceStatusSchema.shape.state) }),
  output: z.array(serviceStatusSchema),
  capability: 'service.read',
  effects: ['reads'],
  risk: 'low',
  timeoutMs: 5_000,
  undo: 'none',
  run: async (input, context) => (await services(context)).filter((s) => input.state === undefined || s.state === input.state),
  render(list) {
    if (list.length === 0) return 'no services';
    const width = Math.max(4, ...list.map((s) => s.name.length));
    return list
      .map((s) => `${s.name.padEnd(width)}  ${s.state.padEnd(8)}  ${s.pid ?? '-'}${s.restarts ? `  (${s.restarts} restarts)` : ''}${s.reason ? `  ${s.reason}` : ''}`)
      .join('\n');
  },
});

export const serviceStatusTool = defineTool({
  name: 'service.status',
  description: 'One service: state, pid, restarts, last exit, dependencies, whether it starts at boot.',
  input: byName,
  output: serviceStatusSchema,
  capability: 'service.read',
  effects: ['reads'],
  risk: 'low',
  timeoutMs: 5_000,
  undo: 'none',
  run: async (input, context) => (await ask(context, { cmd: 'status', name: input.name })) as ServiceStatus,
  render: renderStatus,
});

export const serviceLogsTool = defineTool({
  name: 'service.logs',
  description: "The latest lines of a service's output.",
  input: z.strictObject({ name: serviceName, lines: z._default(z.int().check(z.gte(1), z.lte(1000)), 20) }),
  output: z.array(z.object({ time: z.string(), stream: z.enum(['stdout', 'stderr', 'aios']), text: z.string() })),
  capability: 'service.read',
  effects: ['reads'],
  risk: 'low',
  timeoutMs: 5_000,
  undo: 'none',
  async run(input, context) {
    return ((await ask(context, { cmd: 'logs', name: input.name, lines: input.lines })) as { lines: LogLine[] }).lines;
  },
  render(lines) {
    return lines.length === 0 ? '(no output yet)' : lines.map((l) => `${l.time.slice(11, 19)} ${l.stream === 'stdout' ? '' : `[${l.stream}] `}${l.text}`).join('\n');
  },
});

/** start, stop, restart, enable, disable: one request to PID 1 each, answered with the new status. */
function serviceAction(verb: 'start' | 'stop' | 'restart' | 'enable' | 'disable', description: string, inverse: boolean) {
  return defineTool({
    name: `service.${verb}`,
    description,
    input: byName,
    output: serviceStatusSchema,
    capability: 'service.control',
    effects: verb === 'stop' ? ['writes', 'destructive'] : ['writes'],
    risk: verb === 'enable' || verb === 'disable' ? 'low' : 'medium',
    timeoutMs: 60_000,
    undo: inverse ? 'inverse' : 'none',
    run: async (input, context) => (await ask(context, { cmd: verb, name: input.name })) as ServiceStatus,
    render: renderStatus,
  });
}

export const serviceStartTool = serviceAction('start', 'Start a service (and what it depends on), and wait until it is up.', true);
export const serviceStopTool = serviceAction('stop', 'Stop a service (and, first, what depends on it).', true);
export const serviceRestartTool = serviceAction('restart', 'Restart a service (and wait until it is back).', false);
export const serviceEnableTool = serviceAction('enable', 'Start the service at every boot (does not start it now).', true);
export const serviceDisableTool = serviceAction('disable', 'Do not start the service at boot (does not stop it now).', true);

export const powerTool = defineTool({
  name: 'sys.power',
  description: 'Power off, reboot or halt the machine.',
  input: z.strictObject({ action: z.enum(['poweroff', 'reboot', 'halt']) }),
  output: z.object({ action: z.enum(['poweroff', 'reboot', 'halt']) }),
  capability: 'sys.power',
  effects: ['writes', 'destructive'],
  risk: 'high',
  timeoutMs: 10_000,
  undo: 'none',
  async run(input, context) {
    await ask(context, { cmd: input.action });
    return input;
  },
  render(p) {
    return `${p.action}: services are stopping`;
  },
});

export const SYSTEM_TOOLS = [
  statusTool,
  bootTool,
  serviceListTool,
  serviceStatusTool,
  serviceLogsTool,
  serviceStartTool,
  serviceStopTool,
  serviceRestartTool,
  serviceEnableTool,
  serviceDisableTool,
  powerTool,
];
