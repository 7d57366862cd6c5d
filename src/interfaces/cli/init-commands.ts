// `aios init` and the commands that talk to PID 1's control socket.
import { parseLevel } from '../../log.ts';
import { parseFaults, runInit } from '../../init/init.ts';
import { initSocketPath, request, runDirFrom } from '../control-client.ts';
import { runConsole } from '../console/console.ts';
import type { LogLine } from '../../supervisor/log-sink.ts';
import type { ServiceStatus } from '../../supervisor/service.ts';
import type { SpecError } from '../../supervisor/service-spec.ts';
import { table, UsageError, type Command, type ParsedArgs } from './command.ts';
import packageJson from '../../../package.json' with { type: 'json' };

const VERSION = packageJson.version;

const runOption = { run: { type: 'string' } } as const;

function socketFor(args: ParsedArgs): string {
  return initSocketPath(runDirFrom(args.values.run as string | undefined));
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function exitText(exit: ServiceStatus['lastExit']): string {
  if (!exit) return '-';
  return exit.signal ? `${exit.code} (${exit.signal})` : String(exit.code);
}

export const initCommand: Command = {
  name: 'init',
  summary: 'Run the init: PID 1 of a machine or container, or a child subreaper for development.',
  usage: 'aios init [--services DIR] [--state DIR] [--run DIR] [--log-level LEVEL] [--allow-uid UID]...',
  help: `Options (each also read from the environment):
  --services DIR     service files, *.toml      AIOS_SERVICES_DIR  (default /etc/aios/services)
  --state DIR        logs and state             AIOS_STATE_DIR     (default /var/lib/aios)
  --run DIR          control socket init.sock   AIOS_RUN_DIR       (default /run/aios)
  --log-level LEVEL  what reaches the console   AIOS_LOG_LEVEL     (default info, warn as PID 1; the file gets debug)
  --allow-uid UID    another uid that may use the control socket (root and our own uid always may)
  --shutdown-grace SECONDS  time between SIGTERM and SIGKILL for leftover processes (default 5)

Signals: SIGTERM reboot (poweroff in a container), SIGINT reboot, SIGUSR1 halt, SIGUSR2 poweroff,
SIGPWR poweroff, SIGRTMIN+3 halt, SIGRTMIN+4 poweroff, SIGRTMIN+5 reboot, SIGHUP reload services.`,
  options: {
    services: { type: 'string' },
    state: { type: 'string' },
    run: { type: 'string' },
    'log-level': { type: 'string' },
    'allow-uid': { type: 'string', multiple: true },
    'shutdown-grace': { type: 'string' },
  },
  async run(args) {
    // As PID 1, positionals are kernel command line words meant for someone else.
    if (args.positionals.length > 0 && process.pid !== 1) throw new UsageError(`aios init takes no arguments, got \`${args.positionals[0]}\`.`);
    const v = args.values as Record<string, string | string[] | undefined>;
    const allowedUids = ((v['allow-uid'] as string[] | undefined) ?? []).map((uid) => {
      if (!/^\d+$/.test(uid)) throw new UsageError(`Expected --allow-uid to be a numeric uid, got \`${uid}\`.`);
      return Number(uid);
    });
    const grace = Number(v['shutdown-grace'] ?? '5');
    if (!Number.isFinite(grace) || grace < 0) throw new UsageError(`Expected --shutdown-grace to be a non-negative number of seconds, got \`${v['shutdown-grace']}\`.`);
    await runInit({
      servicesDir: (v.services as string | undefined) ?? process.env.AIOS_SERVICES_DIR ?? '/etc/aios/services',
      stateDir: (v.state as string | undefined) ?? process.env.AIOS_STATE_DIR ?? '/var/lib/aios',
      runDir: runDirFrom(v.run as string | undefined),
      // As PID 1 the console is also the prompt's terminal: only warnings go there by default.
      consoleLogLevel: parseLevel((v['log-level'] as string | undefined) ?? process.env.AIOS_LOG_LEVEL, process.pid === 1 ? 'warn' : 'info'),
      allowedUids,
      shutdownGraceMs: grace * 1000,
      faults: parseFaults(process.env.AIOS_FAULTS),
    });
    return 0;
  },
};

export const servicesCommand: Command = {
  name: 'services',
  summary: 'List the services that init supervises, with their state, PID, restarts and last exit.',
  usage: 'aios services [--json] [--run DIR]',
  help: `Options:
  --json     print an array of { name, state, pid, restarts, lastExit: { code, signal } | null }
  --run DIR  where init's control socket is (default $AIOS_RUN_DIR or /run/aios)`,
  options: { json: { type: 'boolean' }, ...runOption },
  async run(args) {
    const data = (await request(socketFor(args), { cmd: 'services' })) as { services: ServiceStatus[]; errors: SpecError[] };
    if (args.values.json) {
      print(data.services.map(({ name, state, pid, restarts, lastExit }) => ({ name, state, pid, restarts, lastExit })));
      return 0;
    }
    const rows = [['NAME', 'STATE', 'PID', 'RESTARTS', 'LAST EXIT', 'REASON']];
    for (const s of data.services) rows.push([s.name, s.state, s.pid === null ? '-' : String(s.pid), String(s.restarts), exitText(s.lastExit), s.reason]);
    process.stdout.write(`${data.services.length === 0 ? 'No services.' : table(rows)}\n`);
    for (const error of data.errors) process.stdout.write(`invalid: ${error.file}: ${error.message}\n`);
    return 0;
  },
};

export const serviceCommand: Command = {
  name: 'service',
  summary: 'Start, stop, restart or show one service (stopping also stops what depends on it).',
  usage: 'aios service start|stop|restart|status|enable|disable NAME [--json] [--run DIR]',
  help: `Examples:
  aios service restart sshd
  aios service status console --json
  aios service disable network     (not started at the next boot; it keeps running now)`,
  options: { json: { type: 'boolean' }, ...runOption },
  async run(args) {
    const [verb, name, extra] = args.positionals;
    if (!verb || !['start', 'stop', 'restart', 'status', 'enable', 'disable'].includes(verb) || !name || extra !== undefined) {
      throw new UsageError(`Usage: ${this.usage}`);
    }
    const status = (await request(socketFor(args), { cmd: verb, name })) as ServiceStatus;
    if (args.values.json) print(status);
    else {
      process.stdout.write(
        `${status.name}: ${status.state}${status.pid ? ` (pid ${status.pid})` : ''}${status.reason ? ` - ${status.reason}` : ''}\n` +
          `  ${status.enabled ? 'enabled' : 'disabled'} at boot, restarts ${status.restarts}, last exit ${exitText(status.lastExit)}, since ${status.since}\n` +
          (status.dependsOn.length ? `  depends on ${status.dependsOn.join(', ')}\n` : '') +
          (status.cgroup ? `  cgroup ${status.cgroup}\n` : ''),
      );
    }
    return status.state === 'failed' ? 1 : 0;
  },
};

export const logsCommand: Command = {
  name: 'logs',
  summary: "Show a service's captured stdout and stderr; -f keeps following.",
  usage: 'aios logs NAME [-n LINES] [-f] [--json] [--run DIR]',
  help: `Options:
  -n, --lines N  how many recent lines (default 50)
  -f, --follow   keep printing new lines until interrupted
  --json         one JSON object per line: { time, stream, text }`,
  options: {
    lines: { type: 'string', short: 'n' },
    follow: { type: 'boolean', short: 'f' },
    json: { type: 'boolean' },
    ...runOption,
  },
  async run(args) {
    const [name, extra] = args.positionals;
    if (!name || extra !== undefined) throw new UsageError(`Usage: ${this.usage}`);
    const lines = Number(args.values.lines ?? '50');
    if (!Number.isInteger(lines) || lines < 0) throw new UsageError(`Expected --lines to be a non-negative integer, got \`${String(args.values.lines)}\`.`);
    const show = (line: LogLine): void => {
      process.stdout.write(args.values.json ? `${JSON.stringify(line)}\n` : `${line.time} ${line.stream === 'stdout' ? '' : `[${line.stream}] `}${line.text}\n`);
    };
    const follow = Boolean(args.values.follow);
    let closed = (): void => {};
    // Following ends with ctrl-C, or when init goes away (shutdown).
    const done = new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      closed = resolve;
    });
    const onLine = follow ? (e: { data: unknown }) => show(e.data as LogLine) : undefined;
    const data = (await request(socketFor(args), { cmd: 'logs', name, lines, follow }, onLine, () => closed())) as { lines: LogLine[] };
    data.lines.forEach(show);
    if (follow) await done;
    return 0;
  },
};

export const reloadCommand: Command = {
  name: 'reload',
  summary: 'Re-read the service files (like SIGHUP to init): new ones start, removed ones stop, changed ones restart.',
  usage: 'aios reload [--json] [--run DIR]',
  help: '',
  options: { json: { type: 'boolean' }, ...runOption },
  async run(args) {
    const summary = (await request(socketFor(args), { cmd: 'reload' })) as { added: string[]; removed: string[]; changed: string[]; errors: SpecError[] };
    if (args.values.json) print(summary);
    else {
      process.stdout.write(`added: ${summary.added.join(', ') || '-'}\nremoved: ${summary.removed.join(', ') || '-'}\nchanged: ${summary.changed.join(', ') || '-'}\n`);
      for (const error of summary.errors) process.stdout.write(`invalid: ${error.file}: ${error.message}\n`);
    }
    return summary.errors.length > 0 ? 1 : 0;
  },
};

function powerCommand(action: 'poweroff' | 'reboot' | 'halt', summary: string): Command {
  return {
    name: action,
    summary,
    usage: `aios ${action} [--run DIR]`,
    help: 'Services stop in reverse dependency order, then remaining processes, then filesystems are unmounted.',
    options: { ...runOption },
    async run(args) {
      if (args.positionals.length > 0) throw new UsageError(`Usage: ${this.usage}`);
      await request(socketFor(args), { cmd: action });
      process.stdout.write(`${action}: requested\n`);
      return 0;
    },
  };
}

export const poweroffCommand = powerCommand('poweroff', 'Shut down and power off the machine (a container exits 0).');
export const rebootCommand = powerCommand('reboot', 'Shut down and reboot the machine (a container exits 129).');
export const haltCommand = powerCommand('halt', 'Shut down and halt the machine without powering off (a container exits 0).');

export const consoleCommand: Command = {
  name: 'console',
  summary: 'The aios> prompt on a terminal (init runs one on the serial console and tty1).',
  usage: 'aios console [--tty DEVICE] [--run DIR] [--state DIR]',
  help: `Options:
  --tty DEVICE  take over this terminal (e.g. /dev/ttyS0); without it, use this one
  --run DIR     where init's control socket is (default $AIOS_RUN_DIR or /run/aios)
  --state DIR   where the prompt history is kept (default $AIOS_STATE_DIR or /var/lib/aios)`,
  options: { tty: { type: 'string' }, state: { type: 'string' }, ...runOption },
  async run(args) {
    if (args.positionals.length > 0) throw new UsageError(`Usage: ${this.usage}`);
    return runConsole({
      tty: (args.values.tty as string | undefined) ?? null,
      runDir: runDirFrom(args.values.run as string | undefined),
      stateDir: (args.values.state as string | undefined) ?? process.env.AIOS_STATE_DIR ?? '/var/lib/aios',
      version: VERSION,
    });
  },
};
