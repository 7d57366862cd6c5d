// `aios tools`, `aios policy check`, `aios approvals | approve ID | deny ID`: the tool registry,
// the policy's verdict without running anything, and the answers to pending approvals.
import os from 'node:os';
import readline from 'node:readline/promises';
// The policy, the approvals and the tool registry are loaded when one of these commands runs,
// not when the program starts: every process starts from one snapshot, and PID 1 and the
// console need none of them to come up.
import type { ApprovalRequest, ApprovalStore } from '../../policy/approvals.ts';
import type { Decision, Policy } from '../../policy/policy.ts';
import { table, UsageError, type Command, type ParsedArgs } from './command.ts';

const policyModules = () => Promise.all([import('../../policy/config.ts'), import('../../policy/policy.ts'), import('../../policy/setup.ts')]);

const whereOptions = { config: { type: 'string' }, state: { type: 'string' }, run: { type: 'string' } } as const;

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

function parseJsonArgs(text: unknown): unknown {
  if (text === undefined) return {};
  try {
    return JSON.parse(text as string);
  } catch (error) {
    throw new UsageError(`Expected --args to be JSON, e.g. --args '{"path":"/etc/hostname"}': ${(error as Error).message}`);
  }
}

async function policyFrom(args: ParsedArgs): Promise<Policy> {
  const [{ ConfigError, MODES }, { builtinProtectedPaths, Policy }, { loadPolicy, locations }] = await policyModules();
  try {
    const policy = loadPolicy(locations(args.values));
    const mode = args.values.mode as string | undefined;
    if (mode === undefined) return policy;
    const known = MODES.find((m) => m === mode);
    if (!known) throw new UsageError(`Expected --mode to be one of ${MODES.join(', ')}, got \`${mode}\`.`);
    const where = locations(args.values);
    return new Policy({ ...policy.permissions, mode: known }, { protectedPaths: builtinProtectedPaths(where.stateDir, where.configFile) });
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}


export const toolsCommand: Command = {
  name: 'tools',
  summary: 'List the tools the AI can use, show one, or run one through the policy and the audit log.',
  usage: 'aios tools [--json|--format anthropic|openai|mcp] | tools show NAME [--json] | tools run NAME [--args JSON] [--json]',
  help: `Subcommands:
  (none)          every tool: name, risk, effects, description
  show NAME       one tool: capability, effects, risk, timeout, how it is undone, its arguments
  run NAME        call it the way the AI would: policy verdict, approval when needed (asked
                  here when this is a terminal, else answered by \`aios approve ID\`), audit
Options:
  --json            machine-readable output
  --format FORMAT   the definitions as given to a model: anthropic, openai or mcp
  --args JSON       the tool's arguments (run), default {}
  --config FILE     configuration with the [permissions] section (default /etc/aios/config.toml)
  --state DIR       where audit.db is (default $AIOS_STATE_DIR or /var/lib/aios)
  --run DIR         init's run directory (default $AIOS_RUN_DIR or /run/aios)
Examples:
  aios tools show fs.read
  aios tools run fs.stat --args '{"path":"/etc/hostname"}'`,
  options: { json: { type: 'boolean' }, format: { type: 'string' }, args: { type: 'string' }, ...whereOptions },
  async run(args) {
    const [verb, name, extra] = args.positionals;
    const { ALL_TOOLS, anthropicTool, describeTool, mcpTool, openAiTool, toolMap } = await import('../../tools/registry.ts');
    const tools = toolMap();
    if (verb === undefined) {
      const format = args.values.format as string | undefined;
      if (format !== undefined) {
        const convert = { anthropic: anthropicTool, openai: openAiTool, mcp: mcpTool }[format];
        if (!convert) throw new UsageError(`Expected --format to be anthropic, openai or mcp, got \`${format}\`.`);
        print(ALL_TOOLS.map((t) => convert(t)));
        return 0;
      }
      if (args.values.json) {
        print(ALL_TOOLS.map((t) => ({ name: t.name, description: t.description, capability: t.capability, effects: t.effects, risk: t.risk, undo: t.undo, timeoutMs: t.timeoutMs })));
        return 0;
      }
      process.stdout.write(`${table([['TOOL', 'RISK', 'EFFECTS', 'DESCRIPTION'], ...ALL_TOOLS.map((t) => [t.name, t.risk, t.effects.join(','), t.description])])}\n`);
      return 0;
    }
    if ((verb !== 'show' && verb !== 'run') || !name || extra !== undefined) throw new UsageError(`Usage: ${this.usage}`);
    const tool = tools.get(name);
    if (!tool) {
      process.stderr.write(`aios tools: no tool \`${name}\`. Run \`aios tools\` for the list.\n`);
      return 1;
    }
    if (verb === 'show') {
      if (args.values.json) print({ ...mcpTool(tool), capability: tool.capability, effects: tool.effects, risk: tool.risk, undo: tool.undo, timeoutMs: tool.timeoutMs });
      else process.stdout.write(`${describeTool(tool)}\n`);
      return 0;
    }
    const [{ locations, openAudit }, { ApprovalStore }, { runToolCall }] = await Promise.all([import('../../policy/setup.ts'), import('../../policy/approvals.ts'), import('../../tools/pipeline.ts')]);
    const where = locations(args.values);
    const policy = await policyFrom(args);
    const { log: audit, warning } = openAudit(where);
    if (warning) process.stderr.write(`warning: ${warning}\n`);
    const approvals = ApprovalStore.open(where.runDir);
    const { MemoryStore } = await import('../../memory/store.ts');
    let memory: ReturnType<typeof MemoryStore.open> | undefined;
    try {
      memory = MemoryStore.open(MemoryStore.pathIn(where.stateDir));
    } catch (error) {
      process.stderr.write(`warning: this call is not remembered (${(error as Error).message}); the audit log still records it\n`);
    }
    const controller = new AbortController();
    const onInterrupt = (): void => controller.abort();
    process.once('SIGINT', onInterrupt);
    try {
      const result = await runToolCall(name, parseJsonArgs(args.values.args), {
        tools,
        policy,
        audit,
        approvals,
        actor: `user:cli:${os.userInfo().username}`,
        context: { runDir: where.runDir, stateDir: where.stateDir, signal: controller.signal },
        ask: (request, settled) => askHere(request, settled),
        onNotify: (t, d) => process.stderr.write(`notice: ${t.name}: ${d.reason} (${d.rule})\n`),
        memory,
      });
      if (args.values.json) print(result);
      else if (result.ok) process.stdout.write(`${tool.render(result.data as never)}\n`);
      else process.stderr.write(`aios tools run: ${result.code}: ${result.message}\n`);
      return result.ok ? 0 : 1;
    } finally {
      process.off('SIGINT', onInterrupt);
      audit.close();
      approvals.close();
      memory?.close();
    }
  },
};

/** On a terminal: ask now. Otherwise: say how to answer, and wait for `aios approve|deny`. */
async function askHere(request: ApprovalRequest, settled: AbortSignal): Promise<'approved' | 'denied' | undefined> {
  process.stderr.write(`approval needed (${request.id}): ${request.tool} ${request.args}\n  why: ${request.reason} (${request.rule})\n`);
  if (!process.stdin.isTTY) {
    process.stderr.write(`  answer with \`aios approve ${request.id}\` or \`aios deny ${request.id}\` before ${request.expiresAt}\n`);
    return undefined;
  }
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question('  run it? [y/N] ', { signal: settled })).trim().toLowerCase();
    return answer === 'y' || answer === 'yes' ? 'approved' : 'denied';
  } catch {
    return undefined; // answered elsewhere
  } finally {
    rl.close();
  }
}

export const policyCommand: Command = {
  name: 'policy',
  summary: 'Show the verdict the policy would give a command line or a tool call, without running it.',
  usage: "aios policy check [--json] [--mode MODE] [--tainted] [--config FILE] -- 'COMMAND LINE' | --tool NAME [--args JSON]",
  help: `The verdict is one of allow, notify (allow and record prominently), approval (a person must
say yes first) or deny, with the rule that decided and why. Nothing runs; the runtime need
not be running. The command line is one argument, as the shell would get it.
Options:
  --json          print {"verdict", "rule", "reason"}
  --tool NAME     judge a tool call instead, with --args JSON (checked against the tool's schema)
  --mode MODE     judge as in another mode: safe, normal, paranoid, trusted
  --tainted       judge as if outside text had entered the conversation
  --config FILE   configuration with the [permissions] section (default /etc/aios/config.toml)
  --state DIR     the state directory, whose audit log is protected (default /var/lib/aios)
Examples:
  aios policy check -- 'rm -rf /tmp/build'
  aios policy check --json -- 'curl https://example.com | sh'
  aios policy check --tool fs.write --args '{"path":"/etc/aios/config.toml","content":""}'`,
  options: { json: { type: 'boolean' }, tool: { type: 'string' }, args: { type: 'string' }, mode: { type: 'string' }, tainted: { type: 'boolean' }, ...whereOptions },
  async run(args) {
    const [verb, line, extra] = args.positionals;
    if (verb !== 'check') throw new UsageError(`Usage: ${this.usage}`);
    const toolName = args.values.tool as string | undefined;
    if (toolName === undefined ? line === undefined || extra !== undefined : line !== undefined) {
      throw new UsageError(
        toolName === undefined
          ? `Give the command line as one argument after --, e.g. aios policy check -- 'ls -la /tmp'${extra !== undefined ? ' (quote it: it arrived as several words)' : ''}.`
          : 'Give either --tool NAME or a command line, not both.',
      );
    }
    const policy = await policyFrom(args);
    const context = { tainted: Boolean(args.values.tainted) };
    let decision: Decision;
    if (toolName !== undefined) {
      const [{ toolMap }, { describeInputError }] = await Promise.all([import('../../tools/registry.ts'), import('../../tools/tool.ts')]);
      const tool = toolMap().get(toolName);
      if (!tool) decision = { verdict: 'deny', rule: 'builtin:unknown-tool', reason: `there is no tool \`${toolName}\` (see \`aios tools\`)` };
      else {
        const parsed = tool.input.safeParse(parseJsonArgs(args.values.args));
        decision = parsed.success ? policy.checkToolCall(tool, parsed.data, context) : { verdict: 'deny', rule: 'builtin:invalid-arguments', reason: describeInputError(tool.name, parsed.error) };
      }
    } else {
      decision = policy.checkCommandLine(line!, context);
    }
    if (args.values.json) process.stdout.write(`${JSON.stringify({ verdict: decision.verdict, rule: decision.rule, reason: decision.reason })}\n`);
    else process.stdout.write(`${decision.verdict}: ${decision.reason}\n  rule: ${decision.rule} (mode ${policy.mode})\n`);
    return 0;
  },
};

async function openApprovals(args: ParsedArgs): Promise<ApprovalStore> {
  const [{ ApprovalStore }, { locations }] = await Promise.all([import('../../policy/approvals.ts'), import('../../policy/setup.ts')]);
  return ApprovalStore.open(locations(args.values).runDir);
}

export const approvalsCommand: Command = {
  name: 'approvals',
  summary: 'List the tool calls waiting for a person to approve or deny them.',
  usage: 'aios approvals [--all] [--json] [--run DIR]',
  help: `Options:
  --all       answered and expired requests too
  --json      machine-readable output
  --run DIR   init's run directory (default $AIOS_RUN_DIR or /run/aios)`,
  options: { json: { type: 'boolean' }, all: { type: 'boolean' }, run: { type: 'string' } },
  async run(args) {
    if (args.positionals.length > 0) throw new UsageError(`Usage: ${this.usage}`);
    const store = await openApprovals(args);
    try {
      const rows = store.list({ all: Boolean(args.values.all) });
      if (args.values.json) print(rows);
      else if (rows.length === 0) process.stdout.write(args.values.all ? 'No approval requests.\n' : 'Nothing is waiting for approval.\n');
      else process.stdout.write(`${table([['ID', 'STATE', 'EXPIRES', 'ACTOR', 'CALL', 'WHY'], ...rows.map((r) => [r.id, r.state, r.expiresAt.slice(11, 19), r.actor, `${r.tool} ${r.args.length > 60 ? `${r.args.slice(0, 57)}...` : r.args}`, r.reason])])}\n`);
      return 0;
    } finally {
      store.close();
    }
  },
};

function answerCommand(decision: 'approved' | 'denied'): Command {
  const verb = decision === 'approved' ? 'approve' : 'deny';
  return {
    name: verb,
    summary: decision === 'approved' ? 'Let a waiting tool call run (that exact call, once).' : 'Refuse a waiting tool call.',
    usage: `aios ${verb} ID [--json] [--run DIR]`,
    help: `ID is from \`aios approvals\`.\nOptions:\n  --json      print the answered request\n  --run DIR   init's run directory (default $AIOS_RUN_DIR or /run/aios)`,
    options: { json: { type: 'boolean' }, run: { type: 'string' } },
    async run(args) {
      const [id, extra] = args.positionals;
      if (!id || extra !== undefined) throw new UsageError(`Usage: ${this.usage}`);
      const store = await openApprovals(args);
      const { ApprovalError } = await import('../../policy/approvals.ts');
      try {
        const row = store.answer(id, decision, `user:cli:${os.userInfo().username}`);
        if (args.values.json) print(row);
        else process.stdout.write(`${id}: ${decision} (${row.tool} ${row.args})\n`);
        return 0;
      } catch (error) {
        if (!(error instanceof ApprovalError)) throw error;
        process.stderr.write(`aios ${verb}: ${error.message}\n`);
        return 1;
      } finally {
        store.close();
      }
    },
  };
}

export const approveCommand = answerCommand('approved');
export const denyCommand = answerCommand('denied');
