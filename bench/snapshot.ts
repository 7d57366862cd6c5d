// Snapshot and restore of a 200 MB tree: 100 MB in 50 incompressible files (binaries, archives)
// and 100 MB in 10,000 text files of 10 KB (configuration, logs), plus links and a directory
// per 100 files. Measured: taking the snapshot (walk, copies, checksums, zstd archive), the diff
// (what --dry-run shows), and a restore after 10 % of the files changed and 1 % were deleted
// (verify every checksum, safety snapshot, put back). Anchor, in the same run: GNU tar with
// zstd over the same tree (create, and extract over it), which checks nothing and keeps no
// safety copy.
//
//   node bench/snapshot.ts [--mib 200]
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { diffSnapshot, restoreSnapshot } from '../src/recovery/restore.ts';
import { createSnapshot } from '../src/recovery/snapshots.ts';
import { machine, print, round } from './lib.ts';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '200' } } });
const MIB = Number(values.mib);

function text(i: number, bytes: number): string {
  const line = `setting_${i} = "value ${i}" # option for service ${i % 97} on host ${i % 13}\n`;
  return line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes);
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-bench-snapshot-'));
try {
  const tree = path.join(dir, 'tree');
  const state = path.join(dir, 'state');
  mkdirSync(state);
  const half = (MIB / 2) * 2 ** 20;
  const binaries = 50;
  const texts = Math.round(half / 10_240);
  mkdirSync(path.join(tree, 'bin'), { recursive: true });
  for (let i = 0; i < binaries; i++) writeFileSync(path.join(tree, 'bin', `blob${i}`), randomBytes(Math.round(half / binaries)));
  for (let i = 0; i < texts; i++) {
    const sub = path.join(tree, 'etc', `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(sub, { recursive: true });
    writeFileSync(path.join(sub, `f${i}.conf`), text(i, 10_240));
    if (i % 100 === 0) symlinkSync(`f${i}.conf`, path.join(sub, 'current'));
  }
  execFileSync('sync');
  process.stderr.write(`bench snapshot: tree of ${MIB} MiB (${binaries + texts} files) ready\n`);

  let t0 = performance.now();
  const snapshot = await createSnapshot({ stateDir: state, paths: [tree], trigger: 'manual' });
  const snapshotMs = performance.now() - t0;

  // 10 % changed, 1 % deleted.
  for (let i = 0; i < texts; i += 10) writeFileSync(path.join(tree, 'etc', `d${Math.floor(i / 100)}`, `f${i}.conf`), text(i + 1, 10_240));
  for (let i = 5; i < texts; i += 100) unlinkSync(path.join(tree, 'etc', `d${Math.floor(i / 100)}`, `f${i}.conf`));
  for (let i = 0; i < binaries; i += 10) writeFileSync(path.join(tree, 'bin', `blob${i}`), randomBytes(Math.round(half / binaries)));

  t0 = performance.now();
  const diff = await diffSnapshot(snapshot);
  const diffMs = performance.now() - t0;
  t0 = performance.now();
  const restored = await restoreSnapshot(snapshot.id, { stateDir: state });
  const restoreMs = performance.now() - t0;

  // Anchor: GNU tar + zstd, create and extract over the tree.
  const anchorFile = path.join(dir, 'anchor.tar.zst');
  t0 = performance.now();
  execFileSync('tar', ['--zstd', '-cf', anchorFile, '-C', dir, 'tree']);
  const anchorCreateMs = performance.now() - t0;
  t0 = performance.now();
  execFileSync('tar', ['--zstd', '-xf', anchorFile, '-C', dir]);
  const anchorExtractMs = performance.now() - t0;

  print({
    benchmark: 'snapshot',
    machine: machine(),
    tree: { mib: MIB, files: snapshot.sizes.files, entries: snapshot.entries.length },
    snapshot: { seconds: round(snapshotMs / 1000), method: snapshot.data.method, storedMiB: round(snapshot.sizes.stored / 2 ** 20, 1) },
    diff: { seconds: round(diffMs / 1000), changes: diff.changes.length },
    restore: { seconds: round(restoreMs / 1000), changes: restored.diff.changes.length, includes: 'checksum verification, diff, safety snapshot, put back' },
    anchorGnuTarZstd: { createSeconds: round(anchorCreateMs / 1000), extractSeconds: round(anchorExtractMs / 1000), storedMiB: round(statSync(anchorFile).size / 2 ** 20, 1) },
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
