import t from 'tap';
import { controlRequestSchema, describeZodError, LineSplitter } from '../../src/interfaces/control-protocol.ts';

t.test('lines are split across chunks; oversized lines are refused once and skipped', async (t) => {
  const splitter = new LineSplitter(10);
  t.same(splitter.push('{"a"'), []);
  t.same(splitter.push(':1}\n{"b":2}\n'), ['{"a":1}', '{"b":2}']);
  t.same(splitter.push('x'.repeat(11)), [null]);
  t.same(splitter.push('yyyy'), [], 'still discarding, reported once');
  t.same(splitter.push('\nok\n'), ['ok'], 'the line after the oversized one arrives');
});

t.test('requests are validated with messages that name the field', async (t) => {
  const bad = controlRequestSchema.safeParse({ cmd: 'logs', name: 'x', lines: 'ten' });
  t.notOk(bad.success);
  if (!bad.success) t.match(describeZodError(bad.error), /`lines`/);
  const ok = controlRequestSchema.safeParse({ cmd: 'logs', name: 'x' });
  t.ok(ok.success);
  if (ok.success && ok.data.cmd === 'logs') t.same([ok.data.lines, ok.data.follow], [50, false]);
});
