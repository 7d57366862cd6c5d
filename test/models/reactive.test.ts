// The reactive tier's time questions: each becomes one memory.search call with the range worked
// out from a fixed now (in UTC); a time it does not know is an error that says what it knows.
import t from 'tap';
import { decide } from '../../src/models/reactive.ts';

process.env.TZ = 'UTC';
const NOW = new Date('2026-03-04T15:30:00Z'); // a Wednesday

const call = (text: string) => decide(text, NOW);
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

t.test('the other rules are unchanged', async (t) => {
  t.match(call('restart nginx'), { kind: 'tool', tool: { name: 'service.restart' }, args: { name: 'nginx' } });
  t.match(call('status'), { kind: 'tool', tool: { name: 'sys.status' } });
  t.same(call('tool memory.search {"query":"nginx"}'), search({ query: 'nginx' }));
  t.match(call('wht happened'), { kind: 'unknown', suggestion: 'what' });
});
