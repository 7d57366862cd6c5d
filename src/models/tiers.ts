// Which tiers this machine has now: the reactive tier always; a local tier when a GGUF model
// file is there for it; the strategic tier when an API key for Claude or OpenAI is.
//
// - Models: the *.gguf files in [models] dir (default STATE/models, i.e. /var/lib/aios/models),
//   checked for the GGUF magic. [models] operational / tactical name a file; otherwise files
//   under TACTICAL_FROM_BYTES (1-3B parameters at 8 bits, up to 7B at 4) are operational
//   candidates and the smallest is used, larger ones tactical and the largest is used.
// - Keys: ANTHROPIC_API_KEY / OPENAI_API_KEY, else [anthropic] / [openai] api_key in the
//   secrets file (/etc/aios/secrets.toml, AIOS_SECRETS). A secrets file that anyone but its
//   owner may read or write is refused whole (keys in a world-readable file are not secret).
// - The host share (/run/aios/host: a disk the boot script made from the host's models folder
//   and secrets file, mounted read-only by init) adds its models/*.gguf and secrets.toml; a
//   key or model of the machine's own comes first.
// Nothing here loads a model: a malformed GGUF can abort the process that loads it (FACTS.md),
// so only the models service does.
import { closeSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod/mini';
import { HOST_SHARE_DIR } from '../disks.ts';
import { parseSection, readConfigFile } from '../policy/config.ts';
import { memorySize } from '../supervisor/service-spec.ts';

export const TIERS = ['reactive', 'operational', 'tactical', 'strategic'] as const;
export type Tier = (typeof TIERS)[number];
/** The tiers a model answers in, cheapest first. */
export const MODEL_TIERS = ['operational', 'tactical', 'strategic'] as const;

export const DEFAULT_SECRETS_FILE = '/etc/aios/secrets.toml';
/** A model file at least this large is a tactical one unless the configuration says otherwise. */
export const TACTICAL_FROM_BYTES = 3.5 * 2 ** 30;

/** The [models] section of config.toml: where models are, and how the models service runs them. */
export const modelsSchema = z.strictObject({
  dir: z.optional(z.string().check(z.minLength(1))),
  operational: z.optional(z.string().check(z.minLength(1))),
  tactical: z.optional(z.string().check(z.minLength(1))),
  /** Where the models service listens: loopback only, unless changed here. */
  listen: z._default(z.string().check(z.regex(/^[^\s:]+:\d{1,5}$/, 'listen is HOST:PORT, e.g. 127.0.0.1:8091')), '127.0.0.1:8091'),
  /** The most the loaded model files may add up to (default: memory less 2 GiB). */
  memory_max: z.optional(memorySize),
  idle_seconds: z._default(z.int().check(z.gte(5), z.lte(86_400)), 300),
  threads: z.optional(z.int().check(z.gte(1), z.lte(256))),
  context_size: z._default(z.int().check(z.gte(256), z.lte(131_072)), 4096),
  /** The most tokens one local answer may have (the agent loop's turns, and requests that name none); unset: the loop's own bounds, 512 for others. */
  max_tokens: z.optional(z.int().check(z.gte(1), z.lte(32_768))),
  operational_timeout_seconds: z._default(z.int().check(z.gte(1), z.lte(3600)), 60),
  tactical_timeout_seconds: z._default(z.int().check(z.gte(1), z.lte(3600)), 300),
});
export type ModelsConfig = z.infer<typeof modelsSchema>;

/** Reads [models]; a bad section is an error naming the key (ConfigError). */
export function loadModelsConfig(configFile: string): ModelsConfig {
  return parseSection(modelsSchema, readConfigFile(configFile, { missingOk: true }).models ?? {}, 'models', configFile);
}

const providerSchema = z.looseObject({ api_key: z.optional(z.string().check(z.minLength(1))), base_url: z.optional(z.url()), model: z.optional(z.string()) });
const secretsSchema = z.looseObject({ anthropic: z.optional(providerSchema), openai: z.optional(providerSchema) });

export interface TierState {
  tier: Tier;
  present: boolean;
  /** What answers: a model file, or the cloud provider(s) in the order tried. */
  backend: string | null;
  /** Why it is not present, and what to do about it. */
  missing: string | null;
}

export interface CloudKey {
  provider: 'anthropic' | 'openai';
  apiKey: string;
  baseUrl: string | null;
  model: string | null;
  /** Where the key came from: the variable's name or the file. */
  from: string;
}

export interface MachineTiers {
  tiers: Record<Tier, TierState>;
  /** The model files found, with the tier each serves (null: not used). */
  models: { file: string; bytes: number; tier: 'operational' | 'tactical' | null }[];
  keys: CloudKey[];
  /** Things that were wrong (a refused secrets file, a file that is no GGUF), one line each. */
  problems: string[];
}

export interface DetectOptions {
  configFile: string;
  stateDir: string;
  secretsFile?: string;
  /** Default: AIOS_HOST_SHARE, else /run/aios/host. */
  hostShare?: string;
  env?: NodeJS.ProcessEnv;
}

/** The four-byte magic and the version that every GGUF file starts with. */
export function isGguf(file: string): boolean {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(8);
    if (readSync(fd, head, 0, 8, 0) < 8) return false;
    return head.toString('latin1', 0, 4) === 'GGUF' && [2, 3].includes(head.readUInt32LE(4));
  } finally {
    closeSync(fd);
  }
}

export function detectTiers(options: DetectOptions): MachineTiers {
  const env = options.env ?? process.env;
  const problems: string[] = [];
  let config: Pick<ModelsConfig, 'dir' | 'operational' | 'tactical'> = {};
  try {
    config = loadModelsConfig(options.configFile);
  } catch (error) {
    problems.push(`${(error as Error).message}; the [models] defaults are used`);
  }
  const dir = config.dir ?? path.join(options.stateDir, 'models');
  const hostShare = options.hostShare ?? env.AIOS_HOST_SHARE ?? HOST_SHARE_DIR;
  const models = [...findModels(dir, problems), ...findModels(path.join(hostShare, 'models'), problems)];
  const named = (tier: 'operational' | 'tactical'): void => {
    const file = config[tier];
    if (!file) return;
    const model = models.find((m) => m.file === path.resolve(dir, file));
    if (!model) problems.push(`${options.configFile}: [models] ${tier} = "${file}" is not a GGUF model in ${dir}`);
    else {
      for (const m of models) if (m.tier === tier) m.tier = null;
      model.tier = tier;
    }
  };
  // By size first, then what the configuration names replaces it.
  const small = models.filter((m) => m.bytes < TACTICAL_FROM_BYTES).sort((a, b) => a.bytes - b.bytes);
  const large = models.filter((m) => m.bytes >= TACTICAL_FROM_BYTES).sort((a, b) => b.bytes - a.bytes);
  if (small[0]) small[0].tier = 'operational';
  if (large[0]) large[0].tier = 'tactical';
  named('operational');
  named('tactical');

  const keys = findKeys([options.secretsFile ?? env.AIOS_SECRETS ?? DEFAULT_SECRETS_FILE, path.join(hostShare, 'secrets.toml')], env, problems);
  const local = (tier: 'operational' | 'tactical'): TierState => {
    const model = models.find((m) => m.tier === tier);
    return model
      ? { tier, present: true, backend: model.file, missing: null }
      : { tier, present: false, backend: null, missing: `no ${tier} model (put a GGUF file in ${dir}${tier === 'tactical' ? ` of ${formatGiB(TACTICAL_FROM_BYTES)} or more, or name one in [models] tactical` : ''})` };
  };
  return {
    tiers: {
      reactive: { tier: 'reactive', present: true, backend: 'rules', missing: null },
      operational: local('operational'),
      tactical: local('tactical'),
      strategic:
        keys.length > 0
          ? { tier: 'strategic', present: true, backend: keys.map((k) => k.provider).join(', then '), missing: null }
          : { tier: 'strategic', present: false, backend: null, missing: 'no API key (set ANTHROPIC_API_KEY or OPENAI_API_KEY, or put one in /etc/aios/secrets.toml, mode 600)' },
    },
    models: models.map(({ file, bytes, tier }) => ({ file, bytes, tier })),
    keys,
    problems,
  };
}

function formatGiB(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

function findModels(dir: string, problems: string[]): { file: string; bytes: number; tier: 'operational' | 'tactical' | null }[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.toLowerCase().endsWith('.gguf'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') problems.push(`${dir}: cannot list the models (${(error as Error).message})`);
    return [];
  }
  const models = [];
  for (const name of names.sort()) {
    const file = path.join(dir, name);
    try {
      const stat = statSync(file);
      if (!stat.isFile()) continue;
      if (!isGguf(file)) {
        problems.push(`${file}: not a GGUF model (it does not start with GGUF and version 2 or 3); left out`);
        continue;
      }
      models.push({ file, bytes: stat.size, tier: null });
    } catch (error) {
      problems.push(`${file}: cannot read it (${(error as Error).message}); left out`);
    }
  }
  return models;
}

type Secrets = z.infer<typeof secretsSchema>;

/** A secrets file's providers; {} when it is absent or refused (the reason goes to problems). */
function readSecrets(secretsFile: string, problems: string[]): Secrets {
  try {
    const stat = statSync(secretsFile);
    if ((stat.mode & 0o077) !== 0) {
      problems.push(`${secretsFile} may be read or written by others (mode ${(stat.mode & 0o777).toString(8).padStart(4, '0')}): its keys are not used; chmod 600 ${secretsFile}`);
      return {};
    }
    return parseSection(secretsSchema, readConfigFile(secretsFile), 'secrets', secretsFile);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') problems.push(`${(error as Error).message.replace(/api_key = .*/g, 'api_key = …')}; its keys are not used`);
    return {};
  }
}

/** Per provider: the environment's key, else the first secrets file that has one. */
function findKeys(secretsFiles: string[], env: NodeJS.ProcessEnv, problems: string[]): CloudKey[] {
  const files = secretsFiles.map((file) => ({ file, secrets: readSecrets(file, problems) }));
  const keys: CloudKey[] = [];
  for (const provider of ['anthropic', 'openai'] as const) {
    const variable = provider === 'anthropic' ? 'ANTHROPIC_API_KEY' : 'OPENAI_API_KEY';
    const fromEnv = env[variable];
    // With the key in the environment, a file may still give the provider's base_url and model.
    const fromFile = files.find((f) => (fromEnv ? f.secrets[provider] : f.secrets[provider]?.api_key));
    const section = fromFile?.secrets[provider];
    const apiKey = fromEnv || section?.api_key;
    if (!apiKey) continue;
    const baseVariable = provider === 'anthropic' ? 'ANTHROPIC_BASE_URL' : 'OPENAI_BASE_URL';
    keys.push({ provider, apiKey, baseUrl: env[baseVariable] || section?.base_url || null, model: section?.model ?? null, from: fromEnv ? variable : fromFile!.file });
  }
  return keys;
}
