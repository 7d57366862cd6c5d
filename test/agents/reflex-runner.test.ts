// Reflexes acting: through the maintenance service (`aios maintain --once`) for real, with the
// tool call in the audit log as agent:reflex/NAME and the firing remembered, not again within
// the cooldown (kept across restarts in STATE/reflexes.json); and with a model, the goal handed
// to the agent loop as that actor: scripted, and a generated model behind the models service.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import t from 'tap';
import { runReflexes } from '../../src/agents/reflex-runner.ts';
import type { AgentRuntime } from '../../src/agents/runtime.ts';
import { MemoryStore } from '../../src/memory/store.ts';
import { TINY_LLAMA, writeLlamaModel } from '../../src/models/gguf.ts';

const ENTRY = path.resolve(import.meta.dirname, '../../src/entry.ts');

function environment(m: ReturnType<typeof machine>): NodeJS.ProcessEnv {
  return { ...process.env, AIOS_RULES_DIR: m.rules, AIOS_RUN_DIR: m.runDir, AIOS_SECRETS: path.join(m.dir, 'none.toml'), AIOS_HOST_SHARE: path.join(m.dir, 'no-share'), ANTHROPIC_API_KEY: '', OPENAI_API_KEY: '' };
}

function machine(reflexes: string) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-reflex-run-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const rules = path.join(dir, 'rules');
  const stateDir = path.join(dir, 'state');
  mkdirSync(rules);
  mkdirSync(stateDir);
  writeFileSync(path.join(rules, '50-reflexes.toml'), reflexes);
  const configFile = path.join(dir, 'config.toml');
  writeFileSync(configFile, '[snapshots]\ninterval_minutes = 0\n');
  return { dir, rules, stateDir, configFile, runDir: path.join(dir, 'run') };
}

t.test('aios maintain: a reflex past its threshold acts through the pipeline, is remembered, and waits out its cooldown', async (t) => {
  const m = machine('[[reflex]]\nname = "busy-memory"\nreading = "memory.used_percent"\nabove = 0\ngoal = "memory is {value} % used"\ntool = "sys.memory"\nbuiltin = "free-space"\n');
  const run = () => spawnSync(process.execPath, [ENTRY, 'maintain', '--once', '--json', '--state', m.stateDir, '--config', m.configFile], { encoding: 'utf8', env: environment(m) });
  const first = run();
  t.equal(first.status, 0, first.stderr);
  const fired = first.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => 'reflex' in l);
  t.match(fired, [{ reflex: 'busy-memory', subject: 'machine', value: Number, did: [/^no model tier here for the goal/, 'sys.memory: ok', /^free-space: removed 0 automatic snapshots \(keeping 12\); memory retention/] }]);

  const audit = new Database(path.join(m.stateDir, 'audit.db'), { readonly: true });
  t.teardown(() => audit.close());
  t.match(audit.prepare("SELECT actor, tool FROM audit WHERE tool = 'sys.memory'").all(), [{ actor: 'agent:reflex/busy-memory', tool: 'sys.memory' }], 'the call is audited as the reflex');
  const memory = MemoryStore.open(MemoryStore.pathIn(m.stateDir));
  t.teardown(() => memory.close());
  t.match(memory.search('reflex', { type: 'system' }), [{ source: 'reflex', content: /^reflex busy-memory: memory\.used_percent of machine is [\d.]+ \(over 0\); no model tier/, metadata: { reflex: 'busy-memory' } }]);

  const second = run();
  t.equal(second.status, 0, second.stderr);
  t.notMatch(second.stdout, /"reflex"/, 'within the cooldown (an hour by default) it does not fire again, even from a new process');
});

t.test('with a model tier, the goal goes to the agent loop as agent:reflex/NAME', async (t) => {
  const m = machine('[[reflex]]\nname = "full"\nreading = "disk.used_percent"\nabove = 90\ngoal = "{subject} is {value} % full"\n');
  const asked: { text: string; actor: string }[] = [];
  const remembered: string[] = [];
  const runtime = {
    hasModel: true,
    handle: async (text: string, options: { actor: string }) => {
      asked.push({ text, actor: options.actor });
      return { ok: true, tier: 'operational', answer: 'removed /var/log/old.log' };
    },
    callTool: async () => ({ ok: true, text: '' }),
    remember: (memory: { content: string }) => remembered.push(memory.content) > 0,
    close: () => {},
  } as unknown as AgentRuntime;
  process.env.AIOS_RULES_DIR = m.rules;
  t.teardown(() => delete process.env.AIOS_RULES_DIR);
  const round = await runReflexes(
    { stateDir: m.stateDir, runDir: m.runDir, configFile: m.configFile },
    { readings: [{ name: 'disk.used_percent', subject: '/srv', value: 93.26 }, { name: 'disk.used_percent', subject: '/', value: 40 }], open: async () => runtime, freeSpace: async () => 'nothing' },
  );
  t.same(asked, [{ text: '/srv is 93.3 % full', actor: 'agent:reflex/full' }]);
  t.match(round.fired, [{ reflex: 'full', subject: '/srv', did: ['operational acted: removed /var/log/old.log'] }]);
  t.match(remembered, [/^reflex full: disk\.used_percent of \/srv is 93\.3 \(over 90\); operational acted/]);
});

t.test('aios maintain with a generated model: the goal goes through the models service, and the decision is the reflex\'s', async (t) => {
  // No rule answers this goal, so it is the model's.
  const m = machine('[[reflex]]\nname = "busy"\nreading = "memory.used_percent"\nabove = 0\ngoal = "{value} percent in use: look into it and say why"\n');
  mkdirSync(path.join(m.stateDir, 'models'));
  writeLlamaModel(path.join(m.stateDir, 'models', 'tiny.gguf'), TINY_LLAMA);
  const models = '[models]\nthreads = 1\ncontext_size = 2048\nmax_tokens = 16\n';
  writeFileSync(path.join(m.dir, 'serve.toml'), models);
  const service = spawn(process.execPath, [ENTRY, 'models', 'serve', '--listen', '127.0.0.1:0', '--state', m.stateDir, '--config', path.join(m.dir, 'serve.toml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => service.kill('SIGKILL'));
  let output = '';
  service.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const listen = await new Promise<string>((resolve, reject) => {
    service.stdout.on('data', (d: Buffer) => {
      output += d.toString();
      const found = /listening on http:\/\/([\d.:]+)/.exec(output);
      if (found) resolve(found[1]!);
    });
    service.on('exit', (code) => reject(new Error(`the models service exited ${code}: ${output}`)));
  });
  writeFileSync(m.configFile, `[snapshots]\ninterval_minutes = 0\n${models}listen = "${listen}"\n[router]\nlocal_tools = 2\n`);

  const { stdout } = await promisify(execFile)(process.execPath, [ENTRY, 'maintain', '--once', '--json', '--state', m.stateDir, '--config', m.configFile], { encoding: 'utf8', env: environment(m) });
  const fired = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => 'reflex' in l);
  // A random model's words are nonsense; what it produced went through the loop either way.
  t.match(fired, [{ reflex: 'busy', subject: 'machine', did: [/^operational (acted|could not act): /] }], 'the operational tier took the goal');

  const memory = MemoryStore.open(MemoryStore.pathIn(m.stateDir));
  t.teardown(() => memory.close());
  t.match(memory.search('', { type: 'routing' }), [{ content: /^operational .* percent in use: look into it/, metadata: { actor: 'agent:reflex/busy', tier: 'operational' } }], 'the decision is remembered as the reflex\'s');
  t.match(memory.search('reflex', { type: 'system' }), [{ content: /^reflex busy: .*operational (acted|could not act)/ }]);
  const audit = new Database(path.join(m.stateDir, 'audit.db'), { readonly: true });
  t.teardown(() => audit.close());
  for (const row of audit.prepare('SELECT actor, tool FROM audit').all() as { actor: string; tool: string }[]) {
    t.equal(row.actor, 'agent:reflex/busy', `the model's call of ${row.tool} is audited as the reflex`);
  }
});
