// What the system itself knows: status, services, logs, restarts, power. These are the first
// tools of the reactive tier; they talk to PID 1 through its control socket.
import { readFileSync, statfsSync } from 'node:fs';
import os from 'node:os';
import * as z from 'zod/mini';
import { initSocketPath, request } from '../interfaces/control-client.ts';
import type { LogLine } from '../supervisor/log-sink.ts';
import type { ServiceStatus } from '../supervisor/service.ts';
import type { BootReport } from '../init/machine-boot.ts';
import type { BootTimeline } from '../init/init.ts';
import { defineTool, type ToolContext } from './tool.ts';

const serviceName = z.string().check(z.regex(/^[a-z0-9][a-z0-9_.@-]{0,63}$/, 'not a service name'));

export interface BootInfo extends BootReport {
  mode: string;
  timeline: BootTimeline;
  /** When the first console showed its prompt (seconds since the kernel started). */
  promptSec?: number | null;
}

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

export const statusTool = defineTool({
  name: 'sys.status',
  description: 'Uptime, load, memory, disks and services of this machine.',
  input: z.strictObject({}),
  async run(_input, context) {
    const meminfo = Object.fromEntries(
      readFileSync('/proc/meminfo', 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [key, value] = line.split(':');
          return [key!, Number.parseInt(value ?? '0', 10) * 1024];
        }),
    );
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
  description: 'How this boot went: the timeline from kernel to prompt, the state disk, warnings.',
  input: z.strictObject({}),
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
      ...b.warnings.map((w) => `warning: ${w}`),
    ].join('\n');
  },
});

export const serviceListTool = defineTool({
  name: 'service.list',
  description: 'The services that PID 1 supervises, with their state.',
  input: z.strictObject({}),
  run: (_input, context) => services(context),
  render(list) {
    const width = Math.max(4, ...list.map((s) => s.name.length));
    return list
      .map((s) => `${s.name.padEnd(width)}  ${s.state.padEnd(8)}  ${s.pid ?? '-'}${s.restarts ? `  (${s.restarts} restarts)` : ''}${s.reason ? `  ${s.reason}` : ''}`)
      .join('\n');
  },
});

export const serviceLogsTool = defineTool({
  name: 'service.logs',
  description: "The latest lines of a service's output.",
  input: z.strictObject({ name: serviceName, lines: z._default(z.int().check(z.gte(1), z.lte(1000)), 20) }),
  async run(input, context) {
    return ((await ask(context, { cmd: 'logs', name: input.name, lines: input.lines })) as { lines: LogLine[] }).lines;
  },
  render(lines) {
    return lines.length === 0 ? '(no output yet)' : lines.map((l) => `${l.time.slice(11, 19)} ${l.stream === 'stdout' ? '' : `[${l.stream}] `}${l.text}`).join('\n');
  },
});

export const serviceRestartTool = defineTool({
  name: 'service.restart',
  description: 'Restart a service (and wait until it is back).',
  input: z.strictObject({ name: serviceName }),
  async run(input, context) {
    return (await ask(context, { cmd: 'restart', name: input.name })) as ServiceStatus;
  },
  render(s) {
    return `${s.name}: ${s.state}${s.pid ? ` (pid ${s.pid})` : ''}`;
  },
});

export const powerTool = defineTool({
  name: 'sys.power',
  description: 'Power off, reboot or halt the machine.',
  input: z.strictObject({ action: z.enum(['poweroff', 'reboot', 'halt']) }),
  async run(input, context) {
    await ask(context, { cmd: input.action });
    return input;
  },
  render(p) {
    return `${p.action}: services are stopping`;
  },
});

export const SYSTEM_TOOLS = [statusTool, bootTool, serviceListTool, serviceLogsTool, serviceRestartTool, powerTool];
