// A command line as the shell would run it, taken apart into the simple commands it runs.
// Parsing is mvdan/sh's (the Go parser behind shfmt, compiled to JavaScript); this module
// walks its tree and resolves each word the way bash would, as far as that is knowable
// without running anything.
//
// Invariants:
// - Every simple command anywhere in the tree is returned: inside lists, pipelines, subshells,
//   blocks, loops, command and process substitutions, parameter expansions, `bash -c`/`sh -c`
//   strings, `eval`, `xargs`, `find -exec`, `env -S`, `su -c`, `watch`, and behind wrappers
//   (sudo, env, timeout, nice, nohup, busybox, ...), each with `via` naming what led to it.
// - A word whose value depends on the run (expansions, substitutions, globs) is null, never
//   guessed; a command whose name is null is `unresolved`.
// - Redirection targets are writes (or reads) of the command they belong to.
// - Anything the walk does not understand becomes a `problem` on the command line; it never
//   throws (the policy turns problems into "needs approval").
import path from 'node:path';
import { requireRuntimePackage } from '../native/packages.ts';

export interface SimpleCommand {
  /** The words after quote removal; null where the value is only known at run time. */
  argv: (string | null)[];
  /** The patterns of the words that are globs (null in argv), e.g. `/etc/*`. */
  globs: string[];
  /** Variables assigned for this command (`A=b cmd`, `env A=b cmd`, `export A=b`). */
  assigns: { name: string; value: string | null }[];
  /** Redirection targets: files written (`>`, `>>`, `&>`, `<>`) and read (`<`). */
  writes: (string | null)[];
  reads: (string | null)[];
  /** The wrappers and interpreters that led here, outermost first: ["sudo", "bash -c"]. */
  via: string[];
  /** Arguments are appended at run time (xargs, find -exec ... +): operands are unknown. */
  moreArgs: boolean;
}

export interface Problem {
  /** `refuse` problems deny the whole line; `unjudged` ones need approval. */
  kind: 'refuse' | 'unjudged';
  rule: string;
  reason: string;
}

export interface ShellAnalysis {
  commands: SimpleCommand[];
  problems: Problem[];
}

interface MvdanSyntax {
  NewParser(): { Parse(text: string, name: string): Node };
  NodeType(node: Node): string;
  Walk(node: Node, visit: (node: Node | null) => boolean): void;
}
// The parser's nodes are GopherJS objects: fields as the Go structs name them.
type Node = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let syntax: MvdanSyntax | undefined;
function parser(): MvdanSyntax {
  // Loaded on first use, outside the startup snapshot: 1.5 MB that only the policy needs.
  syntax ??= requireRuntimePackage<{ syntax: MvdanSyntax }>('mvdan-sh').syntax;
  return syntax;
}

// mvdan/sh's token numbers for redirection operators.
const REDIRECT = { out: 54, append: 55, in: 56, inOut: 57, dupIn: 58, dupOut: 59, clobber: 60, heredoc: 61, dashHeredoc: 62, hereString: 63, all: 64, appendAll: 65 };
const WRITE_REDIRECTS = new Set([REDIRECT.out, REDIRECT.append, REDIRECT.inOut, REDIRECT.clobber, REDIRECT.all, REDIRECT.appendAll]);

const MAX_DEPTH = 8;

// Bidi controls, zero-width characters and other invisible code points: text that does not
// look like what it runs ("Trojan Source").
const INVISIBLE = /[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb]|[\u{e0000}-\u{e0fff}]/u;

/** Parses a command line; never throws. */
export function analyseCommandLine(line: string): ShellAnalysis {
  const analysis: ShellAnalysis = { commands: [], problems: [] };
  if (INVISIBLE.test(line)) {
    const at = [...line].findIndex((c) => INVISIBLE.test(c));
    const code = [...line][at]!.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    analysis.problems.push({ kind: 'refuse', rule: 'builtin:invisible-characters', reason: `the command line holds an invisible or direction-changing character (U+${code} at character ${at + 1}): what it shows is not what it runs` });
  }
  analyse(line, [], 0, analysis);
  return analysis;
}

function analyse(line: string, via: string[], depth: number, out: ShellAnalysis): void {
  if (depth > MAX_DEPTH) {
    out.problems.push({ kind: 'unjudged', rule: 'builtin:too-deep', reason: `commands nested more than ${MAX_DEPTH} levels deep (${via.join(' → ')})` });
    return;
  }
  let file: Node;
  const sh = parser();
  try {
    file = sh.NewParser().Parse(line, '');
  } catch (error) {
    out.problems.push({ kind: 'unjudged', rule: 'builtin:unparsable', reason: `the shell would not parse ${via.length ? `the command given to ${via.at(-1)}` : 'it'}: ${parseErrorText(error)}` });
    return;
  }
  try {
    sh.Walk(file, (node) => {
      if (!node) return true;
      switch (sh.NodeType(node)) {
        case 'Stmt':
          visitStatement(node, via, depth, out);
          return true;
        case 'FuncDecl':
          visitFunction(node, out);
          return true;
        case 'DeclClause':
          visitDeclaration(node, via, out);
          return true;
        default:
          return true;
      }
    });
  } catch (error) {
    out.problems.push({ kind: 'unjudged', rule: 'builtin:unparsable', reason: `the command line could not be walked: ${parseErrorText(error)}` });
  }
}

function parseErrorText(error: unknown): string {
  if (error && typeof error === 'object') {
    const go = error as { Error?: () => string; message?: string };
    if (typeof go.Error === 'function') return go.Error();
    if (typeof go.message === 'string') return go.message;
  }
  return String(error);
}

/** A statement: its command (when simple) and its redirections. */
function visitStatement(stmt: Node, via: string[], depth: number, out: ShellAnalysis): void {
  const writes: (string | null)[] = [];
  const reads: (string | null)[] = [];
  for (const redirect of (stmt.Redirs as Node[] | null) ?? []) {
    const op = redirect.Op as number;
    if (op === REDIRECT.heredoc || op === REDIRECT.dashHeredoc || op === REDIRECT.hereString) continue;
    const target = wordValue(redirect.Word as Node | null);
    if (op === REDIRECT.dupIn || op === REDIRECT.dupOut) {
      // `>&2`, `2>&1`, `<&0`, `>&-`: file descriptors, not files (`>& file` is bash's `&>`).
      if (target !== null && /^(\d+|-)$/.test(target)) continue;
    }
    if (WRITE_REDIRECTS.has(op) || op === REDIRECT.dupOut) writes.push(target);
    else reads.push(target);
  }
  const cmd = stmt.Cmd as Node | null;
  const type = cmd ? parser().NodeType(cmd) : 'none';
  if (type === 'CallExpr') {
    const assigns = ((cmd!.Assigns as Node[] | null) ?? []).map(assignment);
    const words = ((cmd!.Args as Node[] | null) ?? []).map((w) => resolveWord(w));
    const globs = words.flatMap((w) => (w.pattern === null ? [] : [w.pattern]));
    expand({ argv: words.map((w) => w.value), globs, assigns, writes, reads, via, moreArgs: false }, depth, out);
  } else if (writes.length > 0 || reads.length > 0) {
    // Redirections of a compound command (`{ ...; } > file`) belong to no single command.
    out.commands.push({ argv: [`(${type.toLowerCase()})`], globs: [], assigns: [], writes, reads, via, moreArgs: false });
  }
}

function assignment(node: Node): { name: string; value: string | null } {
  const name = (node.Name as Node | null)?.Value as string | undefined;
  // `a[i]=x` and `a+=(...)` are still assignments to `a`.
  return { name: name ?? '(unknown)', value: node.Array || node.Index ? null : node.Value ? wordValue(node.Value as Node) : '' };
}

/** `export A=b`, `declare -x`, `readonly`, `local`: assignments that outlive one command. */
function visitDeclaration(node: Node, via: string[], out: ShellAnalysis): void {
  const assigns = ((node.Args as Node[] | null) ?? []).filter((a) => a.Name).map(assignment);
  const variant = (node.Variant as Node | null)?.Value as string | undefined;
  out.commands.push({ argv: [variant ?? 'declare', ...assigns.map((a) => `${a.name}=${a.value ?? '?'}`)], globs: [], assigns, writes: [], reads: [], via, moreArgs: false });
}

/** A function definition may shadow any command name; one that calls itself is a fork bomb. */
function visitFunction(node: Node, out: ShellAnalysis): void {
  const name = (node.Name as Node | null)?.Value as string | undefined;
  let recursive = false;
  parser().Walk(node.Body as Node, (n) => {
    if (n && parser().NodeType(n) === 'CallExpr') {
      const first = ((n.Args as Node[] | null) ?? [])[0];
      if (first && wordValue(first) === name) recursive = true;
    }
    return true;
  });
  out.problems.push(
    recursive
      ? { kind: 'refuse', rule: 'builtin:fork-bomb', reason: `function \`${name}\` calls itself: a fork bomb` }
      : { kind: 'unjudged', rule: 'builtin:function', reason: `defines a shell function \`${name}\`, which can stand in for any command` },
  );
}

/**
 * The value of a word after quote removal, or null when it depends on the run: parameter
 * and arithmetic expansions, command and process substitutions, globs, brace expansion,
 * `~user`. (Substitutions inside the word are visited as statements of their own.)
 */
export function wordValue(word: Node | null | undefined): string | null {
  return resolveWord(word).value;
}

/**
 * The word's value, and for a glob (or brace expansion) the pattern: `/etc/*` has no value
 * but the policy can still see that it reaches into /etc.
 */
export function resolveWord(word: Node | null | undefined): { value: string | null; pattern: string | null } {
  const dynamic = { value: null, pattern: null };
  if (!word) return dynamic;
  let text = '';
  let glob = false;
  const parts = (word.Parts as Node[] | null) ?? [];
  for (const [index, part] of parts.entries()) {
    switch (parser().NodeType(part)) {
      case 'Lit': {
        const raw = part.Value as string;
        if (/(^|[^\\])([*?]|\[.*\])/.test(raw) || /(^|[^\\])\{[^}]*(,|\.\.)[^}]*\}/.test(raw)) glob = true;
        if (index === 0 && raw.startsWith('~')) {
          const tilde = /^~([^/]*)(.*)$/s.exec(raw)!;
          if (tilde[1] !== '') return dynamic; // ~user: whoever that is at run time
          text += `${process.env.HOME ?? '/root'}${unescapeUnquoted(tilde[2]!)}`;
          break;
        }
        text += unescapeUnquoted(raw);
        break;
      }
      case 'SglQuoted':
        text += part.Dollar ? decodeAnsiC(part.Value as string) : (part.Value as string);
        break;
      case 'DblQuoted': {
        if (part.Dollar) return dynamic; // $"..." is translated at run time
        for (const inner of (part.Parts as Node[] | null) ?? []) {
          if (parser().NodeType(inner) !== 'Lit') return dynamic;
          text += (inner.Value as string).replace(/\\([$`"\\\n])/g, (_, c: string) => (c === '\n' ? '' : c));
        }
        break;
      }
      case 'ExtGlob':
        glob = true;
        text += '*';
        break;
      default:
        return dynamic;
    }
  }
  return glob ? { value: null, pattern: text } : { value: text, pattern: null };
}

function unescapeUnquoted(raw: string): string {
  return raw.replace(/\\(\n|.)/gs, (_, c: string) => (c === '\n' ? '' : c));
}

/** bash's $'...' quoting: \x72 is "r", \0162 is "r", \u0072 is "r". */
export function decodeAnsiC(raw: string): string {
  const simple: Record<string, string> = { a: '\x07', b: '\b', e: '\x1b', E: '\x1b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\', "'": "'", '"': '"', '?': '?' };
  return raw.replace(/\\(x[0-9a-fA-F]{1,2}|u[0-9a-fA-F]{1,4}|U[0-9a-fA-F]{1,8}|[0-7]{1,3}|c.|.)/gs, (match, esc: string) => {
    const kind = esc[0]!;
    if (kind === 'x' || kind === 'u' || kind === 'U') return String.fromCodePoint(Number.parseInt(esc.slice(1), 16) % 0x110000);
    if (/[0-7]/.test(kind)) return String.fromCharCode(Number.parseInt(esc, 8) & 0xff);
    if (kind === 'c' && esc.length === 2) return String.fromCharCode(esc.charCodeAt(1) & 0x1f);
    return simple[kind] ?? match;
  });
}

// --- what runs a command ---------------------------------------------------------------

/** Wrappers: programs that run their operands as a command. `withArg`: options taking a value. */
const WRAPPERS: Record<string, { withArg: string[]; positional?: number }> = {
  sudo: { withArg: ['-u', '-g', '-C', '-D', '-h', '-p', '-r', '-t', '-U', '-T', '--user', '--group', '--chdir', '--host', '--prompt', '--role', '--type', '--other-user', '--command-timeout', '--close-from'] },
  doas: { withArg: ['-u', '-C'] },
  env: { withArg: ['-u', '--unset', '-C', '--chdir', '-a', '--argv0'] },
  timeout: { withArg: ['-s', '--signal', '-k', '--kill-after'], positional: 1 },
  nice: { withArg: ['-n', '--adjustment'] },
  nohup: { withArg: [] },
  stdbuf: { withArg: ['-i', '-o', '-e', '--input', '--output', '--error'] },
  ionice: { withArg: ['-c', '-n', '-p', '-P', '-u', '--class', '--classdata'] },
  setsid: { withArg: [] },
  chrt: { withArg: [], positional: 1 },
  taskset: { withArg: [], positional: 1 },
  time: { withArg: ['-f', '--format', '-o', '--output'] },
  exec: { withArg: ['-a'] },
  command: { withArg: [] },
  builtin: { withArg: [] },
  chroot: { withArg: ['--userspec', '--groups'], positional: 1 },
  unshare: { withArg: ['--map-user', '--map-group', '--setgroups', '--propagation', '-S', '-G', '--setuid', '--setgid', '--wd', '-R', '--root'] },
  nsenter: { withArg: ['-t', '--target', '-S', '-G', '--setuid', '--setgid', '-w', '--wd', '-r', '--root'] },
  flock: { withArg: ['-w', '--timeout', '-E', '--conflict-exit-code'], positional: 1 },
  runuser: { withArg: ['-u', '-g', '-G', '--user', '--group'] },
  strace: { withArg: ['-e', '-o', '-p', '-s', '-u', '-E'] },
  ltrace: { withArg: ['-e', '-o', '-p', '-s', '-u'] },
  firejail: { withArg: [] },
  catchsegv: { withArg: [] },
  'start-stop-daemon': { withArg: [] },
};

export const SHELLS = new Set(['sh', 'bash', 'dash', 'zsh', 'ksh', 'mksh', 'ash', 'fish', 'rbash', 'csh', 'tcsh', 'yash', 'busybox-sh']);

/** A command on its way through expand(): the same shape as what comes out. */
type Pending = SimpleCommand;

/** Peels wrappers and nested shells off a simple command until the command that runs is reached. */
function expand(command: Pending, depth: number, out: ShellAnalysis): void {
  const { argv } = command;
  if (argv.length === 0) {
    if (command.assigns.length > 0 || command.writes.length > 0 || command.reads.length > 0) out.commands.push({ ...command, argv: [] });
    return;
  }
  const first = argv[0];
  if (first === null || first === undefined) {
    out.commands.push(command);
    return;
  }
  const name = path.posix.basename(first);
  const rest = argv.slice(1);
  const via = (label: string): string[] => [...command.via, label];
  const inner = (next: Partial<Pending>): void => expand({ ...command, writes: [], reads: [], ...next }, depth, out);
  const nestedLine = (line: string | null | undefined, label: string): void => {
    if (line === null || line === undefined) {
      out.problems.push({ kind: 'unjudged', rule: 'builtin:dynamic-script', reason: `${label} runs a command line that is only known at run time` });
    } else {
      analyse(line, via(label), depth + 1, out);
    }
  };

  // The wrapper itself is a command too (its redirections and its name are judged).
  const keepSelf = (): void => {
    out.commands.push({ ...command, argv: [first, ...rest] });
  };

  if (name === 'busybox' && rest.length > 0) {
    inner({ argv: rest, via: via('busybox') });
    keepSelf();
    return;
  }
  if (name === 'eval' || name === 'source' || name === '.') {
    keepSelf();
    if (name === 'eval') {
      nestedLine(rest.some((a) => a === null) ? null : rest.join(' '), 'eval');
    } else {
      out.problems.push({ kind: 'unjudged', rule: 'builtin:runs-file', reason: `\`${name} ${rest[0] ?? ''}\` runs the commands in a file, which are not judged here` });
    }
    return;
  }
  if (SHELLS.has(name)) {
    keepSelf();
    const script = shellScript(rest);
    if (script.kind === 'string') nestedLine(script.text, `${name} -c`);
    else if (script.kind === 'file') out.problems.push({ kind: 'unjudged', rule: 'builtin:runs-file', reason: `\`${name}\` runs the script ${script.file ?? '(known only at run time)'}, whose commands are not judged here` });
    else out.problems.push({ kind: 'unjudged', rule: 'builtin:shell-stdin', reason: `\`${name}\` runs commands read from its input, which are not judged here` });
    return;
  }
  if ((name === 'su' || name === 'script' || name === 'watch') && rest.length > 0) {
    keepSelf();
    const flag = rest.findIndex((a) => a === '-c' || a === '--command' || (a !== null && a.startsWith('--command=')));
    if (name === 'watch') {
      const operands = skipOptions(rest, ['-n', '--interval', '-d', '--differences', '-q', '--equexit']);
      nestedLine(operands.some((a) => a === null) ? null : operands.join(' '), 'watch');
    } else if (flag >= 0) {
      const value = rest[flag]!.startsWith('--command=') ? rest[flag]!.slice('--command='.length) : rest[flag + 1];
      nestedLine(value, `${name} -c`);
    } else if (name === 'su') {
      out.problems.push({ kind: 'unjudged', rule: 'builtin:shell-stdin', reason: '`su` without -c starts a shell whose commands are not judged here' });
    }
    return;
  }
  if (name === 'xargs') {
    keepSelf();
    const operands = skipOptions(rest, ['-I', '-i', '-n', '-P', '-L', '-l', '-s', '-d', '-E', '-e', '-a', '--arg-file', '--delimiter', '--max-args', '--max-procs', '--max-lines', '--replace', '--eof', '--max-chars', '--process-slot-var']);
    inner({ argv: operands.length > 0 ? operands : ['echo'], via: via('xargs'), moreArgs: true, assigns: [] });
    return;
  }
  if (name === 'find') {
    keepSelf();
    for (let i = 0; i < rest.length; i++) {
      if (!['-exec', '-execdir', '-ok', '-okdir'].includes(rest[i] ?? '')) continue;
      const end = rest.findIndex((a, j) => j > i && (a === ';' || a === '+'));
      const sub = rest.slice(i + 1, end < 0 ? undefined : end);
      inner({ argv: sub, via: via(`find ${rest[i]}`), moreArgs: true, assigns: [] });
      if (end < 0) break;
      i = end;
    }
    return;
  }
  const wrapper = WRAPPERS[name];
  if (wrapper && rest.length > 0) {
    keepSelf();
    let operands = skipOptions(rest, wrapper.withArg);
    const assigns = [...command.assigns];
    if (name === 'env') {
      const split = rest.findIndex((a) => a === '-S' || a === '--split-string' || (a !== null && (a.startsWith('-S') || a.startsWith('--split-string='))));
      if (split >= 0) {
        const arg = rest[split]!;
        const value = arg === '-S' || arg === '--split-string' ? rest[split + 1] : arg.startsWith('--split-string=') ? arg.slice(15) : arg.slice(2);
        nestedLine(value === null || value === undefined ? null : [value, ...rest.slice(split + 2)].join(' '), 'env -S');
        return;
      }
      while (operands[0] && /^[A-Za-z_][A-Za-z0-9_]*=/.test(operands[0])) {
        const [k, ...v] = operands[0].split('=');
        assigns.push({ name: k!, value: v.join('=') });
        operands = operands.slice(1);
      }
      if (operands[0] === null) {
        out.problems.push({ kind: 'unjudged', rule: 'builtin:dynamic-name', reason: '`env` runs a command whose name is only known at run time' });
        return;
      }
    }
    if (name === 'sudo' && rest.some((a) => a === '-s' || a === '-i' || a === '--shell' || a === '--login')) {
      nestedLine(operands.some((a) => a === null) ? null : operands.join(' '), 'sudo -s');
      return;
    }
    operands = operands.slice(wrapper.positional ?? 0);
    if (operands.length > 0) inner({ argv: operands, assigns, via: via(name) });
    else if (name === 'env' && assigns.length > command.assigns.length) out.commands.push({ ...command, argv: ['env'], assigns });
    return;
  }
  out.commands.push(command);
}

/** Operands after the options of a wrapper (stopping at the first operand or at `--`). */
function skipOptions(args: (string | null)[], withArg: string[]): (string | null)[] {
  let i = 0;
  while (i < args.length) {
    const a = args[i]!;
    if (a === '--') return args.slice(i + 1);
    if (a === null || !a.startsWith('-') || a === '-') break;
    if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(a)) break;
    i += withArg.includes(a) ? 2 : 1;
  }
  return args.slice(i);
}

/** What a shell invocation runs: a -c string, a script file, or its standard input. */
function shellScript(args: (string | null)[]): { kind: 'string'; text: string | null } | { kind: 'file'; file: string | null } | { kind: 'stdin' } {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === null) return { kind: 'file', file: null };
    if (a === '--') return args[i + 1] === undefined ? { kind: 'stdin' } : { kind: 'file', file: args[i + 1] ?? null };
    if (a === '-c' || /^-[a-zA-Z]*c[a-zA-Z]*$/.test(a)) {
      const rest = args.slice(i + 1).filter((x) => x === null || !/^[-+][a-zA-Z]+$/.test(x));
      return { kind: 'string', text: rest[0] === undefined ? null : rest[0] };
    }
    if (a === '-o' || a === '+o' || a === '-O' || a === '+O' || a === '--rcfile' || a === '--init-file') {
      i += 1;
      continue;
    }
    if (/^[-+]/.test(a)) {
      if (a === '-s' || /^-[a-zA-Z]*s[a-zA-Z]*$/.test(a)) return { kind: 'stdin' };
      continue;
    }
    return { kind: 'file', file: a };
  }
  return { kind: 'stdin' };
}
