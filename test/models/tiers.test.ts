// Which tiers a machine has: GGUF files by magic and size (or as configured), keys from the
// environment or a secrets file that only its owner can read.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { detectTiers, TACTICAL_FROM_BYTES } from '../../src/models/tiers.ts';

function machine(t: Test): { dir: string; models: string; config: string; secrets: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-tiers-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const models = path.join(dir, 'state', 'models');
  mkdirSync(models, { recursive: true });
  return { dir, models, config: path.join(dir, 'config.toml'), secrets: path.join(dir, 'secrets.toml') };
}

/** A file that starts like a GGUF (magic, version 3) and has `bytes` (sparse). */
function gguf(file: string, bytes: number): void {
  const head = Buffer.alloc(8);
  head.write('GGUF', 0, 'latin1');
  head.writeUInt32LE(3, 4);
  writeFileSync(file, head);
  truncateSync(file, bytes);
}

const detect = (m: ReturnType<typeof machine>, env: NodeJS.ProcessEnv = {}) =>
  detectTiers({ configFile: m.config, stateDir: path.join(m.dir, 'state'), secretsFile: m.secrets, hostShare: path.join(m.dir, 'host'), env });

t.test('nothing here: only the reactive tier, and each missing tier says what to do', async (t) => {
  const m = machine(t);
  const found = detect(m);
  t.same(
    Object.values(found.tiers).map((s) => [s.tier, s.present]),
    [
      ['reactive', true],
      ['operational', false],
      ['tactical', false],
      ['strategic', false],
    ],
  );
  t.match(found.tiers.operational.missing, /put a GGUF file in .*state\/models/);
  t.match(found.tiers.strategic.missing, /ANTHROPIC_API_KEY or OPENAI_API_KEY.*secrets\.toml, mode 600/);
  t.same(found.problems, []);
});

t.test('models: by size unless configured; a file that is no GGUF is left out and named', async (t) => {
  const m = machine(t);
  gguf(path.join(m.models, 'small.gguf'), 1_100_000_000);
  gguf(path.join(m.models, 'smaller.gguf'), 600_000_000);
  gguf(path.join(m.models, 'big.gguf'), TACTICAL_FROM_BYTES + 300_000_000);
  writeFileSync(path.join(m.models, 'broken.gguf'), 'not a model');
  writeFileSync(path.join(m.models, 'readme.txt'), 'ignored');
  let found = detect(m);
  t.equal(found.tiers.operational.backend, path.join(m.models, 'smaller.gguf'), 'the smallest small model is operational');
  t.equal(found.tiers.tactical.backend, path.join(m.models, 'big.gguf'), 'a large one is tactical');
  t.match(found.problems, [/broken\.gguf: not a GGUF model/]);
  t.equal(found.models.length, 3);

  writeFileSync(m.config, '[models]\noperational = "small.gguf"\ntactical = "smaller.gguf"\n');
  found = detect(m);
  t.equal(found.tiers.operational.backend, path.join(m.models, 'small.gguf'), 'configured');
  t.equal(found.tiers.tactical.backend, path.join(m.models, 'smaller.gguf'));
  t.equal(found.models.find((x) => x.file.endsWith('big.gguf'))!.tier, null, 'the one configured away serves no tier');

  writeFileSync(m.config, '[models]\ntactical = "gone.gguf"\ncolour = 1\n');
  found = detect(m);
  t.match(found.problems.join('\n'), /\[models\.colour\]|colour/, 'a bad [models] section is named, and the defaults are used');
  writeFileSync(m.config, '[models]\ntactical = "gone.gguf"\n');
  t.match(detect(m).problems.join('\n'), /tactical = "gone\.gguf" is not a GGUF model in/);

  const elsewhere = path.join(m.dir, 'elsewhere');
  mkdirSync(elsewhere);
  gguf(path.join(elsewhere, 'x.gguf'), 1000);
  writeFileSync(m.config, `[models]\ndir = "${elsewhere}"\n`);
  t.equal(detect(m).tiers.operational.backend, path.join(elsewhere, 'x.gguf'), '[models] dir');
});

t.test('keys: the environment, or a secrets file nobody else can read', async (t) => {
  const m = machine(t);
  writeFileSync(m.secrets, '[anthropic]\napi_key = "sk-ant-file"\n[openai]\napi_key = "sk-openai-file"\nbase_url = "http://127.0.0.1:9/v1"\n');
  chmodSync(m.secrets, 0o644);
  let found = detect(m);
  t.equal(found.tiers.strategic.present, false, 'a world-readable secrets file is refused whole');
  t.match(found.problems, [/secrets\.toml may be read or written by others \(mode 0644\): its keys are not used; chmod 600/]);
  t.notMatch(JSON.stringify(found), /sk-ant-file/, 'and its keys appear nowhere');

  chmodSync(m.secrets, 0o600);
  found = detect(m);
  t.equal(found.tiers.strategic.backend, 'anthropic, then openai', 'Claude first, OpenAI as the fallback');
  t.match(found.keys, [
    { provider: 'anthropic', apiKey: 'sk-ant-file', from: m.secrets },
    { provider: 'openai', apiKey: 'sk-openai-file', baseUrl: 'http://127.0.0.1:9/v1' },
  ]);

  found = detect(m, { ANTHROPIC_API_KEY: 'sk-ant-env' });
  t.match(found.keys[0], { provider: 'anthropic', apiKey: 'sk-ant-env', from: 'ANTHROPIC_API_KEY' }, 'the environment wins');

  rmSync(m.secrets);
  found = detect(m, { OPENAI_API_KEY: 'sk-env' });
  t.match(found.keys, [{ provider: 'openai', apiKey: 'sk-env' }]);
  t.equal(found.tiers.strategic.backend, 'openai');

  writeFileSync(m.secrets, '[anthropic]\napi_key = "sk-ant-file"\nbase_url = "not a url"\n', { mode: 0o600 });
  found = detect(m);
  t.equal(found.tiers.strategic.present, false);
  t.match(found.problems, [/secrets\.toml: \[secrets\.anthropic\.base_url\].*; its keys are not used/]);
  t.notMatch(found.problems.join(''), /sk-ant-file/, 'a problem never shows a key');
});

t.test('the host share (qemu/boot.ts --models, --secrets) adds its models and keys; the machine\'s own come first', async (t) => {
  const m = machine(t);
  const share = path.join(m.dir, 'host');
  mkdirSync(path.join(share, 'models'), { recursive: true });
  gguf(path.join(share, 'models', 'shared.gguf'), 700_000_000);
  writeFileSync(path.join(share, 'secrets.toml'), '[openai]\napi_key = "sk-shared"\n', { mode: 0o600 });
  let found = detect(m);
  t.equal(found.tiers.operational.backend, path.join(share, 'models', 'shared.gguf'), 'a shared model serves');
  t.match(found.keys, [{ provider: 'openai', apiKey: 'sk-shared', from: path.join(share, 'secrets.toml') }]);

  gguf(path.join(m.models, 'own.gguf'), 500_000_000);
  writeFileSync(m.secrets, '[openai]\napi_key = "sk-own"\n[anthropic]\nmodel = "claude-x"\n', { mode: 0o600 });
  found = detect(m);
  t.equal(found.tiers.operational.backend, path.join(m.models, 'own.gguf'), 'the smaller model is operational, wherever it is');
  t.match(found.keys, [{ provider: 'openai', apiKey: 'sk-own', from: m.secrets }], 'the machine\'s own secrets file comes first');

  found = detect(m, { ANTHROPIC_API_KEY: 'sk-ant-env' });
  t.match(found.keys[0], { provider: 'anthropic', apiKey: 'sk-ant-env', model: 'claude-x' }, 'a key from the environment keeps the file\'s model');

  chmodSync(path.join(share, 'secrets.toml'), 0o644);
  rmSync(m.secrets);
  found = detect(m);
  t.same(found.keys, [], 'a shared secrets file others may read is refused like any other');
  t.match(found.problems, [/host\/secrets\.toml may be read or written by others/]);
});
