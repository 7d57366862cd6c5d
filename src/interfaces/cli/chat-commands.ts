// `aios runtime` (the service that answers on RUN/aios.sock), `aios chat "…"` (one request,
// streamed to stdout) and `aios shell` (the interactive prompt), both over that socket.
import net from 'node:net';
import readline from 'node:readline';
import { runDirFrom } from '../control-client.ts';
import { LineSplitter } from '../control-protocol.ts';
import { runtimeSocketPath } from '../runtime-server.ts';
import { confirm, UsageError, type Command } from './command.ts';

const TIERS = ['reactive', 'operational', 'tactical', 'strategic'];

export const runtimeCommand: Command = {
  name: 'runtime',
  summary: 'The runtime service: answers requests on RUN/aios.sock for aios chat and aios shell.',
  usage: 'aios runtime [--run DIR] [--state DIR] [--config FILE]',
  help: `Opens the tiers found here (the rules, the models service, the cloud keys) and the tools
pipeline, and answers on RUN/aios.sock (mode 0600; callers named by SO_PEERCRED) until stopped.
PID 1 runs it as the runtime service.

Options:
  --run DIR      where the socket goes (default $AIOS_RUN_DIR or /run/aios)
  --state DIR    the state directory (default $AIOS_STATE_DIR or /var/lib/aios)
  --config FILE  the configuration (default $AIOS_CONFIG or /etc/aios/config.toml)`,
  options: { run: { type: 'string' }, state: { type: 'string' }, config: { type: 'string' } },
  async run(args) {
    const [{ locations }, { loadAgentModules }, { serveRuntime }] = await Promise.all([import('../../policy/setup.ts'), import('../../agents/load.ts'), import('../runtime-server.ts')]);
    const where = locations({ state: args.values.state, run: args.values.run, config: args.values.config });
    const { AgentRuntime } = await loadAgentModules();
    const runtime = await AgentRuntime.open(where);
    for (const problem of runtime.problems) process.stderr.write(`aios runtime: warning: ${problem}\n`);
    const socket = runtimeSocketPath(where.runDir);
    const server = await serveRuntime(socket, runtime);
    const live = Object.values(runtime.machine.tiers).filter((t) => t.present).map((t) => t.tier);
    process.stdout.write(`aios runtime: answering on ${socket} (tiers: ${live.join(', ')})\n`);
    await new Promise<void>((resolve) => {
      for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve());
    });
    server.close();
    runtime.close();
    return 0;
  },
};

interface Shown {
  json: boolean;
  /** What is printed on the terminal besides the answer's text (route, calls). */
  note: (text: string) => void;
  write: (text: string) => void;
}

/** One chat over a connection: events shown as they come; resolves to the result (or throws). */
function chatOnce(socket: net.Socket, splitter: LineSplitter, text: string, tier: string | undefined, shown: Shown, interactive: boolean): Promise<Record<string, unknown>> {
  const requestId = `c${Date.now()}`;
  let streaming = false;
  const endLine = (): void => {
    if (streaming && !shown.json) shown.write('\n');
    streaming = false;
  };
  return new Promise((resolve, reject) => {
    const onData = (chunk: string): void => {
      for (const line of splitter.push(chunk)) {
        if (!line) continue;
        const message = JSON.parse(line) as Record<string, unknown>;
        if (message.id !== requestId) continue;
        const event = message.event as string | undefined;
        if (event === 'text') {
          if (!shown.json) shown.write(String(message.text));
          streaming = true;
          continue;
        }
        if (event) {
          endLine();
          if (event === 'route') shown.note(`(${String(message.tier ?? 'no tier')}${message.tier !== message.wanted ? `, wanted ${String(message.wanted)}` : ''})`);
          else if (event === 'tool') shown.note(`→ ${String(message.name)} ${JSON.stringify(message.args)}`);
          else if (event === 'tool-result') shown.note(`← ${message.ok ? 'ok' : String(message.text).slice(0, 300)}`);
          else if (event === 'status') shown.note(`(${String(message.text)}…)`);
          else if (event === 'escalate') shown.note(`(${String(message.from)} hands on to ${String(message.to ?? 'nobody')}: ${String(message.why)})`);
          else if (event === 'approval') void answerApproval(socket, message.request as { id: string; tool: string; args: unknown; reason: string }, shown, interactive);
          continue;
        }
        socket.off('data', onData);
        endLine();
        if (message.ok) resolve(message.data as Record<string, unknown>);
        else reject(new Error(`${String(message.code)}: ${String(message.message)}`));
      }
    };
    socket.on('data', onData);
    socket.write(`${JSON.stringify({ id: requestId, cmd: 'chat', text, ...(tier ? { tier } : {}) })}\n`);
  });
}

async function answerApproval(socket: net.Socket, request: { id: string; tool: string; args: unknown; reason: string }, shown: Shown, interactive: boolean): Promise<void> {
  shown.note(`approval needed for ${request.tool} ${JSON.stringify(request.args)}: ${request.reason} (request ${request.id})`);
  if (!interactive) {
    shown.note(`waiting: answer it with \`aios approve ${request.id}\` or \`aios deny ${request.id}\``);
    return;
  }
  const yes = await confirm('Allow it?');
  socket.write(`${JSON.stringify({ cmd: 'answer', request: request.id, answer: yes ? 'approved' : 'denied' })}\n`);
}

async function connect(runDir: string): Promise<net.Socket> {
  const path = runtimeSocketPath(runDir);
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    socket.setEncoding('utf8');
    socket.once('connect', () => resolve(socket));
    socket.once('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT' || error.code === 'ECONNREFUSED'
          ? new Error(`the runtime is not running: nothing answers on ${path}. It is the runtime service (\`aios service start runtime\`; it starts some seconds after boot), or run \`aios runtime\`.`)
          : error,
      );
    });
  });
}

/** The connection, or null after saying on stderr why there is none (the caller exits 2). */
async function connectOrSay(command: string, runFlag: string | undefined): Promise<net.Socket | null> {
  try {
    return await connect(runDirFrom(runFlag));
  } catch (error) {
    process.stderr.write(`aios ${command}: ${(error as Error).message}\n`);
    return null;
  }
}

export const chatCommand: Command = {
  name: 'chat',
  summary: 'Ask aiOS one thing; the answer streams to stdout (over the runtime socket).',
  usage: 'aios chat [--tier TIER] [--json] [--run DIR] "REQUEST"',
  help: `Sends REQUEST to the runtime (RUN/aios.sock), as if typed at the aios> prompt: the rules answer
what they can, a model the rest. The answer's text goes to stdout as it comes; the route and the
tool calls go to stderr. Exit status 0 when it was answered, 1 when not (no tier could, a
failure, a cancel), 2 for a usage error or no runtime.

Options:
  --tier TIER   ask this tier (reactive, operational, tactical, strategic)
  --json        print only the result as JSON: { ok, tier, wanted, reason, answer, rounds,
                inputTokens, outputTokens, costUsd, latencyMs, cached }
  --run DIR     where the runtime's socket is (default $AIOS_RUN_DIR or /run/aios)

An approval the policy asks for is asked on the terminal; without one, it waits for
\`aios approve ID\` from elsewhere. ctrl-C cancels.`,
  options: { tier: { type: 'string' }, json: { type: 'boolean' }, run: { type: 'string' } },
  async run(args) {
    const text = args.positionals.join(' ').trim();
    if (!text) throw new UsageError('Say what to ask: aios chat "why is the disk full"\nSee `aios chat --help`.');
    const tier = args.values.tier as string | undefined;
    if (tier !== undefined && !TIERS.includes(tier)) throw new UsageError(`--tier ${tier}: not a tier; use one of ${TIERS.join(', ')}.`);
    const socket = await connectOrSay('chat', args.values.run as string | undefined);
    if (!socket) return 2;
    process.once('SIGINT', () => socket.write(`${JSON.stringify({ cmd: 'cancel' })}\n`));
    const json = args.values.json === true;
    try {
      const result = await chatOnce(socket, new LineSplitter(), text, tier, { json, note: (t) => (json ? undefined : process.stderr.write(`${t}\n`)), write: (t) => process.stdout.write(t) }, process.stdin.isTTY === true);
      if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else if (result.tier === 'reactive' || !result.ok) process.stdout.write(`${String(result.answer)}\n`);
      return result.ok ? 0 : 1;
    } catch (error) {
      process.stderr.write(`aios chat: ${(error as Error).message}\n`);
      return 1;
    } finally {
      socket.end();
    }
  },
};

export const shellCommand: Command = {
  name: 'shell',
  summary: 'The interactive aios> prompt from any terminal (over the runtime socket).',
  usage: 'aios shell [--run DIR]',
  help: `Each line is a request, answered as at the console's prompt: the route, the tool calls and the
streamed answer. ctrl-C cancels the running request, ctrl-D ends the shell.

Options:
  --run DIR   where the runtime's socket is (default $AIOS_RUN_DIR or /run/aios)`,
  options: { run: { type: 'string' } },
  async run(args) {
    const socket = await connectOrSay('shell', args.values.run as string | undefined);
    if (!socket) return 2;
    const rl = readline.createInterface({ input: process.stdin, output: process.stdout, prompt: 'aios> ' });
    const splitter = new LineSplitter();
    let busy = false;
    rl.on('SIGINT', () => {
      if (busy) socket.write(`${JSON.stringify({ cmd: 'cancel' })}\n`);
      else rl.close();
    });
    rl.prompt();
    for await (const line of rl) {
      if (!line.trim()) {
        rl.prompt();
        continue;
      }
      busy = true;
      try {
        const result = await chatOnce(socket, splitter, line.trim(), undefined, { json: false, note: (t) => process.stdout.write(`${t}\n`), write: (t) => process.stdout.write(t) }, false);
        if (result.tier === 'reactive' || !result.ok) process.stdout.write(`${String(result.answer)}\n`);
      } catch (error) {
        process.stdout.write(`error: ${(error as Error).message}\n`);
      }
      busy = false;
      rl.prompt();
    }
    socket.end();
    return 0;
  },
};
