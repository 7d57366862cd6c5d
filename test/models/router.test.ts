// The router's decision as `aios route --explain` shows it: the reactive tier for a sure rule,
// the tier a task class needs otherwise (or the one asked for), missing tiers skipped upwards,
// then downwards, and none when no tier can; the JSON has exactly the contract's fields.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { explain, explicitTier } from '../../src/models/router.ts';
import { loadRules, RuleSet } from '../../src/models/rules.ts';
import type { MachineTiers, Tier } from '../../src/models/tiers.ts';
import { MAIN } from '../helpers/init-harness.ts';

const RULES_DIR = path.join(import.meta.dirname, '../../rootfs-overlay/etc/aios/rules');
const RULES = loadRules(RULES_DIR);

/** A machine with exactly these model tiers present. */
function machine(...present: Tier[]): MachineTiers {
  const state = (tier: Tier) => (present.includes(tier) || tier === 'reactive' ? { tier, present: true, backend: `${tier}-backend`, missing: null } : { tier, present: false, backend: null, missing: `no ${tier}` });
  return { tiers: { reactive: state('reactive'), operational: state('operational'), tactical: state('tactical'), strategic: state('strategic') }, models: [], keys: [], problems: [] };
}

const ALL = machine('operational', 'tactical', 'strategic');

t.test('a sure rule: the reactive tier, with its call, whatever else is present', async (t) => {
  for (const m of [machine(), ALL]) {
    t.match(explain('restart nginx', { rules: RULES, machine: m }), { tier: 'reactive', wanted: 'reactive', tool: 'service.restart', args: { name: 'nginx' }, reason: /rule service-restart matched/ });
  }
  t.match(explain('tool fs.stat {"path":"/etc"}', { rules: RULES, machine: ALL }), { tier: 'reactive', tool: 'fs.stat', args: { path: '/etc' } });
});

t.test('otherwise the task class picks the tier', async (t) => {
  const cases: [string, Tier, RegExp][] = [
    ['write a bash script that rotates /var/log/app every night', 'strategic', /code needs the strategic tier/],
    ['is this ssh login attempt suspicious', 'strategic', /security analysis/],
    ['plan the migration of the database to the new disk', 'strategic', /planning/],
    ['why does nginx keep crashing', 'tactical', /diagnosis needs the tactical tier/],
    ['set up a nightly backup of /srv', 'tactical', /multi-step work/],
    ['what does the load average mean', 'operational', /no rule matches; a question for the smallest model/],
  ];
  for (const [text, wanted, reason] of cases) {
    t.match(explain(text, { rules: RULES, machine: ALL }), { tier: wanted, wanted, reason, tool: null, args: null }, text);
  }
});

t.test('asking for a tier: @tier in the request, or --tier', async (t) => {
  t.same(explicitTier('@Strategic  restart nginx'), { tier: 'strategic', rest: 'restart nginx' });
  t.equal(explicitTier('email @strategic'), null, 'only at the start');
  t.match(explain('@strategic restart nginx', { rules: RULES, machine: ALL }), { tier: 'strategic', wanted: 'strategic', reason: /asked for the strategic tier/, tool: null });
  t.match(explain('restart nginx', { rules: RULES, machine: ALL, tier: 'tactical' }), { tier: 'tactical', wanted: 'tactical' });
  t.match(explain('@reactive restart nginx', { rules: RULES, machine: ALL }), { tier: 'reactive', tool: 'service.restart' });
  t.match(explain('@reactive why is it slow', { rules: RULES, machine: ALL }), { tier: null, wanted: 'reactive', reason: /no rule answers this/ });
});

t.test('missing tiers: the next one up, else the best one below, else none', async (t) => {
  const code = 'write a python function that parses the audit log';
  const diagnosis = 'why is the disk filling up';
  t.match(explain(diagnosis, { rules: RULES, machine: machine('operational', 'strategic') }), { tier: 'strategic', wanted: 'tactical', reason: /tactical: no tactical: the strategic tier answers/ });
  t.match(explain(code, { rules: RULES, machine: machine('operational', 'tactical') }), { tier: 'tactical', wanted: 'strategic', reason: /strategic: no strategic: the tactical tier, below what is wanted, answers as well as it can/ });
  t.match(explain('what does the load average mean', { rules: RULES, machine: machine('tactical') }), { tier: 'tactical', wanted: 'operational' });
  t.match(explain(code, { rules: RULES, machine: machine() }), { tier: null, wanted: 'strategic', reason: /no model tier is present \(no operational; no tactical; no strategic\)/ });
});

t.test('rules that are unsure or ambiguous: a model judges; without one the prompt asks', async (t) => {
  const rules = RuleSet.fromToml(`
[[rule]]
name = "restart-service"
patterns = ["restart {name}"]
tool = "service.restart"
args = { name = "{name}" }
slots = { name = "name" }
[[rule]]
name = "restart-machine"
patterns = ["restart now", { text = "bounce it", confidence = 0.3 }]
tool = "sys.power"
args = { action = "reboot" }
`);
  t.match(explain('restart now', { rules, machine: ALL }), { tier: 'operational', wanted: 'operational', reason: /the rules match more than one way \(service\.restart \{"name":"now"\} or sys\.power \{"action":"reboot"\}\)/ });
  t.match(explain('restart now', { rules, machine: machine() }), { tier: 'reactive', wanted: 'operational', reason: /no model tier is present, so the prompt asks which was meant/, tool: null });
  t.match(explain('bounce it', { rules, machine: ALL }), { tier: 'operational', reason: /the best rule is unsure \(sys\.power \{"action":"reboot"\}, confidence 0\.3\)/ });
});

t.test('aios route --explain: text, --json with exactly the contract fields, and clear errors', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-route-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'models'));
  const env = { ...process.env, AIOS_RULES_DIR: RULES_DIR, AIOS_STATE_DIR: dir, AIOS_CONFIG: path.join(dir, 'config.toml'), AIOS_SECRETS: path.join(dir, 'secrets.toml'), ANTHROPIC_API_KEY: '', OPENAI_API_KEY: '' };
  const aios = async (...args: string[]) => {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [MAIN, 'route', ...args], { env });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };
  let run = await aios('--explain', '--json', 'restart nginx');
  t.equal(run.code, 0);
  const reactive = JSON.parse(run.stdout) as Record<string, unknown>;
  t.same(Object.keys(reactive), ['tier', 'wanted', 'reason', 'tool', 'args']);
  t.match(reactive, { tier: 'reactive', wanted: 'reactive', tool: 'service.restart', args: { name: 'nginx' } });

  run = await aios('--explain', '--json', 'why does nginx keep crashing');
  t.match(JSON.parse(run.stdout), { tier: null, wanted: 'tactical', tool: null, args: null });

  // A model file appears: the operational tier answers what the tactical one would.
  const head = Buffer.alloc(64);
  head.write('GGUF', 0, 'latin1');
  head.writeUInt32LE(3, 4);
  writeFileSync(path.join(dir, 'models', 'tiny.gguf'), head);
  run = await aios('--explain', 'why does nginx keep crashing');
  t.match(run.stdout, /^tier: {3}operational \(wanted: tactical\)\nreason: .*answers as well as it can .*tiny\.gguf/);

  run = await aios('--explain', '--json', '--tier', 'strategic', 'hello');
  t.match(JSON.parse(run.stdout), { tier: 'operational', wanted: 'strategic' });

  run = await aios('restart nginx');
  t.equal(run.code, 2);
  t.match(run.stderr, /only explains for now: add --explain/);
  run = await aios('--explain');
  t.match(run.stderr, /Say what to route/);
  run = await aios('--explain', '--tier', 'huge', 'x');
  t.match(run.stderr, /--tier huge: not a tier; use one of reactive, operational, tactical, strategic/);

  writeFileSync(path.join(dir, 'rules-broken.toml'), '');
  run = await aios('--explain', 'status');
  t.equal(run.code, 0);
  t.match(run.stdout, /call: {3}sys\.status \{\}/);
});
