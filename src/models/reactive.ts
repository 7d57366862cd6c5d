// The reactive tier: patterns on what a person typed, mapped to tool calls, no model.
// For now the table holds the system's own commands; the intelligence hierarchy makes the
// rules data and puts models behind them.
import type { Tool } from '../tools/tool.ts';
import { bootTool, powerTool, serviceListTool, serviceLogsTool, serviceRestartTool, statusTool } from '../tools/system-tools.ts';

export interface Rule {
  /** How the command is written in `help`. */
  usage: string;
  summary: string;
  pattern: RegExp;
  tool: Tool;
  args(match: RegExpExecArray): unknown;
}

export const RULES: Rule[] = [
  { usage: 'status', summary: 'uptime, load, memory, disks, services', pattern: /^(?:status|how are you|system status)\??$/i, tool: statusTool, args: () => ({}) },
  { usage: 'services', summary: 'what PID 1 supervises', pattern: /^(?:services|(?:list|show) services|ps)$/i, tool: serviceListTool, args: () => ({}) },
  {
    usage: 'logs NAME',
    summary: "a service's latest output",
    pattern: /^(?:show )?(?:the )?logs?(?: of| for)? ([a-z0-9][a-z0-9_.@-]*)(?: (\d+))?$/i,
    tool: serviceLogsTool,
    args: (m) => ({ name: m[1]!.toLowerCase(), ...(m[2] ? { lines: Number(m[2]) } : {}) }),
  },
  { usage: 'restart NAME', summary: 'restart a service', pattern: /^restart ([a-z0-9][a-z0-9_.@-]*)$/i, tool: serviceRestartTool, args: (m) => ({ name: m[1]!.toLowerCase() }) },
  { usage: 'boot', summary: 'how this boot went (timeline, state disk)', pattern: /^boot(?: info)?$/i, tool: bootTool, args: () => ({}) },
  { usage: 'poweroff', summary: 'shut down and power off', pattern: /^(?:poweroff|power off|shutdown|shut down)$/i, tool: powerTool, args: () => ({ action: 'poweroff' }) },
  { usage: 'reboot', summary: 'shut down and restart', pattern: /^(?:reboot|restart)$/i, tool: powerTool, args: () => ({ action: 'reboot' }) },
];

/** Any tool by name, with JSON arguments: the same pipeline (policy, approval, audit) as the rest. */
export const TOOL_RULE: Rule = {
  usage: 'tool NAME [JSON]',
  summary: 'call any tool, e.g. tool fs.list {"path":"/etc"}',
  pattern: /^tool ([a-z]+\.[a-z_]+)(?:\s+(.+))?$/s,
  tool: statusTool,
  args: () => ({}),
};

export type Decision =
  | { kind: 'tool'; rule: Rule; tool: Tool; args: unknown }
  /** Any tool by name (`tool NAME JSON`): the registry is loaded when it is first called. */
  | { kind: 'call'; name: string; args: unknown }
  | { kind: 'help' }
  | { kind: 'tools' }
  | { kind: 'error'; message: string }
  | { kind: 'unknown'; suggestion: string | null };

export function decide(text: string): Decision {
  const call = TOOL_RULE.pattern.exec(text.trim());
  if (call) {
    try {
      return { kind: 'call', name: call[1]!, args: call[2] ? (JSON.parse(call[2]) as unknown) : {} };
    } catch (error) {
      return { kind: 'error', message: `The arguments for ${call[1]} are not JSON (${(error as Error).message}); e.g. tool fs.stat {"path":"/etc/hostname"}` };
    }
  }
  const line = text.trim().replace(/\s+/g, ' ');
  if (/^(?:help|\?|commands)$/i.test(line)) return { kind: 'help' };
  if (/^tools$/i.test(line)) return { kind: 'tools' };
  for (const rule of RULES) {
    const match = rule.pattern.exec(line);
    if (match) return { kind: 'tool', rule, tool: rule.tool, args: rule.args(match) };
  }
  const first = line.split(' ')[0]!.toLowerCase();
  const words = ['help', 'tools', 'tool', ...RULES.map((r) => r.usage.split(' ')[0]!)];
  const suggestion = words.find((w) => editDistance(w, first) <= 2) ?? null;
  return { kind: 'unknown', suggestion };
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
