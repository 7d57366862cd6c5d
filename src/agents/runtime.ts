// What a request needs to be answered on this machine, opened once per process (the console,
// the runtime service): the rules, the tiers found here and a backend for each, the cloud budget
// and the response cache (STATE/router.db), the tools through the pipeline (policy, approval,
// audit, memory), and what the model is told about the machine.
import { existsSync } from 'node:fs';
import os from 'node:os';
import * as z from 'zod/mini';
import { Budget, budgetSchema, openRouterDb } from '../models/budget.ts';
import { BackendUnavailable, CloudBackend, LocalBackend, type Backend } from '../models/backends.ts';
import { ControlError, initSocketPath, request as askInit } from '../interfaces/control-client.ts';
import { ResponseCache } from '../models/cache.ts';
import { CloudTier, DEFAULT_MODELS } from '../models/cloud.ts';
import type { ToolSpec } from '../models/llama-host.ts';
import { loadRules, type RuleSet } from '../models/rules.ts';
import { detectTiers, loadModelsConfig, MODEL_TIERS, type MachineTiers, type Tier } from '../models/tiers.ts';
import { parseSection, readConfigFile } from '../policy/config.ts';
import type { Locations } from '../policy/setup.ts';
import type { MemoryStore } from '../memory/store.ts';
import type { OpenPipeline, PipelineOptions, Session } from '../tools/pipeline.ts';
import type { Tool } from '../tools/tool.ts';
import { handleRequest, type AgentEvent, type AgentLimits, type AgentResult } from './loop.ts';

type Backends = Partial<Record<(typeof MODEL_TIERS)[number], Backend>>;
type Guard = OpenPipeline;

const routerSchema = z.strictObject({
  /** How long an identical turn is answered from the cache (0: no cache). */
  cache_seconds: z._default(z.int().check(z.gte(0), z.lte(30 * 86_400)), 3600),
  /** How many tools a local model is offered at once (the ones the request's words point to). */
  local_tools: z._default(z.int().check(z.gte(1), z.lte(64)), 8),
});

/** Most characters of a tool's result that go back to a model. */
const RESULT_CHARS = 4000;

export interface HandleOptions {
  actor: string;
  signal?: AbortSignal;
  onEvent?: (event: AgentEvent) => void;
  ask?: PipelineOptions['ask'];
  tier?: Tier;
}

export class AgentRuntime {
  readonly rules: RuleSet;
  readonly machine: MachineTiers;
  readonly problems: string[];
  readonly #where: Locations;
  readonly #backends: Backends;
  readonly #cache: ResponseCache | null;
  readonly #localTools: number;
  /** The local tiers' bounds: [models] context_size, which the conversation is kept within, and max_tokens. */
  readonly #localLimits: Partial<AgentLimits>;
  readonly #guard: Guard;
  readonly #memory: MemoryStore | undefined;
  readonly #close: () => void;

  private constructor(init: {
    where: Locations;
    rules: RuleSet;
    machine: MachineTiers;
    problems: string[];
    backends: Backends;
    cache: ResponseCache | null;
    localTools: number;
    localLimits: Partial<AgentLimits>;
    guard: Guard;
    close: () => void;
  }) {
    this.#where = init.where;
    this.rules = init.rules;
    this.machine = init.machine;
    this.problems = init.problems;
    this.#backends = init.backends;
    this.#cache = init.cache;
    this.#localTools = init.localTools;
    this.#localLimits = init.localLimits;
    this.#guard = init.guard;
    this.#memory = init.guard.memory;
    this.#close = init.close;
  }

  /** Opens it for the locations given; `guard` is the pipeline the caller already has open (the console's), if any. */
  static async open(where: Locations, guard?: Guard): Promise<AgentRuntime> {
    const rules = loadRules();
    const machine = detectTiers({ configFile: where.configFile, stateDir: where.stateDir });
    const problems = [...rules.problems, ...machine.problems];
    const config = readConfigFile(where.configFile, { missingOk: true });
    const budgetConfig = parseSection(budgetSchema, config.budget ?? {}, 'budget', where.configFile);
    const routerConfig = parseSection(routerSchema, config.router ?? {}, 'router', where.configFile);
    const models = loadModelsConfig(where.configFile);
    const db = openRouterDb(where.stateDir);
    const backends: Backends = {};
    const startService = onDemand((signal) => startModelsService(where.runDir, models.listen, signal));
    for (const tier of ['operational', 'tactical'] as const) {
      if (machine.tiers[tier].present) {
        backends[tier] = new LocalBackend(tier, `http://${models.listen}/v1`, (tier === 'operational' ? models.operational_timeout_seconds : models.tactical_timeout_seconds) * 1000, startService);
      }
    }
    if (machine.keys.length > 0) {
      const first = machine.keys[0]!;
      backends.strategic = new CloudBackend(new CloudTier(machine.keys, { timeoutMs: 120_000, maxRetries: 2 }), new Budget(db, budgetConfig), { provider: first.provider, model: first.model ?? DEFAULT_MODELS[first.provider] });
    }
    let opened = guard;
    const closers: (() => void)[] = [() => db.close()];
    if (!opened) {
      const [{ loadPolicy, openAudit }, { ApprovalStore }, { toolMap }, { runToolCall }, { MemoryStore }] = await Promise.all([
        import('../policy/setup.ts'),
        import('../policy/approvals.ts'),
        import('../tools/registry.ts'),
        import('../tools/pipeline.ts'),
        import('../memory/store.ts'),
      ]);
      const { log: audit, warning } = openAudit(where);
      if (warning) problems.push(warning);
      let memory: MemoryStore | undefined;
      try {
        memory = MemoryStore.open(MemoryStore.pathIn(where.stateDir));
        closers.push(() => memory!.close());
      } catch (error) {
        problems.push(`decisions and calls are not remembered (${(error as Error).message})`);
      }
      opened = { policy: loadPolicy(where), audit, approvals: ApprovalStore.open(where.runDir), tools: toolMap(), run: runToolCall, ...(memory ? { memory } : {}) };
    }
    return new AgentRuntime({ where, rules, machine, problems, backends, cache: routerConfig.cache_seconds > 0 ? new ResponseCache(db, routerConfig.cache_seconds * 1000) : null, localTools: routerConfig.local_tools, localLimits: { contextTokens: models.context_size, ...(models.max_tokens ? { maxTokens: models.max_tokens } : {}) }, guard: opened, close: () => closers.forEach((c) => c()) });
  }

  /** Whether a model tier can answer here (else the prompt answers with its rules only). */
  get hasModel(): boolean {
    return MODEL_TIERS.some((t) => this.#backends[t]);
  }

  close(): void {
    this.#close();
  }

  async handle(text: string, options: HandleOptions): Promise<AgentResult> {
    const { openAiTool, toolByApiName } = await import('../tools/registry.ts');
    const all = [...this.#guard.tools.values()];
    const specs = new Map(all.map((tool) => [tool, specOf(openAiTool(tool))]));
    const session: Session = { tainted: false };
    return handleRequest(text, {
      rules: this.rules,
      machine: this.machine,
      backends: this.#backends,
      cache: this.#cache,
      limits: { operational: this.#localLimits, tactical: this.#localLimits },
      ...(options.tier ? { tier: options.tier } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      tools: (tier, request) => (tier === 'strategic' ? [...specs.values()] : relevant(all, request, this.#localTools).map((t) => specs.get(t)!)),
      runTool: async (name, args, signal) => {
        const tool = toolByApiName(this.#guard.tools, name) ?? this.#guard.tools.get(name);
        if (!tool) return { ok: false, text: `EUNKNOWN: no tool ${name}` };
        const { run, ...guard } = this.#guard;
        const result = await run(tool.name, args, {
          ...guard,
          actor: options.actor,
          session,
          context: { runDir: this.#where.runDir, stateDir: this.#where.stateDir, signal },
          ...(options.ask ? { ask: options.ask } : {}),
        });
        if (!result.ok) return { ok: false, text: `${result.code}: ${result.message}` };
        const data = JSON.stringify(result.data);
        let display: string | undefined;
        try {
          display = tool.render(result.data as never);
        } catch {
          // The JSON says it.
        }
        return { ok: true, text: data.length > RESULT_CHARS ? `${data.slice(0, RESULT_CHARS)}… (${data.length} characters, cut)` : data, ...(display !== undefined ? { display } : {}) };
      },
      context: (request) => this.#context(request),
      record: (decision) => this.#record(text, options.actor, decision),
    });
  }

  /** One tool call through the pipeline (policy, approvals, audit) as `actor`, outside a conversation: what a reflex does. */
  async callTool(name: string, args: unknown, actor: string, signal: AbortSignal = new AbortController().signal): Promise<{ ok: boolean; text: string }> {
    const tool = this.#guard.tools.get(name);
    if (!tool) return { ok: false, text: `EUNKNOWN: no tool ${name}` };
    const { run, ...guard } = this.#guard;
    const result = await run(name, args, { ...guard, actor, context: { runDir: this.#where.runDir, stateDir: this.#where.stateDir, signal } });
    if (!result.ok) return { ok: false, text: `${result.code}: ${result.message}` };
    return { ok: true, text: tool.render(result.data as never) };
  }

  /** Remembers what happened (a reflex that fired); false when there is no memory database. */
  remember(memory: Parameters<MemoryStore['add']>[0]): boolean {
    try {
      this.#memory?.add(memory);
      return this.#memory !== undefined;
    } catch {
      return false;
    }
  }

  /** What the model is told: the machine in a line, and what memory holds about the request's words. */
  #context(request: string): string {
    const lines = [`Machine: ${os.hostname()}, ${os.type()} ${os.release()}, up ${Math.round(os.uptime() / 60)} min, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, ${Math.round(os.freemem() / 2 ** 20)} MiB of ${Math.round(os.totalmem() / 2 ** 20)} MiB memory free.`];
    try {
      const hits = this.#memory?.search(request, { limit: 5 }) ?? [];
      if (hits.length > 0) lines.push('Remembered (newest relevant first):', ...hits.map((h) => `- ${h.createdAt.slice(0, 16)} ${h.type}: ${h.content.slice(0, 200)}`));
    } catch {
      // Memory is a help, not a requirement.
    }
    return lines.join('\n');
  }

  #record(text: string, actor: string, decision: AgentResult): void {
    try {
      this.#memory?.add({
        type: 'routing',
        tier: 'operational',
        source: 'router',
        content: `${decision.tier ?? 'no tier'} ${decision.ok ? 'answered' : 'did not answer'} "${text.slice(0, 100)}": ${decision.reason}`.slice(0, 1000),
        metadata: { actor, tier: decision.tier, wanted: decision.wanted, ok: decision.ok, rounds: decision.rounds, inputTokens: decision.inputTokens, outputTokens: decision.outputTokens, costUsd: decision.costUsd, latencyMs: decision.latencyMs, cached: decision.cached },
      });
    } catch {
      // A full disk must not stop the answer.
    }
  }
}

function specOf(tool: { function: { name: string; description: string; parameters: Record<string, unknown> } }): ToolSpec {
  return { name: tool.function.name, description: tool.function.description, parameters: tool.function.parameters };
}

/** The tools whose name and description share the most words with the request; read-only ones first on a tie. */
function relevant(tools: Tool[], request: string, count: number): Tool[] {
  const words = new Set((request.toLowerCase().match(/[a-z0-9]+/g) ?? []).filter((w) => w.length > 2));
  const score = (tool: Tool): number => {
    const own = new Set(`${tool.name} ${tool.description}`.toLowerCase().match(/[a-z0-9]+/g) ?? []);
    let n = 0;
    for (const w of words) if (own.has(w) || own.has(w.replace(/s$/, ''))) n++;
    return n * 2 + (tool.effects.includes('reads') && tool.effects.length === 1 ? 1 : 0);
  };
  return [...tools].sort((a, b) => score(b) - score(a)).slice(0, count);
}

/** How long the models service may take to answer after init starts it (loading node-llama-cpp under emulation takes a while). */
const SERVICE_START_MS = 120_000;

/**
 * Asks init to start the models service (services/models.toml: not started at boot, so that a
 * machine without models pays nothing for it) and waits until it answers on `listen`.
 */
export async function startModelsService(runDir: string, listen: string, signal?: AbortSignal, deadlineMs = SERVICE_START_MS): Promise<void> {
  const socket = initSocketPath(runDir);
  if (!existsSync(socket)) throw new BackendUnavailable(`the models service is not running, and init is not here to start it (no ${socket}); run \`aios models serve\``);
  try {
    await askInit(socket, { cmd: 'start', name: 'models' }, undefined, undefined, signal);
  } catch (error) {
    if (error instanceof ControlError) throw new BackendUnavailable(`init could not start the models service: ${error.message}`);
    throw error;
  }
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const health = await fetch(`http://${listen}/health`, { signal: signal ?? null }).catch(() => null);
    if (health?.ok) return;
    if (signal?.aborted) throw signal.reason;
    if (Date.now() > deadline) throw new BackendUnavailable(`the models service did not answer within ${deadlineMs / 1000} s of starting; see \`aios logs models\``);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** One start at a time: turns that find the service down together wait for the same start. */
function onDemand(start: (signal?: AbortSignal) => Promise<void>): (signal?: AbortSignal) => Promise<void> {
  let pending: Promise<void> | null = null;
  return (signal) => {
    pending ??= start(signal).finally(() => {
      pending = null;
    });
    return pending;
  };
}
