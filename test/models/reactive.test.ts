// The reactive tier's time questions: each becomes one memory.search call with the range worked
// out from a fixed now (in UTC); a time it does not know is an error that says what it knows.
import path from 'node:path';
import t from 'tap';
import { decide } from '../../src/models/reactive.ts';
import { loadRules } from '../../src/models/rules.ts';

process.env.TZ = 'UTC';
const NOW = new Date('2026-03-04T15:30:00Z'); // a Wednesday

// The rules the image ships.
const RULES = loadRules(path.join(import.meta.dirname, '../../rootfs-overlay/etc/aios/rules'));
const call = (text: string) => {
  const decision = decide(text, RULES, NOW);
  if (decision.kind !== 'call') return decision;
  const { match: _, ...rest } = decision;
  return rest;
};
const search = (args: Record<string, unknown>) => ({ kind: 'call', name: 'memory.search', args });
const YESTERDAY = { since: '2026-03-03T00:00:00.000Z', until: '2026-03-04T00:00:00.000Z' };
const THIS_WEEK = { since: '2026-03-02T00:00:00.000Z', until: '2026-03-09T00:00:00.000Z' };

t.test('what did I install …', async (t) => {
  t.same(call('what did I install yesterday'), search({ event: 'install', ...YESTERDAY, limit: 50 }));
  t.same(call('What did I install yesterday?'), search({ event: 'install', ...YESTERDAY, limit: 50 }));
  t.same(call('what was installed this week'), search({ event: 'install', ...THIS_WEEK, limit: 50 }));
  t.same(call('which packages did I remove in the last 3 days'), search({ event: 'remove', since: '2026-03-01T15:30:00.000Z', limit: 50 }));
  t.same(call('what did i uninstall on monday'), search({ event: 'remove', since: '2026-03-02T00:00:00.000Z', until: '2026-03-03T00:00:00.000Z', limit: 50 }));
  t.same(call('what was upgraded last week'), search({ event: 'upgrade', since: '2026-02-23T00:00:00.000Z', until: '2026-03-02T00:00:00.000Z', limit: 50 }));
  t.same(call('what did I install'), search({ event: 'install', limit: 50 }), 'no time: all of it, newest first');
});

t.test('when did NAME last crash|fail|restart', async (t) => {
  t.same(call('when did nginx last crash'), search({ service: 'nginx', event: 'crash', limit: 1 }));
  t.same(call('When did nginx last crash?'), search({ service: 'nginx', event: 'crash', limit: 1 }));
  t.same(call('when did the sshd service crash last'), search({ service: 'sshd', event: 'crash', limit: 1 }));
  t.same(call('when did nginx die'), search({ service: 'nginx', event: 'crash', limit: 1 }));
  t.same(call('when did nginx last fail'), search({ service: 'nginx', event: 'failed', limit: 1 }));
  t.same(call('when did nginx last restart'), search({ service: 'nginx', event: 'restart', limit: 1 }));
  t.same(call('when did nginx last start'), search({ service: 'nginx', event: 'start', limit: 1 }));
  t.same(call('when did nginx last stop'), search({ service: 'nginx', event: 'exit', limit: 1 }));
  t.same(call('when did nginx stopped'), search({ service: 'nginx', event: 'exit', limit: 1 }));
});

t.test('what changed in PATH …, what happened …', async (t) => {
  t.same(call('what changed in /etc this week'), search({ pathPrefix: '/etc', ...THIS_WEEK, limit: 50 }));
  t.same(call('what has changed under /etc/nginx/?'), search({ pathPrefix: '/etc/nginx/', limit: 50 }));
  t.same(call('what changed in /etc today'), search({ pathPrefix: '/etc', since: '2026-03-04T00:00:00.000Z', until: '2026-03-05T00:00:00.000Z', limit: 50 }));
  t.same(call('what happened today'), search({ changes: true, since: '2026-03-04T00:00:00.000Z', until: '2026-03-05T00:00:00.000Z', limit: 50 }));
  t.same(call('what happened yesterday?'), search({ changes: true, ...YESTERDAY, limit: 50 }));
  t.same(call('what happened'), search({ changes: true, limit: 50 }));
});

t.test('a time it does not know says which it does', async (t) => {
  const answer = call('what did I install the day before the storm');
  t.equal(answer.kind, 'error');
  t.match(answer, { message: /I don't know the time "the day before the storm"; try today, yesterday, this week/ });
  t.equal(call('what happened next week').kind, 'error');
});

t.test('the shipped rules load without problems and answer the everyday requests', async (t) => {
  t.same(RULES.problems, []);
  const cases: [string, string, Record<string, unknown>][] = [
    ['restart nginx', 'service.restart', { name: 'nginx' }],
    ['restart the sshd service', 'service.restart', { name: 'sshd' }],
    ['restart', 'sys.power', { action: 'reboot' }],
    ['status', 'sys.status', {}],
    ['is sshd running?', 'service.status', { name: 'sshd' }],
    ['show failed services', 'service.list', { state: 'failed' }],
    ['free memory', 'sys.memory', {}],
    ["what's using the disk", 'sys.disks', {}],
    ['logs nginx 50', 'service.logs', { name: 'nginx', lines: 50 }],
    ['show the logs of nginx', 'service.logs', { name: 'nginx' }],
    ['install vim', 'pkg.install', { names: ['vim'] }],
    ['listening ports', 'net.listening', {}],
    ['take a snapshot', 'snapshot.create', { description: 'taken at the console' }],
  ];
  for (const [text, name, args] of cases) t.same(call(text), { kind: 'call', name, args }, text);
  t.same(call('tool memory.search {"query":"nginx"}'), search({ query: 'nginx' }));
  t.match(call('wht happened'), { kind: 'call', name: 'memory.search' }, 'a misspelt rule word is read as the word');
  t.match(call('hlep'), { kind: 'unknown', suggestion: 'help' });
});
