// The one aiOS program. Its role comes from the name it was started as (aios-init) or from
// the first argument (`aios init`, `aios services`, ...).
import path from 'node:path';
import { forkedPackageScript, importFile } from './native/packages.ts';
import { ControlError } from './interfaces/control-client.ts';
import { formatHelp, parseCommandArgs, UsageError, type Command } from './interfaces/cli/command.ts';
import {
  consoleCommand,
  haltCommand,
  initCommand,
  logsCommand,
  poweroffCommand,
  rebootCommand,
  reloadCommand,
  serviceCommand,
  servicesCommand,
} from './interfaces/cli/init-commands.ts';
import { auditCommand } from './interfaces/cli/audit-commands.ts';
import { memoryCommand } from './interfaces/cli/memory-commands.ts';
import { restoreCommand, snapshotCommand, snapshotsCommand } from './interfaces/cli/snapshot-commands.ts';
import { maintainCommand } from './interfaces/cli/maintain-command.ts';
import { memoryIngestCommand } from './interfaces/cli/memory-ingest-command.ts';
import { routeCommand } from './interfaces/cli/route-command.ts';
import { modelsCommand } from './interfaces/cli/models-command.ts';
import { chatCommand, runtimeCommand, shellCommand } from './interfaces/cli/chat-commands.ts';
import { statusCommand } from './interfaces/cli/status-command.ts';
import { approvalsCommand, approveCommand, denyCommand, policyCommand, toolsCommand } from './interfaces/cli/tool-commands.ts';
import packageJson from '../package.json' with { type: 'json' };

const COMMANDS: Command[] = [
  initCommand,
  statusCommand,
  servicesCommand,
  serviceCommand,
  logsCommand,
  reloadCommand,
  poweroffCommand,
  rebootCommand,
  haltCommand,
  consoleCommand,
  toolsCommand,
  policyCommand,
  approvalsCommand,
  approveCommand,
  denyCommand,
  auditCommand,
  memoryCommand,
  memoryIngestCommand,
  snapshotCommand,
  snapshotsCommand,
  restoreCommand,
  maintainCommand,
  routeCommand,
  modelsCommand,
  runtimeCommand,
  chatCommand,
  shellCommand,
];

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `aios ${packageJson.version}: the aiOS command line

Usage: aios COMMAND [OPTIONS]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run \`aios COMMAND --help\` for the options of a command.
`;
}

export async function main(argv: string[], invokedAs: string): Promise<number> {
  const asInit = ['aios-init', 'init'].includes(path.basename(invokedAs));
  const args = asInit ? ['init', ...argv] : argv;
  const [name, ...rest] = args;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const topic = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    process.stdout.write(topic ? formatHelp(topic) : overview());
    return 0;
  }
  if (name === '--version' || name === 'version') {
    process.stdout.write(`aios ${packageJson.version} (node ${process.version})\n`);
    return 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`aios: unknown command \`${name}\`. Run \`aios --help\` for the list.\n`);
    return 2;
  }
  try {
    const parsed = parsePid1Tolerant(command, rest);
    if (parsed.values.help) {
      process.stdout.write(formatHelp(command));
      return 0;
    }
    return await command.run(parsed);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`aios ${command.name}: ${error.message}\n`);
      return 2;
    }
    if (error instanceof ControlError) {
      process.stderr.write(`aios ${command.name}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

// The kernel passes PID 1 whatever words of its command line it did not understand: an init
// that is PID 1 ignores arguments it cannot parse instead of exiting (which would panic).
function parsePid1Tolerant(command: Command, rest: string[]): ReturnType<typeof parseCommandArgs> {
  try {
    return parseCommandArgs(command, rest);
  } catch (error) {
    if (command !== initCommand || process.pid !== 1) throw error;
    process.stderr.write(`aios-init: ignoring arguments ${JSON.stringify(rest)}: ${(error as Error).message.split('\n')[0]}\n`);
    return { values: {}, positionals: [] };
  }
}

/** Runs the program as started (the entry point and the executable's snapshot both call this). */
export function run(): void {
  const forked = forkedPackageScript(process.argv.slice(2));
  if (forked) {
    importFile(forked).catch((error: unknown) => {
      process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 70;
    });
    return;
  }
  main(process.argv.slice(2), process.argv0).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      if (process.pid !== 1) {
        process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
        process.exitCode = 70;
        return;
      }
      // PID 1 must not exit (the kernel would panic): say why, then freeze, as systemd does.
      process.stderr.write(`aios-init: fatal: ${(error as Error).stack ?? String(error)}\naios-init: freezing.\n`);
      setInterval(() => {}, 2 ** 30);
    },
  );
}
