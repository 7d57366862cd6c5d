import t from 'tap';
import { parseMounts, parseStat } from '../../src/init/procfs.ts';

t.test('stat lines with spaces and parentheses in the name', async (t) => {
  const info = parseStat('4242 (we ird) (name)) Z 1 4242 4242 0 -1 2097216 0 0 0 0');
  t.match(info, { pid: 4242, comm: 'we ird) (name)', state: 'Z', ppid: 1, pgrp: 4242, kernelThread: true });
});

t.test('mount points with escaped spaces', async (t) => {
  t.same(parseMounts('tmpfs /mnt/with\\040space tmpfs rw 0 0\n'), [{ source: 'tmpfs', target: '/mnt/with space', fstype: 'tmpfs', options: 'rw' }]);
});
