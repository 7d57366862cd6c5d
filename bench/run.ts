// Runs the PID-1 benchmarks in turn (one at a time: the machine has two cores) and prints one
// JSON document with all the results.   npm run bench
// The boot benchmark (several QEMU boots under emulation) runs on its own: node bench/boot.ts
import { execFileSync } from 'node:child_process';
import path from 'node:path';

const BENCHMARKS = ['orphan-storm.ts', 'restart-latency.ts', 'supervisor-idle.ts', 'audit.ts', 'policy.ts', 'memory.ts', 'snapshot.ts'];
const results: unknown[] = [];
for (const file of BENCHMARKS) {
  process.stderr.write(`bench: ${file} ...\n`);
  const out = execFileSync(process.execPath, [path.join(import.meta.dirname, file)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  results.push(JSON.parse(out));
}
process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), results }, null, 2)}\n`);
