// The answer of a grammar-constrained reply streams as the model writes it: split anywhere,
// escapes included, the pieces add up to the answer; a tool call streams nothing.
import t from 'tap';
import { AnswerStream } from '../../src/models/llama-host.ts';

const streamed = (output: string, cuts: number[]): { pieces: string[]; result: string | null } => {
  const pieces: string[] = [];
  const stream = new AnswerStream((p) => pieces.push(p));
  let result: string | null = null;
  let from = 0;
  for (const cut of [...cuts, output.length]) {
    result = stream.push(output.slice(from, cut));
    from = cut;
  }
  return { pieces, result };
};

t.test('an answer, split at every place, streams exactly its text', async (t) => {
  const answer = 'Load is "work waiting", \\ per CPU;\nsee /proc/loadavg \u00e9 \ud83d\ude00.';
  const output = ` {\n  "answer" : ${JSON.stringify(answer)}\n}`;
  for (let a = 0; a <= output.length; a++) {
    for (const b of [a, Math.min(output.length, a + 1), Math.min(output.length, a + 3)]) {
      const { pieces, result } = streamed(output, [a, b]);
      if (pieces.join('') !== answer || result !== answer) {
        t.fail(`split at ${a}/${b}: ${JSON.stringify(pieces)}`);
        return;
      }
    }
  }
  const escaped = streamed('{"answer": "caf\\u00e9 \\"x\\""}', [18, 19]);
  t.equal(escaped.pieces.join(''), 'café "x"', 'a \\u escape split across chunks waits until whole');
  t.pass('every split gives the answer');
});

t.test('a tool call streams nothing; a reply cut off gives the answer so far', async (t) => {
  const call = streamed('{"tool": "sys_status", "arguments": {}}', [3, 9]);
  t.same(call, { pieces: [], result: null });
  t.same(streamed('{"ans', []).pieces, [], 'nothing yet while it could still be either');
  const cut = streamed('{"answer": "half an ans', [15]);
  t.equal(cut.result, 'half an ans');
  t.equal(cut.pieces.join(''), 'half an ans');
});
