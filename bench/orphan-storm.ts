// Orphan storm: N orphans re-parented to PID 1 of a fresh PID namespace; how long until
// every one is reaped, and how many zombies are left. aios-init next to tini and
// dumb-init (Debian's packages) running the very same storm. Times are measured from the
// storm's first orphan, so the inits' own start-up does not count.
//
//   node bench/orphan-storm.ts [--orphans 10000]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bundledAios, machine, namespaceProcesses, onlyChild, print, round, sleep } from './lib.ts';

const { values } = parseArgs({ options: { orphans: { type: 'string', default: '10000' } } });
const ORPHANS = Number(values.orphans);

interface Result {
  init: string;
  orphans: number;
  stormSeconds: number;
  reapedSecondsAfterStorm: number;
  maxZombiesSeen: number;
  zombiesLeft: number;
  /** CPU time the init itself spent during the storm (reaping). */
  initCpuSeconds: number;
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

// `( true & )`: a subshell starts a background job and exits at once, so the job is orphaned.
function stormScript(done: string): string {
  return `touch ${done}.start; i=0; while [ $i -lt ${ORPHANS} ]; do ( true & ); i=$((i+1)); done; touch ${done}; exec sleep 60`;
}

const aios = await bundledAios();

async function run(name: string, argv: (dir: string, script: string) => string[]): Promise<Result> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-bench-storm-'));
  const done = path.join(dir, 'done');
  const unshare = spawn('unshare', ['--pid', '--fork', '--kill-child', '--mount-proc', ...argv(dir, stormScript(done))], { stdio: 'ignore', env: aios.env });
  let init: number | null = null;
  let maxZombies = 0;
  const zombies = (): number => (init ? namespaceProcesses(init).filter((p) => p.state === 'Z').length : 0);
  while (!existsSync(`${done}.start`)) await sleep(5);
  init = onlyChild(unshare.pid!);
  const cpuBefore = cpuSeconds(init!);
  const started = performance.now();
  while (!existsSync(done)) {
    maxZombies = Math.max(maxZombies, zombies());
    await sleep(100);
  }
  const stormSeconds = (performance.now() - started) / 1000;
  const afterStorm = performance.now();
  let left = zombies();
  while (left > 0 && performance.now() - afterStorm < 10_000) {
    await sleep(5);
    left = zombies();
  }
  const reaped = (performance.now() - afterStorm) / 1000;
  const initCpuSeconds = cpuSeconds(init!) - cpuBefore;
  unshare.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  return { init: name, orphans: ORPHANS, stormSeconds: round(stormSeconds), reapedSecondsAfterStorm: round(reaped, 3), maxZombiesSeen: maxZombies, zombiesLeft: left, initCpuSeconds: round(initCpuSeconds) };
}

const results: Result[] = [];
results.push(
  await run('aios-init', (dir, script) => {
    const services = path.join(dir, 'services');
    mkdirSync(services);
    writeFileSync(path.join(services, 'storm.toml'), `exec = ["/bin/sh", "-c", ${JSON.stringify(script)}]\nrestart = "never"\n`);
    return [...aios.argv, 'init', '--services', services, '--state', path.join(dir, 'state'), '--run', path.join(dir, 'run'), '--log-level', 'warn'];
  }),
);
results.push(await run('tini', (_dir, script) => ['tini', '-s', '--', '/bin/sh', '-c', script]));
results.push(await run('dumb-init', (_dir, script) => ['dumb-init', '/bin/sh', '-c', script]));
print({ benchmark: 'orphan-storm', machine: machine(), results });
