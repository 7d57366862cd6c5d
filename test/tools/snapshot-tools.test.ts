// snapshot.*: create, list, diff and restore as tools; errors come back as codes a model can act on.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { snapshotCreateTool, snapshotDiffTool, snapshotListTool, snapshotRestoreTool } from '../../src/tools/snapshot-tools.ts';
import { fails, ok } from '../helpers/tool-calls.ts';

t.test('create, list, diff, restore, through the tools', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-snapshot-tools-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const tree = path.join(dir, 'srv');
  const stateDir = path.join(dir, 'state');
  mkdirSync(tree);
  mkdirSync(stateDir);
  writeFileSync(path.join(tree, 'site.conf'), 'listen 80\n');
  const s = { context: { runDir: path.join(dir, 'run'), stateDir, signal: new AbortController().signal } };

  t.same(await ok(t, snapshotListTool, {}, s), { snapshots: [], unreadable: [] });
  const made = await ok(t, snapshotCreateTool, { description: 'before the port change', paths: [tree] }, s);
  t.match(made, { id: /^[0-9A-Z]{26}$/, files: 1, method: /archive|reflink/ });
  t.match(await ok(t, snapshotListTool, {}, s), { snapshots: [{ id: made.id, trigger: 'manual', description: 'before the port change', paths: [tree], files: 1, tool: null }] });

  writeFileSync(path.join(tree, 'site.conf'), 'listen 8080\n');
  t.match(await ok(t, snapshotDiffTool, { id: made.id }, s), { total: 1, changes: [{ path: path.join(tree, 'site.conf'), kind: 'content' }] });
  const restored = await ok(t, snapshotRestoreTool, { id: made.id }, s);
  t.match(restored, { id: made.id, safety: /^[0-9A-Z]{26}$/, changes: 1, services: [], problems: [] });
  t.equal(readFileSync(path.join(tree, 'site.conf'), 'utf8'), 'listen 80\n');

  t.match(await fails(t, snapshotRestoreTool, { id: '01ARZ3NDEKTSV4RRFFQ69G5FAV' }, s, 'ENOENT'), /snapshot\.restore: no snapshot 01ARZ3NDEKTSV4RRFFQ69G5FAV/);
  t.match(await fails(t, snapshotDiffTool, { id: '../etc' }, s, 'EINVAL'), /a snapshot id is 26 characters/);
  t.match(await fails(t, snapshotCreateTool, { paths: ['relative/path'] }, s, 'EINVAL'), /absolute/);
});
