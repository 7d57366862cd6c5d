// `aios route --explain "…"`: which tier would handle a request on this machine now, which one
// would if every tier were present, and why, without running anything. It reads what the
// router reads (the rules, the model files, the keys), so it works with or without the runtime.
import { TIERS, type Tier } from '../../models/tiers.ts';
import { UsageError, type Command } from './command.ts';

export const routeCommand: Command = {
  name: 'route',
  summary: 'Which tier would answer a request, and why (--explain: nothing is run).',
  usage: 'aios route --explain [--json] [--tier TIER] [--state DIR] [--config FILE] "REQUEST"',
  help: `Shows the router's decision for REQUEST: the tier that would handle it here now, the tier it
would choose if every tier were present ("wanted"), the reason, and for the reactive tier the
tool call. Tiers: reactive (rules, /etc/aios/rules), operational and tactical (GGUF models in
STATE/models or [models] dir), strategic (Claude, then OpenAI: ANTHROPIC_API_KEY / OPENAI_API_KEY
or /etc/aios/secrets.toml, mode 600). A request starting with @TIER asks for that tier.

Options:
  --explain      show the decision (required: \`aios chat\` is what runs a request)
  --json         { "tier", "wanted", "reason", "tool", "args" } (tier null: no tier here can)
  --tier TIER    as if the request asked for TIER (reactive, operational, tactical, strategic)
  --state DIR    the state directory (default $AIOS_STATE_DIR or /var/lib/aios)
  --config FILE  the configuration, for [models] (default $AIOS_CONFIG or /etc/aios/config.toml)

Examples:
  aios route --explain "restart nginx"
  aios route --explain --json "why does nginx keep crashing"
  aios route --explain "@strategic review my firewall rules"`,
  options: { explain: { type: 'boolean' }, json: { type: 'boolean' }, tier: { type: 'string' }, state: { type: 'string' }, config: { type: 'string' } },
  async run(args) {
    if (!args.values.explain) throw new UsageError('aios route only explains for now: add --explain (and use `aios chat "…"` to have a request answered).\nSee `aios route --help`.');
    const text = args.positionals.join(' ').trim();
    if (text === '') throw new UsageError('Say what to route: aios route --explain "restart nginx"\nSee `aios route --help`.');
    const tier = args.values.tier as string | undefined;
    if (tier !== undefined && !(TIERS as readonly string[]).includes(tier)) throw new UsageError(`--tier ${tier}: not a tier; use one of ${TIERS.join(', ')}.`);
    const [{ locations }, { loadRules }, { detectTiers }, { explain }] = await Promise.all([
      import('../../policy/setup.ts'),
      import('../../models/rules.ts'),
      import('../../models/tiers.ts'),
      import('../../models/router.ts'),
    ]);
    const where = locations({ state: args.values.state, config: args.values.config });
    const rules = loadRules();
    const machine = detectTiers({ configFile: where.configFile, stateDir: where.stateDir });
    for (const problem of [...rules.problems, ...machine.problems]) process.stderr.write(`aios route: warning: ${problem}\n`);
    const decision = explain(text, { rules, machine, tier: tier as Tier | undefined });
    if (args.values.json) {
      const { tier: chosen, wanted, reason, tool, args: callArgs } = decision;
      process.stdout.write(`${JSON.stringify({ tier: chosen, wanted, reason, tool, args: callArgs ?? null })}\n`);
      return 0;
    }
    process.stdout.write(
      [
        `tier:   ${decision.tier ?? 'none (no tier here can answer this)'}${decision.tier !== decision.wanted ? ` (wanted: ${decision.wanted})` : ''}`,
        `reason: ${decision.reason}`,
        ...(decision.tool ? [`call:   ${decision.tool} ${JSON.stringify(decision.args)}`] : []),
      ].join('\n') + '\n',
    );
    return 0;
  },
};
