// Time phrases into ranges, against a fixed now (Wednesday 2026-03-04 15:30) in UTC, where no
// day is longer or shorter than 24 hours; one case in Berlin shows the day that DST shortens.
import t from 'tap';
import { formatLocalTime, parseDate, parseTimePhrase, TIME_PHRASE_SHAPE } from '../../src/memory/time-phrases.ts';

process.env.TZ = 'UTC';
const NOW = new Date('2026-03-04T15:30:00Z');

const SHAPE = new RegExp(`^${TIME_PHRASE_SHAPE}$`, 'i');

/** The range, checking on the way that every phrase understood has the shape rules look for. */
function range(phrase: string, now = NOW): [string, string | null] | null {
  const r = parseTimePhrase(phrase, now);
  const typed = phrase.trim().replace(/\s+/g, ' ').replace(/[?.!]+$/, '');
  if (r && !SHAPE.test(typed)) throw new Error(`"${typed}" is understood but does not have TIME_PHRASE_SHAPE: the reactive rules would miss it`);
  return r ? [r.since.toISOString(), r.until?.toISOString() ?? null] : null;
}

const day = (d: string, next: string): [string, string] => [`${d}T00:00:00.000Z`, `${next}T00:00:00.000Z`];

t.test('calendar days, weeks and months', async (t) => {
  t.equal(NOW.getDay(), 3, 'now is a Wednesday');
  t.same(range('today'), day('2026-03-04', '2026-03-05'));
  t.same(range('yesterday'), day('2026-03-03', '2026-03-04'));
  t.same(range('this week'), day('2026-03-02', '2026-03-09'), 'a week starts on Monday');
  t.same(range('last week'), day('2026-02-23', '2026-03-02'));
  t.same(range('this month'), day('2026-03-01', '2026-04-01'));
  t.same(range('last month'), day('2026-02-01', '2026-03-01'));
  t.same(range('2 days ago'), day('2026-03-02', '2026-03-03'));
  t.same(range('1 week ago'), day('2026-02-23', '2026-03-02'));
  t.same(range('last week', new Date('2026-03-02T00:00:00Z')), day('2026-02-23', '2026-03-02'), 'on a Monday at midnight');
  t.same(range('this week', new Date('2026-03-08T23:59:00Z')), day('2026-03-02', '2026-03-09'), 'on a Sunday night');
  t.same(range('yesterday', new Date('2026-03-01T08:00:00Z')), day('2026-02-28', '2026-03-01'), 'across the end of a month');
  t.same(range('last month', new Date('2026-01-15T08:00:00Z')), day('2025-12-01', '2026-01-01'), 'across the end of a year');
});

t.test('counted back from now', async (t) => {
  t.same(range('last 3 days'), ['2026-03-01T15:30:00.000Z', null]);
  t.same(range('past 12 hours'), ['2026-03-04T03:30:00.000Z', null]);
  t.same(range('last hour'), ['2026-03-04T14:30:00.000Z', null]);
  t.same(range('last 30 minutes'), ['2026-03-04T15:00:00.000Z', null]);
  t.same(range('in the last 2 weeks'), ['2026-02-18T15:30:00.000Z', null]);
  t.same(range('over the past day'), ['2026-03-03T15:30:00.000Z', null]);
  t.same(range('3 hours ago'), ['2026-03-04T12:30:00.000Z', null]);
  t.equal(range('last 0 days'), null);
});

t.test('weekdays and dates', async (t) => {
  t.same(range('on monday'), day('2026-03-02', '2026-03-03'));
  t.same(range('Monday'), day('2026-03-02', '2026-03-03'));
  t.same(range('last monday'), day('2026-03-02', '2026-03-03'));
  t.same(range('on sunday'), day('2026-03-01', '2026-03-02'));
  t.same(range('on wednesday'), day('2026-03-04', '2026-03-05'), 'the day named today is today');
  t.same(range('last wednesday'), day('2026-02-25', '2026-02-26'), '"last" is strictly before today');
  t.same(range('on thursday'), day('2026-02-26', '2026-02-27'), 'a day not yet come this week is last week’s');
  t.same(range('on 2026-02-28'), day('2026-02-28', '2026-03-01'));
  t.same(range('2026-02-28'), day('2026-02-28', '2026-03-01'));
  t.equal(range('on 2026-02-30'), null, 'a date that does not exist');
});

t.test('since a date or a phrase: up to now', async (t) => {
  t.same(range('since 2026-03-01'), ['2026-03-01T00:00:00.000Z', null]);
  t.same(range('since 2026-03-01 12:15'), ['2026-03-01T12:15:00.000Z', null]);
  t.same(range('since 2026-03-01T10:00:00+02:00'), ['2026-03-01T08:00:00.000Z', null]);
  t.same(range('since 2026-03-01T10:00:00Z'), ['2026-03-01T10:00:00.000Z', null]);
  t.same(range('since yesterday'), ['2026-03-03T00:00:00.000Z', null]);
  t.same(range('since monday'), ['2026-03-02T00:00:00.000Z', null]);
  t.same(range('since last week'), ['2026-02-23T00:00:00.000Z', null]);
  t.equal(range('since whenever'), null);
});

t.test('the way people type: case, spaces, a question mark; and what is no time', async (t) => {
  t.same(range('  THIS   Week? '), day('2026-03-02', '2026-03-09'));
  t.same(range('Yesterday.'), day('2026-03-03', '2026-03-04'));
  t.same(range('during the last week'), day('2026-02-23', '2026-03-02'));
  for (const phrase of ['', 'tomorrow', 'next week', 'last fortnight', 'on funday', 'since', 'soon', '2026-13-01']) t.equal(range(phrase), null, JSON.stringify(phrase));
});

t.test('dates and how times are shown', async (t) => {
  t.equal(parseDate('2026-03-01')?.toISOString(), '2026-03-01T00:00:00.000Z');
  t.equal(parseDate('2026-03-01 07:08:09')?.toISOString(), '2026-03-01T07:08:09.000Z');
  t.equal(parseDate('2026-03-01T07:08:09.123Z')?.toISOString(), '2026-03-01T07:08:09.123Z');
  t.equal(parseDate('March 1st'), null);
  t.equal(parseDate('1772000000'), null, 'no bare numbers');
  t.equal(formatLocalTime(NOW), '2026-03-04 15:30');
});

t.test('local time: a day that daylight saving time makes 23 hours long is still one day', async (t) => {
  process.env.TZ = 'Europe/Berlin';
  t.teardown(() => {
    process.env.TZ = 'UTC';
  });
  // Clocks went forward at 02:00 on Sunday 2026-03-29: that day lasted 23 hours.
  const monday = new Date('2026-03-30T10:00:00+02:00');
  t.same(range('yesterday', monday), ['2026-03-28T23:00:00.000Z', '2026-03-29T22:00:00.000Z'], 'local midnight to local midnight');
  t.same(range('today', monday), ['2026-03-29T22:00:00.000Z', '2026-03-30T22:00:00.000Z']);
  t.same(range('last week', monday), ['2026-03-22T23:00:00.000Z', '2026-03-29T22:00:00.000Z'], 'a week of 167 hours');
  t.equal(formatLocalTime(monday), '2026-03-30 10:00');
});
