// The policy engine: one verdict for a command line or a tool call, with the rule that decided
// it and why. It never runs anything.
//
// Invariants:
// - Rules are evaluated deny → require_approval → notify → auto_allow; the first match wins.
//   Built-in checks come with them: refusals (invisible characters, look-alike names, fork
//   bombs, recursive changes of system trees, writes to devices, signals to PID 1) are denies;
//   protected paths and anything the parser could not fully resolve need approval, in every
//   mode (trusted too).
// - A command line's verdict is the strictest verdict of any command in it: any deny wins.
// - Allow rules never match a command with a word only known at run time.
// - The mode decides what no rule matched: safe (changes need approval), normal (default),
//   paranoid (allow-list only), trusted (no prompts; the deny list and protected paths hold).
// - Taint: once outside text has entered the conversation, changes need approval in normal mode.
import path from 'node:path';
import picomatch from 'picomatch';
import type { Verdict } from '../audit/audit-log.ts';
import type { Tool } from '../tools/tool.ts';
import { classify, commandName, globPrefix, recursiveOnSystemTree, type CommandClass } from './commands.ts';
import { DEFAULT_DENY, type Mode, type Permissions } from './config.ts';
import { canonicalForms, isDeviceWrite, isKernelInterface, within } from './paths.ts';
import { analyseCommandLine, type SimpleCommand } from './shell.ts';

export interface Decision {
  verdict: Verdict;
  /** The rule that decided, e.g. `deny: mkfs*`, `builtin:protected-path`, `mode:normal`. */
  rule: string;
  reason: string;
}

export interface PolicyContext {
  /** Outside text (a file, a web page, a tool's output) is in the conversation. */
  tainted?: boolean;
  /** Where relative paths start (the tool's working directory). */
  cwd?: string;
}

export interface PolicyOptions {
  /** Paths that need approval to change in every mode, besides the configured ones. */
  protectedPaths?: string[];
}

/** The files that hold aiOS's own trust: changing them needs a person, whatever the mode. */
export function builtinProtectedPaths(stateDir: string, configFile: string): string[] {
  return ['/etc/aios', '/boot', '/usr/lib/aios', '/efi', configFile, path.join(stateDir, 'audit.db*'), '/etc/passwd', '/etc/shadow', '/etc/sudoers', '/etc/sudoers.d'];
}

/** Files whose contents are secrets: reading them (and sending them to a model) needs a person. */
const SECRET_FILES = picomatch(['/etc/shadow', '/etc/gshadow', '/etc/shadow-', '/etc/gshadow-', '/etc/ssh/ssh_host_*_key', '/root/.ssh/id_*', '/home/*/.ssh/id_*', '/etc/aios/secrets/**', '/var/lib/aios/secrets/**'], { dot: true });

function secretRead(paths: string[]): string | undefined {
  return paths.find((p) => SECRET_FILES(p) && !p.endsWith('.pub'));
}

const SEVERITY: Record<Verdict, number> = { allow: 0, notify: 1, approval: 2, deny: 3 };

type List = 'deny' | 'require_approval' | 'notify' | 'auto_allow';
const LIST_VERDICT: Record<List, Verdict> = { deny: 'deny', require_approval: 'approval', notify: 'notify', auto_allow: 'allow' };

interface Rule {
  list: List;
  kind: 'cmd' | 'tool' | 'path';
  source: string;
  label: string;
  test(subject: string): boolean;
}

/** A command glob: `*` and `?` match any characters (spaces and slashes too), `[...]` a class. */
function commandGlob(pattern: string): (subject: string) => boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') source += '.*';
    else if (c === '?') source += '.';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) source += '\\[';
      else {
        source += `[${pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else source += c.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  const regex = new RegExp(`^${source}$`, 's');
  return (subject) => regex.test(subject);
}

function compileRule(list: List, source: string, label: string): Rule {
  const match = /^(cmd|tool|path):(.*)$/s.exec(source);
  const kind = (match?.[1] ?? 'cmd') as Rule['kind'];
  const pattern = match ? match[2]! : source;
  const test = kind === 'path' ? pathRule(pattern) : commandGlob(pattern);
  return { list, kind, source, label, test };
}

/** `path:/etc` covers everything below /etc as well; globs use picomatch (`**` crosses `/`). */
function pathRule(pattern: string): (subject: string) => boolean {
  if (!/[*?[{]/.test(pattern)) {
    const fixed = path.posix.normalize(pattern);
    return (subject) => within(subject, fixed);
  }
  const isMatch = picomatch(pattern, { dot: true });
  return (subject) => isMatch(subject);
}

export class Policy {
  readonly mode: Mode;
  readonly permissions: Permissions;
  readonly #rules: Rule[];
  readonly #protected: string[];
  readonly #protectedRules: ((subject: string) => boolean)[];

  constructor(permissions: Permissions, options: PolicyOptions = {}) {
    this.permissions = permissions;
    this.mode = permissions.mode;
    const lists: List[] = ['deny', 'require_approval', 'notify', 'auto_allow'];
    this.#rules = lists.flatMap((list) => permissions[list].map((r) => compileRule(list, r, `${list}: ${r}`)));
    this.#rules.push(...DEFAULT_DENY.map((r) => compileRule('deny', r, `default deny: ${r}`)));
    this.#protected = [...(options.protectedPaths ?? []), ...permissions.protected_paths];
    this.#protectedRules = this.#protected.map(pathRule);
  }

  /** A command line as `shell.exec` would get it. */
  checkCommandLine(line: string, context: PolicyContext = {}): Decision {
    const analysis = analyseCommandLine(line);
    const decisions: Decision[] = [];
    for (const problem of analysis.problems) {
      decisions.push({ verdict: problem.kind === 'refuse' ? 'deny' : 'approval', rule: problem.rule, reason: problem.reason });
    }
    // After a `cd`, relative paths in the line point wherever it went: they are not judged as known.
    const moves = analysis.commands.some((c) => ['cd', 'pushd', 'popd'].includes(commandName(c) ?? ''));
    for (const command of analysis.commands) decisions.push(this.#checkCommand(moves ? withUnknownRelativePaths(command) : command, context));
    if (decisions.length === 0) return { verdict: 'allow', rule: `mode:${this.mode}`, reason: 'the line runs no command' };
    return strictest(decisions);
  }

  /** A program and its arguments, run without a shell (process.spawn). */
  checkArgv(argv: string[], context: PolicyContext = {}): Decision {
    return this.checkCommandLine(argv.map(shellQuote).join(' '), context);
  }

  /** A tool call whose arguments have passed the tool's schema. */
  checkToolCall<I>(tool: Tool, args: I, context: PolicyContext = {}): Decision {
    const touched = tool.paths?.(args as never) ?? {};
    const cwd = context.cwd ?? '/';
    const writes = (touched.write ?? []).map((p) => canonicalForms(p, cwd));
    const reads = (touched.read ?? []).map((p) => canonicalForms(p, cwd));
    const all = [...writes, ...reads].flat();
    const changes = tool.effects.includes('writes') || tool.effects.includes('destructive');
    const line = tool.command ? this.checkCommandLine(tool.command(args as never), context) : null;

    const decisions: Decision[] = [];
    if (line) decisions.push(line);
    const ruled = this.#firstRule((rule) => (rule.kind === 'tool' ? rule.test(tool.name) : rule.kind === 'path' ? all.some((p) => rule.test(p)) : false), ['deny']);
    if (ruled) return ruled;
    for (const forms of writes) {
      if (isDeviceWrite(forms)) return { verdict: 'deny', rule: 'builtin:device-write', reason: `${tool.name} would write to the device ${forms.at(-1)}` };
    }
    if (line?.verdict === 'deny') return line;
    const approval = this.#firstRule((rule) => (rule.kind === 'tool' ? rule.test(tool.name) : rule.kind === 'path' ? all.some((p) => rule.test(p)) : false), ['require_approval']);
    if (approval) return approval;
    const protectedWrite = writes.find((forms) => this.#isProtected(forms));
    if (protectedWrite) return { verdict: 'approval', rule: 'builtin:protected-path', reason: `${tool.name} would change ${protectedWrite.at(-1)}, a protected path (needs approval in every mode)` };
    // Tools that hand a file's contents back (fs.read, fs.search) would put the secret in a conversation.
    const secret = tool.name === 'fs.read' || tool.name === 'fs.search' ? secretRead(all) : undefined;
    if (secret) decisions.push({ verdict: 'approval', rule: 'builtin:secret-file', reason: `${tool.name} would read ${secret}, which holds secrets` });
    const kernel = writes.find(isKernelInterface);
    if (kernel) decisions.push({ verdict: 'approval', rule: 'builtin:kernel-interface', reason: `${tool.name} would write ${kernel.at(-1)}, which changes the running kernel` });
    if (line && line.verdict !== 'allow') decisions.push(line);
    if (decisions.some((d) => d.verdict === 'approval')) return strictest(decisions);
    const lowered = this.#firstRule((rule) => (rule.kind === 'tool' ? rule.test(tool.name) : rule.kind === 'path' ? all.length > 0 && all.every((p) => rule.test(p)) : false), ['notify', 'auto_allow']);
    if (lowered && !(lowered.verdict === 'allow' && this.mode === 'safe' && changes)) return lowered;
    if (line) return line;
    const destructive = tool.effects.includes('destructive') || tool.risk === 'high';
    return this.#modeDefault(changes ? (destructive ? 'destructive' : 'write') : 'read', tool.effects.includes('network'), context, tool.name);
  }

  #checkCommand(command: SimpleCommand, context: PolicyContext): Decision {
    const cls = classify(command);
    const cwd = context.cwd ?? '/';
    const shown = display(command);
    const refusal = cls.problems.find((p) => p.kind === 'refuse');
    if (refusal) return { verdict: 'deny', rule: refusal.rule, reason: refusal.reason };
    if (recursiveOnSystemTree(command)) return { verdict: 'deny', rule: 'builtin:system-tree', reason: `\`${shown}\` recursively changes / or a top-level system directory` };
    if (signalsInit(command)) return { verdict: 'deny', rule: 'builtin:signal-init', reason: `\`${shown}\` signals PID 1 (or every process): that is what service.* and sys.power are for` };

    const writes = cls.writes.flatMap((w) => (w === null ? [] : [canonicalForms(w, cwd)]));
    const globWrites = cls.effect === 'read' ? [] : command.globs.map((g) => canonicalForms(globPrefix(g), cwd));
    for (const forms of writes) {
      if (isDeviceWrite(forms)) return { verdict: 'deny', rule: 'builtin:device-write', reason: `\`${shown}\` writes to the device ${forms.at(-1)}` };
    }
    const pathArgs = [...command.argv.slice(1), ...command.reads].filter((a): a is string => a !== null && /^(\/|\.\.?\/|~)/.test(a)).map((a) => canonicalForms(a, cwd));
    const paths = [...writes, ...globWrites, ...pathArgs].flat();
    const text = commandText(command);
    const resolved = command.argv.every((a) => a !== null) && command.writes.every((w) => w !== null);

    const deny = this.#matchCommand(text, paths, ['deny']);
    if (deny) return deny;
    const approval = this.#matchCommand(text, paths, ['require_approval']);
    if (approval) return approval;
    const protectedWrite = [...writes, ...globWrites].find((forms) => this.#isProtected(forms, globWrites.includes(forms)));
    if (protectedWrite) return { verdict: 'approval', rule: 'builtin:protected-path', reason: `\`${shown}\` changes ${protectedWrite.at(-1)}, a protected path (needs approval in every mode)` };
    const secret = secretRead(paths);
    if (secret) return { verdict: 'approval', rule: 'builtin:secret-file', reason: `\`${shown}\` reads ${secret}, which holds secrets` };
    const unjudged = cls.problems.find((p) => p.kind === 'unjudged');
    if (unjudged) return { verdict: 'approval', rule: unjudged.rule, reason: unjudged.reason };
    if (cls.effect !== 'read' && cls.writes.some((w) => w === null)) return { verdict: 'approval', rule: 'builtin:unknown-target', reason: `\`${shown}\` writes to a file whose name is only known at run time` };
    if (cls.effect !== 'read' && command.globs.length > 0) return { verdict: 'approval', rule: 'builtin:glob-target', reason: `\`${shown}\` changes files named by a pattern (${command.globs.join(' ')}), which are only known at run time` };
    const kernel = writes.find(isKernelInterface);
    if (kernel) return { verdict: 'approval', rule: 'builtin:kernel-interface', reason: `\`${shown}\` writes ${kernel.at(-1)}, which changes the running kernel` };
    if (resolved) {
      const lowered = this.#matchCommand(text, paths, ['notify', 'auto_allow']);
      if (lowered && !(lowered.verdict === 'allow' && this.mode === 'safe' && cls.effect !== 'read')) return lowered;
    }
    if (!resolved && cls.effect !== 'read') {
      return { verdict: 'approval', rule: 'builtin:unresolved', reason: `\`${shown}\` has words only known at run time` };
    }
    return this.#modeDefault(cls.effect, false, context, `\`${shown}\``);
  }

  #matchCommand(text: string, paths: string[], lists: List[]): Decision | null {
    return this.#firstRule((rule) => {
      if (rule.kind === 'cmd') return rule.test(text);
      if (rule.kind === 'path') return paths.some((p) => rule.test(p));
      return false;
    }, lists);
  }

  #firstRule(test: (rule: Rule) => boolean, lists: List[]): Decision | null {
    for (const list of lists) {
      for (const rule of this.#rules) {
        if (rule.list === list && test(rule)) return { verdict: LIST_VERDICT[list], rule: rule.label, reason: `matches the ${rule.label.startsWith('default') ? 'built-in' : 'configured'} ${list.replace('_', ' ')} rule \`${rule.source}\`` };
      }
    }
    return null;
  }

  #isProtected(forms: string[], isGlobPrefix = false): boolean {
    return forms.some((f) => this.#protectedRules.some((rule) => rule(f)) || (isGlobPrefix && this.#protected.some((p) => within(p.replace(/\*.*$/, ''), f))));
  }

  #modeDefault(effect: CommandClass['effect'], network: boolean, context: PolicyContext, what: string): Decision {
    const rule = `mode:${this.mode}`;
    const kind = effect === 'read' ? 'only reads' : effect === 'write' ? 'changes files' : effect === 'destructive' ? 'removes or stops things' : 'is not known to be read-only';
    switch (this.mode) {
      case 'paranoid':
        return { verdict: 'approval', rule, reason: `${what} is not on the allow list (paranoid mode allows only what auto_allow names)` };
      case 'trusted':
        return effect === 'destructive' || effect === 'unknown'
          ? { verdict: 'notify', rule, reason: `${what} ${kind}; trusted mode runs it and records it prominently` }
          : { verdict: 'allow', rule, reason: `${what} ${kind}; trusted mode runs it` };
      case 'safe':
        return effect === 'read' ? { verdict: network ? 'notify' : 'allow', rule, reason: `${what} only reads` } : { verdict: 'approval', rule, reason: `${what} ${kind}; safe mode asks before any change` };
      case 'normal':
        if (effect === 'read') return { verdict: network ? 'notify' : 'allow', rule, reason: `${what} only reads${network ? ' (from the network)' : ''}` };
        if (context.tainted) return { verdict: 'approval', rule: 'builtin:taint', reason: `${what} ${kind}, and outside text has entered this conversation: a person must confirm it` };
        if (effect === 'write') return { verdict: 'notify', rule, reason: `${what} ${kind}` };
        return { verdict: 'approval', rule, reason: `${what} ${kind}` };
    }
  }
}

export function strictest(decisions: Decision[]): Decision {
  return decisions.reduce((worst, d) => (SEVERITY[d.verdict] > SEVERITY[worst.verdict] ? d : worst));
}

function withUnknownRelativePaths(command: SimpleCommand): SimpleCommand {
  const relative = (w: string | null): string | null => (w === null || w.startsWith('/') || w.startsWith('-') ? w : null);
  const name = commandName(command);
  return { ...command, argv: [command.argv[0] ?? null, ...command.argv.slice(1).map((w) => (name === 'cd' ? w : relative(w)))], writes: command.writes.map(relative) };
}

/** Signals to PID 1 (`kill -9 1`) or to every process (`kill -9 -1`). */
function signalsInit(command: SimpleCommand): boolean {
  const name = commandName(command);
  if (name !== 'kill') return false;
  const args = command.argv.slice(1);
  let i = 0;
  if (args[0] === '-s' || args[0] === '-n') i = 2;
  else if (args[0] !== undefined && args[0] !== null && /^-([A-Za-z]+|\d+)$/.test(args[0]) && args.length > 1) i = 1;
  if (args[i] === '--') i += 1;
  return args.slice(i).some((a) => a === '1' || a === '-1');
}

/** The command as rules see it: the program's base name, then its words (unknown ones as ⁇). */
export function commandText(command: SimpleCommand): string {
  const [first, ...rest] = command.argv;
  const name = first === null || first === undefined ? '\u2047' : path.posix.basename(first);
  return [name, ...rest.map((w) => w ?? '\u2047')].join(' ');
}

function display(command: SimpleCommand): string {
  const text = commandText(command).replace(/\u2047/g, '…');
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
