// The supervisor at rest: time from start to "all 10 services up", and the RSS of aios-init
// supervising 10 services, next to tini supervising one (the anchor: a C init doing less).
//
//   node bench/supervisor-idle.ts [--runs 5]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { request } from '../src/interfaces/control-client.ts';
import { bundledAios, machine, onlyChild, percentile, print, round, rssKiB, sleep } from './lib.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const RUNS = Number(values.runs);
const SERVICES = 10;
const aios = await bundledAios();

async function aiosRun(): Promise<{ allUpMs: number; rssMiB: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-bench-idle-'));
  const services = path.join(dir, 'services');
  mkdirSync(services);
  for (let i = 0; i < SERVICES; i++) writeFileSync(path.join(services, `s${i}.toml`), 'exec = ["/bin/sleep", "infinity"]\n');
  const socket = path.join(dir, 'run', 'init.sock');
  const started = performance.now();
  const child = spawn('unshare', ['--pid', '--fork', '--kill-child', '--mount-proc', ...aios.argv, 'init', '--services', services, '--state', path.join(dir, 'state'), '--run', path.join(dir, 'run'), '--log-level', 'warn'], { stdio: 'ignore', env: aios.env });
  let allUpMs = NaN;
  for (;;) {
    try {
      const data = (await request(socket, { cmd: 'services' })) as { services: { state: string }[] };
      if (data.services.length === SERVICES && data.services.every((s) => s.state === 'up')) {
        allUpMs = performance.now() - started;
        break;
      }
    } catch {
      // Not listening yet.
    }
    await sleep(5);
  }
  await sleep(3_000);
  const rssMiB = rssKiB(onlyChild(child.pid!)!) / 1024;
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  return { allUpMs, rssMiB };
}

async function tiniRss(): Promise<number> {
  const child = spawn('unshare', ['--pid', '--fork', '--kill-child', '--mount-proc', 'tini', '-s', '--', '/bin/sleep', 'infinity'], { stdio: 'ignore' });
  await sleep(1_000);
  const rss = rssKiB(onlyChild(child.pid!)!) / 1024;
  child.kill('SIGKILL');
  return rss;
}

const runs = [];
for (let i = 0; i < RUNS; i++) runs.push(await aiosRun());
const up = runs.map((r) => r.allUpMs);
const rss = runs.map((r) => r.rssMiB);
print({
  benchmark: 'supervisor-idle',
  machine: machine(),
  services: SERVICES,
  results: [
    { init: 'aios-init', startToAllUpMs: { median: round(percentile(up, 50), 1), max: round(Math.max(...up), 1) }, idleRssMiB: round(percentile(rss, 50), 1) },
    { init: 'tini (anchor, 1 child)', idleRssMiB: round(await tiniRss(), 1) },
  ],
  note: 'start-to-all-up counts from spawning unshare, so it includes starting Node and loading the bundle',
});
