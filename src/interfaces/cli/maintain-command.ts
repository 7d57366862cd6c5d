// `aios maintain`: the maintenance service (periodic snapshots, memory retention). Runs until
// stopped, waking when the next periodic snapshot is due and at least hourly; --once does one
// round and exits (for tests, and for people who schedule it themselves).
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from './command.ts';

const HOUR_MS = 3_600_000;

export const maintainCommand: Command = {
  name: 'maintain',
  summary: 'Periodic snapshots and memory retention (the maintenance service runs this).',
  usage: 'aios maintain [--once] [--json] [--state DIR] [--config FILE]',
  help: `Takes a periodic snapshot when one is due ([snapshots] interval_minutes, default 60; older
automatic snapshots beyond keep_automatic are removed) and applies memory retention ([memory]).
Without --once it keeps running, waking when the next snapshot is due and at least hourly, and
prints one line (or one JSON object with --json) per round.

Options:
  --once         one round, then exit
  --json         each round as a JSON object { at, snapshot, memory }
  --state DIR    the state directory (default $AIOS_STATE_DIR or /var/lib/aios)
  --config FILE  the configuration (default $AIOS_CONFIG or /etc/aios/config.toml)`,
  options: { once: { type: 'boolean' }, json: { type: 'boolean' }, state: { type: 'string' }, config: { type: 'string' } },
  async run(args) {
    const [{ locations }, { maintainRound, nextPeriodic }] = await Promise.all([import('../../policy/setup.ts'), import('../../recovery/maintenance.ts')]);
    const where = locations({ state: args.values.state, config: args.values.config });
    const context = { ...where, actor: 'agent:maintenance', audit: null };
    const stop = new AbortController();
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
    for (;;) {
      let failed = false;
      try {
        const report = await maintainRound(context);
        process.stdout.write(args.values.json ? `${JSON.stringify(report)}\n` : `${report.at}: snapshot ${'taken' in report.snapshot ? `${report.snapshot.taken} taken` : `skipped (${report.snapshot.skipped})`}; memory ${JSON.stringify(report.memory)}\n`);
      } catch (error) {
        failed = true;
        process.stderr.write(`aios maintain: ${(error as Error).message}\n`);
      }
      if (args.values.once) return failed ? 1 : 0;
      let waitMs = HOUR_MS;
      try {
        const due = nextPeriodic(context);
        if (due) waitMs = Math.min(HOUR_MS, Math.max(10_000, due.getTime() - Date.now()));
      } catch {
        // A bad configuration: said above; try again in an hour.
      }
      try {
        await sleep(waitMs, undefined, { signal: stop.signal });
      } catch {
        return 0;
      }
    }
  },
};
