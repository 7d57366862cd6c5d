// The router: which tier handles a request. The cheapest tier that can do the job and is here
// now: the reactive tier when a rule matches surely; otherwise the tier the kind of task needs
// (planning, security analysis and code: strategic; diagnosing and multi-step work: tactical;
// other questions: operational), or the one the person named (`@strategic …`, --tier). A tier
// that is not here is skipped upwards to the next one that is; with none above, the best one
// below answers and the reason says so.
//
// explain() only decides: it runs nothing and needs no runtime, so `aios route --explain` shows
// the same decision whether the runtime runs or not.
import { decide, describeCall } from './reactive.ts';
import type { RuleSet } from './rules.ts';
import { MODEL_TIERS, type MachineTiers, type Tier } from './tiers.ts';

export interface Explanation {
  /** The tier that would handle it on this machine now; null when no tier present can. */
  tier: Tier | null;
  /** The tier the router would choose if every tier were present. */
  wanted: Tier;
  reason: string;
  /** The reactive tier's call, when it handles it. */
  tool: string | null;
  args: unknown;
}

type ModelTier = (typeof MODEL_TIERS)[number];

/** Kinds of task that need more than a small model, by the words that give them away. */
const TASK_CLASSES: { name: string; tier: ModelTier; pattern: RegExp }[] = [
  {
    name: 'security analysis',
    tier: 'strategic',
    pattern:
      /\b(?:secur(?:e|ity)|harden(?:ing)?|vulnerab\w*|cves?|exploit\w*|attack\w*|intrusion|malware|rootkit|breach\w*|compromised?|suspicious|threats?|pentest\w*|firewall|nftables|iptables|encrypt\w*|sudoers|authorized_keys|expos(?:e|ed|ing)|leaks?|is (?:it|this) safe|safe to run|setuid|suid|audit (?:all|the|my|this)|key management|permissions? (?:audit|review))\b/i,
  },
  {
    name: 'code',
    tier: 'strategic',
    pattern:
      /\b(?:(?:write|generate|create|review|optimi[sz]e|refactor|fix|port|convert)\b.{0,40}\b(?:script|program|function|code|regex|dockerfile|makefile|class|playbook|pkgbuild|ruleset|query|module|unit file|crontab|timers?)|source code|sql|#!\/)/i,
  },
  { name: 'planning', tier: 'strategic', pattern: /\b(?:plan|planning|design|architect\w*|strategy|roadmap|migrat\w+|trade-?offs?|step[- ]by[- ]step|best way|how (?:should|would) i structure|structure (?:a|my|the)|should i (?:use|choose|pick|go with)|recommend|review (?:my|this|the))\b/i },
  {
    name: 'diagnosis',
    tier: 'tactical',
    pattern:
      /\b(?:why|diagnos\w*|troubleshoot\w*|investigat\w*|figure out|find out|root cause|slow(?:er|ly)?|keeps? (?:crashing|failing|restarting)|broken|broke|fix|repair|debug|won'?t|can'?t|cannot|doesn'?t|isn'?t (?:working|running)|not working|stopped working|crash(?:es|ed|ing)|what'?s going on|going on|causing|hangs?|freez\w+)\b/i,
  },
  {
    name: 'multi-step work',
    tier: 'tactical',
    pattern:
      /\b(?:set ?up|configure|install \S+ and|and then|after that|automat\w+|schedule|every (?:day|night|hour|week|\d+ \w+)|tune|clean ?up|make sure|get \S+(?: \S+){0,4} running|create (?:a |an )?\S+ (?:database|user|share)|change \S+ to)\b/i,
  },
];

/** `@tactical what is…`: the tier named, and the request without it. */
export function explicitTier(text: string): { tier: Tier; rest: string } | null {
  const m = /^\s*@(reactive|operational|tactical|strategic)\b\s*(.*)$/is.exec(text);
  return m ? { tier: m[1]!.toLowerCase() as Tier, rest: m[2]! } : null;
}

export function explain(text: string, context: { rules: RuleSet; machine: MachineTiers; tier?: Tier; now?: Date }): Explanation {
  const named = explicitTier(text);
  const request = named?.rest ?? text;
  const asked = context.tier ?? named?.tier;
  const decision = decide(request, context.rules, context.now);

  if (asked === 'reactive' || (!asked && decision.kind === 'call')) {
    if (decision.kind === 'call') {
      const how = decision.match ? `rule ${decision.match.rule.name} matched ("${decision.match.pattern}", confidence ${decision.match.confidence})` : 'a tool call typed as such';
      return { tier: 'reactive', wanted: 'reactive', reason: asked ? `asked for the reactive tier; ${how}` : how, tool: decision.name, args: decision.args };
    }
    return { tier: null, wanted: 'reactive', reason: `asked for the reactive tier, but no rule answers this${decision.kind === 'error' ? ` (${decision.message})` : ''}`, tool: null, args: null };
  }

  let wanted: ModelTier;
  let why: string;
  if (asked) {
    wanted = asked as ModelTier;
    why = `asked for the ${asked} tier`;
  } else {
    const task = TASK_CLASSES.find((c) => c.pattern.test(request));
    const rules =
      decision.kind === 'ambiguous'
        ? `the rules match more than one way (${decision.matches.map(describeCall).join(' or ')})`
        : decision.kind === 'unsure'
          ? `the best rule is unsure (${describeCall(decision.match)}, confidence ${decision.match.confidence})`
          : decision.kind === 'error'
            ? `a rule matched but cannot run it (${decision.message})`
            : 'no rule matches';
    wanted = task?.tier ?? 'operational';
    why = task ? `${rules}; ${task.name} needs the ${task.tier} tier` : `${rules}; a question for the smallest model`;
    // Without a model, the prompt asks the person which rule was meant.
    if (decision.kind === 'ambiguous' || decision.kind === 'unsure') {
      const modelHere = MODEL_TIERS.some((t) => context.machine.tiers[t].present);
      if (!modelHere) return { tier: 'reactive', wanted, reason: `${why}; no model tier is present, so the prompt asks which was meant`, tool: null, args: null };
    }
  }
  return { ...choose(wanted, why, context.machine), wanted, tool: null, args: null };
}

/** The wanted tier if here; else the next one up that is; else the best one below. */
function choose(wanted: ModelTier, why: string, machine: MachineTiers): { tier: Tier | null; reason: string } {
  const state = machine.tiers[wanted];
  if (state.present) return { tier: wanted, reason: `${why} (${state.backend})` };
  const index = MODEL_TIERS.indexOf(wanted);
  const skipped = [state];
  for (const tier of MODEL_TIERS.slice(index + 1)) {
    const next = machine.tiers[tier];
    if (next.present) return { tier, reason: `${why}; ${describeSkipped(skipped)}: the ${tier} tier answers (${next.backend})` };
    skipped.push(next);
  }
  for (const tier of MODEL_TIERS.slice(0, index).reverse()) {
    const below = machine.tiers[tier];
    if (below.present) return { tier, reason: `${why}; ${describeSkipped(skipped)}: the ${tier} tier, below what is wanted, answers as well as it can (${below.backend})` };
  }
  return { tier: null, reason: `${why}; no model tier is present (${MODEL_TIERS.map((t) => machine.tiers[t].missing).join('; ')})` };
}

function describeSkipped(states: MachineTiers['tiers'][Tier][]): string {
  return states.map((s) => `${s.tier}: ${s.missing}`).join('; ');
}
