// Policy verdict latency: how long the engine takes to judge a command line or a tool call,
// p50 and p99, for simple and compound command lines. The anchor is mvdan/sh's parse alone
// (the floor any parser-based policy pays), measured in the same run.
//
//   node bench/policy.ts [--rounds 2000]
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { permissionsSchema } from '../src/policy/config.ts';
import { builtinProtectedPaths, Policy } from '../src/policy/policy.ts';
import { toolMap } from '../src/tools/registry.ts';
import { machine, percentile, print, round } from './lib.ts';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '2000' } } });
const ROUNDS = Number(values.rounds);

const SIMPLE = ['ls -la /tmp', 'cat /etc/hostname', 'systemctl status sshd', 'rm /tmp/build.log', 'mkdir -p /srv/data'];
const COMPOUND = [
  "sudo -u root env A=b timeout 5 bash -c 'find /var/log -name \"*.gz\" -mtime +7 -exec rm {} \\; && echo done' | tee /tmp/out.log",
  'for f in $(ls /etc/*.conf); do grep -q x "$f" && cp "$f" /tmp/backup/ || echo "skip $f" >> /tmp/skipped; done',
  'diff <(sort /etc/passwd) <(ssh host cat /etc/passwd | sort) > /tmp/diff.txt 2>&1; eval "echo $(date)"',
  "PAGER=cat git -C /srv/repo log --oneline | head -20 | xargs -n1 echo; nice -n 5 nohup busybox sh -c 'sleep 1; ls /'",
];

const policy = new Policy(permissionsSchema.parse({ deny: ['shutdown *', 'path:/srv/secret/**'], require_approval: ['tool:pkg.*'], auto_allow: ['systemctl status *'] }), {
  protectedPaths: builtinProtectedPaths('/var/lib/aios', '/etc/aios/config.toml'),
});
const syntax = (createRequire(import.meta.url)('mvdan-sh') as { syntax: { NewParser(): { Parse(text: string, name: string): unknown } } }).syntax;
const tools = toolMap();
const fsWrite = tools.get('fs.write')!;
const writeArgs = fsWrite.input.parse({ path: '/tmp/../etc/aios/x.toml', content: 'x' });

function measure(lines: string[], judge: (line: string) => void): { p50Us: number; p99Us: number; meanUs: number } {
  for (let i = 0; i < 200; i++) judge(lines[i % lines.length]!); // warm-up: JIT and caches
  const times: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const line = lines[i % lines.length]!;
    const started = performance.now();
    judge(line);
    times.push((performance.now() - started) * 1000);
  }
  return { p50Us: round(percentile(times, 50), 1), p99Us: round(percentile(times, 99), 1), meanUs: round(times.reduce((a, b) => a + b, 0) / times.length, 1) };
}

const simple = measure(SIMPLE, (line) => policy.checkCommandLine(line));
const compound = measure(COMPOUND, (line) => policy.checkCommandLine(line));
const parseSimple = measure(SIMPLE, (line) => syntax.NewParser().Parse(line, ''));
const parseCompound = measure(COMPOUND, (line) => syntax.NewParser().Parse(line, ''));
const toolCall = measure(['x'], () => policy.checkToolCall(fsWrite, writeArgs));

print({
  benchmark: 'policy',
  machine: machine(),
  rounds: ROUNDS,
  verdict: { simple, compound, toolCall },
  anchor: { parseOnly: { simple: parseSimple, compound: parseCompound } },
  ratioToParse: { simpleP50: round(simple.p50Us / parseSimple.p50Us), compoundP50: round(compound.p50Us / parseCompound.p50Us) },
});
