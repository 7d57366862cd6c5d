import t from 'tap';
import { decideRestart } from '../../src/supervisor/backoff.ts';

const rule = { restart_sec: 1, restart_max_sec: 5, start_limit_burst: 4, healthy_sec: 10 };

t.test('exponential from the floor, capped, then final', async (t) => {
  let consecutive = 0;
  const delays: (number | 'failed')[] = [];
  for (let i = 0; i < 5; i++) {
    const d = decideRestart(rule, consecutive, 100);
    consecutive = d.consecutive;
    delays.push(d.restart ? d.delayMs : 'failed');
  }
  t.same(delays, [1000, 2000, 4000, 5000, 'failed']);
});

t.test('a healthy run starts the count again', async (t) => {
  const d = decideRestart(rule, 4, 10_000);
  t.same(d, { restart: true, delayMs: 1000, consecutive: 1 });
});

t.test('a zero floor restarts at once', async (t) => {
  t.same(decideRestart({ ...rule, restart_sec: 0 }, 2, 0), { restart: true, delayMs: 0, consecutive: 3 });
});
