// `aios audit verify | tail | show SEQ`: read the audit log in the state directory directly
// (it is a file anyone with access can check; the runtime need not be running).
import { AuditLog, GENESIS, type AuditRow } from '../../audit/audit-log.ts';
import { table, UsageError, type Command } from './command.ts';

function stateDir(flag: unknown): string {
  return (flag as string | undefined) ?? process.env.AIOS_STATE_DIR ?? '/var/lib/aios';
}

function summary(row: AuditRow): string[] {
  return [String(row.seq), row.time, row.actor, row.tool, row.verdict, row.status];
}

export const auditCommand: Command = {
  name: 'audit',
  summary: 'Check the hash-chained audit log of every tool call, or read it.',
  usage: 'aios audit verify | tail [-n N] | show SEQ [--json] [--state DIR]',
  help: `Subcommands:
  verify      walk the whole chain; exit 1 and name the first bad row when one was changed,
              removed, moved or inserted
  tail        the last rows (-n, default 20)
  show SEQ    one row with every field
Options:
  --json       machine-readable output
  --state DIR  where audit.db is (default $AIOS_STATE_DIR or /var/lib/aios)`,
  options: { json: { type: 'boolean' }, state: { type: 'string' }, lines: { type: 'string', short: 'n' } },
  async run(args) {
    const [verb, operand, extra] = args.positionals;
    if (!verb || !['verify', 'tail', 'show'].includes(verb) || extra !== undefined) throw new UsageError(`Usage: ${this.usage}`);
    const file = AuditLog.pathIn(stateDir(args.values.state));
    const json = Boolean(args.values.json);
    let log: AuditLog | null;
    try {
      log = AuditLog.openForReading(file);
    } catch (error) {
      process.stderr.write(`aios audit: cannot read ${file}: ${(error as Error).message}\n`);
      return 1;
    }
    if (log === null) {
      // Nothing has been recorded yet: an empty chain is intact.
      if (verb === 'verify') process.stdout.write(json ? `${JSON.stringify({ ok: true, rows: 0, head: GENESIS })}\n` : `audit log intact: no rows yet (${file} does not exist)\n`);
      else if (verb === 'tail') process.stdout.write(json ? '[]\n' : 'The audit log is empty.\n');
      else process.stderr.write(`aios audit: no row ${operand ?? ''} (there is no audit log yet at ${file}).\n`);
      return verb === 'show' ? 1 : 0;
    }
    try {
      if (verb === 'verify') {
        if (operand !== undefined) throw new UsageError('aios audit verify takes no argument.');
        const result = log.verify();
        if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
        else process.stdout.write(result.ok ? `audit log intact: ${result.rows} rows, head ${result.head}\n` : `audit log BROKEN at row ${result.firstBad}: ${result.reason} (${result.rows} rows before it check out)\n`);
        return result.ok ? 0 : 1;
      }
      if (verb === 'tail') {
        if (operand !== undefined) throw new UsageError('aios audit tail takes no argument; use -n N.');
        const count = Number(args.values.lines ?? '20');
        if (!Number.isInteger(count) || count < 1) throw new UsageError(`Expected -n to be a positive integer, got \`${String(args.values.lines)}\`.`);
        const rows = log.tail(count);
        process.stdout.write(json ? `${JSON.stringify(rows, null, 2)}\n` : rows.length === 0 ? 'The audit log is empty.\n' : `${table([['SEQ', 'TIME', 'ACTOR', 'TOOL', 'VERDICT', 'STATUS'], ...rows.map(summary)])}\n`);
        return 0;
      }
      const seq = Number(operand);
      if (!Number.isInteger(seq) || seq < 1) throw new UsageError(`Expected a row number after \`aios audit show\`, got \`${operand ?? ''}\`.`);
      const row = log.show(seq);
      if (!row) {
        process.stderr.write(`aios audit: no row ${seq} (the log has ${log.tail(1)[0]?.seq ?? 0} rows).\n`);
        return 1;
      }
      process.stdout.write(json ? `${JSON.stringify(row, null, 2)}\n` : `${Object.entries(row).map(([k, v]) => `${k.padEnd(12)} ${v ?? '-'}`).join('\n')}\n`);
      return 0;
    } finally {
      log.close();
    }
  },
};
