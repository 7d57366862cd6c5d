// The `aios>` prompt on a terminal (the serial console, tty1, or the one you are in).
//
// Line editing and history come from readline. ctrl-C cancels the request that is running
// (or clears the line); ctrl-D ends this console, and init starts a fresh one: nothing else
// is affected. Every answer comes from a tool call chosen by the reactive tier.
import { appendFileSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import tty from 'node:tty';
import type { Readable, Writable } from 'node:stream';
import { native } from '../../native/index.ts';
import { decide, RULES } from '../../models/reactive.ts';
import { callTool } from '../../tools/tool.ts';
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

  await banner(options, say);
  const historyFile = path.join(options.stateDir, 'console-history');
  const rl = readline.createInterface({
    input,
    output,
    prompt: PROMPT,
    terminal: input instanceof tty.ReadStream ? true : undefined,
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
    rl.write(null, { ctrl: true, name: 'u' });
    rl.prompt();
  });

  rl.on('line', (line) => {
    if (running) return; // one request at a time; ctrl-C cancels it
    const text = line.trim();
    if (text === '') {
      rl.prompt();
      return;
    }
    saveHistory(historyFile, text);
    running = new AbortController();
    void answer(text, options, running.signal, say).finally(() => {
      running = null;
      rl.prompt();
    });
  });

  rl.prompt();
  return new Promise((resolve) => {
    rl.on('close', () => {
      output.write('\nbye (a fresh console starts)\n');
      resolve(0);
    });
  });
}

async function answer(text: string, options: ConsoleOptions, signal: AbortSignal, say: (text: string) => void): Promise<void> {
  const json = / --json$/.test(text);
  const decision = decide(json ? text.replace(/ --json$/, '') : text);
  if (decision.kind === 'help') {
    const width = Math.max(...RULES.map((r) => r.usage.length));
    say(['Commands (add --json for machine-readable output):', ...RULES.map((r) => `  ${r.usage.padEnd(width)}  ${r.summary}`), '  help'.padEnd(width + 2) + '  this list', 'Keys: ctrl-C cancels, ctrl-D starts a fresh console, up/down walk the history.'].join('\n'));
    return;
  }
  if (decision.kind === 'unknown') {
    say(
      `I don't know "${text}" yet: this image answers with its own commands only (no AI tier is installed).${decision.suggestion ? ` Did you mean \`${decision.suggestion}\`?` : ''} Type \`help\` for the list.`,
    );
    return;
  }
  const cancelled = new Promise<'cancelled'>((resolve) => signal.addEventListener('abort', () => resolve('cancelled'), { once: true }));
  const result = await Promise.race([callTool(decision.tool, decision.args, { runDir: options.runDir, stateDir: options.stateDir, signal }), cancelled]);
  if (result === 'cancelled') {
    say('^C cancelled');
    return;
  }
  if (!result.ok) {
    say(`error: ${result.message}`);
    return;
  }
  say(json ? JSON.stringify(result.data, null, 2) : decision.tool.render(result.data as never));
}

async function banner(options: ConsoleOptions, say: (text: string) => void): Promise<void> {
  const boot = readBootInfo(options.runDir);
  const uptime = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  // The first console of this boot records when the prompt appeared: that is how long boot took.
  const promptFile = path.join(options.runDir, 'prompt.json');
  let bootSeconds = uptime;
  if (existsSync(promptFile)) {
    bootSeconds = (JSON.parse(readFileSync(promptFile, 'utf8')) as { promptSec: number }).promptSec;
  } else if (boot) {
    try {
      mkdirSync(options.runDir, { recursive: true });
      writeFileSync(promptFile, JSON.stringify({ promptSec: uptime, tty: options.tty }));
    } catch {
      // A read-only run dir only loses the record.
    }
  }
  const context = { runDir: options.runDir, stateDir: options.stateDir, signal: new AbortController().signal };
  const services = await callTool(serviceListTool, {}, context);
  const lines = [`aiOS ${options.version}${boot?.mode === 'machine' ? ` - booted in ${bootSeconds.toFixed(1)} s` : ''}`];
  if (services.ok) {
    const up = services.data.filter((s) => s.state === 'up').map((s) => s.name);
    const other = services.data.filter((s) => s.state !== 'up').map((s) => `${s.name} ${s.state}`);
    lines.push(`running: ${up.join(', ') || 'nothing'}${other.length ? ` (${other.join(', ')})` : ''}`);
  } else {
    lines.push(`services: ${services.message}`);
  }
  if (boot?.state) lines.push(`state: ${boot.state.message}`);
  for (const warning of boot?.warnings ?? []) {
    if (warning !== boot?.state?.message) lines.push(`warning: ${warning}`);
  }
  lines.push('AI tiers: none yet (answers come from the system itself). Type `help` for commands.');
  say(lines.join('\n'));
}

function openTerminal(device: string | null): { input: Readable; output: Writable } | null {
  if (device === null) return { input: process.stdin, output: process.stdout };
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
