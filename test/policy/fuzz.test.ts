// Random and mutated command lines through the whole policy path: nothing throws, and nothing
// the parser could not fully resolve is allowed. The generator is seeded: a failure names the
// seed and the line, and re-running reproduces it.
import t from 'tap';
import { permissionsSchema } from '../../src/policy/config.ts';
import { builtinProtectedPaths, Policy } from '../../src/policy/policy.ts';
import { analyseCommandLine } from '../../src/policy/shell.ts';

const SEED = Number(process.env.AIOS_FUZZ_SEED ?? 20261122);
const ROUNDS = Number(process.env.AIOS_FUZZ_ROUNDS ?? 4000);

function prng(seed: number): () => number {
  // mulberry32
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const SEEDS = [
  'ls -la /tmp',
  'cat /etc/hostname | grep x > /tmp/out',
  "bash -c 'echo $(id) && rm -rf /tmp/x'",
  'find / -name "*.c" -exec grep -l main {} +',
  'for i in $(seq 3); do echo "$i" >> /tmp/log; done',
  "x=$'\\x72\\x6d'; $x -f /tmp/y",
  'sudo env A=b timeout 5 nice -n 1 busybox sh -c "ls"',
  'diff <(ls /a) <(ls /b) 2>&1 | tee /tmp/d',
  'echo "${HOME:-/root}" `date` $((1+2))',
  'case $x in a) ls;; *) rm /tmp/z;; esac',
  'f() { ls; }; f; eval "echo hi"',
  "git -c core.pager=less log --oneline | xargs -n1 echo",
];
const PIECES = [';', '&&', '||', '|', '&', '\n', '$(', ')', '`', '"', "'", '$', '{', '}', '(', '<(', '>(', '>', '>>', '<', '<<', '\\', '*', '?', '[', ']', '~', '#', '=', ' ', '-', '--', 'rm', 'sh', '-c', 'eval', 'sudo', '/', '..', "$'\\x72'", '\u200b', '\u202e', 'ｒ', 'м', '\0', '\t', '!', '%', '^', ':', '@'];

function mutate(line: string, random: () => number): string {
  let out = line;
  const edits = 1 + Math.floor(random() * 4);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(random() * (out.length + 1));
    const op = random();
    const piece = PIECES[Math.floor(random() * PIECES.length)]!;
    if (op < 0.45) out = out.slice(0, at) + piece + out.slice(at);
    else if (op < 0.7) out = out.slice(0, at) + out.slice(at + 1 + Math.floor(random() * 3));
    else out = out.slice(0, at) + piece + out.slice(at + piece.length);
  }
  return out;
}

function randomLine(random: () => number): string {
  const length = Math.floor(random() * 40);
  let out = '';
  for (let i = 0; i < length; i++) {
    out += random() < 0.5 ? PIECES[Math.floor(random() * PIECES.length)]! : String.fromCharCode(32 + Math.floor(random() * 95));
  }
  return out;
}

const policies = (['normal', 'trusted'] as const).map((mode) => new Policy(permissionsSchema.parse({ mode }), { protectedPaths: builtinProtectedPaths('/var/lib/aios', '/etc/aios/config.toml') }));

t.test(`${ROUNDS} random and mutated command lines (seed ${SEED})`, async (t) => {
  const random = prng(SEED);
  const failures: string[] = [];
  let unresolved = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const line = random() < 0.8 ? mutate(SEEDS[Math.floor(random() * SEEDS.length)]!, random) : randomLine(random);
    let analysis;
    try {
      analysis = analyseCommandLine(line);
    } catch (error) {
      failures.push(`analyse threw on ${JSON.stringify(line)}: ${(error as Error).message}`);
      continue;
    }
    const notFullyResolved = analysis.problems.length > 0 || analysis.commands.some((c) => c.argv[0] === null);
    if (notFullyResolved) unresolved += 1;
    for (const policy of policies) {
      let verdict;
      try {
        verdict = policy.checkCommandLine(line).verdict;
      } catch (error) {
        failures.push(`${policy.mode}: checkCommandLine threw on ${JSON.stringify(line)}: ${(error as Error).message}`);
        continue;
      }
      if (notFullyResolved && (verdict === 'allow' || verdict === 'notify')) {
        failures.push(`${policy.mode}: ${verdict} for ${JSON.stringify(line)}, which the parser could not fully resolve`);
      }
    }
  }
  t.same(failures.slice(0, 20), [], `${failures.length} failures`);
  // The generator must actually reach the unresolved cases, or the test proves nothing.
  t.ok(unresolved > ROUNDS / 10, `${unresolved} of ${ROUNDS} lines were not fully resolvable`);
});

t.test('pathological inputs: deep nesting, long lines, odd bytes', async (t) => {
  const [normal] = policies;
  const deep = `${'bash -c "'.repeat(12)}ls${'"'.repeat(12)}`;
  t.not(normal!.checkCommandLine(deep).verdict, 'allow', 'nesting beyond the limit is not allowed blindly');
  let nested = 'rm -rf /';
  for (let i = 0; i < 6; i++) nested = `sh -c ${JSON.stringify(nested).replace(/\$/g, '\\$')}`;
  t.equal(normal!.checkCommandLine(nested).verdict, 'deny', 'six levels of sh -c still finds rm -rf /');
  t.doesNotThrow(() => normal!.checkCommandLine('x'.repeat(100_000)));
  t.doesNotThrow(() => normal!.checkCommandLine('$('.repeat(2000)));
  t.doesNotThrow(() => normal!.checkCommandLine('\u0000\u0001\u0002\ud800'));
  t.not(normal!.checkCommandLine('$('.repeat(2000)).verdict, 'allow');
});
