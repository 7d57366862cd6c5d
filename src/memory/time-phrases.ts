// Time phrases as people say them ("yesterday", "this week", "last 3 days", "on monday",
// "since 2026-11-20") turned into the half-open range [since, until) that memory searches take.
//
// Days and weeks are calendar ones in local time (a week starts on Monday); "last N hours|days"
// counts back from now. Calendar arithmetic goes through the Date constructor (year, month,
// day), so a day that daylight saving time makes 23 or 25 hours long is still one day.

export interface TimeRange {
  since: Date;
  /** Exclusive; null when the range runs up to now (and whatever is recorded next). */
  until: Date | null;
}

const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const UNIT_MS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000, week: 604_800_000 };
const UNIT_NAMES: Record<string, string> = { m: 'minute', min: 'minute', mins: 'minute', minute: 'minute', minutes: 'minute', h: 'hour', hr: 'hour', hrs: 'hour', hour: 'hour', hours: 'hour', d: 'day', day: 'day', days: 'day', w: 'week', week: 'week', weeks: 'week' };

/** The phrases parseTimePhrase knows, for messages that say what to write instead. */
export const TIME_PHRASE_EXAMPLES = 'today, yesterday, this week, last week, last 3 days, last 12 hours, on monday, since 2026-11-20';

/**
 * A regular expression source for text that may be a time phrase: every phrase parseTimePhrase
 * accepts has this shape (and some that it does not, which it then refuses). The reactive rules
 * use it so that in "search memory for nginx crashed yesterday" the time is "yesterday", not
 * "crashed yesterday".
 */
export const TIME_PHRASE_SHAPE =
  '(?:(?:in|during|over|within|from) )?(?:the )?(?:today|yesterday|[a-z]+day|(?:this|last|past|on) \\S+(?: [a-z]+)?|\\d{1,4} [a-z]+ ago|\\d{4}-\\d{2}-\\d{2}(?:[ t]\\S+)?|since .+)';

function startOfDay(d: Date, addDays = 0): Date {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate() + addDays);
}

/** Monday 00:00 of the week `d` is in. */
function startOfWeek(d: Date, addWeeks = 0): Date {
  const sinceMonday = (d.getDay() + 6) % 7;
  return startOfDay(d, addWeeks * 7 - sinceMonday);
}

function day(start: Date): TimeRange {
  return { since: start, until: startOfDay(start, 1) };
}

/** `2026-11-20`, `2026-11-20 14:30` (local time) or a full ISO time with its zone; null if it is none of these. */
export function parseDate(text: string): Date | null {
  const local = /^(\d{4})-(\d{2})-(\d{2})(?:[ t](\d{2}):(\d{2})(?::(\d{2}))?)?$/i.exec(text);
  if (local) {
    const [, y, mo, d, h, mi, s] = local.map(Number) as number[];
    const date = new Date(y!, mo! - 1, d!, Number.isNaN(h) ? 0 : h!, Number.isNaN(mi) ? 0 : mi!, Number.isNaN(s) ? 0 : s!);
    // new Date(2026, 1, 31) quietly becomes March 3: a date that does not exist is no date.
    return date.getMonth() === mo! - 1 && date.getDate() === d ? date : null;
  }
  if (!/^\d{4}-\d{2}-\d{2}t\d{2}:\d{2}(:\d{2}(\.\d+)?)?(z|[+-]\d{2}:?\d{2})$/i.test(text)) return null;
  const date = new Date(text.toUpperCase());
  return Number.isNaN(date.getTime()) ? null : date;
}

/** The most recent day called `name` (0 = Sunday): today counts, unless `before` says strictly earlier. */
function lastWeekday(now: Date, weekday: number, before: boolean): Date {
  let back = (now.getDay() - weekday + 7) % 7;
  if (back === 0 && before) back = 7;
  return startOfDay(now, -back);
}

/**
 * The range a phrase names, or null when it names none. Accepts a leading "in", "during",
 * "over", "within" and "the" ("in the last 3 days"), any case, and a trailing "?".
 */
export function parseTimePhrase(text: string, now: Date = new Date()): TimeRange | null {
  const phrase = text
    .trim()
    .toLowerCase()
    .replace(/[?.!]+$/, '')
    .replace(/\s+/g, ' ')
    .replace(/^(?:(?:in|during|over|within|from) )?(?:the )?/, '');
  if (phrase === 'today') return day(startOfDay(now));
  if (phrase === 'yesterday') return day(startOfDay(now, -1));
  if (phrase === 'this week') return { since: startOfWeek(now), until: startOfWeek(now, 1) };
  if (phrase === 'last week') return { since: startOfWeek(now, -1), until: startOfWeek(now) };
  if (phrase === 'this month') return { since: new Date(now.getFullYear(), now.getMonth(), 1), until: new Date(now.getFullYear(), now.getMonth() + 1, 1) };
  if (phrase === 'last month') return { since: new Date(now.getFullYear(), now.getMonth() - 1, 1), until: new Date(now.getFullYear(), now.getMonth(), 1) };

  // "last 3 days", "past 12 hours", "last hour", "past week": counted back from now.
  const recent = /^(?:last|past) (?:(\d{1,4}) )?([a-z]+)$/.exec(phrase);
  if (recent && UNIT_NAMES[recent[2]!]) {
    const count = recent[1] === undefined ? 1 : Number(recent[1]);
    if (count < 1) return null;
    return { since: new Date(now.getTime() - count * UNIT_MS[UNIT_NAMES[recent[2]!]!]!), until: null };
  }
  // "3 days ago": that whole day; "2 hours ago": from then on.
  const ago = /^(\d{1,4}) ([a-z]+) ago$/.exec(phrase);
  if (ago && UNIT_NAMES[ago[2]!]) {
    const unit = UNIT_NAMES[ago[2]!]!;
    if (unit === 'day') return day(startOfDay(now, -Number(ago[1])));
    if (unit === 'week') return { since: startOfWeek(now, -Number(ago[1])), until: startOfWeek(now, 1 - Number(ago[1])) };
    return { since: new Date(now.getTime() - Number(ago[1]) * UNIT_MS[unit]!), until: null };
  }

  // "on monday", "monday", "last monday" (strictly before today), "on 2026-11-20".
  const weekday = /^(on |last )?([a-z]+)$/.exec(phrase);
  if (weekday && WEEKDAYS.includes(weekday[2]!)) return day(lastWeekday(now, WEEKDAYS.indexOf(weekday[2]!), weekday[1] === 'last '));
  const onDate = /^(?:on )?(\d{4}-\d{2}-\d{2})$/.exec(phrase);
  if (onDate) {
    const date = parseDate(onDate[1]!);
    return date ? day(date) : null;
  }

  // "since yesterday", "since monday", "since 2026-11-20 14:00": from then up to now.
  const since = /^since (.+)$/.exec(phrase);
  if (since) {
    const start = parseDate(since[1]!) ?? parseTimePhrase(since[1]!, now)?.since;
    return start ? { since: start, until: null } : null;
  }
  return null;
}

/** `2026-11-20 14:03` in local time: how the prompt shows when something happened. */
export function formatLocalTime(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
