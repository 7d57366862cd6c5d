// Crash-to-restart latency: a service with restart_sec = 0 that exits at once, restarted by
// aios-init; the time between consecutive starts, next to a shell loop restarting the very
// same program (the floor: no supervisor at all).
//
//   node bench/restart-latency.ts [--restarts 300]
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bundledAios, machine, percentile, print, round, sleep } from './lib.ts';

const { values } = parseArgs({ options: { restarts: { type: 'string', default: '300' } } });
const RESTARTS = Number(values.restarts);

function gapsMs(file: string): number[] {
  const starts = readFileSync(file, 'utf8').trim().split('\n').map((l) => BigInt(l));
  return starts.slice(1).map((s, i) => Number(s - starts[i]!) / 1e6);
}

function summary(name: string, gaps: number[]) {
  return { runner: name, restarts: gaps.length, medianMs: round(percentile(gaps, 50), 3), p99Ms: round(percentile(gaps, 99), 3), maxMs: round(Math.max(...gaps), 3) };
}

async function collect(file: string, child: ReturnType<typeof spawn>): Promise<number[]> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (existsSync(file) && readFileSync(file, 'utf8').split('\n').length > RESTARTS + 1) break;
    await sleep(50);
  }
  child.kill('SIGKILL');
  return gapsMs(file).slice(0, RESTARTS);
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-bench-restart-'));
const program = (file: string) => `date +%s%N >> ${file}; exit 1`;

// aios-init as PID 1 of a PID namespace.
const services = path.join(dir, 'services');
mkdirSync(services);
const aiosFile = path.join(dir, 'aios.starts');
writeFileSync(
  path.join(services, 'crash.toml'),
  `exec = ["/bin/sh", "-c", ${JSON.stringify(program(aiosFile))}]\nrestart_sec = 0\nhealthy_sec = 0\nstart_limit_burst = 1000000\n`,
);
const aios = await bundledAios();
const supervised = spawn('unshare', ['--pid', '--fork', '--kill-child', '--mount-proc', ...aios.argv, 'init', '--services', services, '--state', path.join(dir, 'state'), '--run', path.join(dir, 'run'), '--log-level', 'warn'], { stdio: 'ignore', env: aios.env });
const aiosGaps = await collect(aiosFile, supervised);

// The floor: the same program restarted by a shell loop.
const loopFile = path.join(dir, 'loop.starts');
const loop = spawn('/bin/sh', ['-c', `while :; do /bin/sh -c ${JSON.stringify(program(loopFile))}; done`], { stdio: 'ignore' });
const loopGaps = await collect(loopFile, loop);
rmSync(dir, { recursive: true, force: true });

const a = summary('aios-init', aiosGaps);
const floor = summary('shell loop (floor)', loopGaps);
print({
  benchmark: 'restart-latency',
  machine: machine(),
  note: 'time between consecutive starts of a program that exits at once; restart_sec = 0',
  results: [a, floor],
  supervisorOverheadMedianMs: round(a.medianMs - floor.medianMs, 3),
  ratioMedian: round(a.medianMs / floor.medianMs),
});
