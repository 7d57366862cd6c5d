// The reactive tier: what a person typed, matched against the rules (rules.ts, TOML in
// /etc/aios/rules) and turned into a tool call, no model. The console's own syntax (help,
// tools, `tool NAME JSON`) is handled here too, before the rules.
import { CONFIDENT, editDistance, type Match, type RuleSet } from './rules.ts';

/** Any tool by name, with JSON arguments: the same pipeline (policy, approval, audit) as the rest. */
export const TOOL_COMMAND = { usage: 'tool NAME [JSON]', summary: 'call any tool, e.g. tool fs.list {"path":"/etc"}' };
const TOOL_PATTERN = /^tool ([a-z]+\.[a-z_]+)(?:\s+(.+))?$/s;

export type Decision =
  /** A tool call: from a rule (with its confidence), or typed as `tool NAME JSON`. */
  | { kind: 'call'; name: string; args: unknown; match?: Match }
  | { kind: 'help' }
  | { kind: 'tools' }
  | { kind: 'error'; message: string }
  /** Rules that would make different calls matched about as well: ask which one was meant. */
  | { kind: 'ambiguous'; matches: Match[] }
  /** The best rule's confidence is below CONFIDENT: a model should judge, or the person confirm. */
  | { kind: 'unsure'; match: Match }
  | { kind: 'unknown'; suggestion: string | null };

export function decide(text: string, rules: RuleSet, now: Date = new Date()): Decision {
  const call = TOOL_PATTERN.exec(text.trim());
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
  const matched = rules.match(line, now);
  switch (matched.kind) {
    case 'match':
      if (matched.match.confidence < CONFIDENT) return { kind: 'unsure', match: matched.match };
      return { kind: 'call', name: matched.match.tool, args: matched.match.args, match: matched.match };
    case 'ambiguous':
      return { kind: 'ambiguous', matches: matched.matches };
    case 'invalid':
      return { kind: 'error', message: matched.message };
    case 'none': {
      // "Did you mean" is for a mistyped command, not for a sentence (which a model answers).
      const words = line.split(' ');
      if (words.length > 3) return { kind: 'unknown', suggestion: null };
      const first = words[0]!.toLowerCase();
      const suggestion = ['help', 'tools', 'tool', ...rules.firstWords()].find((w) => w !== first && editDistance(w, first) <= 2) ?? null;
      return { kind: 'unknown', suggestion };
    }
  }
}

/** A matched call as a person reads it: `service.restart {"name":"nginx"}`. */
export function describeCall(match: Match): string {
  return `${match.tool} ${JSON.stringify(match.args)}`;
}
