// `aios status`: the machine at a glance: uptime, load, memory, disks and services (the
// sys.status tool's reading), which tiers answer here, and what the cloud budget has left today.
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from './command.ts';

export const statusCommand: Command = {
  name: 'status',
  summary: 'The machine at a glance: uptime, load, memory, disks, services, the tiers here, the cloud budget.',
  usage: 'aios status [--json] [--run DIR] [--state DIR] [--config FILE]',
  help: `Options:
  --json         { hostname, uptimeSeconds, load, memory, disks, services, warnings,
                   tiers: { TIER: { present, backend, missing } }, problems,
                   budget: { day, usd, tokens, reservedUsd, reservedTokens, dailyUsd, dailyTokens } }
  --run DIR      where init's socket is (default $AIOS_RUN_DIR or /run/aios)
  --state DIR    the state directory (default $AIOS_STATE_DIR or /var/lib/aios)
  --config FILE  the configuration (default $AIOS_CONFIG or /etc/aios/config.toml)`,
  options: { json: { type: 'boolean' }, run: { type: 'string' }, state: { type: 'string' }, config: { type: 'string' } },
  async run(args) {
    const [{ locations }, { statusTool }, { detectTiers, TIERS }, { Budget, budgetSchema, localDay, openRouterDb }, { parseSection, readConfigFile }] = await Promise.all([
      import('../../policy/setup.ts'),
      import('../../tools/system-tools.ts'),
      import('../../models/tiers.ts'),
      import('../../models/budget.ts'),
      import('../../policy/config.ts'),
    ]);
    const where = locations({ state: args.values.state, run: args.values.run, config: args.values.config });
    const system = await statusTool.run({}, { runDir: where.runDir, stateDir: where.stateDir, signal: new AbortController().signal });
    const found = detectTiers({ configFile: where.configFile, stateDir: where.stateDir });
    const tiers = Object.fromEntries(TIERS.map((t) => [t, { present: found.tiers[t].present, backend: found.tiers[t].backend, missing: found.tiers[t].missing }]));
    let budget: Record<string, unknown> | null = null;
    const problems = [...found.problems];
    try {
      const config = parseSection(budgetSchema, readConfigFile(where.configFile, { missingOk: true }).budget ?? {}, 'budget', where.configFile);
      // Nothing spent yet when there is no router.db; a status does not create one.
      if (!existsSync(path.join(where.stateDir, 'router.db'))) budget = { day: localDay(), usd: 0, tokens: 0, reservedUsd: 0, reservedTokens: 0, dailyUsd: config.daily_usd, dailyTokens: config.daily_tokens };
      else {
        const db = openRouterDb(where.stateDir);
        try {
          budget = { ...new Budget(db, config).spent(), dailyUsd: config.daily_usd, dailyTokens: config.daily_tokens };
        } finally {
          db.close();
        }
      }
    } catch (error) {
      problems.push(`the cloud budget cannot be read: ${(error as Error).message}`);
    }
    if (args.values.json) {
      process.stdout.write(`${JSON.stringify({ ...system, tiers, problems, budget })}\n`);
      return 0;
    }
    const live = TIERS.filter((t) => found.tiers[t].present).map((t) => (t === 'reactive' ? 'reactive' : `${t} (${found.tiers[t].backend})`));
    const lines = [statusTool.render(system as never), `tiers: ${live.join(', ')}`];
    if (budget) lines.push(`cloud budget today: $${(budget.usd as number).toFixed(4)} of $${String(budget.dailyUsd)}, ${String(budget.tokens)} of ${String(budget.dailyTokens)} tokens${(budget.reservedUsd as number) > 0 ? ` ($${(budget.reservedUsd as number).toFixed(4)} reserved by requests running now)` : ''}`);
    for (const p of problems) lines.push(`problem: ${p}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    return 0;
  },
};
