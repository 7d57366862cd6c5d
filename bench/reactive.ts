// The reactive tier's decision latency with 1,000 rules (goal: p99 under 100 µs): the rules the
// image ships plus generated ones shaped like them (a verb or two, optional words, slots), and
// lines of three kinds: ones the shipped rules answer, ones the generated rules answer, and ones
// no rule answers (those then go to a model). The anchor is the same rules without the
// first-word index: every pattern tried on every line.
//
//   node bench/reactive.ts [--rules 1000] [--lines 20000]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { decide } from '../src/models/reactive.ts';
import { RuleSet } from '../src/models/rules.ts';
import { machine, percentile, print, round } from './lib.ts';

const { values } = parseArgs({ options: { rules: { type: 'string', default: '1000' }, lines: { type: 'string', default: '20000' } } });
const RULES = Number(values.rules);
const LINES = Number(values.lines);

const shipped = readFileSync(path.join(import.meta.dirname, '../rootfs-overlay/etc/aios/rules/10-system.toml'), 'utf8');
const shippedCount = RuleSet.fromToml(shipped).rules.length;

// Verbs and objects an administrator might teach the prompt: 40 verbs x 25 objects.
const VERBS = ['check', 'show', 'list', 'count', 'clean', 'rotate', 'flush', 'reload', 'enable', 'disable', 'mount', 'unmount', 'scan', 'sync', 'backup', 'verify', 'trim', 'compress', 'archive', 'inspect', 'watch', 'measure', 'probe', 'renew', 'revoke', 'lock', 'unlock', 'open', 'close', 'reset', 'rebuild', 'index', 'prune', 'tag', 'untag', 'pin', 'unpin', 'drain', 'fence', 'ping'];
const OBJECTS = ['cache', 'queue', 'journal', 'certificates', 'keys', 'volumes', 'mounts', 'users', 'groups', 'sessions', 'leases', 'routes', 'tunnels', 'timers', 'jobs', 'ports', 'sockets', 'devices', 'modules', 'snapshots', 'backups', 'images', 'containers', 'mirrors', 'repos'];
let generated = '';
for (let i = 0; shippedCount + i < RULES; i++) {
  const verb = VERBS[i % VERBS.length]!;
  const object = OBJECTS[Math.floor(i / VERBS.length) % OBJECTS.length]!;
  const variant = Math.floor(i / (VERBS.length * OBJECTS.length));
  generated += `[[rule]]
name = "gen-${i}"
patterns = ["[please] ${verb} [the] ${object}${variant ? ` v${variant}` : ''} [(on|for|of)] [{target}]", "${verb} ${object}${variant ? ` v${variant}` : ''} now"]
tool = "shell.exec"
args = { command = "${verb}-${object} {target}" }
slots = { target = "name" }
`;
}
const indexed = RuleSet.fromToml(shipped + generated, 'bench');
const unindexed = RuleSet.fromToml(shipped + generated, 'bench', { index: false });
if (indexed.problems.length > 0) throw new Error(indexed.problems.join('\n'));

const SHIPPED_LINES = ['restart nginx', 'is sshd running?', 'show failed services', 'free memory', "what's using the disk", 'logs nginx 50', 'what did I install yesterday', 'when did nginx last crash', 'what changed in /etc this week', 'status', 'take a snapshot'];
const UNANSWERED = ['why is the machine slow since this morning', 'write a script that backs up /srv every night', 'explain what this audit entry means', 'hello', 'can you plan the upgrade to the new kernel and tell me the risks'];
const lines = Array.from({ length: LINES }, (_, i) => {
  if (i % 3 === 0) return SHIPPED_LINES[i % SHIPPED_LINES.length]!;
  if (i % 3 === 1) return `please ${VERBS[i % VERBS.length]} the ${OBJECTS[i % OBJECTS.length]} for host${i % 7}`;
  return UNANSWERED[i % UNANSWERED.length]!;
});

function measure(rules: RuleSet): { p50Us: number; p99Us: number; maxUs: number; answered: number } {
  const now = new Date();
  for (const line of lines.slice(0, 2_000)) decide(line, rules, now); // compile and warm up
  const times: number[] = [];
  let answered = 0;
  for (const line of lines) {
    const t0 = process.hrtime.bigint();
    const decision = decide(line, rules, now);
    times.push(Number(process.hrtime.bigint() - t0) / 1_000);
    if (decision.kind === 'call') answered++;
  }
  return { p50Us: round(percentile(times, 50), 1), p99Us: round(percentile(times, 99), 1), maxUs: round(Math.max(...times), 1), answered };
}

const withIndex = measure(indexed);
const everyPattern = measure(unindexed);
if (withIndex.answered !== everyPattern.answered) throw new Error(`the index changes answers: ${withIndex.answered} against ${everyPattern.answered}`);
print({
  benchmark: 'reactive',
  machine: machine(),
  rules: indexed.rules.length,
  lines: LINES,
  goal: 'decision p99 under 100 µs with 1,000 rules',
  wordIndex: withIndex,
  anchorEveryPattern: everyPattern,
});
