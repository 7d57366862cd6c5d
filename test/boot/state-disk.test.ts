// The state disk qemu/ makes: blank for the dev image (its init formats a blank disk it is told
// about), formatted and labelled for the archiso image (whose boot entries find it by label).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ensureStateDisk, findsStateByLabel, isoVolumeLabel } from '../../qemu/qemu.ts';
import { STATE_DISK_LABEL } from '../../src/disks.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-state-disk-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function asRaw(qcow2: string): string {
  const raw = `${qcow2}.raw`;
  execFileSync('qemu-img', ['convert', '-O', 'raw', qcow2, raw]);
  return raw;
}

t.test('for the archiso image: ext4 labelled aios-state, in qcow2', async (t) => {
  const disk = path.join(dir, 'arch', 'state.qcow2');
  ensureStateDisk(disk, { formatted: true });
  t.match(execFileSync('qemu-img', ['info', disk], { encoding: 'utf8' }), /file format: qcow2/);
  t.equal(execFileSync('e2label', [asRaw(disk)], { encoding: 'utf8' }).trim(), STATE_DISK_LABEL);
  t.notOk(existsSync(`${disk}.raw.tmp`), 'no temporary file left');
  const before = readFileSync(disk);
  ensureStateDisk(disk, { formatted: true });
  t.ok(readFileSync(disk).equals(before), 'an existing disk is never touched');
});

t.test('for the dev image: blank, formatted by its init', async (t) => {
  const disk = path.join(dir, 'dev', 'state.qcow2');
  ensureStateDisk(disk);
  const head = execFileSync('head', ['-c', '65536', asRaw(disk)]);
  t.ok(head.every((b) => b === 0), 'the first 64 KiB are zero: init sees a blank disk');
});

t.test('which ISO finds its state disk by label: by the ISO volume label', async (t) => {
  const tree = path.join(dir, 'tree');
  mkdirSync(tree);
  writeFileSync(path.join(tree, 'hello'), 'hi\n');
  const make = (label: string): string => {
    const iso = path.join(dir, `${label}.iso`);
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-V', label, '-o', iso, tree], { stdio: 'ignore' });
    return iso;
  };
  t.equal(isoVolumeLabel(make('AIOS_202611')), 'AIOS_202611');
  t.ok(findsStateByLabel(path.join(dir, 'AIOS_202611.iso')), 'the archiso image (AIOS_yyyymm)');
  t.notOk(findsStateByLabel(make('AIOS_DEV')), 'the dev ISO names /dev/vda');
  t.notOk(findsStateByLabel(make('OTHER')), 'another ISO');
  t.notOk(findsStateByLabel(path.join(dir, 'tree')), 'the dev image (a folder)');
  t.equal(isoVolumeLabel(path.join(dir, 'tree', 'hello')), null, 'not an ISO');
});
