// The project's GGUF writer and header reader: a generated llama model reads back as written,
// and node-llama-cpp (the real llama.cpp loading path) loads it and produces a grammar-valid
// JSON object from random weights. A model missing a key llama.cpp asserts on aborts the process
// that loads it: why models are only ever loaded in a process of their own.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { GgufError, readGgufHeader, TINY_LLAMA, writeGguf, writeLlamaModel } from '../../src/models/gguf.ts';

const CHILD = path.join(import.meta.dirname, '../helpers/llama-child.ts');
const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-gguf-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('a generated model reads back as written', async (t) => {
  const file = path.join(dir, 'tiny.gguf');
  const { vocabulary } = writeLlamaModel(file, TINY_LLAMA);
  t.equal(vocabulary % 32, 0, 'the vocabulary is padded to a multiple of 32');
  const header = readGgufHeader(file);
  t.equal(header.version, 3);
  t.equal(header.tensorCount, BigInt(3 + 9 * TINY_LLAMA.layers));
  t.equal(header.metadata.get('general.architecture'), 'llama');
  t.equal(header.metadata.get('llama.feed_forward_length'), TINY_LLAMA.feedForward);
  t.equal(header.metadata.get('llama.attention.head_count_kv'), TINY_LLAMA.kvHeads);
  t.ok(Math.abs((header.metadata.get('llama.attention.layer_norm_rms_epsilon') as number) - 1e-5) < 1e-9);
  t.same(header.metadata.get('tokenizer.ggml.tokens'), { length: vocabulary }, 'a long array is counted, not kept');
  t.same(readGgufHeader(file, 1000).metadata.get('tokenizer.ggml.tokens')?.constructor, Array);
  // The same seed writes the same bytes.
  const again = path.join(dir, 'again.gguf');
  writeLlamaModel(again, TINY_LLAMA);
  t.equal(statSync(again).size, statSync(file).size);
});

t.test('a file that is no GGUF, or ends early, is an error that says so', async (t) => {
  const junk = path.join(dir, 'junk.gguf');
  writeFileSync(junk, 'not a model at all');
  t.throws(() => readGgufHeader(junk), new GgufError(`${junk}: not a GGUF file (no GGUF magic)`));
  const short = path.join(dir, 'short.gguf');
  const head = Buffer.alloc(12);
  head.write('GGUF', 0, 'latin1');
  head.writeUInt32LE(3, 4);
  writeFileSync(short, head);
  t.throws(() => readGgufHeader(short), /ends inside its header/);
  head.writeUInt32LE(7, 4);
  writeFileSync(short, head);
  t.throws(() => readGgufHeader(short), /GGUF version 7, not 2 or 3/);
});

t.test('node-llama-cpp loads it and a grammar turns random weights into a valid call', async (t) => {
  const file = path.join(dir, 'tiny.gguf');
  const run = spawnSync(process.execPath, [CHILD, file], { encoding: 'utf8', timeout: 120_000 });
  t.equal(run.status, 0, run.stderr);
  const answer = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as { parsed?: { tool: string; name: string }; error?: string };
  t.notOk(answer.error, answer.error ?? "no error");
  t.ok(['service.restart', 'service.status'].includes(answer.parsed!.tool), `tool ${answer.parsed?.tool}`);
  t.ok(['nginx', 'sshd'].includes(answer.parsed!.name));
});

t.test('a model without llama.feed_forward_length aborts the process that loads it', async (t) => {
  const file = path.join(dir, 'broken.gguf');
  writeGguf(file, { 'general.architecture': 'llama', 'llama.context_length': 64, 'llama.embedding_length': 32, 'llama.block_count': 1, 'llama.attention.layer_norm_rms_epsilon': 1e-5, 'tokenizer.ggml.model': 'llama', 'tokenizer.ggml.tokens': ['<unk>', '<s>', '</s>'] }, [
    { name: 'token_embd.weight', dims: [32, 3], type: 'F32' },
  ]);
  const run = spawnSync(process.execPath, [CHILD, file], { encoding: 'utf8', timeout: 120_000 });
  // Either llama.cpp's assert kills it, or (a newer llama.cpp) the load fails as an error:
  // never a result.
  t.ok(run.signal === 'SIGABRT' || /error/.test(run.stdout), `signal ${run.signal}, stdout ${run.stdout.trim()}`);
  t.notMatch(run.stdout, /"parsed"/);
});
