// `aios maintain`: the maintenance service (periodic snapshots, memory retention, reflexes).
// Runs until stopped: the reflexes are checked every minute, a maintenance round runs when the
// next periodic snapshot is due and at least hourly; --once does one of each and exits (for
// tests, and for people who schedule it themselves).
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReflexRound } from '../../agents/reflex-runner.ts';
import type { Locations } from '../../policy/setup.ts';
import type { Command } from './command.ts';

const HOUR_MS = 3_600_000;
const REFLEX_CHECK_MS = 60_000;

export const maintainCommand: Command = {
  name: 'maintain',
  summary: 'Periodic snapshots, memory retention and reflexes (the maintenance service runs this).',
  usage: 'aios maintain [--once] [--json] [--state DIR] [--config FILE]',
  help: `Takes a periodic snapshot when one is due ([snapshots] interval_minutes, default 60; older
automatic snapshots beyond keep_automatic are removed) and applies memory retention ([memory]).
Checks the reflexes ([[reflex]] in /etc/aios/rules/*.toml: thresholds such as a file system over
90 % full, and what to do then) every minute, and says what each one that fired did.
Without --once it keeps running, waking when the next snapshot is due and at least hourly, and
prints one line (or one JSON object with --json) per round and per reflex fired.

Options:
  --once         one round, then exit
  --json         each round as a JSON object { at, snapshot, memory }, each reflex fired
                 as { at, reflex, subject, value, did }
  --state DIR    the state directory (default $AIOS_STATE_DIR or /var/lib/aios)
  --config FILE  the configuration (default $AIOS_CONFIG or /etc/aios/config.toml)`,
  options: { once: { type: 'boolean' }, json: { type: 'boolean' }, state: { type: 'string' }, config: { type: 'string' } },
  async run(args) {
    const [{ locations }, { maintainRound, nextPeriodic }] = await Promise.all([import('../../policy/setup.ts'), import('../../recovery/maintenance.ts')]);
    const where = locations({ state: args.values.state, config: args.values.config });
    const context = { ...where, actor: 'agent:maintenance', audit: null };
    const stop = new AbortController();
    for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => stop.abort());
    let nextRound = 0;
    let saidProblems = '';
    for (;;) {
      let failed = false;
      try {
        const round = await checkReflexes(where, stop.signal);
        for (const outcome of round.fired) {
          const at = new Date().toISOString();
          process.stdout.write(args.values.json ? `${JSON.stringify({ at, ...outcome })}\n` : `${at}: reflex ${outcome.reflex} fired (${outcome.subject}: ${outcome.value}): ${outcome.did.join('; ')}\n`);
        }
        const problems = round.problems.join('\n');
        if (problems && problems !== saidProblems) process.stderr.write(`aios maintain: ${problems}\n`);
        saidProblems = problems;
      } catch (error) {
        failed = true;
        process.stderr.write(`aios maintain: reflexes: ${(error as Error).message}\n`);
      }
      if (Date.now() >= nextRound) {
        nextRound = Date.now() + HOUR_MS;
        try {
          const report = await maintainRound(context);
          process.stdout.write(args.values.json ? `${JSON.stringify(report)}\n` : `${report.at}: snapshot ${'taken' in report.snapshot ? `${report.snapshot.taken} taken` : `skipped (${report.snapshot.skipped})`}; memory ${JSON.stringify(report.memory)}\n`);
        } catch (error) {
          failed = true;
          process.stderr.write(`aios maintain: ${(error as Error).message}\n`);
        }
        try {
          const due = nextPeriodic(context);
          if (due) nextRound = Math.min(nextRound, Math.max(Date.now() + 10_000, due.getTime()));
        } catch {
          // A bad configuration: said above; try again in an hour.
        }
      }
      if (args.values.once) return failed ? 1 : 0;
      try {
        await sleep(Math.min(REFLEX_CHECK_MS, Math.max(1_000, nextRound - Date.now())), undefined, { signal: stop.signal });
      } catch {
        return 0;
      }
    }
  },
};

/** The reflexes due now, on the machine's readings, with what they need opened only when one fires. */
async function checkReflexes(where: Locations, signal: AbortSignal): Promise<ReflexRound> {
  const [{ runReflexes }, { readMachine }] = await Promise.all([import('../../agents/reflex-runner.ts'), import('../../models/reflexes.ts')]);
  return runReflexes(where, {
    readings: readMachine({ failedServices: await failedServices(where.runDir) }),
    signal,
    open: async () => (await (await import('../../agents/load.ts')).loadAgentModules()).AgentRuntime.open(where),
    freeSpace: async () => {
      const [{ pruneSnapshots }, { settingsFor }, { retainMemory }] = await Promise.all([import('../../recovery/snapshots.ts'), import('../../recovery/recovery.ts'), import('../../recovery/maintenance.ts')]);
      // Half the automatic snapshots retention keeps; manual ones are never touched.
      const keep = Math.floor(settingsFor({ ...where, actor: 'agent:maintenance', audit: null }).keep_automatic / 2);
      const removed = pruneSnapshots(where.stateDir, keep);
      const memory = retainMemory(where);
      return `removed ${removed.length} automatic snapshot${removed.length === 1 ? '' : 's'} (keeping ${keep}); memory retention ${JSON.stringify(memory)}`;
    },
  });
}

/** How many services init says have failed; null when init does not answer. */
async function failedServices(runDir: string): Promise<number | null> {
  const { initSocketPath, request } = await import('../control-client.ts');
  try {
    const answer = (await request(initSocketPath(runDir), { cmd: 'services' })) as { services: { state: string }[] };
    return answer.services.filter((s) => s.state === 'failed').length;
  } catch {
    return null;
  }
}
