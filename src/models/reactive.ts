// The reactive tier: patterns on what a person typed, mapped to tool calls, no model.
// For now the table holds the system's own commands; the intelligence hierarchy makes the
// rules data and puts models behind them.
import { parseTimePhrase, TIME_PHRASE_EXAMPLES } from '../memory/time-phrases.ts';
import type { Tool } from '../tools/tool.ts';
import { bootTool, powerTool, serviceListTool, serviceLogsTool, serviceRestartTool, statusTool } from '../tools/system-tools.ts';

export interface Rule {
  /** How the command is written in `help`. */
  usage: string;
  summary: string;
  pattern: RegExp;
  /** The tool, or its name when its module comes only with the registry (memory.search opens SQLite). */
  tool: Tool | string;
  /** May throw a RuleError: what the person typed matched, but cannot be a call (an unknown time). */
  args(match: RegExpExecArray, now: Date): unknown;
}

class RuleError extends Error {}

/** "yesterday", "in the last 3 days", "": the since/until a memory search takes (nothing: all time). */
function timeArgs(phrase: string | undefined, now: Date): { since?: string; until?: string } {
  if (!phrase) return {};
  const range = parseTimePhrase(phrase, now);
  if (!range) throw new RuleError(`I don't know the time "${phrase}"; try ${TIME_PHRASE_EXAMPLES}.`);
  return { since: range.since.toISOString(), ...(range.until ? { until: range.until.toISOString() } : {}) };
}

const ACTIONS: Record<string, string> = { install: 'install', uninstall: 'remove', remov: 'remove', upgrad: 'upgrade', updat: 'upgrade' };
const SERVICE_EVENTS: Record<string, string> = { crash: 'crash', die: 'crash', fail: 'failed', restart: 'restart', start: 'start', stop: 'exit', exit: 'exit' };

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
  // Time questions, answered from memory. WHEN: today, yesterday, this week, last 3 days, on monday…
  {
    usage: 'what did I install WHEN',
    summary: 'packages installed (or removed, upgraded) then',
    pattern: /^(?:what|which packages?) (?:did i|have i|did we|was|were|got) (uninstall|install|remov|upgrad|updat)(?:e|ed)?(?: (.+?))?\??$/i,
    tool: 'memory.search',
    args: (m, now) => ({ event: ACTIONS[m[1]!.toLowerCase()], ...timeArgs(m[2], now), limit: 50 }),
  },
  {
    usage: 'when did NAME last crash',
    summary: "a service's last crash (or fail, restart, start, stop)",
    pattern: /^when did (?:the )?([a-z0-9][a-z0-9_.@-]*)(?: service)? (?:last )?(crash|die|fail|restart|start|stop|exit)(?:ed|d|ped)?(?: last)?\??$/i,
    tool: 'memory.search',
    args: (m) => ({ service: m[1]!.toLowerCase(), event: SERVICE_EVENTS[m[2]!.toLowerCase()], limit: 1 }),
  },
  {
    usage: 'what changed in PATH WHEN',
    summary: 'changes under a path (tool calls, packages)',
    pattern: /^what (?:has |have )?changed (?:in|under) (\/\S*?)(?: (.+?))?\??$/i,
    tool: 'memory.search',
    args: (m, now) => ({ pathPrefix: m[1]!, ...timeArgs(m[2], now), limit: 50 }),
  },
  {
    usage: 'what happened WHEN',
    summary: 'service events, package changes and changes made',
    pattern: /^what (?:has )?happened(?: (.+?))?\??$/i,
    tool: 'memory.search',
    args: (m, now) => ({ changes: true, ...timeArgs(m[1], now), limit: 50 }),
  },
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

export function decide(text: string, now: Date = new Date()): Decision {
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
    if (!match) continue;
    let args: unknown;
    try {
      args = rule.args(match, now);
    } catch (error) {
      if (error instanceof RuleError) return { kind: 'error', message: error.message };
      throw error;
    }
    return typeof rule.tool === 'string' ? { kind: 'call', name: rule.tool, args } : { kind: 'tool', rule, tool: rule.tool, args };
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
