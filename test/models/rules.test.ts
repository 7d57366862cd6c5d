// The reactive rules as data: the pattern syntax and typed slots, files read in name order with
// later rules replacing earlier ones by name, ambiguity and low confidence reported instead of
// guessed, and bad rules left out with a message naming the file, the rule and the problem.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { decide } from '../../src/models/reactive.ts';
import { loadRules, RuleSet, type Matched } from '../../src/models/rules.ts';

process.env.TZ = 'UTC';
const NOW = new Date('2026-03-04T15:30:00Z');

const rule = (fields: string): string => `[[rule]]\n${fields}\n`;
const calls = (matched: Matched): unknown => (matched.kind === 'match' ? { tool: matched.match.tool, args: matched.match.args } : matched.kind);

t.test('pattern syntax: optional words, alternatives, slots of each type', async (t) => {
  const rules = RuleSet.fromToml(
    rule(`name = "logs"
patterns = ["[show] [the] (log|logs) [(of|for)] {name} [{lines}]"]
tool = "service.logs"
args = { name = "{name}", lines = "{lines}" }
slots = { name = "name", lines = "number" }`) +
      rule(`name = "read"
patterns = ["(read|cat) {path}", "what is in {path}"]
tool = "fs.read"
args = { path = "{path}", note = "read {path} for you" }
slots = { path = "path" }`) +
      rule(`name = "search"
patterns = ["search memory for {words} [{when}]"]
tool = "memory.search"
args = { query = "{words}", since = "{when.since}", until = "{when.until}" }
slots = { words = "text", when = "time" }`) +
      rule(`name = "signal"
patterns = ["send {signal} to {pid}"]
tool = "process.signal"
args = { pid = "{pid}", signal = "{signal}", list = ["{pid}", "x"] }
[rule.slots]
pid = "number"
signal = { hangup = "SIGHUP", hup = "SIGHUP", kill = "SIGKILL" }`),
  );
  t.same(rules.problems, []);
  t.same(calls(rules.match('logs nginx', NOW)), { tool: 'service.logs', args: { name: 'nginx' } }, 'an empty slot leaves its argument out');
  t.same(calls(rules.match('Show the LOG of Nginx 30', NOW)), { tool: 'service.logs', args: { name: 'nginx', lines: 30 } }, 'case, a number slot is a number');
  t.same(calls(rules.match('  show   logs for sshd?? ', NOW)), { tool: 'service.logs', args: { name: 'sshd' } }, 'spaces and trailing ? do not count');
  t.equal(rules.match('show the the logs nginx', NOW).kind, 'none');
  t.equal(rules.match('logsnginx', NOW).kind, 'none', 'words are whole words');
  t.same(calls(rules.match('cat /etc/hostname', NOW)), { tool: 'fs.read', args: { path: '/etc/hostname', note: 'read /etc/hostname for you' } });
  t.equal(rules.match('cat etc/hostname', NOW).kind, 'none', 'a path slot takes an absolute path only');
  t.same(calls(rules.match('search memory for nginx crashed yesterday', NOW)), {
    tool: 'memory.search',
    args: { query: 'nginx crashed', since: '2026-03-03T00:00:00.000Z', until: '2026-03-04T00:00:00.000Z' },
  });
  t.same(calls(rules.match('search memory for nginx crashed', NOW)), { tool: 'memory.search', args: { query: 'nginx crashed' } }, 'words that are no time stay in the text');
  t.same(calls(rules.match('search memory for disk full in the last 3 days', NOW)), { tool: 'memory.search', args: { query: 'disk full', since: '2026-03-01T15:30:00.000Z' } });
  t.same(calls(rules.match('send HUP to 42', NOW)), { tool: 'process.signal', args: { pid: 42, signal: 'SIGHUP', list: [42, 'x'] } }, 'choices map words to values; templates fill arrays');
  t.equal(rules.match('send term to 42', NOW).kind, 'none', 'a word that is not a choice does not match');
});

t.test('a time it does not know: the rule says which times it knows', async (t) => {
  const rules = RuleSet.fromToml(
    rule(`name = "happened"
patterns = ["what happened [{when}]"]
tool = "memory.search"
args = { since = "{when.since}" }
slots = { when = "time" }`),
  );
  t.same(calls(rules.match('what happened today', NOW)), { tool: 'memory.search', args: { since: '2026-03-04T00:00:00.000Z' } });
  t.match(rules.match('what happened to nginx', NOW), { kind: 'invalid', message: /I don't know the time "to nginx"; try today, yesterday/ }, 'where the time goes, what is there is said to be no time');
  t.match(rules.match('what happened last fortnight', NOW), { kind: 'invalid', message: /"last fortnight"/ }, 'the shape of a time that is none');
});

t.test('confidence: close matches making different calls are asked about; a weak one is not run', async (t) => {
  const rules = RuleSet.fromToml(
    rule(`name = "restart-service"
patterns = ["restart {name}"]
tool = "service.restart"
args = { name = "{name}" }
slots = { name = "name" }
confidence = 0.85`) +
      rule(`name = "restart-machine"
patterns = ["restart (now|machine)"]
tool = "sys.power"
args = { action = "reboot" }
confidence = 0.9`) +
      rule(`name = "stop"
patterns = ["stop {name}", { text = "kill {name}", confidence = 0.4 }]
tool = "service.stop"
args = { name = "{name}" }
slots = { name = "name" }`) +
      rule(`name = "same-call"
patterns = ["halt {name}"]
tool = "service.stop"
args = { name = "{name}" }
slots = { name = "name" }`),
  );
  const both = rules.match('restart now', NOW);
  t.equal(both.kind, 'ambiguous', '"restart now": the service called now, or the machine?');
  t.same(both.kind === 'ambiguous' ? both.matches.map((m) => m.tool) : [], ['sys.power', 'service.restart'], 'best first');
  t.same(calls(rules.match('restart nginx', NOW)), { tool: 'service.restart', args: { name: 'nginx' } });
  const weak = decide('kill nginx', rules, NOW);
  t.match(weak, { kind: 'unsure', match: { tool: 'service.stop', confidence: 0.4 } }, 'a per-pattern confidence below CONFIDENT is not run');
  t.match(decide('stop nginx', rules, NOW), { kind: 'call', name: 'service.stop', args: { name: 'nginx' } });
});

t.test('the word index: rules starting with a slot or an optional word are found', async (t) => {
  const rules = RuleSet.fromToml(
    rule(`name = "slot-first"
patterns = ["{name} status"]
tool = "service.status"
args = { name = "{name}" }
slots = { name = "name" }`) +
      rule(`name = "optional-first"
patterns = ["[please] (reload|refresh) {name}"]
tool = "service.reload"
args = { name = "{name}" }
slots = { name = "name" }`),
  );
  t.same(calls(rules.match('nginx status', NOW)), { tool: 'service.status', args: { name: 'nginx' } });
  t.same(calls(rules.match('please reload nginx', NOW)), { tool: 'service.reload', args: { name: 'nginx' } });
  t.same(calls(rules.match('refresh nginx', NOW)), { tool: 'service.reload', args: { name: 'nginx' } });
  t.same(rules.firstWords().sort(), ['please', 'refresh', 'reload']);
});

t.test('the word index never changes an answer: the shipped rules, indexed and not, on many lines', async (t) => {
  const text = readFileSync(path.join(import.meta.dirname, '../../rootfs-overlay/etc/aios/rules/10-system.toml'), 'utf8');
  const indexed = RuleSet.fromToml(text);
  const every = RuleSet.fromToml(text, 'rules', { index: false });
  const words = ['restart', 'the', 'nginx', 'service', 'is', 'sshd', 'running', 'show', 'failed', 'services', 'logs', 'of', '50', 'what', 'did', 'i', 'install', 'yesterday', 'changed', 'in', '/etc', 'this', 'week', 'free', 'memory', "what's", 'using', 'disk', 'status', 'when', 'last', 'crash', 'happened', 'today', 'take', 'a', 'snapshot'];
  let answered = 0;
  // Every line of up to three of these words, and the shipped rules' own examples.
  const lines = [...words.flatMap((a) => words.flatMap((b) => [`${a} ${b}`, ...words.slice(0, 12).map((c) => `${a} ${b} ${c}`)])), 'what did I install yesterday', 'what changed in /etc this week', 'when did the nginx service last crash'];
  for (const line of lines) {
    const a = indexed.match(line, NOW);
    const b = every.match(line, NOW);
    if (JSON.stringify(a) !== JSON.stringify(b)) {
      t.fail(`${line}: ${JSON.stringify(a)} against ${JSON.stringify(b)}`);
      return;
    }
    if (a.kind === 'match') answered++;
  }
  t.ok(answered > 100, `${answered} of ${lines.length} lines answered the same way`);
});

t.test('files: name order, a later rule replaces one of the same name, disabled switches it off', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, '10-system.toml'), rule('name = "a"\npatterns = ["alpha"]\ntool = "sys.status"') + rule('name = "b"\npatterns = ["beta"]\ntool = "sys.uptime"'));
  writeFileSync(path.join(dir, '50-local.toml'), rule('name = "a"\npatterns = ["alpha", "first"]\ntool = "sys.memory"') + rule('name = "b"\npatterns = ["beta"]\ntool = "sys.uptime"\ndisabled = true'));
  writeFileSync(path.join(dir, 'notes.txt'), 'not rules');
  const rules = loadRules(dir);
  t.same(rules.problems, []);
  t.same(calls(rules.match('alpha', NOW)), { tool: 'sys.memory', args: {} }, 'the local file wins');
  t.same(calls(rules.match('first', NOW)), { tool: 'sys.memory', args: {} });
  t.equal(rules.match('beta', NOW).kind, 'none', 'disabled');
  t.same(rules.rules.map((r) => r.name), ['a']);
});

t.test('bad rules are left out with a message naming file, rule and problem; the rest load', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, '10-good.toml'), rule('name = "good"\npatterns = ["good"]\ntool = "sys.status"'));
  writeFileSync(path.join(dir, '20-broken.toml'), '[[rule]\nname = "x"');
  writeFileSync(
    path.join(dir, '30-bad.toml'),
    [
      rule('name = "no-type"\npatterns = ["restart {nme}"]\ntool = "service.restart"'),
      rule('name = "unclosed"\npatterns = ["restart [the {name}"]\ntool = "service.restart"\nslots = { name = "name" }'),
      rule('name = "bad-tool"\npatterns = ["x"]\ntool = "restart"'),
      rule('name = "bad-slot-type"\npatterns = ["x {n}"]\ntool = "sys.status"\nslots = { n = "colour" }'),
      rule('name = "args-slot"\npatterns = ["x"]\ntool = "sys.status"\nargs = { name = "{name}" }'),
      rule('name = "typo"\npattern = ["x"]\ntool = "sys.status"'),
      rule('name = "fine"\npatterns = ["fine"]\ntool = "sys.uptime"'),
    ].join(''),
  );
  writeFileSync(path.join(dir, '40-shape.toml'), 'rule = "x"\n');
  const rules = loadRules(dir);
  t.same(rules.rules.map((r) => r.name), ['good', 'fine'], 'the good rules of every file load');
  const problems = rules.problems.join('\n');
  t.match(problems, /20-broken\.toml: not valid TOML .*; its rules are left out/);
  t.match(problems, /30-bad\.toml: rule\[0\] "no-type": patterns\[0\] "restart \{nme\}": the slot \{nme\} has no type/);
  t.match(problems, /rule\[1\] "unclosed": patterns\[0\] "restart \[the \{name\}": a \[ is not closed/);
  t.match(problems, /rule\[2\] "bad-tool": tool: a tool name is like service\.restart, got "restart"/);
  t.match(problems, /rule\[3\] "bad-slot-type": slots\.n: .*got "colour"/);
  t.match(problems, /rule\[4\] "args-slot": args use \{name\}, which is not a slot of this rule/);
  t.match(problems, /rule\[5\] "typo": .*pattern/);
  t.match(problems, /40-shape\.toml: rule: .*\(a rules file holds \[\[rule\]\] and \[\[reflex\]\] tables only\)/);
  t.equal(rules.problems.length, 8);
  const missing = loadRules(path.join(dir, 'nope'));
  t.match(missing.problems, [/nope: cannot read the rules directory \(ENOENT\); the reactive tier has no rules/]);
});

t.test('politeness around a request does not count; a misspelt rule word is read as that word, less surely', async (t) => {
  const rules = RuleSet.fromToml(
    rule(`name = "restart"
patterns = ["restart [the] {name} [service]"]
tool = "service.restart"
args = { name = "{name}" }
slots = { name = "name" }`) +
      rule(`name = "status"
patterns = ["status [of] {name}", "statue"]
tool = "service.status"
args = { name = "{name}" }
slots = { name = "name" }`),
  );
  for (const line of ['could you please restart nginx?', 'Please restart the nginx service', 'hey, can you restart nginx please', 'restart nginx, thanks', 'i want you to restart nginx']) {
    t.same(calls(rules.match(line, NOW)), { tool: 'service.restart', args: { name: 'nginx' } }, line);
  }
  const typo = rules.match('restrat nginx', NOW);
  t.match(typo, { kind: 'match', match: { tool: 'service.restart', args: { name: 'nginx' }, confidence: 0.72, corrected: 'restart nginx' } }, 'a swap of two letters');
  t.match(rules.match('stauts of sshd', NOW), { kind: 'match', match: { tool: 'service.status', args: { name: 'sshd' }, corrected: 'status of sshd' } });
  t.equal(rules.match('statu of sshd', NOW).kind, 'none', 'one edit from two rule words (status, statue): no guess');
  t.equal(rules.match('rstrt nginx', NOW).kind, 'none', 'two edits: not corrected');
  t.same(calls(rules.match('restart restrat', NOW)), { tool: 'service.restart', args: { name: 'restrat' } }, 'a line that matches as typed is not corrected');
});
