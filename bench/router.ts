// The router on labelled sets of mixed requests, each labelled with the tier that should answer
// it by someone who had not read the router: routing accuracy against the labels, and the share
// answered without the cloud, as if every tier were present (the router's `wanted`).
// - bench/data/router-requests.jsonl (232): the router's rules and task classes were tuned
//   while looking at its misses, so its figure is optimistic;
// - bench/data/router-heldout.jsonl (120): written afterwards, never used for tuning.
// The anchor is the simplest router: every request to the strategic tier (100 % cloud).
//
//   node bench/router.ts [--show-misses]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { explain } from '../src/models/router.ts';
import { loadRules } from '../src/models/rules.ts';
import { TIERS, type MachineTiers, type Tier } from '../src/models/tiers.ts';
import { machine, print, round } from './lib.ts';

const { values } = parseArgs({ options: { 'show-misses': { type: 'boolean' } } });
const SETS = { tuned: 'router-requests.jsonl', heldOut: 'router-heldout.jsonl' };
function load(name: string): { text: string; tier: Tier }[] {
  const file = path.join(import.meta.dirname, 'data', name);
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line, i) => {
      const r = JSON.parse(line) as { text: string; tier: Tier };
      if (!TIERS.includes(r.tier)) throw new Error(`${file}:${i + 1}: tier ${r.tier} is not a tier`);
      return r;
    });
}

const rules = loadRules(path.join(import.meta.dirname, '../rootfs-overlay/etc/aios/rules'));
const everyTier: MachineTiers = {
  tiers: Object.fromEntries(TIERS.map((tier) => [tier, { tier, present: true, backend: tier, missing: null }])) as MachineTiers['tiers'],
  models: [],
  keys: [],
  problems: [],
};

function evaluate(requests: { text: string; tier: Tier }[]) {
  const confusion: Record<string, Record<string, number>> = Object.fromEntries(TIERS.map((label) => [label, Object.fromEntries(TIERS.map((t) => [t, 0]))]));
  const misses: { text: string; label: Tier; routed: Tier; reason: string }[] = [];
  let right = 0;
  let local = 0;
  let higher = 0;
  const started = performance.now();
  for (const request of requests) {
    const decision = explain(request.text, { rules, machine: everyTier });
    confusion[request.tier]![decision.wanted]!++;
    if (decision.wanted === request.tier) right++;
    else {
      misses.push({ text: request.text, label: request.tier, routed: decision.wanted, reason: decision.reason });
      if (TIERS.indexOf(decision.wanted) > TIERS.indexOf(request.tier)) higher++;
    }
    if (decision.wanted !== 'strategic') local++;
  }
  const elapsedMs = performance.now() - started;
  return {
    requests: requests.length,
    labels: Object.fromEntries(TIERS.map((t) => [t, requests.filter((r) => r.tier === t).length])),
    accuracy: round(right / requests.length, 3),
    withoutCloud: round(local / requests.length, 3),
    withoutCloudByLabels: round(requests.filter((r) => r.tier !== 'strategic').length / requests.length, 3),
    missesToAHigherTier: higher,
    missesToALowerTier: requests.length - right - higher,
    confusionLabelToRouted: confusion,
    meanDecisionUs: round((elapsedMs * 1000) / requests.length, 1),
    anchorAllCloud: { accuracy: round(requests.filter((r) => r.tier === 'strategic').length / requests.length, 3), withoutCloud: 0 },
    ...(values['show-misses'] ? { misses } : {}),
  };
}

print({
  benchmark: 'router',
  machine: machine(),
  ...Object.fromEntries(Object.entries(SETS).map(([name, file]) => [name, { file: `bench/data/${file}`, ...evaluate(load(file)) }])),
});
