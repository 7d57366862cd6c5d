// The `aios>` prompt on a terminal (the serial console, tty1, or the one you are in).
//
// Line editing and history come from readline. ctrl-C cancels the request that is running
// (or clears the line); ctrl-D ends this console, and init starts a fresh one: nothing else
// is affected. Every answer comes from a tool call chosen by the reactive tier.
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { redactSecrets } from '../../audit/canonical.ts';
import type { MemoryStore, NewMemory } from '../../memory/store.ts';
import { native } from '../../native/index.ts';
import { decide, describeCall, TOOL_COMMAND } from '../../models/reactive.ts';
import { loadRules, type RuleSet } from '../../models/rules.ts';
import { explicitTier } from '../../models/router.ts';
import { detectTiers, MODEL_TIERS } from '../../models/tiers.ts';
import { DEFAULT_CONFIG_FILE } from '../../policy/config.ts';
import type { AgentRuntime } from '../../agents/runtime.ts';
import { callTool } from '../../tools/tool.ts';
import type { ApprovalRequest } from '../../policy/approvals.ts';
import type { OpenPipeline, PipelineOptions } from '../../tools/pipeline.ts';
import { readBootInfo, serviceListTool } from '../../tools/system-tools.ts';

export interface ConsoleOptions {
  /** A terminal device to take over (e.g. /dev/ttyS0); null uses stdin and stdout. */
  tty: string | null;
  runDir: string;
  stateDir: string;
  version: string;
}

const PROMPT = 'aios> ';
const HISTORY_LINES = 500;

export async function runConsole(options: ConsoleOptions): Promise<number> {
  const streams = openTerminal(options.tty);
  if (!streams) return 0;
  const { input, output } = streams;
  const say = (text: string): void => {
    // The terminal turns \n into \r\n itself (ONLCR stays on in readline's raw mode).
    output.write(`${text}\n`);
  };

  const bannerTiers = banner(options, say);
  const historyFile = path.join(options.stateDir, 'console-history');
  const rl = readline.createInterface({
    input,
    output,
    prompt: PROMPT,
    terminal: 'isTTY' in input && input.isTTY === true ? true : undefined,
    history: loadHistory(historyFile),
    historySize: HISTORY_LINES,
    removeHistoryDuplicates: true,
  });
  let running: AbortController | null = null;

  rl.on('SIGINT', () => {
    if (running) {
      running.abort();
      return;
    }
    output.write('^C\n');
    // Deleting the line redraws the prompt on the fresh line.
    rl.write(null, { ctrl: true, name: 'u' });
  });

  // While a tool call waits for approval, the next line typed is the answer.
  let question: ((line: string) => void) | null = null;
  const ask = (request: ApprovalRequest, settled: AbortSignal): Promise<'approved' | 'denied' | undefined> =>
    new Promise<'approved' | 'denied' | undefined>((settle) => {
      let answered = false;
      const resolve = (answer: 'approved' | 'denied' | undefined): void => {
        answered = true;
        settle(answer);
      };
      say(`approval needed [${request.id}]: ${request.tool} ${request.args}\n  why: ${request.reason} (${request.rule})\n  (or answer elsewhere: aios approve ${request.id} / aios deny ${request.id}; no answer by ${request.expiresAt.slice(11, 19)} UTC is no)`);
      const askAgain = (): void => {
        rl.setPrompt('run it? [y/N/describe/edit] ');
        rl.prompt();
        question = (line) => {
          const reply = line.trim().toLowerCase();
          if (reply === 'd' || reply === 'describe') {
            say(describeRequest(request));
            askAgain();
          } else if (reply === 'e' || reply === 'edit') {
            rl.setPrompt('args> ');
            rl.prompt();
            rl.write(request.args);
            question = (edited) => {
              try {
                session.editedArgs = JSON.parse(edited) as unknown;
                resolve('denied');
              } catch (error) {
                say(`not JSON (${(error as Error).message}); the call is unchanged`);
                askAgain();
              }
            };
          } else {
            resolve(reply === 'y' || reply === 'yes' ? 'approved' : 'denied');
          }
        };
      };
      settled.addEventListener(
        'abort',
        () => {
          if (answered) return; // settled by this answer
          question = null;
          say('(the request was answered elsewhere, or it expired)');
          resolve(undefined);
        },
        { once: true },
      );
      askAgain();
    }).finally(() => {
      question = null;
      rl.setPrompt(PROMPT);
    });
  const session: ConsoleSession = {
    editedArgs: undefined,
    ask,
    guard: null,
    memory: null,
    id: `${path.basename(options.tty ?? 'stdin')}-${process.pid}-${Date.now()}`,
    actor: `user:console${options.tty ? `:${path.basename(options.tty)}` : ''}`,
    turns: [],
    // Read once a session: a changed rules file counts from the next console (ctrl-D).
    rules: loadRules(),
    agent: null,
    write: (text) => output.write(text),
  };
  for (const problem of session.rules.problems) say(`warning: rules: ${problem}`);

  rl.on('line', (line) => {
    if (question) {
      const answerQuestion = question;
      question = null;
      if (line.trim() !== '') session.turns.push(chatTurn(session, 'user', line.trim(), { reply: 'approval' }));
      answerQuestion(line);
      return;
    }
    if (running) return; // one request at a time; ctrl-C cancels it
    const text = line.trim();
    if (text === '') {
      rl.prompt();
      return;
    }
    saveHistory(historyFile, text);
    running = new AbortController();
    session.turns = [chatTurn(session, 'user', text)];
    // What the answer says is kept (shortened) as the other half of the chat turn.
    const said: string[] = [];
    const sayAndKeep = (answerText: string): void => {
      said.push(answerText);
      say(answerText);
    };
    void answer(text, options, running.signal, sayAndKeep, session)
      .catch((error: unknown) => sayAndKeep(`error: ${(error as Error).message}`))
      .finally(() => {
        running = null;
        rl.prompt();
      })
      .then(() => rememberTurns(options, session, said));
  });

  rl.prompt();
  notifyReady();
  // Text that arrives while the prompt is showing goes above it; the line being typed is kept.
  const announce = (text: string): void => {
    readline.clearLine(output, 0);
    readline.cursorTo(output, 0);
    say(text);
    rl.prompt(true);
  };
  void followBoot(options, announce, bannerTiers);
  return new Promise((resolve) => {
    rl.on('close', () => {
      output.write('\nbye (a fresh console starts)\n');
      // The terminal handle would keep this process alive: let it go, so init starts a fresh console.
      input.destroy();
      resolve(0);
    });
  });
}

/** What one console remembers between requests. */
interface ConsoleSession {
  /** Arguments a person rewrote with `edit` at an approval question: the call runs again with them. */
  editedArgs: unknown;
  ask: NonNullable<PipelineOptions['ask']>;
  /** Policy, audit log and approvals, opened at the first tool call (the state disk is mounted by then). */
  guard: OpenPipeline | null;
  /** The memory store, being opened or open (null: not yet, or it would not open last time). */
  memory: Promise<MemoryStore> | null;
  /** Names this console's conversation in its chat memories. */
  id: string;
  actor: string;
  /** The chat turns of the request running now, remembered when it is answered. */
  turns: NewMemory[];
  /** The reactive tier's rules. */
  rules: RuleSet;
  /** The model tiers, opened when a request first needs one (null: it would not open). */
  agent: Promise<AgentRuntime | null> | null;
  /** Text straight to the terminal, for answers that stream. */
  write: (text: string) => void;
}

/** One line typed here, or what was answered, as a `chat` memory (secrets in JSON arguments redacted). */
function chatTurn(session: ConsoleSession, role: 'user' | 'assistant', content: string, extra: Record<string, unknown> = {}): NewMemory {
  return {
    type: 'chat',
    tier: 'operational',
    content: role === 'user' ? redactTyped(content) : content,
    source: role === 'user' ? session.actor : 'tier:reactive',
    metadata: { session: session.id, role, ...extra },
    createdAt: new Date(),
  };
}

/** `tool net.http_get {"headers":{"authorization":"…"}}` or edited arguments: the JSON with its secrets redacted. */
function redactTyped(line: string): string {
  const call = /^(tool [a-z]+\.[a-z_]+\s+)(\{.*\})$/s.exec(line);
  const json = call ? call[2]! : /^\{.*\}$/s.test(line) ? line : null;
  if (json === null) return line;
  try {
    return `${call ? call[1] : ''}${JSON.stringify(redactSecrets(JSON.parse(json)))}`;
  } catch {
    return line;
  }
}

/** The answer in a line: its first line, shortened, and how much more there was. */
export function summarizeAnswer(said: string[]): string {
  const lines = said.join('\n').split('\n').map((l) => l.trim()).filter(Boolean);
  if (lines.length === 0) return '(no answer)';
  const first = lines[0]!.length > 200 ? `${lines[0]!.slice(0, 197)}...` : lines[0]!;
  return lines.length > 1 ? `${first} (+${lines.length - 1} more line${lines.length === 2 ? '' : 's'})` : first;
}

/** The memory store, opened once the state disk is there; a store that would not open is tried again next time. */
function openMemory(options: ConsoleOptions, session: ConsoleSession): Promise<MemoryStore> {
  session.memory ??= (async () => {
    await stateReady(options.runDir, new AbortController().signal);
    // Loaded here, not at start-up: better-sqlite3 stays out of the startup snapshot.
    const { MemoryStore } = await import('../../memory/store.ts');
    return MemoryStore.open(MemoryStore.pathIn(options.stateDir));
  })().catch((error: unknown) => {
    session.memory = null;
    throw error;
  });
  return session.memory;
}

/** The request's chat turns and a summary of its answer; memory is a convenience, so failures are quiet. */
async function rememberTurns(options: ConsoleOptions, session: ConsoleSession, said: string[]): Promise<void> {
  const turns = [...session.turns, chatTurn(session, 'assistant', summarizeAnswer(said))];
  session.turns = [];
  try {
    (await openMemory(options, session)).addMany(turns);
  } catch {
    // A full disk or a store that cannot open must not disturb the prompt.
  }
}

async function answer(text: string, options: ConsoleOptions, signal: AbortSignal, say: (text: string) => void, session: ConsoleSession): Promise<void> {
  const json = / --json$/.test(text);
  const decision = decide(json ? text.replace(/ --json$/, '') : text, session.rules);
  if (decision.kind === 'help') {
    const commands = [...session.rules.rules, TOOL_COMMAND];
    const width = Math.max(...commands.map((r) => r.usage.length));
    say(
      [
        'Commands (add --json for machine-readable output):',
        ...commands.map((r) => `  ${r.usage.padEnd(width)}  ${r.summary}`),
        `  ${'tools'.padEnd(width)}  the tools there are`,
        `  ${'help'.padEnd(width)}  this list`,
        'Keys: ctrl-C cancels, ctrl-D starts a fresh console, up/down walk the history.',
      ].join('\n'),
    );
    return;
  }
  if (decision.kind === 'tools') {
    const tools = [...(await import('../../tools/registry.ts')).toolMap().values()];
    const width = Math.max(...tools.map((t) => t.name.length));
    say(tools.map((t) => `${t.name.padEnd(width)}  ${t.description}`).join('\n'));
    return;
  }
  if (decision.kind === 'error') {
    say(`error: ${decision.message}`);
    return;
  }
  // What the rules do not answer surely goes to a model, when this machine has one.
  // (Checked first by looking for model files and keys: loading the model tiers' code takes
  // seconds under emulation, for nothing when there is no model.)
  if ((decision.kind === 'unknown' || decision.kind === 'ambiguous' || decision.kind === 'unsure' || explicitTier(text)) && modelPresent(options)) {
    const agent = (await openGuard(options, session, signal, say)) ? await openAgent(options, session, say) : null;
    if (agent?.hasModel) {
      await askAgent(agent, text, signal, say, session);
      return;
    }
  }
  if (decision.kind === 'ambiguous') {
    say(['That could mean more than one thing; say which:', ...decision.matches.map((m) => `  ${m.rule.usage}  (${describeCall(m)})`)].join('\n'));
    return;
  }
  if (decision.kind === 'unsure') {
    say(`I'm not sure enough to run that. Did you mean \`${decision.match.rule.usage}\` (${describeCall(decision.match)})? Type it that way to run it.`);
    return;
  }
  if (decision.kind === 'unknown') {
    say(
      `I don't know "${text}" yet: no model tier is present here, so only the rules answer (put a GGUF model in /var/lib/aios/models, or an API key in /etc/aios/secrets.toml).${decision.suggestion ? ` Did you mean \`${decision.suggestion}\`?` : ''} Type \`help\` for the list.`,
    );
    return;
  }
  if (!(await openGuard(options, session, signal, say))) return;
  const { run, ...guard } = session.guard!;
  const name = decision.name;
  let args = decision.args;
  for (;;) {
    session.editedArgs = undefined;
    const result = await run(name, args, {
      ...guard,
      actor: session.actor,
      context: { runDir: options.runDir, stateDir: options.stateDir, signal },
      // No taint here: the reactive tier acts on what the person typed, not on text a model read.
      ask: session.ask,
      onNotify: (tool, verdict) => say(`notice: ${tool.name}: ${verdict.reason} (recorded in the audit log)`),
    });
    if (result.auditError) say(`warning: ${result.auditError}`);
    if (!result.ok && result.code === 'EREFUSED' && session.editedArgs !== undefined) {
      args = session.editedArgs;
      say(`running the edited call: ${name} ${JSON.stringify(args)}`);
      continue;
    }
    if (!result.ok) {
      say(result.code === 'ECANCELLED' ? '^C cancelled (what init was already asked to do goes on)' : `error: ${result.message}`);
      return;
    }
    const tool = guard.tools.get(name)!;
    say(json ? JSON.stringify(result.data, null, 2) : tool.render(result.data as never));
    return;
  }
}

/** The pipeline (policy, audit, approvals, memory), opened at the first call that needs it; false when it cannot be. */
async function openGuard(options: ConsoleOptions, session: ConsoleSession, signal: AbortSignal, say: (text: string) => void): Promise<boolean> {
  if (session.guard) return true;
  try {
    await stateReady(options.runDir, signal);
    // Loaded here, not at start-up: the console's first prompt (and the startup snapshot) stay small.
    const [{ loadPolicy, locations, openAudit }, { ApprovalStore }, { toolMap }, { runToolCall }] = await Promise.all([
      import('../../policy/setup.ts'),
      import('../../policy/approvals.ts'),
      import('../../tools/registry.ts'),
      import('../../tools/pipeline.ts'),
    ]);
    const where = locations({ state: options.stateDir, run: options.runDir });
    const policy = loadPolicy(where);
    const { log: audit, warning } = openAudit(where);
    if (warning) say(`warning: ${warning}`);
    const memory = await openMemory(options, session).catch((error: unknown) => {
      say(`warning: calls are not remembered (${(error as Error).message}); the audit log still records them`);
      return undefined;
    });
    session.guard = { policy, audit, approvals: ApprovalStore.open(where.runDir), tools: toolMap(), run: runToolCall, memory };
  } catch (error) {
    // Nothing runs around the policy: without it, no tool runs at all.
    say(`error: tools are unavailable: ${(error as Error).message}`);
    return false;
  }
  return true;
}

/** The model tiers, opened once per console session. */
async function openAgent(options: ConsoleOptions, session: ConsoleSession, say: (text: string) => void): Promise<AgentRuntime | null> {
  session.agent ??= (async () => {
    try {
      const [{ AgentRuntime }, { locations }] = await Promise.all([(await import('../../agents/load.ts')).loadAgentModules(), import('../../policy/setup.ts')]);
      const agent = await AgentRuntime.open(locations({ state: options.stateDir, run: options.runDir }), session.guard!);
      for (const problem of agent.problems) say(`warning: ${problem}`);
      return agent;
    } catch (error) {
      say(`warning: the model tiers are unavailable: ${(error as Error).message}`);
      return null;
    }
  })();
  return session.agent;
}

/** A request answered by a model: its route, its calls as they happen, its text as it comes. */
async function askAgent(agent: AgentRuntime, text: string, signal: AbortSignal, say: (text: string) => void, session: ConsoleSession): Promise<void> {
  let streaming = false;
  const endLine = (): void => {
    if (streaming) session.write('\n');
    streaming = false;
  };
  const result = await agent.handle(text, {
    actor: session.actor,
    signal,
    ask: session.ask,
    onEvent: (event) => {
      if (event.type === 'text') {
        session.write(event.text);
        streaming = true;
        return;
      }
      endLine();
      if (event.type === 'route') say(`(${event.tier ?? 'no tier'}${event.tier !== event.wanted ? `, wanted ${event.wanted}` : ''})`);
      else if (event.type === 'tool') say(`→ ${event.name} ${JSON.stringify(event.args)}`);
      else if (event.type === 'tool-result') say(`← ${event.ok ? 'ok' : event.text.slice(0, 300)}`);
      else if (event.type === 'status') say(`(${event.text}…)`);
      else say(`(${event.from} hands on to ${event.to ?? 'nobody'}: ${event.why})`);
    },
  });
  endLine();
  if (!result.ok) say(result.answer === 'cancelled' ? '^C cancelled' : `error: ${result.answer}`);
}

function describeRequest(request: ApprovalRequest): string {
  return [
    `request ${request.id} from ${request.actor}, asked at ${request.createdAt}, expires at ${request.expiresAt}`,
    `tool: ${request.tool}`,
    `arguments: ${JSON.stringify(JSON.parse(request.args), null, 2)}`,
    `verdict: approval, by rule ${request.rule}`,
    `why: ${request.reason}`,
    'y runs exactly this call once; N (or nothing before the expiry) refuses it; edit changes the arguments and asks the policy again.',
  ].join('\n');
}

/** Tool calls are audited on the state disk: in a machine boot, wait until init has mounted it. */
async function stateReady(runDir: string, signal: AbortSignal): Promise<void> {
  if (!process.env.AIOS_SERVICE || !isMachine()) return;
  const deadline = Date.now() + 60_000;
  while (!existsSync(path.join(runDir, 'boot.json'))) {
    if (signal.aborted) throw new Error('cancelled');
    if (Date.now() > deadline) throw new Error('the state disk is not ready after 60 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Tells init the prompt is showing (ready = { kind = "notify" }), so that later consoles start after it. */
function notifyReady(): void {
  const fd = Number(process.env.NOTIFY_FD);
  if (!Number.isInteger(fd) || fd < 0) return;
  try {
    writeSync(fd, 'READY=1\n');
    closeSync(fd);
  } catch {
    // Not started by init.
  }
}

/**
 * The banner's first lines, shown at once; what is running and what init learns about the
 * state disk come a moment later, above the prompt (followBoot).
 */
function banner(options: ConsoleOptions, say: (text: string) => void): string {
  const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  // The first console of this boot records when the prompt appeared: that is how long boot took.
  const promptFile = path.join(options.runDir, 'prompt.json');
  let bootSeconds = uptime;
  if (existsSync(promptFile)) {
    bootSeconds = (JSON.parse(readFileSync(promptFile, 'utf8')) as { promptSec: number }).promptSec;
  } else if (process.env.AIOS_SERVICE) {
    try {
      mkdirSync(options.runDir, { recursive: true });
      writeFileSync(promptFile, JSON.stringify({ promptSec: uptime, tty: options.tty }));
    } catch {
      // A read-only run dir only loses the record.
    }
  }
  const tiers = liveTiers(options);
  say(formatBanner(options.version, isMachine() ? bootSeconds : null, tiers));
  return tiers;
}

function tiersHere(options: ConsoleOptions): ReturnType<typeof detectTiers> {
  return detectTiers({ configFile: process.env.AIOS_CONFIG ?? DEFAULT_CONFIG_FILE, stateDir: options.stateDir });
}

/** Whether a model tier is here now (a model file, a key). */
function modelPresent(options: ConsoleOptions): boolean {
  try {
    const found = tiersHere(options);
    return MODEL_TIERS.some((t) => found.tiers[t].present);
  } catch {
    return false;
  }
}

/** Which tiers answer here, in a line: the model files and providers found now. */
function liveTiers(options: ConsoleOptions): string {
  try {
    const found = tiersHere(options);
    const live = MODEL_TIERS.filter((t) => found.tiers[t].present).map((t) => `${t} (${path.basename(found.tiers[t].backend ?? '')})`);
    return live.length > 0 ? `rules, then ${live.join(', ')}` : `rules only (no GGUF model in ${path.join(options.stateDir, 'models')}, no API key)`;
  } catch (error) {
    return `rules only (${(error as Error).message})`;
  }
}

export function formatBanner(version: string, bootSeconds: number | null, tiers: string): string {
  return [`aiOS ${version}${bootSeconds === null ? '' : ` - booted in ${bootSeconds.toFixed(1)} s`}`, `AI tiers: ${tiers}. Type \`help\` for commands.`].join('\n');
}

export function formatRunning(services: { name: string; state: string; reason: string }[]): string {
  const up = services.filter((s) => s.state === 'up').map((s) => s.name);
  const starting = services.filter((s) => s.state === 'starting' || (s.state === 'down' && s.reason.startsWith('waiting'))).map((s) => s.name);
  const failed = services.filter((s) => s.state === 'failed' || s.state === 'backoff').map((s) => `${s.name} ${s.state}`);
  return `running: ${up.join(', ') || 'nothing yet'}${starting.length ? `; starting: ${starting.join(', ')}` : ''}${failed.length ? `; not running: ${failed.join(', ')}` : ''}`;
}

export function formatBootReport(boot: { state: { message: string } | null; host?: { message: string } | null; warnings: string[] }): string {
  const lines = boot.state ? [`state: ${boot.state.message}`] : [];
  if (boot.host) lines.push(boot.host.message);
  for (const warning of boot.warnings) if (warning !== boot.state?.message) lines.push(`warning: ${warning}`);
  return lines.join('\n');
}

/**
 * What is running now, then (once init has written it) the boot report: state disk, host share
 * and warnings, and the tiers again when the disks init mounted after the banner brought models
 * or keys.
 */
async function followBoot(options: ConsoleOptions, announce: (text: string) => void, bannerTiers: string): Promise<void> {
  const context = { runDir: options.runDir, stateDir: options.stateDir, signal: new AbortController().signal };
  const services = await callTool(serviceListTool, {}, context);
  announce(services.ok ? formatRunning(services.data) : `services: ${services.message}`);
  if (!process.env.AIOS_SERVICE) return;
  const deadline = Date.now() + 60_000;
  while (!existsSync(path.join(options.runDir, 'boot.json'))) {
    if (Date.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const boot = readBootInfo(options.runDir);
  const report = boot ? formatBootReport(boot) : '';
  if (report) announce(report);
  const tiers = liveTiers(options);
  if (tiers !== bannerTiers) announce(`AI tiers: ${tiers}.`);
}

function isMachine(): boolean {
  try {
    // PID 1 in the initial PID namespace: a machine, not a container or a development init.
    return statSync('/proc/1/ns/pid').ino === 0xeffffffc;
  } catch {
    return false;
  }
}

function openTerminal(device: string | null): { input: Readable; output: Writable } | null {
  if (device === null) return { input: process.stdin, output: process.stdout };
  // Loaded here, not at the top: the executable's startup snapshot must not hold terminal state.
  const tty = process.getBuiltinModule('node:tty');
  let fd: number;
  try {
    fd = openSync(device, 'r+');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    process.stderr.write(`console: cannot open ${device} (${code}); no console there\n`);
    return null;
  }
  if (!tty.isatty(fd)) {
    process.stderr.write(`console: ${device} is not a terminal\n`);
    return null;
  }
  try {
    // We lead a fresh session (init starts every service with setsid): take the terminal.
    native().setControllingTty(fd, true);
  } catch (error) {
    process.stderr.write(`console: ${device} not made the controlling terminal: ${(error as Error).message}\n`);
  }
  return { input: new tty.ReadStream(fd), output: new tty.WriteStream(fd) };
}

function loadHistory(file: string): string[] {
  try {
    // readline wants the newest entry first.
    return readFileSync(file, 'utf8').split('\n').filter(Boolean).slice(-HISTORY_LINES).reverse();
  } catch {
    return [];
  }
}

function saveHistory(file: string, line: string): void {
  try {
    mkdirSync(path.dirname(file), { recursive: true });
    appendFileSync(file, `${line}\n`);
  } catch {
    // History is a comfort; a read-only state disk must not break the prompt.
  }
}
