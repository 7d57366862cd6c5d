// log.search over STATE/log as the supervisor writes it: lines written by the real LogSink,
// rotated files, and init's own pino log.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { LogSink } from '../../src/supervisor/log-sink.ts';
import { callTool } from '../../src/tools/tool.ts';
import { LOG_TOOLS, logSearchTool, parseSince } from '../../src/tools/log-tools.ts';

type SearchResult = Awaited<ReturnType<typeof logSearchTool.run>>;

/** A state directory with web (current file by LogSink, older lines in web.log.1), db and init logs. */
async function stateDir(t: Test): Promise<string> {
  const state = mkdtempSync(path.join(os.tmpdir(), 'aios-logs-'));
  t.teardown(() => rmSync(state, { recursive: true, force: true }));
  const web = new LogSink({ file: path.join(state, 'log', 'web.log') });
  web.write('stdout', 'listening on :8080');
  web.write('stderr', 'ERROR connection refused by db:5432');
  web.write('stdout', 'GET /health 200');
  await web.close();
  const db = new LogSink({ file: path.join(state, 'log', 'db.log') });
  db.write('stdout', 'ready to accept connections');
  db.write('aios', 'exited with status 1, restarting');
  await db.close();
  writeFileSync(
    path.join(state, 'log', 'web.log.1'),
    ['2020-01-01T00:00:00.000Z stdout old start', '2020-01-01T00:00:01.000Z stderr Error: connection refused (old)', 'not a log line', ''].join('\n'),
  );
  writeFileSync(
    path.join(state, 'log', 'init.log'),
    [
      JSON.stringify({ level: 30, time: Date.now() + 1000, pid: 1, subsystem: 'supervisor', msg: 'service web started' }),
      JSON.stringify({ level: 50, time: Date.now() + 2000, pid: 1, service: 'db', msg: 'service failed', err: { message: 'connection refused' } }),
      '{not json',
      '',
    ].join('\n'),
  );
  return state;
}

async function search(t: Test, state: string, args: Record<string, unknown>): Promise<SearchResult> {
  const result = await callTool(logSearchTool, args, { runDir: state, stateDir: state, signal: new AbortController().signal });
  if (!result.ok) throw new Error(`log.search failed: ${result.code} ${result.message}`);
  t.ok(logSearchTool.output.safeParse(result.data).success, 'data matches the output schema');
  t.type(logSearchTool.render(result.data), 'string');
  return result.data;
}

async function fails(state: string, args: Record<string, unknown>): Promise<{ code: string; message: string }> {
  const result = await callTool(logSearchTool, args, { runDir: state, stateDir: state, signal: new AbortController().signal });
  if (result.ok) throw new Error(`log.search succeeded: ${JSON.stringify(result.data)}`);
  return result;
}

t.test('declares a read', async (t) => {
  t.same(LOG_TOOLS.map((x) => x.name), ['log.search']);
  t.same([logSearchTool.effects, logSearchTool.risk, logSearchTool.undo], [['reads'], 'low', 'none']);
});

t.test('plain text, case-insensitive by default, across services and rotated files, oldest first', async (t) => {
  const state = await stateDir(t);
  const r = await search(t, state, { pattern: 'connection refused' });
  t.same(
    r.matches.map((m) => [m.service, m.stream, m.text]),
    [
      ['web', 'stderr', 'Error: connection refused (old)'],
      ['web', 'stderr', 'ERROR connection refused by db:5432'],
      ['init', 'error', '[db] service failed: connection refused'],
    ],
  );
  t.same([r.totalMatches, r.truncated], [3, false]);
  t.equal(r.files.length, 4);
  t.ok(r.matches.every((m) => !Number.isNaN(Date.parse(m.time))));
  const exact = await search(t, state, { pattern: 'error', ignoreCase: false });
  t.same(exact.matches.map((m) => m.text), []);
});

t.test('regex, service, stream, since and limit', async (t) => {
  const state = await stateDir(t);
  const re = await search(t, state, { pattern: '^(GET|POST) /\\w+ [1-5]\\d\\d$', regex: true });
  t.same(re.matches.map((m) => [m.service, m.text]), [['web', 'GET /health 200']]);

  const web = await search(t, state, { pattern: 'o', service: 'web' });
  t.ok(web.matches.length > 0 && web.matches.every((m) => m.service === 'web'));
  t.same(web.files.map((f) => path.basename(f)), ['web.log.1', 'web.log']);

  const stderr = await search(t, state, { pattern: 'refused', stream: 'stderr' });
  t.same(stderr.matches.map((m) => m.service), ['web', 'web']);

  const recent = await search(t, state, { pattern: 'refused', since: '1h' });
  t.same(recent.matches.map((m) => m.text), ['ERROR connection refused by db:5432', '[db] service failed: connection refused']);
  const fromDate = await search(t, state, { pattern: 'old', since: '2020-01-01T00:00:00.500Z' });
  t.same(fromDate.matches.map((m) => m.text), ['Error: connection refused (old)']);

  const latest = await search(t, state, { pattern: 'e', limit: 2 });
  t.equal(latest.matches.length, 2);
  t.equal(latest.truncated, true);
  t.ok(latest.totalMatches > 2);
  // The latest two, not the first two.
  t.notOk(latest.matches.some((m) => m.text.includes('(old)')));
  t.match(logSearchTool.render(latest), /^\(the latest 2 of \d+ matching lines\)/);
});

t.test('a bad regex is EINVAL with the regex error; bad arguments are refused', async (t) => {
  const state = await stateDir(t);
  const bad = await fails(state, { pattern: '(unclosed', regex: true });
  t.equal(bad.code, 'EINVAL');
  t.match(bad.message, /not a valid regular expression: .*Unterminated group/);
  // The same text is fine as plain text.
  t.equal((await search(t, state, { pattern: '(unclosed' })).totalMatches, 0);
  t.equal((await fails(state, { pattern: '' })).code, 'EINVAL');
  t.equal((await fails(state, { pattern: 'x', service: '../etc' })).code, 'EINVAL');
  t.equal((await fails(state, { pattern: 'x', limit: 0 })).code, 'EINVAL');
  const since = await fails(state, { pattern: 'x', since: 'yesterday-ish' });
  t.same([since.code, /since must be like 15m/.test(since.message)], ['EINVAL', true]);
});

t.test('an unknown service names the ones there are; no log directory is no match', async (t) => {
  const state = await stateDir(t);
  const e = await fails(state, { pattern: 'x', service: 'nginx' });
  t.equal(e.code, 'ENOENT');
  t.match(e.message, /no log of service nginx .*logs there: db, init, web/);
  const empty = mkdtempSync(path.join(os.tmpdir(), 'aios-nologs-'));
  t.teardown(() => rmSync(empty, { recursive: true, force: true }));
  mkdirSync(path.join(empty, 'unrelated'));
  const none = await search(t, empty, { pattern: 'x' });
  t.same([none.totalMatches, none.files], [0, []]);
});

t.test('parseSince', async (t) => {
  const now = Date.parse('2026-11-03T10:00:00.000Z');
  t.equal(parseSince('15m', now), '2026-11-03T09:45:00.000Z');
  t.equal(parseSince('2d', now), '2026-11-01T10:00:00.000Z');
  t.equal(parseSince('2026-11-01', now), '2026-11-01T00:00:00.000Z');
  t.throws(() => parseSince('soon', now), { code: 'EINVAL' });
});
