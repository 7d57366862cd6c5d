// The reactive tier's rules: intent patterns with typed slots, mapped to tool calls, kept as
// data (TOML files in /etc/aios/rules, read in name order) so that a person adds or replaces
// one without touching code.
//
//   [[rule]]
//   name = "service-restart"            # a later file's rule of the same name replaces it
//   usage = "restart NAME"              # how `help` shows it
//   summary = "restart a service"
//   patterns = ["restart {name}", "restart the {name} service", { text = "bounce {name}", confidence = 0.7 }]
//   tool = "service.restart"
//   args = { name = "{name}" }          # "{slot}" alone keeps the slot's type; omitted when empty
//   confidence = 0.95                   # how sure a match of this rule is (default 0.9)
//   [rule.slots]
//   name = "name"                       # name, word, path, number, text, time, or { word = value }
//
// Pattern syntax: words match themselves (case does not matter), `[words]` may be left out,
// `(a|b c)` is one of, `{slot}` takes a typed value. Trailing ?, ! and . and repeated spaces
// in what a person typed do not count.
//
// Invariants:
// - Matching a line tries only the patterns indexed under one of its words (each pattern under
//   the rarest word it cannot match without), plus the few that need no particular word: the
//   cost follows those, not the number of rules (bench/reactive.ts: 1,000 rules).
// - A rule that cannot be compiled is left out with a message naming the file, the rule and
//   what is wrong; the other rules still load. Nothing here throws on bad data.
// - Two matches that would make different calls with confidences closer than AMBIGUOUS_WITHIN
//   are not guessed between: the decision is `ambiguous` and the caller asks.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import * as z from 'zod/mini';
import { parseTimePhrase, TIME_PHRASE_EXAMPLES, TIME_PHRASE_SHAPE } from '../memory/time-phrases.ts';

export const DEFAULT_RULES_DIR = '/etc/aios/rules';

/** Below this a match is a guess: the router hands the request to a model when one is present. */
export const CONFIDENT = 0.6;
/** Matches this close in confidence, making different calls, are asked about instead of picked. */
export const AMBIGUOUS_WITHIN = 0.1;
/** A match found only after correcting a misspelt word counts this much less. */
export const CORRECTED_FACTOR = 0.8;

const SLOT_TYPES = ['name', 'word', 'path', 'number', 'text', 'time'] as const;
type SlotType = (typeof SLOT_TYPES)[number] | { choices: Map<string, string> };

const SLOT_PATTERNS: Record<(typeof SLOT_TYPES)[number], string> = {
  name: '[a-z0-9][a-z0-9_.@-]*',
  word: '\\S+',
  path: '/\\S*',
  number: '\\d{1,9}',
  text: '.+?',
  time: TIME_PHRASE_SHAPE,
};

const slotSchema = z.union([z.enum(SLOT_TYPES), z.record(z.string().check(z.regex(/^\S+$/, 'a choice is one word')), z.string())]);
const patternSchema = z.union([z.string().check(z.minLength(1)), z.strictObject({ text: z.string().check(z.minLength(1)), confidence: z.number().check(z.gte(0), z.lte(1)) })]);
const ruleSchema = z.strictObject({
  name: z.string().check(z.regex(/^[a-z0-9][a-z0-9._-]*$/, 'a name is lower-case letters, digits, ".", "_" and "-"')),
  usage: z.optional(z.string()),
  summary: z._default(z.string(), ''),
  patterns: z.array(patternSchema).check(z.minLength(1, 'a rule needs at least one pattern')),
  tool: z.string().check(z.regex(/^[a-z]+\.[a-z_]+$/, 'a tool name is like service.restart')),
  args: z._default(z.record(z.string(), z.unknown()), {}),
  confidence: z._default(z.number().check(z.gte(0), z.lte(1)), 0.9),
  slots: z._default(z.record(z.string().check(z.regex(/^[a-z][a-z0-9_]*$/, 'a slot name is lower-case letters, digits and _')), slotSchema), {}),
  disabled: z._default(z.boolean(), false),
});
// [[reflex]] tables live in the same files; src/models/reflexes.ts reads them.
const fileSchema = z.strictObject({ rule: z._default(z.array(z.unknown()), []), reflex: z.optional(z.unknown()) });

export interface Rule {
  name: string;
  usage: string;
  summary: string;
  tool: string;
  confidence: number;
  /** Where it was read: FILE and its place there, for messages. */
  source: string;
}

interface CompiledPattern {
  rule: Rule & { args: Record<string, unknown>; slots: Map<string, SlotType> };
  text: string;
  regex: RegExp;
  /** With a time slot: the pattern taking any text as the time, to say what is wrong with one. */
  loose: RegExp | null;
  confidence: number;
}

export interface Match {
  rule: Rule;
  pattern: string;
  tool: string;
  args: Record<string, unknown>;
  confidence: number;
  /** The line as it was read when misspelt words were taken for the rules' words. */
  corrected?: string;
}

export type Matched =
  | { kind: 'match'; match: Match; others: Match[] }
  | { kind: 'ambiguous'; matches: Match[] }
  /** It matched, but a slot's value cannot be used (an unknown time): what to write instead. */
  | { kind: 'invalid'; rule: Rule; message: string }
  | { kind: 'none' };

/** Rules compiled for matching. Build with loadRules (files) or RuleSet.fromToml (text). */
export class RuleSet {
  readonly rules: Rule[];
  /** What was left out and why, one line each (file, rule, problem). */
  readonly problems: string[];
  /** Patterns by a word every line they match contains (the rarest such word of each). */
  readonly #byWord = new Map<string, CompiledPattern[]>();
  /** Patterns no word is sure to be in (all slots or optional): tried on every line. */
  readonly #unindexed: CompiledPattern[] = [];
  readonly #order = new Map<CompiledPattern, number>();
  readonly #firstWords = new Set<string>();
  /** Every literal word and choice of the patterns, for correcting misspellings. */
  readonly #vocabulary = new Set<string>();
  /** The vocabulary's words (of three letters or more) by themselves and each one-letter deletion. */
  readonly #byDeletion = new Map<string, string[]>();

  /** `index: false` tries every pattern on every line (bench/reactive.ts compares). */
  constructor(rules: Rule[], patterns: CompiledPattern[], problems: string[], options: { index?: boolean } = {}) {
    this.rules = rules;
    this.problems = problems;
    const keys = patterns.map((pattern) => {
      const tree = parsePattern(pattern.text);
      const first = firstWords(tree);
      if (first !== 'any') for (const w of first) this.#firstWords.add(w);
      for (const w of wordsIn(tree)) this.#vocabulary.add(w);
      for (const type of pattern.rule.slots.values()) if (typeof type === 'object') for (const w of type.choices.keys()) this.#vocabulary.add(w);
      return options.index === false ? [] : requiredWords(tree);
    });
    for (const word of this.#vocabulary) {
      if (word.length < 3) continue;
      for (const variant of new Set([word, ...deletions(word)])) {
        const list = this.#byDeletion.get(variant) ?? [];
        list.push(word);
        this.#byDeletion.set(variant, list);
      }
    }
    const uses = new Map<string, number>();
    for (const sets of keys) for (const set of sets) for (const w of set) uses.set(w, (uses.get(w) ?? 0) + 1);
    const weight = (set: Set<string>): number => [...set].reduce((n, w) => n + uses.get(w)!, 0);
    for (const [i, pattern] of patterns.entries()) {
      this.#order.set(pattern, i);
      const rarest = keys[i]!.sort((a, b) => weight(a) - weight(b))[0];
      if (!rarest) {
        this.#unindexed.push(pattern);
        continue;
      }
      for (const word of rarest) {
        const list = this.#byWord.get(word) ?? [];
        list.push(pattern);
        this.#byWord.set(word, list);
      }
    }
  }

  static fromToml(text: string, source = 'rules', options: { index?: boolean } = {}): RuleSet {
    const collected = new Collector();
    collected.addFile(text, source);
    return collected.build(options);
  }

  /** The words rules can start with, for "did you mean". */
  firstWords(): string[] {
    return [...this.#firstWords];
  }

  /** The patterns that may match: those indexed under a word of the line, and the unindexed, in rule order. */
  #candidates(line: string): CompiledPattern[] {
    const found = new Set(this.#unindexed);
    for (const word of line.toLowerCase().split(' ')) for (const pattern of this.#byWord.get(word) ?? []) found.add(pattern);
    return [...found].sort((a, b) => this.#order.get(a)! - this.#order.get(b)!);
  }

  /**
   * The rules' answer for a line. When nothing matches as typed, words that are one edit away
   * from exactly one of the rules' own words (restrat, stauts, instal) are read as that word and
   * the line is tried again, with its confidence times CORRECTED_FACTOR.
   */
  match(text: string, now: Date = new Date()): Matched {
    const line = normalise(text);
    if (line === '') return { kind: 'none' };
    const typed = this.#matchLine(line, now);
    if (typed.kind !== 'none') return typed;
    const corrected = this.#correct(line);
    if (corrected === line) return typed;
    const again = this.#matchLine(corrected, now);
    const lower = (m: Match): Match => ({ ...m, confidence: Math.round(m.confidence * CORRECTED_FACTOR * 1000) / 1000, corrected });
    if (again.kind === 'match') return { kind: 'match', match: lower(again.match), others: again.others.map(lower) };
    if (again.kind === 'ambiguous') return { kind: 'ambiguous', matches: again.matches.map(lower) };
    return again;
  }

  /** The line with each word that is not a rule word but one edit from a single one replaced. */
  #correct(line: string): string {
    return line
      .split(' ')
      .map((word) => {
        const lower = word.toLowerCase();
        if (lower.length < 3 || this.#vocabulary.has(lower) || !/^[a-z']+$/.test(lower)) return word;
        // Words one edit apart share a deletion variant (or one is the other's): look those up
        // instead of measuring the distance to every word of every rule.
        const candidates = new Set<string>();
        for (const variant of [lower, ...deletions(lower)]) for (const known of this.#byDeletion.get(variant) ?? []) candidates.add(known);
        const close = [...candidates].filter((known) => editDistance(lower, known) === 1);
        return close.length === 1 ? close[0]! : word;
      })
      .join(' ');
  }

  #matchLine(line: string, now: Date): Matched {
    const candidates = this.#candidates(line);
    const spaced = ` ${line}`;
    const matches: Match[] = [];
    let invalid: Matched | null = null;
    for (const pattern of candidates) {
      const found = pattern.regex.exec(spaced);
      if (!found) continue;
      const args = fillArgs(pattern, found.groups ?? {}, now);
      if (typeof args === 'string') invalid ??= { kind: 'invalid', rule: pattern.rule, message: args };
      else matches.push({ rule: pattern.rule, pattern: pattern.text, tool: pattern.rule.tool, args, confidence: pattern.confidence });
    }
    // Nothing matched with a time as times are said: does a rule match with these words where its
    // time goes? Then say what times are understood, rather than that nothing is.
    for (const pattern of matches.length === 0 && !invalid ? candidates : []) {
      const found = pattern.loose?.exec(spaced);
      const args = found ? fillArgs(pattern, found.groups ?? {}, now) : null;
      if (typeof args === 'string') return { kind: 'invalid', rule: pattern.rule, message: args };
    }
    if (matches.length === 0) return invalid ?? { kind: 'none' };
    matches.sort((a, b) => b.confidence - a.confidence);
    const best = matches[0]!;
    const rivals = matches.filter((m) => m !== best && best.confidence - m.confidence < AMBIGUOUS_WITHIN && !sameCall(m, best));
    if (rivals.length > 0) return { kind: 'ambiguous', matches: [best, ...rivals.filter((m, i) => rivals.findIndex((r) => sameCall(r, m)) === i)] };
    return { kind: 'match', match: best, others: matches.slice(1) };
  }
}

function sameCall(a: Match, b: Match): boolean {
  return a.tool === b.tool && JSON.stringify(a.args) === JSON.stringify(b.args);
}

/** What a person typed, as patterns see it: one space between words, no trailing ?!. */
/**
 * What a person typed, as patterns see it: one space between words, no trailing ?!., and no
 * politeness around the request ("could you please …", "… please", "hey, …").
 */
function normalise(text: string): string {
  return text
    .trim()
    .replace(/\s+/g, ' ')
    .replace(/[\s?!.]+$/, '')
    .replace(/^(?:(?:hey|hi|ok|okay|so|aios)[,:]? )?(?:(?:please|pls|plz|kindly) |(?:could|can|would|will) you (?:please )?|i (?:want|need|would like) (?:you )?to )/i, '')
    .replace(/,? (?:please|pls|plz|thanks|thank you)$/i, '');
}

function deletions(word: string): string[] {
  return Array.from(word, (_, i) => word.slice(0, i) + word.slice(i + 1));
}

/** Damerau-Levenshtein distance (adjacent swaps count one), for short words: three rows, no allocation per cell. Words whose lengths differ by more than 2 get that difference (a lower bound): callers only ask whether it is 1 or 2. */
export function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return Math.abs(a.length - b.length);
  let before = new Uint16Array(b.length + 1);
  let previous = Uint16Array.from({ length: b.length + 1 }, (_, j) => j);
  let row = new Uint16Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      row[j] = d;
    }
    [before, previous, row] = [previous, row, before];
  }
  return previous[b.length]!;
}

/**
 * The rules files (every *.toml in `dir`, in name order) with their text; one that cannot be
 * read is a problem. `error` is set when the directory itself cannot be read. The intent rules
 * and the reflexes (reflexes.ts) both read them.
 */
export function readRulesFiles(dir: string): { files: { where: string; text: string }[]; problems: string[]; error?: string } {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((f) => f.endsWith('.toml'))
      .sort();
  } catch (error) {
    return { files: [], problems: [], error: `${dir}: cannot read the rules directory (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})` };
  }
  const files: { where: string; text: string }[] = [];
  const problems: string[] = [];
  for (const name of names) {
    const where = path.join(dir, name);
    try {
      files.push({ where, text: readFileSync(where, 'utf8') });
    } catch (error) {
      problems.push(`${where}: cannot read it (${(error as Error).message}); what it holds is left out`);
    }
  }
  return { files, problems };
}

/** Reads every *.toml in `dir` in name order; a missing directory is no rules, with a problem saying so. */
export function loadRules(dir: string = process.env.AIOS_RULES_DIR ?? DEFAULT_RULES_DIR): RuleSet {
  const collected = new Collector();
  const { files, problems, error } = readRulesFiles(dir);
  if (error) collected.problems.push(`${error}; the reactive tier has no rules`);
  collected.problems.push(...problems);
  for (const { where, text } of files) collected.addFile(text, where);
  return collected.build();
}

/** Rules by name across files: a later rule of the same name replaces an earlier one. */
class Collector {
  readonly problems: string[] = [];
  readonly #rules = new Map<string, { rule: CompiledPattern['rule']; patterns: CompiledPattern[] } | null>();

  addFile(text: string, where: string): void {
    let data: unknown;
    try {
      data = parseToml(text);
    } catch (error) {
      this.problems.push(`${where}: not valid TOML (${(error as Error).message.split('\n')[0]}); its rules are left out`);
      return;
    }
    const file = fileSchema.safeParse(data);
    if (!file.success) {
      this.problems.push(`${where}: ${describeIssue(file.error.issues[0]!, data)} (a rules file holds [[rule]] and [[reflex]] tables only); its rules are left out`);
      return;
    }
    for (const [i, value] of file.data.rule.entries()) {
      const label = typeof (value as { name?: unknown } | null)?.name === 'string' ? `rule[${i}] "${(value as { name: string }).name}"` : `rule[${i}]`;
      const parsed = ruleSchema.safeParse(value);
      if (!parsed.success) {
        this.problems.push(`${where}: ${label}: ${describeIssue(parsed.error.issues[0]!, value)}; left out`);
        continue;
      }
      const compiled = compileRule(parsed.data, `${where} ${label}`);
      if (typeof compiled === 'string') {
        this.problems.push(`${where}: ${label}: ${compiled}; left out`);
        continue;
      }
      // Deleted and set again so that the order of help follows the last definition.
      this.#rules.delete(parsed.data.name);
      this.#rules.set(parsed.data.name, parsed.data.disabled ? null : compiled);
    }
  }

  build(options: { index?: boolean } = {}): RuleSet {
    const kept = [...this.#rules.values()].filter((r) => r !== null);
    return new RuleSet(
      kept.map((r) => r.rule),
      kept.flatMap((r) => r.patterns),
      this.problems,
      options,
    );
  }
}

function describeIssue(issue: z.core.$ZodIssue, value: unknown): string {
  const key = issue.path.map(String).join('.');
  const got = issue.path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k as string] : undefined), value);
  return `${key ? `${key}: ` : ''}${issue.message}${got === undefined ? '' : `, got ${JSON.stringify(got)}`}`;
}

type RuleData = z.infer<typeof ruleSchema>;

function compileRule(data: RuleData, source: string): { rule: CompiledPattern['rule']; patterns: CompiledPattern[] } | string {
  const slots = new Map<string, SlotType>();
  for (const [name, type] of Object.entries(data.slots)) {
    slots.set(name, typeof type === 'string' ? type : { choices: new Map(Object.entries(type).map(([k, v]) => [k.toLowerCase(), v])) });
  }
  const rule = { name: data.name, usage: data.usage ?? patternText(data.patterns[0]!), summary: data.summary, tool: data.tool, confidence: data.confidence, source, args: data.args, slots };
  const patterns: CompiledPattern[] = [];
  for (const [i, entry] of data.patterns.entries()) {
    const text = patternText(entry);
    let tree: Node[];
    try {
      tree = parsePattern(text);
    } catch (error) {
      return `patterns[${i}] "${text}": ${(error as Error).message}`;
    }
    const used = slotsIn(tree);
    for (const slot of used) {
      if (!slots.has(slot)) return `patterns[${i}] "${text}": the slot {${slot}} has no type (add ${slot} = "name" or another type under [rule.slots])`;
    }
    if (new Set(used).size !== used.length) return `patterns[${i}] "${text}": a slot appears twice`;
    const loose = used.some((slot) => slots.get(slot) === 'time') ? new RegExp(`^${toRegex(tree, slots, true)}$`, 'i') : null;
    patterns.push({ rule, text, regex: new RegExp(`^${toRegex(tree, slots)}$`, 'i'), loose, confidence: typeof entry === 'string' ? data.confidence : entry.confidence });
  }
  for (const slot of [...JSON.stringify(data.args).matchAll(/\{([a-z][a-z0-9_]*)(?:\.[a-z]+)?\}/g)].map((m) => m[1]!)) {
    if (!slots.has(slot)) return `args use {${slot}}, which is not a slot of this rule`;
  }
  return { rule, patterns };
}

function patternText(entry: RuleData['patterns'][number]): string {
  return typeof entry === 'string' ? entry : entry.text;
}

type Node = { word: string } | { slot: string } | { optional: Node[] } | { oneOf: Node[][] };

/** `restart [the] {name} (service|daemon)` as a tree; throws an Error saying what is wrong. */
function parsePattern(text: string): Node[] {
  let at = 0;
  const sequence = (closers: string): Node[] => {
    const nodes: Node[] = [];
    for (;;) {
      while (text[at] === ' ') at++;
      const c = text[at];
      if (c === undefined || closers.includes(c)) return nodes;
      if (c === '[') {
        at++;
        const inner = sequence(']');
        if (text[at++] !== ']') throw new Error('a [ is not closed');
        if (inner.length === 0) throw new Error('[] holds nothing');
        nodes.push({ optional: inner });
      } else if (c === '(') {
        at++;
        const alternatives: Node[][] = [sequence('|)')];
        while (text[at] === '|') {
          at++;
          alternatives.push(sequence('|)'));
        }
        if (text[at++] !== ')') throw new Error('a ( is not closed');
        if (alternatives.some((a) => a.length === 0)) throw new Error('an alternative in ( | ) is empty');
        nodes.push({ oneOf: alternatives });
      } else if (c === '{') {
        const end = text.indexOf('}', at);
        if (end < 0) throw new Error('a { is not closed');
        const name = text.slice(at + 1, end);
        if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`{${name}} is not a slot name`);
        nodes.push({ slot: name });
        at = end + 1;
      } else if (']|)}'.includes(c)) {
        throw new Error(`a ${c} that closes nothing`);
      } else {
        const word = /^[^\s[\](){}|]+/.exec(text.slice(at))![0];
        nodes.push({ word: word.toLowerCase() });
        at += word.length;
      }
    }
  };
  const nodes = sequence('');
  if (at < text.length) throw new Error(`a ${text[at]} that closes nothing`);
  if (nodes.length === 0) throw new Error('the pattern is empty');
  return nodes;
}

function wordsIn(nodes: Node[]): string[] {
  return nodes.flatMap((n) => ('word' in n ? [n.word] : 'optional' in n ? wordsIn(n.optional) : 'oneOf' in n ? n.oneOf.flatMap(wordsIn) : []));
}

function slotsIn(nodes: Node[]): string[] {
  return nodes.flatMap((n) => ('slot' in n ? [n.slot] : 'optional' in n ? slotsIn(n.optional) : 'oneOf' in n ? n.oneOf.flatMap(slotsIn) : []));
}

/**
 * Sets of words of which a line matching `nodes` holds at least one each: a word outside [ ] and
 * ( | ), or the first words of every alternative of a ( | ) outside [ ].
 */
function requiredWords(nodes: Node[]): Set<string>[] {
  const sets: Set<string>[] = [];
  for (const node of nodes) {
    if ('word' in node) sets.push(new Set([node.word]));
    else if ('oneOf' in node) {
      const first = firstWords([node]);
      if (first !== 'any' && first.size > 0) sets.push(first);
    }
  }
  return sets;
}

/** The words a line matching `nodes` can start with, or 'any' when it can start with a slot. */
function firstWords(nodes: Node[]): Set<string> | 'any' {
  const words = new Set<string>();
  for (const node of nodes) {
    if ('word' in node) {
      words.add(node.word);
      return words;
    }
    if ('slot' in node) return 'any';
    const inner = 'optional' in node ? [node.optional] : node.oneOf;
    for (const sequence of inner) {
      const first = firstWords(sequence);
      if (first === 'any') return 'any';
      for (const w of first) words.add(w);
    }
    if ('oneOf' in node) return words;
  }
  return 'any';
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Each word with the space before it, so that a left-out part takes its space with it: match against ' ' + line. */
function toRegex(nodes: Node[], slots: Map<string, SlotType>, looseTime = false): string {
  return nodes
    .map((node) => {
      if ('optional' in node) return `(?:${toRegex(node.optional, slots, looseTime)})?`;
      if ('word' in node) return ` ${escape(node.word)}`;
      if ('oneOf' in node) return `(?:${node.oneOf.map((a) => toRegex(a, slots, looseTime)).join('|')})`;
      const type = slots.get(node.slot)!;
      const inner =
        type === 'time' && looseTime ? '.+?' : typeof type === 'string' ? SLOT_PATTERNS[type] : [...type.choices.keys()].sort((a, b) => b.length - a.length).map(escape).join('|');
      return ` (?<${node.slot}>${inner})`;
    })
    .join('');
}

/** The rule's args with the slots' values in, or a message when a value cannot be used. */
function fillArgs(pattern: CompiledPattern, groups: Record<string, string | undefined>, now: Date): Record<string, unknown> | string {
  const values = new Map<string, unknown>();
  for (const [name, type] of pattern.rule.slots) {
    const raw = groups[name];
    if (raw === undefined) continue;
    if (type === 'number') values.set(name, Number(raw));
    else if (type === 'name') values.set(name, raw.toLowerCase());
    else if (type === 'time') {
      const range = parseTimePhrase(raw, now);
      if (!range) return `I don't know the time "${raw}"; try ${TIME_PHRASE_EXAMPLES}.`;
      values.set(name, { since: range.since.toISOString(), ...(range.until ? { until: range.until.toISOString() } : {}) });
    } else if (typeof type === 'object') values.set(name, type.choices.get(raw.toLowerCase()));
    else values.set(name, raw);
  }
  const lookup = (ref: string): unknown => {
    const [slot, field] = ref.split('.');
    const value = values.get(slot!);
    return field === undefined ? value : (value as Record<string, unknown> | undefined)?.[field];
  };
  const fill = (template: unknown): unknown => {
    if (Array.isArray(template)) return template.map(fill).filter((v) => v !== undefined);
    if (template !== null && typeof template === 'object') {
      return Object.fromEntries(Object.entries(template).flatMap(([k, v]) => {
        const value = fill(v);
        return value === undefined ? [] : [[k, value]];
      }));
    }
    if (typeof template !== 'string') return template;
    const whole = /^\{([a-z][a-z0-9_]*(?:\.[a-z]+)?)\}$/.exec(template);
    if (whole) return lookup(whole[1]!);
    return template.replace(/\{([a-z][a-z0-9_]*(?:\.[a-z]+)?)\}/g, (_, ref: string) => String(lookup(ref) ?? ''));
  };
  return fill(pattern.rule.args) as Record<string, unknown>;
}
