// The local tiers' speed: prompt processing (pp) and generation (tg) tokens/s, time to first
// token and load time, for generated models of realistic shapes (random weights: values do not
// change the speed), three ways in the same run:
//   - the whole path: an OpenAI request to the models service (`aios models serve`), which runs
//     node-llama-cpp;
//   - node-llama-cpp called directly in this process;
//   - llama.cpp's own llama-bench, compiled from the release node-llama-cpp carries and linked
//     against node-llama-cpp's prebuilt libraries, so that it runs the same kernels (the anchor;
//     `node bench/llama-bench.ts` builds it once into out/llama-bench).
// Goal: the whole path at 0.95x llama-bench or better. Generation is compared at the same
// context depth (after the prompt; see llamaBench). The ratio to node-llama-cpp called
// directly is printed too: it is what the models service and the request cost.
//
//   node bench/local.ts [--shape 1.1b,7b] [--threads 1,2] [--pp 512] [--tg 128]
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SHAPE_1_1B, SHAPE_7B, writeLlamaModel, type LlamaShape } from '../src/models/gguf.ts';
import { machine, print, round } from './lib.ts';
import { LLAMA_BENCH, PREBUILT } from './llama-bench.ts';

const { values } = parseArgs({ options: { shape: { type: 'string', default: '1.1b' }, threads: { type: 'string', default: '1,2' }, pp: { type: 'string', default: '512' }, tg: { type: 'string', default: '128' } } });
const PP = Number(values.pp);
const TG = Number(values.tg);
const THREADS = values.threads.split(',').map(Number);
const SHAPES: Record<string, LlamaShape> = { '1.1b': SHAPE_1_1B, '7b': SHAPE_7B };
const ROOT = path.join(import.meta.dirname, '..');
const MODELS = path.join(os.tmpdir(), 'aios-bench-models');

function modelFile(name: string, shape: LlamaShape): string {
  const file = path.join(MODELS, `${name}.gguf`);
  if (!existsSync(file)) {
    mkdirSync(MODELS, { recursive: true });
    process.stderr.write(`bench local: writing the ${name} model (${shape.type}) to ${file}\n`);
    writeLlamaModel(file, shape);
  }
  return file;
}

async function direct(file: string, threads: number): Promise<Record<string, number>> {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false, maxThreads: threads });
  let t0 = performance.now();
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const loadMs = performance.now() - t0;
  const context = await model.createContext({ contextSize: PP + TG + 64, threads, batchSize: PP });
  const sequence = context.getSequence();
  const prompt = model.tokenize('abcdefghij'.repeat(Math.ceil(PP / 10))).slice(0, PP);
  t0 = performance.now();
  await sequence.evaluateWithoutGeneratingNewTokens(prompt);
  const ppMs = performance.now() - t0;
  t0 = performance.now();
  let generated = 0;
  let firstMs = 0;
  for await (const _token of sequence.evaluate([prompt.at(-1)!], { temperature: 0 })) {
    if (generated === 0) firstMs = performance.now() - t0;
    if (++generated >= TG) break;
  }
  const tgMs = performance.now() - t0;
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  // Time to first token as the whole path counts it: the prompt, then the first new token.
  return { loadMs: round(loadMs, 0), ppTokensPerSecond: round((PP / ppMs) * 1000, 1), tgTokensPerSecond: round((generated / tgMs) * 1000, 1), firstTokenMs: round(ppMs + firstMs, 1) };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Through the models service: one request of PP prompt tokens and 1 new token, then one of TG new tokens, streamed. */
async function wholePath(file: string, threads: number): Promise<Record<string, number>> {
  const state = path.join(MODELS, `state-${threads}`);
  mkdirSync(path.join(state, 'models'), { recursive: true });
  const link = path.join(state, 'models', path.basename(file));
  if (!existsSync(link)) execFileSync('ln', ['-s', file, link]);
  const port = await freePort();
  const config = path.join(state, 'config.toml');
  // A 7B model on two cores needs minutes for a request: the service must not give up first.
  writeFileSync(config, `[models]\nthreads = ${threads}\ncontext_size = ${PP + TG + 256}\noperational_timeout_seconds = 3600\ntactical_timeout_seconds = 3600\n`);
  const child = spawn(process.execPath, [path.join(ROOT, 'src', 'entry.ts'), 'models', 'serve', '--listen', `127.0.0.1:${port}`, '--state', state, '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => (/listening on/.test(d.toString()) ? resolve() : undefined));
      child.on('exit', (code) => reject(new Error(`models service exited ${code}`)));
    });
    const url = `http://127.0.0.1:${port}/v1/chat/completions`;
    // One character is one token in the generated vocabulary.
    const prompt = 'abcdefghij'.repeat(Math.ceil(PP / 10)).slice(0, PP - 40);
    const ask = async (maxTokens: number, stream: boolean) => {
      const t0 = performance.now();
      const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: path.basename(file, '.gguf'), messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens, temperature: 0, stream, ...(stream ? { stream_options: { include_usage: true } } : {}) }) });
      if (!stream) return { ms: performance.now() - t0, body: (await response.json()) as { usage: { prompt_tokens: number; completion_tokens: number }; timings: { load_ms: number; generate_ms: number } }, firstMs: 0 };
      let firstMs = 0;
      let usage = { prompt_tokens: 0, completion_tokens: 0 };
      const reader = response.body!.getReader();
      let buffered = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!firstMs) firstMs = performance.now() - t0;
        buffered += Buffer.from(value).toString();
        for (const m of buffered.matchAll(/"usage":(\{[^}]*\})/g)) usage = JSON.parse(m[1]!) as typeof usage;
      }
      return { ms: performance.now() - t0, body: { usage, timings: { load_ms: 0, generate_ms: 0 } }, firstMs };
    };
    const first = await ask(1, false); // loads the model
    const prefill = await ask(1, false);
    const generation = await ask(TG, true);
    const ppMs = prefill.body.timings.generate_ms;
    const tgMs = generation.ms - ppMs;
    return {
      loadMs: round(first.body.timings.load_ms, 0),
      promptTokens: prefill.body.usage.prompt_tokens,
      ppTokensPerSecond: round((prefill.body.usage.prompt_tokens / ppMs) * 1000, 1),
      tgTokensPerSecond: round((Math.max(1, generation.body.usage.completion_tokens - 1) / tgMs) * 1000, 1),
      generatedTokens: generation.body.usage.completion_tokens,
      firstTokenMs: round(generation.firstMs, 1),
    };
  } finally {
    child.kill('SIGTERM');
  }
}

/**
 * llama-bench's pp (from an empty context) and tg. Generation gets slower as the context fills
 * (attention reads every cached token): the whole path generates after its prompt, so the
 * anchor's tg runs at the same depth (llama-bench -d: the tokens are in the cache first, untimed).
 * Its tg from an empty context, llama-bench's default, is kept for reference.
 */
function llamaBench(file: string, threads: number, depth: number): Record<string, number> | null {
  if (!existsSync(LLAMA_BENCH)) return null;
  // Run where the CPU variants are: ggml picks the best one for this CPU, as node-llama-cpp does.
  const out = execFileSync(LLAMA_BENCH, ['-m', file, '-p', `${PP},0`, '-n', `0,${TG}`, '-d', `0,${depth}`, '-t', String(threads), '-r', '2', '-o', 'json'], { encoding: 'utf8', maxBuffer: 64 << 20, cwd: PREBUILT });
  const rows = JSON.parse(out) as { n_prompt: number; n_gen: number; n_depth: number; avg_ts: number }[];
  const row = (prompt: number, gen: number, atDepth: number) => rows.find((r) => r.n_prompt === prompt && r.n_gen === gen && r.n_depth === atDepth)!.avg_ts;
  return {
    ppTokensPerSecond: round(row(PP, 0, 0), 1),
    tgTokensPerSecond: round(row(0, TG, depth), 1),
    tgDepth: depth,
    tgEmptyContextTokensPerSecond: round(row(0, TG, 0), 1),
  };
}

const results = [];
for (const name of values.shape.split(',')) {
  const shape = SHAPES[name];
  if (!shape) throw new Error(`--shape ${name}: one of ${Object.keys(SHAPES).join(', ')}`);
  const file = modelFile(name, shape);
  for (const threads of THREADS) {
    process.stderr.write(`bench local: ${name}, ${threads} thread(s)\n`);
    const nodeLlamaCpp = await direct(file, threads);
    const whole = await wholePath(file, threads);
    const anchor = llamaBench(file, threads, whole.promptTokens!);
    results.push({
      shape: name,
      type: shape.type,
      threads,
      wholePath: whole,
      nodeLlamaCpp,
      llamaBench: anchor ?? 'not built: node bench/llama-bench.ts',
      ratioToLlamaBench: anchor
        ? {
            pp: round(whole.ppTokensPerSecond! / anchor.ppTokensPerSecond!, 2),
            tg: round(whole.tgTokensPerSecond! / anchor.tgTokensPerSecond!, 2),
            tgAgainstEmptyContext: round(whole.tgTokensPerSecond! / anchor.tgEmptyContextTokensPerSecond!, 2),
          }
        : null,
      ratioToNodeLlamaCpp: { pp: round(whole.ppTokensPerSecond! / nodeLlamaCpp.ppTokensPerSecond!, 2), tg: round(whole.tgTokensPerSecond! / nodeLlamaCpp.tgTokensPerSecond!, 2) },
    });
  }
}
print({ benchmark: 'local', machine: machine(), pp: PP, tg: TG, goal: 'the whole path at 0.95x llama-bench or better', results });
