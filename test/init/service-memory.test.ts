// Service events from PID 1 into memory: what each transition means, the bounded queue that
// waits for the state directory and drops (counting) what cannot be written, and a real init
// whose crashing service shows up as exit/restart/failed memories, without PID 1 ever loading
// SQLite.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import pino from 'pino';
import { MemoryStore } from '../../src/memory/store.ts';
import { serviceEvents, ServiceMemory, type IngestLine, type WriteOutcome } from '../../src/init/service-memory.ts';
import { logged, MAIN, sleep, startInit, waitFor } from '../helpers/init-harness.ts';

const quiet = pino({ level: 'silent' });

t.test('transitions as events', async (t) => {
  const at = new Date('2026-03-04T10:00:00Z');
  const nginx = (restarts: number, lastExit: { code: number; signal: string | null } | null, reason: string) => ({ name: 'nginx', restarts, lastExit, reason });
  const kinds = (events: IngestLine[]) => events.map((e) => [e.metadata.event, e.content, e.metadata.crashed]);

  t.same(kinds(serviceEvents(nginx(0, null, ''), 'up', 'starting', at)), [['start', 'nginx started', false]]);
  t.same(kinds(serviceEvents(nginx(0, null, ''), 'starting', 'down', at)), [], 'a first start is told when it is up');
  t.same(kinds(serviceEvents(nginx(2, { code: 1, signal: null }, 'restart 2'), 'starting', 'backoff', at)), [['restart', 'nginx restarted (restart 2)', false]]);
  t.same(
    kinds(serviceEvents(nginx(1, { code: 139, signal: 'SIGSEGV' }, 'killed by SIGSEGV; restarting in 1000 ms'), 'backoff', 'stopping', at)),
    [['exit', 'nginx crashed: killed by SIGSEGV; restarting in 1000 ms', true]],
  );
  t.same(kinds(serviceEvents(nginx(0, { code: 143, signal: null }, 'stopped'), 'down', 'stopping', at)), [['exit', 'nginx stopped', false]], 'a requested stop is no crash');
  t.same(kinds(serviceEvents(nginx(0, { code: 0, signal: null }, 'exited with status 0'), 'down', 'stopping', at)), [['exit', 'nginx exited: exited with status 0', false]]);
  t.same(
    kinds(serviceEvents(nginx(4, { code: 3, signal: null }, 'exited with status 3; start limit reached (5 restarts in a row)'), 'failed', 'stopping', at)),
    [
      ['exit', 'nginx crashed: exited with status 3; start limit reached (5 restarts in a row)', true],
      ['failed', 'nginx failed: exited with status 3; start limit reached (5 restarts in a row)', false],
    ],
  );
  const [cannotStart] = serviceEvents(nginx(0, { code: 127, signal: null }, '`nginx` not found in PATH'), 'failed', 'down', at);
  t.same(cannotStart, {
    type: 'service',
    tier: 'operational',
    content: 'nginx failed: `nginx` not found in PATH',
    source: 'init',
    metadata: { service: 'nginx', event: 'failed', code: 127, signal: null, restarts: 0, crashed: false },
    createdAt: '2026-03-04T10:00:00.000Z',
  });
  t.same(serviceEvents(nginx(0, null, 'stopped'), 'down', 'backoff', at), [], 'a stop while waiting to restart ends no process');
});

function event(n: number): IngestLine {
  return serviceEvents({ name: `s${n}`, restarts: 0, lastExit: null, reason: '' }, 'up', 'starting')[0]!;
}

t.test('the queue waits for the state directory, is bounded, and drops what cannot be written', async (t) => {
  const batches: string[][] = [];
  let answer: WriteOutcome = { ok: true };
  const memory = new ServiceMemory({
    write: async (batch) => {
      batches.push(batch.map((e) => e.metadata.service));
      return answer;
    },
    log: quiet,
    maxQueue: 3,
    delayMs: 20,
    retryMs: 300,
  });
  for (const n of [1, 2, 3, 4, 5]) memory.record([event(n)]);
  await sleep(100);
  t.same(batches, [], 'nothing is written before the state directory is ready');
  t.equal(memory.queued, 3);
  t.equal(memory.dropped, 2, 'the queue holds at most maxQueue events');

  memory.stateReady();
  await waitFor(() => batches.length === 1, 2_000, 'the first batch');
  t.same(batches[0], ['s3', 's4', 's5'], 'the oldest made room; the rest went in one batch');
  t.equal(memory.written, 3);

  answer = { ok: false, reason: 'database or disk is full' };
  memory.record([event(6), event(7)]);
  await waitFor(() => batches.length === 2, 2_000, 'the failing batch');
  await sleep(10);
  t.equal(memory.dropped, 4, 'a batch that cannot be written is dropped and counted');
  t.equal(memory.queued, 0);

  answer = { ok: true };
  const failedAt = Date.now();
  memory.record([event(8)]);
  await waitFor(() => batches.length === 3, 2_000, 'the batch after the failure');
  t.ok(Date.now() - failedAt >= 250, 'after a failure the next write waits retryMs, not delayMs');
  t.same(batches[2], ['s8']);

  const thrown = new ServiceMemory({ write: () => Promise.reject(new Error('spawn ENOMEM')), log: quiet, delayMs: 1 });
  thrown.stateReady();
  thrown.record([event(9)]);
  await thrown.flush();
  t.equal(thrown.dropped, 1, 'a writer that throws loses its batch, not the recorder');

  memory.record([event(10)]);
  await memory.flush();
  t.same(batches[3], ['s10'], 'flush writes at once (shutdown)');
  t.equal(memory.queued, 0);
});

t.test('a run of failed batches is a warning once (the console), then the log file; none after a full-disk warning at boot', async (t) => {
  const levels = (alreadyWarned: boolean) => {
    const seen: string[] = [];
    const log = pino({ level: 'debug' }, { write: (line: string) => seen.push(pino.levels.labels[(JSON.parse(line) as { level: number }).level]!) });
    let ok = false;
    const memory = new ServiceMemory({ write: async () => (ok ? { ok: true } : { ok: false, reason: 'database or disk is full' }), log, delayMs: 1, retryMs: 1 });
    memory.stateReady({ alreadyWarned });
    return { seen, memory, recover: () => (ok = true), fail: () => (ok = false) };
  };
  const run = levels(false);
  for (const n of [1, 2, 3]) {
    run.memory.record([event(n)]);
    await run.memory.flush();
  }
  run.recover();
  run.memory.record([event(4)]);
  await run.memory.flush();
  run.fail();
  run.memory.record([event(5)]);
  await run.memory.flush();
  t.same(run.seen, ['warn', 'info', 'info', 'info', 'warn'], 'warned at the first failure, quiet through the run, warned again after recovering');
  const told = levels(true);
  told.memory.record([event(1)]);
  await told.memory.flush();
  t.same(told.seen, ['info'], 'the boot already said the disk is full');
});

t.test('aios memory-ingest: JSON lines in, all or none', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-ingest-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ingest = (input: string) => spawnSync(process.execPath, [MAIN, 'memory-ingest', '--state', dir], { input, encoding: 'utf8' });
  const good = `${JSON.stringify(event(1))}\n\n${JSON.stringify(event(2))}\n`;
  t.match(ingest(good), { status: 0, stdout: '{"added":2}\n' });
  const bad = ingest(`${JSON.stringify(event(3))}\n${JSON.stringify({ ...event(4), type: 'gossip' })}\n`);
  t.equal(bad.status, 1);
  t.match(bad.stderr, /nothing added: Expected the type to be one of/);
  t.match(ingest('{"type":"service"\n'), { status: 2, stderr: /line 1 is not JSON/ });
  t.match(ingest(`${JSON.stringify({ ...event(5), createdAt: 'yesterday' })}\n`), { status: 2, stderr: /line 1: createdAt: / });
  const store = MemoryStore.open(MemoryStore.pathIn(dir));
  t.teardown(() => store.close());
  t.same(store.search('', { type: 'service' }).map((m) => m.metadata.service).sort(), ['s1', 's2'], 'only the good batch is there');
});

t.test('a real init: a crashing service is remembered as exit, restart and failed; PID 1 never loads SQLite', async (t) => {
  const init = await startInit({
    services: {
      crashy: 'exec = ["/bin/sh", "-c", "sleep 0.2; exit 3"]\nrestart_sec = 0.1\nrestart_max_sec = 0.2\nstart_limit_burst = 2\n',
      steady: 'exec = ["/bin/sh", "-c", "sleep 300"]\n',
    },
  });
  t.teardown(() => init.cleanup());
  await waitFor(async () => (await init.services()).find((s) => s.name === 'crashy')?.state === 'failed', 20_000, 'crashy to fail');
  const store = MemoryStore.open(MemoryStore.pathIn(init.stateDir));
  t.teardown(() => store.close());
  const crashy = await waitFor(() => {
    const events = store.search('', { type: 'service', metadata: { service: 'crashy' }, limit: 100 }).reverse();
    return events.some((e) => e.metadata.event === 'failed') ? events : null;
  }, 10_000, 'the failed event in memory');
  const sequence = crashy.map((e) => e.metadata.event);
  t.same(sequence, ['start', 'exit', 'restart', 'start', 'exit', 'restart', 'start', 'exit', 'failed'], 'start, then each crash and restart, then failed');
  const lastExit = crashy.at(-2)!;
  t.match(lastExit, { tier: 'operational', source: 'init', content: /^crashy crashed: exited with status 3; start limit reached/, metadata: { code: 3, signal: null, crashed: true, restarts: 2 } });
  t.same(crashy.filter((e) => e.metadata.event === 'restart').map((e) => e.metadata.restarts), [1, 2]);
  const times = crashy.map((e) => e.createdAt);
  t.same(times, [...times].sort(), 'each memory carries the time of its event, in order');
  t.equal(store.search('', { type: 'service', metadata: { service: 'steady', event: 'start' } }).length, 1, 'a healthy service: one start');

  const maps = readFileSync(`/proc/${init.hostPid()}/maps`, 'utf8');
  t.notMatch(maps, /better_sqlite3|better-sqlite3/, 'PID 1 never loaded better-sqlite3 (a child wrote the memories)');
  t.same(logged(init, 'not remembered'), [], 'nothing was dropped');

  await init.request({ cmd: 'poweroff' }).catch(() => {});
  await init.exited;
  t.match(store.search('', { type: 'service', metadata: { service: 'steady', event: 'exit' } }), [{ content: 'steady stopped', metadata: { crashed: false } }], 'the stop at shutdown reached memory before init ended');
});

t.test('a state directory where memory cannot be written: events are dropped and counted, init goes on', async (t) => {
  const init = await startInit({
    services: { once: 'exec = ["/bin/sh", "-c", "exit 0"]\nrestart = "never"\n' },
    // memory.db is a directory: the store cannot open it.
    prepare: ({ stateDir }) => {
      const fs = process.getBuiltinModule('node:fs');
      fs.mkdirSync(`${stateDir}/memory.db`);
    },
  });
  t.teardown(() => init.cleanup());
  const warning = await waitFor(() => logged(init, 'not remembered')[0], 15_000, 'the drop to be logged');
  t.match(warning, { subsystem: 'memory', msg: /service events? not remembered: memory-ingest exited with status 1: aios memory-ingest: cannot open/ });
  t.ok((await init.request({ cmd: 'ping' })) !== undefined, 'init still answers');
});
