// The smoke boot: boot an image in QEMU, wait for the aios> prompt, type commands and check
// the answers, power off, and check that the console shows an orderly shutdown (no panic).
// Prints the timings of each stage as JSON. A boot is judged by what the console printed,
// never by QEMU's exit status (a panicking kernel with -no-reboot also exits 0).
//
//   node qemu/smoke.ts [--iso FILE [--uefi]] [--image DIR] [--ephemeral] [--state FILE]
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { BootError, chooseAccel, ensureStateDisk, findsStateByLabel, isIso, parseImageArgs, qemuArgs, qemuBinary, type Accel, type BootOptions } from './qemu.ts';

const PROMPT = 'aios> ';

export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[cDEHM78=>]|\r/g, '');
}

/** QEMU with the guest's serial console on pipes: send lines, wait for text. */
export class SerialSession {
  readonly child: ChildProcess;
  readonly started = performance.now();
  readonly exited: Promise<number | null>;
  #text = '';
  /** The start of an escape sequence whose end has not arrived yet. */
  #pending = '';
  #waiters = new Set<() => void>();

  constructor(args: string[]) {
    this.child = spawn(qemuBinary(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    // A character of several bytes may be cut between two reads: decoders keep the first part.
    const stdout = new StringDecoder('utf8');
    const stderr = new StringDecoder('utf8');
    this.child.stdout!.on('data', (d: Buffer) => this.#append(stdout.write(d)));
    this.child.stderr!.on('data', (d: Buffer) => this.#append(stderr.write(d)));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
    void this.exited.then(() => this.#wake());
  }

  /** Everything the console printed, without terminal escape codes (it only ever grows). */
  get text(): string {
    return this.#text;
  }

  elapsedMs(): number {
    return performance.now() - this.started;
  }

  /** Waits until `pattern` appears after character `from` of the text; returns where it ends. */
  async expect(pattern: RegExp | string, options: { from?: number; timeoutMs?: number; what?: string } = {}): Promise<{ end: number; match: string; ms: number }> {
    const from = options.from ?? 0;
    const timeoutMs = options.timeoutMs ?? 30_000;
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const rest = this.text.slice(from);
      const match = typeof pattern === 'string' ? (rest.includes(pattern) ? { index: rest.indexOf(pattern), 0: pattern } : null) : pattern.exec(rest);
      if (match) return { end: from + match.index + match[0].length, match: match[0], ms: this.elapsedMs() };
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new BootError(`QEMU ended while waiting for ${options.what ?? String(pattern)}; the console said:\n${tail(this.text)}`);
      }
      if (performance.now() > deadline) throw new BootError(`timed out after ${timeoutMs} ms waiting for ${options.what ?? String(pattern)}; the console said:\n${tail(this.text)}`);
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          this.#waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.max(10, Math.min(500, deadline - performance.now())));
        this.#waiters.add(wake);
      });
    }
  }

  send(text: string): void {
    this.child.stdin!.write(text);
  }

  /** Types a line at the prompt and waits for the next prompt; returns what was printed in between. */
  async command(line: string, timeoutMs = 30_000): Promise<{ output: string; ms: number }> {
    const from = this.text.length;
    const started = performance.now();
    this.send(`${line}\r`);
    // The echo of the line, then the answer, then a fresh prompt.
    const echoed = await this.expect(line, { from, timeoutMs, what: `the echo of \`${line}\`` });
    const next = await this.expect(PROMPT, { from: echoed.end, timeoutMs, what: `the prompt after \`${line}\`` });
    return { output: this.text.slice(echoed.end, next.end - PROMPT.length).trim(), ms: performance.now() - started };
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }

  #append(chunk: string): void {
    let data = this.#pending + chunk;
    this.#pending = '';
    // Hold back an escape sequence cut in two by the pipe, so that offsets into the text stay put.
    const escape = data.lastIndexOf('\x1b');
    if (escape >= 0 && data.length - escape < 16 && stripAnsi(data.slice(escape)) === data.slice(escape)) {
      this.#pending = data.slice(escape);
      data = data.slice(0, escape);
    }
    this.#text += stripAnsi(data);
    this.#wake();
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}

/** Boot is done when no service is starting or waiting any more. */
async function waitForServices(session: SerialSession, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const { output } = await session.command('services');
    if (!/\b(starting|waiting)\b/.test(output)) return;
    if (performance.now() > deadline) throw new BootError(`services still starting after ${timeoutMs} ms:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function tail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

export interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface SmokeResult {
  ok: boolean;
  image: string;
  firmware: 'direct kernel' | 'BIOS' | 'UEFI';
  accel: Accel;
  checks: Check[];
  timings: {
    /** Host clock, from starting QEMU. */
    qemuToPromptMs: number | null;
    qemuToPoweredOffMs: number | null;
    /** Guest clock (seconds since the kernel started), from the prompt's `boot --json`. */
    guest: { pid1ExecSec: number | null; initStartSec: number | null; servicesUpSec: number | null; promptSec: number | null } | null;
    commandsMs: Record<string, number>;
    shutdownMs: number | null;
  };
  console?: string;
}

export interface SmokeOptions extends Omit<BootOptions, 'accel'> {
  accel?: Accel;
  /** How the machine is shut down at the end (default poweroff). */
  powerAction?: 'poweroff' | 'reboot';
  /** Call one tool of each family at the prompt (default true; a full state disk keeps no logs to search). */
  toolChecks?: boolean;
  /** Checks on the boot report printed above the prompt (e.g. that the state disk was reused). */
  expectReport?: RegExp[];
  timeoutMs?: number;
}

export async function smokeBoot(options: SmokeOptions): Promise<SmokeResult> {
  const accel = options.accel ?? (await chooseAccel(isIso(options.image) ? null : path.join(options.image, 'vmlinuz')));
  if (options.stateDisk) ensureStateDisk(options.stateDisk, { formatted: findsStateByLabel(options.image) });
  const session = new SerialSession(qemuArgs({ ...options, accel }));
  const timeoutMs = options.timeoutMs ?? 90_000;
  const checks: Check[] = [];
  const result: SmokeResult = {
    ok: false,
    image: options.image,
    firmware: isIso(options.image) ? (options.uefi ? 'UEFI' : 'BIOS') : 'direct kernel',
    accel,
    checks,
    timings: { qemuToPromptMs: null, qemuToPoweredOffMs: null, guest: null, commandsMs: {}, shutdownMs: null },
  };
  const check = (name: string, ok: boolean, detail?: string): void => {
    checks.push({ name, ok, ...(ok || detail === undefined ? {} : { detail }) });
  };
  try {
    const prompt = await session.expect(PROMPT, { timeoutMs, what: 'the aios> prompt' });
    result.timings.qemuToPromptMs = Math.round(prompt.ms);
    check('banner names the system', /aiOS \d+\.\d+\.\d+/.test(session.text.slice(0, prompt.end)), tail(session.text.slice(0, prompt.end), 6));
    const running = await session.expect(/running: [^\n]*\n/, { from: prompt.end, timeoutMs, what: 'what runs, above the prompt' });
    check('then says what runs', /console/.test(running.match), running.match);
    // What init learns about the state disk comes above the prompt once the disk is settled.
    // The report ends where the prompt is drawn again below it.
    const state = await session.expect(/state: [\s\S]*?aios> /, { from: prompt.end, timeoutMs, what: 'the state report' });
    const report = session.text.slice(prompt.end, state.end);
    for (const pattern of options.expectReport ?? []) check(`boot report matches ${pattern}`, pattern.test(report), report);
    await waitForServices(session, timeoutMs);

    const answers: [string, RegExp][] = [
      ['help', /Commands[\s\S]*status[\s\S]*restart NAME/],
      ['status', /memory: .* available[\s\S]*services: \d+ of \d+ up/],
      ['services', /console\s+up/],
      // udhcpc on eth0 (the dev image), dhcpcd on enp0s3 or so (the archiso image).
      ['logs network', /eth0|udhcpc|dhcpcd|\ben[a-z0-9]+:|loopback/],
      ['restart network', /notice: service\.restart[\s\S]*network: up/],
      ['frobnicate', /I don't know "frobnicate"[\s\S]*help/],
      // A misspelt rule word is read as that word; a word further off gets a suggestion.
      ['stauts', /memory: .* available[\s\S]*services: \d+ of \d+ up/],
      ['stat', /Did you mean `status`\?/],
      ['is network running', /network: up/],
    ];
    // One tool of each family, on the image, through the same pipeline (policy, audit).
    const toolChecks: [string, RegExp][] = [
      ['tool fs.list {"path":"/etc/aios"}', /config\.toml/],
      ['tool process.tree', /^1 .*(init|aios)/m],
      ['tool service.status {"name":"network"}', /network: up/],
      ['tool sys.info', /kernel \S+, x64/],
      ['tool net.interfaces', /eth0\s+up/],
      ['tool sec.shell_users', /root/],
      ['tool log.search {"pattern":"lease of"}', /network.*lease of/],
      ['tool pkg.list', /no pacman/],
      ['tool net.firewall', /nft is not installed/],
      ['tool shell.exec {"command":"echo sandboxed; touch /etc/x"}', /sandboxed[\s\S]*Read-only file system/],
      ['tool snapshot.create {"description":"smoke","paths":["/etc/aios"]}', /snapshot [0-9A-Z]{26}: \d+ files/],
      ['tool snapshot.list', /manual\s+\d+ files\s+smoke/],
      // PID 1's service events, written by its memory-ingest child a second after they happen.
      ['tool memory.search {"type":"service","service":"network"}', /network (started|restarted)/],
    ];
    for (const [line, expected] of [...answers, ...(options.toolChecks === false ? [] : toolChecks)]) {
      const { output, ms } = await session.command(line);
      result.timings.commandsMs[line] = Math.round(ms);
      check(`\`${line}\` answers`, expected.test(output), output);
    }
    const boot = await session.command('boot --json');
    try {
      const info = JSON.parse(boot.output) as { timeline: NonNullable<SmokeResult['timings']['guest']>; promptSec: number | null; warnings: string[]; audit?: { status: string } };
      result.timings.guest = { ...info.timeline, promptSec: info.promptSec };
      check('`boot --json` gives the timeline', typeof info.timeline.pid1ExecSec === 'number' && typeof info.promptSec === 'number', boot.output);
      check('init verified the audit chain at boot', info.audit?.status === 'intact', boot.output);
    } catch {
      check('`boot --json` gives the timeline', false, boot.output);
    }

    // ctrl-C clears a half-typed line; ctrl-D ends the console and a fresh one comes back.
    let from = session.text.length;
    session.send('half-typed');
    await session.expect('half-typed', { from, what: 'the echo' });
    session.send('\x03');
    const cleared = await session.expect(PROMPT, { from, what: 'a prompt after ctrl-C' });
    check('ctrl-C clears the line', /\^C/.test(session.text.slice(from, cleared.end)));
    from = session.text.length;
    session.send('\x04');
    await session.expect('bye', { from, what: 'the console to end on ctrl-D' });
    const again = await session.expect(PROMPT, { from, timeoutMs: 30_000, what: 'a fresh console after ctrl-D' });
    check('ctrl-D brings a fresh console', /aiOS \d/.test(session.text.slice(from, again.end)));
    await session.expect(/running: [^\n]*\n/, { from: again.end, what: 'the fresh console to settle' });
    const after = await session.command('services');
    check('services survive ctrl-D', /network\s+up/.test(after.output), after.output);

    from = session.text.length;
    const action = options.powerAction ?? 'poweroff';
    session.send(`${action}\r`);
    // Powering off changes the whole system: the policy asks the person at the console first.
    const asked = await session.expect(/approval needed \[[0-9a-f]+\]: sys\.power[\s\S]*?run it\? \[y\/N\/describe\/edit\] /, { from, timeoutMs, what: 'the approval question' });
    check(`${action} asks for approval inline`, true);
    from = asked.end;
    const poweroffStarted = performance.now();
    session.send('y\r');
    await session.expect(new RegExp(`aios: ${action}: services stopped, 0 processes left, filesystems unmounted`), { from, timeoutMs, what: 'an orderly shutdown' });
    // With -no-reboot, QEMU exits on a reboot as on a power-off.
    const down = await session.expect(action === 'reboot' ? /reboot: Restarting system/ : /reboot: Power down/, { from, timeoutMs: 30_000, what: `the kernel to ${action}` });
    result.timings.shutdownMs = Math.round(down.ms - (poweroffStarted - session.started));
    check(`orderly ${action}: services stopped, no process left, filesystems unmounted`, true);
    await Promise.race([session.exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    result.timings.qemuToPoweredOffMs = Math.round(session.elapsedMs());
    check('QEMU exited after the power-off', session.child.exitCode !== null);
  } catch (error) {
    check('boot, commands and power-off', false, (error as Error).message);
  } finally {
    session.kill();
  }
  check('no kernel panic', !/Kernel panic|Attempted to kill init/.test(session.text), tail(session.text.slice(session.text.search(/Kernel panic|Attempted to kill init/) - 2000)));
  check('no uncaught error on the console', !/uncaught exception|unhandled promise rejection/i.test(session.text));
  result.ok = checks.every((c) => c.ok);
  if (!result.ok) result.console = session.text;
  return result;
}

async function main(): Promise<number> {
  const { values, image, stateDisk, memoryMiB, share } = parseImageArgs(process.argv.slice(2), (img) => path.join(path.dirname(img), 'smoke-state.qcow2'));
  // Its checks expect the prompt of the rules alone ("I don't know ..."); test/boot/smoke.test.ts boots with a model.
  if (share) throw new BootError('smoke.ts takes no --models or --secrets: its checks expect the rules-only prompt. Boot with a model with qemu/boot.ts.');
  if (values.help) {
    process.stdout.write('Usage: node qemu/smoke.ts [--iso FILE [--uefi]] [--image DIR] [--ephemeral] [--state FILE]\nBoots, drives the prompt, powers off; prints JSON and exits 1 when a check fails.\n');
    return 0;
  }
  const result = await smokeBoot({ image, uefi: values.uefi, stateDisk, memoryMiB });
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  return result.ok ? 0 : 1;
}

if (process.argv[1] === import.meta.filename) {
  try {
    process.exitCode = await main();
  } catch (error) {
    if (!(error instanceof BootError) && !(error instanceof TypeError)) throw error;
    process.stderr.write(`smoke: ${error.message}\n`);
    process.exitCode = 2;
  }
}
