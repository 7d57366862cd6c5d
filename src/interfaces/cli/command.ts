// The shape of an `aios` subcommand, and argument parsing with errors that say what to do.
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Longer help: options and examples. */
  help: string;
  options: ParseArgsOptionsConfig;
  run(args: ParsedArgs): Promise<number>;
}

export interface ParsedArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

export class UsageError extends Error {}

export function parseCommandArgs(command: Command, argv: string[]): ParsedArgs {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    return { values, positionals };
  } catch (error) {
    throw new UsageError(`${(error as Error).message.replace(/\. To specify.*$/s, '')}\nUsage: ${command.usage}\nSee \`aios ${command.name} --help\`.`);
  }
}

export function formatHelp(command: Command): string {
  return `Usage: ${command.usage}\n\n${command.summary}\n${command.help ? `\n${command.help.trimEnd()}\n` : ''}`;
}

/** Renders rows as aligned columns, the first row being the header. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n');
}

/** Asks a yes/no question on the terminal (stderr); anything but y or yes is no. */
export async function confirm(question: string): Promise<boolean> {
  const { default: readline } = await import('node:readline/promises');
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}
