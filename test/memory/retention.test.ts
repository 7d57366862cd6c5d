// Retention: expired and finished working memories go; operational memories beyond the age or
// row limit become one long-term summary per day and type (searchable), then go; nothing newer
// than the cutoff changes; the full-text index stays exactly the table's (through updates and
// deletes too); batches of any size give the same summaries. And the [memory] configuration
// and `aios memory retain`.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import t, { type Test } from 'tap';
import { loadMemoryConfig } from '../../src/memory/config.ts';
import { DEFAULT_RETENTION, MemoryStore, type Memory, type NewMemory } from '../../src/memory/store.ts';
import { MAIN } from '../helpers/init-harness.ts';

const NOW = new Date('2026-11-20T12:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function tempDir(t: Test): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-memory-retention-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function open(t: Test, dir = tempDir(t)): MemoryStore {
  const store = MemoryStore.open(MemoryStore.pathIn(dir));
  t.teardown(() => store.close());
  return store;
}

/** 40 days of operational memories (every row has the word kilo and its own r<n>), and a few others. */
function history(): NewMemory[] {
  const rows: NewMemory[] = [];
  let n = 0;
  const at = (daysAgo: number, hour: number): Date => new Date(NOW.getTime() - daysAgo * DAY + (hour - 12) * HOUR);
  const op = (daysAgo: number, hour: number, type: NewMemory['type'], content: string, metadata: Record<string, unknown>): void => {
    rows.push({ type, tier: 'operational', content: `${content} kilo r${n++}`, metadata, source: 'test', createdAt: at(daysAgo, hour) });
  };
  for (let d = 39; d >= 0; d--) {
    op(d, 1, 'tool', 'fs.write {"path":"/etc/motd"} → ok (allow)', { tool: 'fs.write', ok: true });
    op(d, 2, 'tool', 'fs.write {"path":"/etc/hosts"} → ok (allow)', { tool: 'fs.write', ok: true });
    op(d, 3, 'tool', 'service.restart {"name":"nginx"} → EFAIL: exit 1', { tool: 'service.restart', ok: d % 2 === 1 });
    op(d, 4, 'service', 'nginx crashed: exited with status 1', { service: 'nginx', event: 'exit', crashed: true });
    op(d, 5, 'service', 'nginx crashed: exited with status 1', { service: 'nginx', event: 'exit', crashed: true });
    op(d, 6, 'service', 'sshd started', { service: 'sshd', event: 'start', crashed: false });
    op(d, 7, 'package', 'installed vim', { action: 'install', packages: ['vim'] });
    op(d, 20, 'system', `disk usage at ${50 + d}%`, {});
  }
  rows.push({ type: 'knowledge', tier: 'long-term', content: 'kilo lima: nginx serves /srv/www', source: 'test', createdAt: at(300, 0) });
  rows.push({ type: 'chat', tier: 'working', content: 'kilo mike: planning the upgrade', metadata: { done: true }, source: 'test', createdAt: new Date(NOW.getTime() - HOUR) });
  rows.push({ type: 'chat', tier: 'working', content: 'kilo november: yesterday', metadata: {}, source: 'test', createdAt: new Date(NOW.getTime() - 30 * HOUR) });
  rows.push({ type: 'chat', tier: 'working', content: 'kilo oscar: still going', metadata: { done: false }, source: 'test', createdAt: new Date(NOW.getTime() - 2 * HOUR) });
  rows.push({ type: 'system', tier: 'operational', content: 'kilo papa: temporary', source: 'test', createdAt: new Date(NOW.getTime() - 2 * HOUR), expiresAt: new Date(NOW.getTime() - HOUR) });
  return rows;
}

/** Every memory, by id. */
function everything(store: MemoryStore): Map<string, Memory> {
  return new Map(store.search('', { limit: 1_000_000 }).map(({ rank: _, snippet: __, ...m }) => [m.id, m]));
}

/** Full-text search must find exactly the rows whose content has the word (compared with a scan of the table). */
function indexMatchesTable(t: Test, store: MemoryStore, word: string): void {
  const db = new Database(store.file, { readonly: true });
  const scanned = db.prepare<[string], { id: string }>("SELECT id FROM memories WHERE (' ' || lower(content) || ' ') LIKE '%' || ? || '%'").all(` ${word} `).map((r) => r.id).sort();
  db.close();
  t.same(store.search(word, { limit: 1_000_000 }).map((h) => h.id).sort(), scanned, `search finds exactly the rows with "${word}"`);
}

t.test('retention by age: what goes, what stays, the summaries', async (t) => {
  const store = open(t);
  store.addMany(history());
  // Through an update and a delete first: the index must follow both, then retention.
  const updated = store.search('r300')[0]!;
  store.update(updated.id, `${updated.content.replace('kilo', 'quebec')}`);
  t.ok(store.forget(store.search('r301')[0]!.id));
  const before = everything(store);
  const cutoff = new Date(NOW.getTime() - DEFAULT_RETENTION.operationalMaxDays * DAY).toISOString();

  const report = store.retain({ now: NOW });
  const after = everything(store);
  t.equal(report.cutoff, cutoff);
  t.equal(report.expired, 1);
  t.equal(report.working, 2, 'the done one and the one older than a day');
  const dueByAge = [...before.values()].filter((m) => m.tier === 'operational' && m.createdAt < cutoff && !m.expiresAt);
  t.equal(report.operational.byAge, dueByAge.length);
  t.equal(report.operational.byCount, 0);
  for (const m of dueByAge) t.notOk(after.has(m.id), `${m.content} went`);

  // Nothing newer than the cutoff is touched, nor long-term memories, nor working ones in use.
  const untouched = [...before.values()].filter((m) => !dueByAge.includes(m) && !m.expiresAt && !(m.tier === 'working' && (m.metadata.done === true || m.createdAt < new Date(NOW.getTime() - DAY).toISOString())));
  for (const m of untouched) t.same(after.get(m.id), m, `${m.content} unchanged`);
  t.equal(report.operational.kept, [...after.values()].filter((m) => m.tier === 'operational').length);

  // One summary per day and type, counting exactly the memories that went.
  const summaries = [...after.values()].filter((m) => m.source === 'retention');
  const groups = new Map<string, Memory[]>();
  for (const m of dueByAge) groups.set(`${m.createdAt.slice(0, 10)} ${m.type}`, [...(groups.get(`${m.createdAt.slice(0, 10)} ${m.type}`) ?? []), m]);
  t.equal(summaries.length, groups.size);
  t.equal(report.summaries.written, groups.size);
  for (const s of summaries) {
    t.match(s, { type: 'knowledge', tier: 'long-term' });
    const times = groups.get(`${s.metadata.day} ${s.metadata.type}`)!.map((m) => m.createdAt).sort();
    t.match(s.metadata, { summaryOf: times.length, from: times[0], to: times.at(-1) });
  }
  const day = (daysAgo: number): string => new Date(NOW.getTime() - daysAgo * DAY).toISOString().slice(0, 10);
  const text = (daysAgo: number, type: string): string | undefined => summaries.find((s) => s.metadata.day === day(daysAgo) && s.metadata.type === type)?.content;
  t.equal(text(34, 'tool'), `${day(34)}: 3 tool calls (fs.write ×2, service.restart); 1 failed`);
  t.equal(text(33, 'tool'), `${day(33)}: 3 tool calls (fs.write ×2, service.restart)`);
  t.equal(text(34, 'service'), `${day(34)}: 3 service events; service nginx crashed twice, service sshd started once`);
  t.equal(text(34, 'package'), `${day(34)}: 1 package change: installed vim`);
  t.equal(text(34, 'system'), `${day(34)}: 1 system memory (e.g. "disk usage at 84% kilo r${5 * 8 + 7}")`);
  // The cutoff falls at noon 30 days ago: that day's morning went, its evening stayed.
  t.equal(text(30, 'tool'), `${day(30)}: 3 tool calls (fs.write ×2, service.restart); 1 failed`);
  t.equal(text(30, 'system'), undefined, 'the evening row of the cutoff day stayed');

  // Summaries are searchable; the index is exactly the table, after updates, deletes and retention.
  const serviceDays = [...groups.keys()].filter((k) => k.endsWith(' service')).length;
  t.equal(serviceDays, 10);
  t.equal(store.search('nginx crashed', { type: 'knowledge', limit: 100 }).length, serviceDays, 'each service summary is found by its words');
  t.match(store.search('service.restart failed', { since: new Date(day(34)), until: new Date(day(33)) })[0], { source: 'retention', content: text(34, 'tool') });
  // Words that stand between spaces wherever they occur (so that the scan finds them too), and
  // that no other word starts with (a word found nowhere is searched for as a prefix).
  for (const word of ['kilo', 'quebec', 'sshd', 'vim', 'r45', 'r300', 'r301', 'summaryof', 'failed']) indexMatchesTable(t, store, word);
  t.equal(store.check(), 'ok', 'integrity_check and the FTS integrity-check pass');

  const again = store.retain({ now: NOW });
  t.same(again, { ...again, expired: 0, working: 0, operational: { byAge: 0, byCount: 0, kept: report.operational.kept }, summaries: { written: 0, updated: 0 } }, 'a second run finds nothing to do');
});

t.test('retention by count merges into the day summaries, and batch size does not change them', async (t) => {
  const stores = [open(t), open(t)];
  for (const store of stores) store.addMany(history());
  // First by age (30 days: 241 operational rows stay), then down to 47: days 0-4 (8 rows a day)
  // and day 5 but for its first row, a tool call; then to 45, cutting into day 5's tool calls,
  // whose summary the second run wrote. One store in batches of 3, the other in one batch.
  const batchSize = (i: number): number => (i === 0 ? 3 : 10_000);
  const reports = stores.map((store, i) => [store.retain({ now: NOW, batchSize: batchSize(i) }), store.retain({ now: NOW, operationalMaxRows: 47, batchSize: batchSize(i) })]);
  for (const [i, store] of stores.entries()) {
    const [byAge, byCount] = reports[i]!;
    t.equal(byAge!.operational.kept, 241);
    t.match(byCount!.operational, { byAge: 0, byCount: 241 - 47, kept: 47 });
    const operational = store.search('', { tier: 'operational', limit: 1000 });
    t.equal(operational.length, 47);
    const oldestKept = operational.at(-1)!.createdAt;
    const summaries = store.search('', { type: 'knowledge', limit: 1000 }).filter((m) => m.source === 'retention');
    t.ok(summaries.every((s) => (s.metadata.to as string) < oldestKept), 'every summarised memory is older than every kept one');
    const keys = summaries.map((s) => `${s.metadata.day} ${s.metadata.type}`);
    t.equal(new Set(keys).size, keys.length, 'one summary per day and type');
    indexMatchesTable(t, store, 'kilo');
    t.equal(store.check(), 'ok');
  }
  const third = stores[1]!.retain({ now: NOW, operationalMaxRows: 45 });
  t.match(third, { operational: { byCount: 2, kept: 45 }, summaries: { written: 0, updated: 1 } }, 'cutting into a summarised day updates its summary');
  const day5 = new Date(NOW.getTime() - 5 * DAY).toISOString().slice(0, 10);
  t.equal(stores[1]!.search('fs.write', { type: 'knowledge', since: new Date(day5), limit: 100 }).filter((m) => m.metadata.day === day5)[0]?.content, `${day5}: 3 tool calls (fs.write ×2, service.restart)`);
  const one = (store: MemoryStore) => store.search('', { type: 'knowledge', limit: 1000 }).filter((m) => m.source === 'retention').map((m) => JSON.stringify([m.content, m.metadata])).sort();
  stores[0]!.retain({ now: NOW, operationalMaxRows: 45, batchSize: 3 });
  t.same(one(stores[0]!), one(stores[1]!), 'batches of 3 and of 10,000 give the same summaries');
  t.equal(one(stores[0]!).length, 34 * 4 + 1, 'four types a day for days 6-39, and the tool calls of day 5');
});

t.test('rows of the same moment at the row limit: the first written go, exactly as many as needed', async (t) => {
  const store = open(t);
  const at = new Date(NOW.getTime() - DAY);
  const rows = store.addMany([0, 1, 2, 3, 4].map((i) => ({ type: 'system' as const, content: `same moment ${i}`, source: 'test', createdAt: at })));
  t.match(store.retain({ now: NOW, operationalMaxRows: 2 }).operational, { byAge: 0, byCount: 3, kept: 2 });
  t.same(store.search('', { tier: 'operational' }).map((m) => m.id).sort(), rows.slice(3).map((m) => m.id).sort());
  t.match(store.search('same moment', { type: 'knowledge' })[0]?.metadata, { summaryOf: 3 });
});

t.test('retain refuses limits that are not positive integers', async (t) => {
  const store = open(t);
  t.throws(() => store.retain({ operationalMaxDays: 0 }), /Expected operationalMaxDays to be a positive integer, got `0`/);
  t.throws(() => store.retain({ operationalMaxRows: 1.5 }), /Expected operationalMaxRows to be a positive integer, got `1.5`/);
  t.throws(() => store.retain({ batchSize: -1 }), /Expected batchSize/);
});

t.test('[memory] in config.toml: defaults, values, errors naming the key', async (t) => {
  const dir = tempDir(t);
  const file = path.join(dir, 'config.toml');
  t.same(loadMemoryConfig(path.join(dir, 'missing.toml'), { missingOk: true }), DEFAULT_RETENTION, 'a missing file means the defaults');
  t.throws(() => loadMemoryConfig(path.join(dir, 'missing.toml')), /Cannot read the configuration/, 'unless it was named');
  writeFileSync(file, '[permissions]\nmode = "safe"\n');
  t.same(loadMemoryConfig(file), DEFAULT_RETENTION, 'no [memory] section: the defaults');
  writeFileSync(file, '[memory]\noperational_max_days = 7\noperational_max_rows = 5000\nworking_max_hours = 2\n');
  t.same(loadMemoryConfig(file), { operationalMaxDays: 7, operationalMaxRows: 5000, workingMaxHours: 2 });
  writeFileSync(file, '[memory]\noperational_max_days = 0\n');
  t.throws(() => loadMemoryConfig(file), /\[memory\.operational_max_days\] .*, got `0`/);
  writeFileSync(file, '[memory]\nworking_max_hours = "a day"\n');
  t.throws(() => loadMemoryConfig(file), /\[memory\.working_max_hours\] .*, got `"a day"`/);
  writeFileSync(file, '[memory]\noperational_max_dayz = 3\n');
  t.throws(() => loadMemoryConfig(file), /\[memory\] .*operational_max_dayz/);
  writeFileSync(file, '[memory\n');
  t.throws(() => loadMemoryConfig(file), /is not valid TOML/);
});

t.test('aios memory retain', async (t) => {
  const dir = tempDir(t);
  const store = MemoryStore.open(MemoryStore.pathIn(dir));
  const shift = (d: Date | null | undefined): Date | null => (d ? new Date(d.getTime() - NOW.getTime() + Date.now()) : null);
  store.addMany(history().map((m) => ({ ...m, createdAt: shift(m.createdAt)!, expiresAt: shift(m.expiresAt) })));
  store.close();
  const config = path.join(dir, 'config.toml');
  writeFileSync(config, '[memory]\noperational_max_days = 10\n');
  const aios = (...args: string[]) => promisify(execFile)(process.execPath, ['--disable-sigusr1', MAIN, 'memory', 'retain', '--state', dir, '--config', config, ...args]);
  const { stdout } = await aios('--json');
  const report = JSON.parse(stdout) as { operational: { byAge: number; kept: number }; summaries: { written: number } };
  t.ok(report.operational.byAge > 200, 'about 30 days of 8 rows went');
  t.equal(report.operational.kept, 10 * 8 + 1, 'ten days stayed (and the evening of the eleventh)');
  t.ok(report.summaries.written >= 30 * 4 - 1, 'a summary per (UTC) day and type');
  t.match((await aios()).stdout, /summarised and removed 0 operational memories[\s\S]*summaries: 0 written, 0 updated/);
  writeFileSync(config, '[memory]\noperational_max_rows = -5\n');
  await t.rejects(aios(), /\[memory\.operational_max_rows\]/);
});
