// `aios models`: what the tiers are here (the model files and the keys found), and `aios models
// serve`, the models service itself: the local models behind an OpenAI-compatible endpoint on
// loopback (src/models/models-server.ts), run by PID 1 as a supervised service so that a
// llama.cpp crash takes only this process down.
import os from 'node:os';
import path from 'node:path';
import { UsageError, type Command } from './command.ts';

export const modelsCommand: Command = {
  name: 'models',
  summary: 'The tiers and model files here; `serve` runs the models service (OpenAI-compatible, loopback).',
  usage: 'aios models [--json] | aios models serve [--listen HOST:PORT] [--state DIR] [--config FILE]',
  help: `Without a subcommand: each tier, whether it is present and what answers in it (a GGUF file, a
cloud provider), the model files found and the problems met (a secrets file others can read, a
file that is no GGUF).

serve: the models service. Loads a model when it is first asked for, unloads it after
[models] idle_seconds (300), keeps the loaded files under [models] memory_max (memory less
2 GiB), and answers on [models] listen (127.0.0.1:8091):
  GET /v1/models, POST /v1/chat/completions (stream, tools), POST /v1/embeddings, GET /health
"model" is a model's file name without .gguf, a tier (operational, tactical) or "local".

Options:
  --json         the tiers as JSON: { tiers, models, problems } (keys are never shown)
  --listen H:P   where serve listens (default [models] listen)
  --state DIR    the state directory; models are in DIR/models unless [models] dir says
                 otherwise (default $AIOS_STATE_DIR or /var/lib/aios)
  --config FILE  the configuration (default $AIOS_CONFIG or /etc/aios/config.toml)

Examples:
  aios models
  aios models serve --listen 127.0.0.1:8091
  curl -s 127.0.0.1:8091/v1/chat/completions -d '{"model":"local","messages":[{"role":"user","content":"hi"}]}'`,
  options: { json: { type: 'boolean' }, listen: { type: 'string' }, state: { type: 'string' }, config: { type: 'string' } },
  async run(args) {
    const [sub, ...rest] = args.positionals;
    if (rest.length > 0 || (sub !== undefined && sub !== 'serve' && sub !== 'list')) throw new UsageError(`Unknown: aios models ${args.positionals.join(' ')}\nUsage: ${modelsCommand.usage}`);
    const [{ locations }, { detectTiers, loadModelsConfig, TIERS }] = await Promise.all([import('../../policy/setup.ts'), import('../../models/tiers.ts')]);
    const where = locations({ state: args.values.state, config: args.values.config });
    if (sub !== 'serve') {
      const found = detectTiers({ configFile: where.configFile, stateDir: where.stateDir });
      if (args.values.json) {
        const { keys, ...shown } = found;
        process.stdout.write(`${JSON.stringify({ ...shown, keys: keys.map((k) => ({ provider: k.provider, from: k.from, baseUrl: k.baseUrl, model: k.model })) }, null, 2)}\n`);
        return 0;
      }
      for (const tier of TIERS) {
        const state = found.tiers[tier];
        process.stdout.write(`${tier.padEnd(12)} ${state.present ? `present: ${state.backend}` : `absent: ${state.missing}`}\n`);
      }
      for (const m of found.models) process.stdout.write(`model ${m.file} (${(m.bytes / 2 ** 30).toFixed(2)} GiB) ${m.tier ? `serves ${m.tier}` : 'unused'}\n`);
      for (const p of found.problems) process.stdout.write(`problem: ${p}\n`);
      return 0;
    }
    const config = loadModelsConfig(where.configFile);
    const listen = (args.values.listen as string | undefined) ?? config.listen;
    const match = /^([^\s:]+):(\d{1,5})$/.exec(listen);
    if (!match) throw new UsageError(`--listen ${listen}: expected HOST:PORT, e.g. 127.0.0.1:8091`);
    const { LlamaHost, defaultMemoryMax, createModelsServer } = await (await import('../../agents/load.ts')).loadAgentModules();
    const host = await LlamaHost.start({
      memoryMaxBytes: typeof config.memory_max === 'number' ? config.memory_max : config.memory_max === 'max' ? os.totalmem() : defaultMemoryMax(),
      idleMs: config.idle_seconds * 1000,
      threads: config.threads ?? Math.max(1, os.availableParallelism()),
      contextSize: config.context_size,
    });
    const app = await createModelsServer({
      host,
      configFile: where.configFile,
      stateDir: where.stateDir,
      timeoutMs: { operational: config.operational_timeout_seconds * 1000, tactical: config.tactical_timeout_seconds * 1000 },
      defaultMaxTokens: config.max_tokens ?? 512,
    });
    const address = await app.listen({ host: match[1]!, port: Number(match[2]) });
    process.stdout.write(`aios models: listening on ${address} (models in ${config.dir ?? path.join(where.stateDir, 'models')})\n`);
    await new Promise<void>((resolve) => {
      for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => resolve());
    });
    await app.close();
    await host.close();
    return 0;
  },
};
