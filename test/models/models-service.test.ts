// The models service for real: `aios models serve` with a generated GGUF in its models
// directory, spoken to with the official `openai` client (as the runtime and other programs on
// the machine will): model list, chat with and without streaming, grammar-constrained tool calls
// that always parse and match the tool's schema, embeddings, clear errors, the memory bound, a
// model file that does not load (the service stays up), unloading after the idle time, and the
// persistent threadpool a context gets at 2 threads.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import t, { type Test } from 'tap';
import { TINY_LLAMA, writeGguf, writeLlamaModel } from '../../src/models/gguf.ts';
import { MAIN } from '../helpers/init-harness.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-models-'));
const models = path.join(dir, 'models');
mkdirSync(models);
writeLlamaModel(path.join(models, 'tiny.gguf'), TINY_LLAMA);
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function serve(t: Test, config: string): Promise<{ url: string; child: ChildProcess; output: () => string }> {
  const configFile = path.join(dir, `config-${Math.random().toString(36).slice(2)}.toml`);
  writeFileSync(configFile, config);
  const child = spawn(process.execPath, [MAIN, 'models', 'serve', '--listen', '127.0.0.1:0', '--state', dir, '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no address in 60 s: ${output}`)), 60_000);
    child.stdout!.on('data', () => {
      const m = /listening on (http:\/\/[\d.:]+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${output}`)));
  });
  return { url, child, output: () => output };
}

t.test('list, chat, stream, tool calls and embeddings through the openai client', async (t) => {
  const { url } = await serve(t, '[models]\ncontext_size = 1024\nthreads = 1\nmax_tokens = 24\n');
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'local', maxRetries: 0 });

  const list = await client.models.list();
  t.match(
    list.data.map((m) => ({ id: m.id, tier: (m as unknown as { tier: string }).tier })),
    [{ id: 'tiny', tier: 'operational' }],
  );

  const answer = await client.chat.completions.create({ model: 'local', messages: [{ role: 'user', content: 'hello' }], max_tokens: 8, seed: 1 });
  t.equal(answer.choices[0]!.message.role, 'assistant');
  t.type(answer.choices[0]!.message.content, 'string');
  t.ok(['stop', 'length'].includes(answer.choices[0]!.finish_reason));
  t.ok(answer.usage!.completion_tokens > 0 && answer.usage!.prompt_tokens > 0, 'usage is counted');
  // The generated models never end a greedy reply early (bench/local.ts measures every token).
  const greedy = await client.chat.completions.create({ model: 'local', messages: [{ role: 'user', content: 'hello' }], max_tokens: 20, temperature: 0 });
  t.match({ finish: greedy.choices[0]!.finish_reason, tokens: greedy.usage!.completion_tokens }, { finish: 'length', tokens: 20 }, 'a greedy reply runs to max_tokens');
  // ...and never picks a token that is no text alone (a byte of a longer UTF-8 character, a
  // control token): each token streams as it is generated, so a bench's time to first token is one.
  for (const prompt of ['hello', 'disk full', 'why']) {
    const pieces = await client.chat.completions.create({ model: 'local', messages: [{ role: 'user', content: prompt }], max_tokens: 20, temperature: 0, stream: true });
    let streamed = 0;
    for await (const chunk of pieces) if (chunk.choices[0]?.delta.content) streamed++;
    t.ok(streamed >= 18, `"${prompt}": 20 greedy tokens streamed in ${streamed} pieces`);
  }

  const stream = await client.chat.completions.create({ model: 'operational', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }], max_tokens: 8, stream: true, stream_options: { include_usage: true } });
  const deltas: string[] = [];
  let finish: string | null = null;
  let streamedUsage = false;
  for await (const chunk of stream) {
    if (chunk.usage) streamedUsage = true;
    const choice = chunk.choices[0];
    if (choice?.delta.content) deltas.push(choice.delta.content);
    if (choice?.finish_reason) finish = choice.finish_reason;
  }
  t.ok(deltas.length > 1, `streamed in ${deltas.length} pieces`);
  t.ok(finish === 'stop' || finish === 'length');
  t.ok(streamedUsage, 'usage at the end when asked');

  // A random model calls the tool it must, with arguments that match the tool's schema.
  const tools: OpenAI.Chat.Completions.ChatCompletionTool[] = [
    { type: 'function', function: { name: 'service.restart', description: 'Restart a service', parameters: { type: 'object', properties: { name: { type: 'string', enum: ['nginx', 'sshd'] } }, required: ['name'], additionalProperties: false } } },
    { type: 'function', function: { name: 'sys.status', description: 'Status', parameters: { type: 'object', properties: {} } } },
  ];
  for (let seed = 1; seed <= 3; seed++) {
    const call = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'restart nginx' }], tools, tool_choice: 'required', max_tokens: 64, seed });
    const choice = call.choices[0]!;
    t.equal(choice.finish_reason, 'tool_calls', `seed ${seed}: a call`);
    const fn = (choice.message.tool_calls![0] as { function: { name: string; arguments: string } }).function;
    t.ok(['service.restart', 'sys.status'].includes(fn.name), fn.name);
    const args = JSON.parse(fn.arguments) as Record<string, unknown>;
    if (fn.name === 'service.restart') t.ok(['nginx', 'sshd'].includes(args.name as string), `arguments ${fn.arguments}`);
  }
  const named = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], tools, tool_choice: { type: 'function', function: { name: 'sys.status' } }, max_tokens: 96 });
  t.equal((named.choices[0]!.message.tool_calls![0] as { function: { name: string } }).function.name, 'sys.status', 'tool_choice naming a tool gets that one');

  const streamedCall = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], tools, tool_choice: 'required', max_tokens: 64, stream: true });
  const callDeltas = [];
  for await (const chunk of streamedCall) if (chunk.choices[0]?.delta.tool_calls) callDeltas.push(...chunk.choices[0].delta.tool_calls);
  t.equal(callDeltas.length, 1, 'a streamed call arrives whole');

  const embedded = await client.embeddings.create({ model: 'tiny', input: ['nginx crashed', 'disk full'] });
  t.equal(embedded.data.length, 2);
  t.equal(embedded.data[0]!.embedding.length, TINY_LLAMA.embedding);
});

t.test('errors: bad requests, unknown models, the memory bound, a file that does not load', async (t) => {
  writeGguf(path.join(models, 'broken.gguf'), { 'general.architecture': 'llama', 'llama.context_length': 64, 'llama.embedding_length': 32, 'llama.block_count': 1, 'llama.attention.layer_norm_rms_epsilon': 1e-5, 'tokenizer.ggml.model': 'llama', 'tokenizer.ggml.tokens': ['<unk>', '<s>', '</s>'] }, [{ name: 'token_embd.weight', dims: [32, 3], type: 'F32' }]);
  t.teardown(() => rmSync(path.join(models, 'broken.gguf')));
  const { url, child } = await serve(t, '[models]\nmemory_max = "100K"\nthreads = 1\n');
  const post = async (route: string, body: unknown) => {
    const response = await fetch(`${url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as { error: { message: string; type: string; param: string | null } } };
  };
  let r = await post('/v1/chat/completions', { model: 'tiny', messages: [] });
  t.match(r, { status: 400, body: { error: { message: 'messages: messages is empty', type: 'invalid_request_error', param: 'messages' } } });
  r = await post('/v1/chat/completions', { model: 'tiny', messages: [{ role: 'wizard', content: 'x' }] });
  t.match(r, { status: 400, body: { error: { param: 'messages.0.role' } } });
  r = await post('/v1/chat/completions', '{"model":');
  t.equal(r.status, 400, 'a body that is not JSON');
  r = await post('/v1/chat/completions', { model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] });
  t.match(r, { status: 404, body: { error: { message: /The model "gpt-9" is not here: use one of .*tiny.*operational, tactical, local/, param: 'model' } } });
  r = await post('/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'x' }], tool_choice: 'required' });
  t.match(r, { status: 400, body: { error: { message: /no tools were given/ } } });
  r = await post('/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'x' }] });
  t.match(r, { status: 507, body: { error: { message: /tiny\.gguf needs \d+\.\d KiB, more than the 100\.0 KiB models may use \(\[models\] memory_max\)/ } } });
  r = await post('/v1/chat/completions', { model: 'broken', messages: [{ role: 'user', content: 'x' }] });
  t.match(r, { status: 500, body: { error: { message: /broken\.gguf did not load/ } } }, 'a model llama.cpp refuses');
  t.equal(child.exitCode, null, 'the service is still up');
  const health = await fetch(`${url}/health`);
  t.equal(health.status, 200);
});

t.test('a model is loaded on first use and unloaded after the idle time', async (t) => {
  const { url } = await serve(t, '[models]\nidle_seconds = 5\nthreads = 1\ncontext_size = 512\n');
  const loaded = async () => ((await (await fetch(`${url}/health`)).json()) as { loaded: string[] }).loaded;
  t.same(await loaded(), [], 'nothing loaded at start');
  await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], max_tokens: 2 }) });
  t.same(await loaded(), ['tiny.gguf'], 'loaded by the first request');
  const deadline = Date.now() + 20_000;
  while ((await loaded()).length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 500));
  t.same(await loaded(), [], 'unloaded when idle');
});

t.test('at 2 threads a context keeps one threadpool from load to unload', async (t) => {
  // Without it ggml starts its second thread for every token and joins it after (see
  // aios-llama-threads.c and bench/local.ts for what that costs): then no thread outlives a
  // request, and unloading the model ends none.
  const { url, child } = await serve(t, '[models]\nidle_seconds = 5\nthreads = 2\ncontext_size = 512\n');
  type Health = { loaded: string[]; threadpools: { live: { threads: number }[]; made: number } };
  const health = async () => (await (await fetch(`${url}/health`)).json()) as Health;
  const threads = () => Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]);
  t.same((await health()).threadpools, { live: [], made: 0 }, 'none before a model is loaded');
  const ask = async () => {
    const r = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', messages: [{ role: 'user', content: 'x' }], max_tokens: 8 }) });
    t.equal(r.status, 200);
  };
  await ask();
  const { live, made } = (await health()).threadpools;
  t.same(live, [{ threads: 2 }], 'the loaded context has a pool of 2 threads');
  await ask();
  await ask();
  t.same((await health()).threadpools, { live, made }, 'later requests use it: no pool is made per request');
  const whileLoaded = threads();
  const deadline = Date.now() + 20_000;
  while ((await health()).loaded.length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 500));
  t.same((await health()).threadpools.live, [], 'freed with the context');
  await new Promise((resolve) => setTimeout(resolve, 500));
  t.equal(whileLoaded - threads(), 1, "the pool's second thread waited between requests and ended with the model");
});
