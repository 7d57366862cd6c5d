// The local tiers' speed: prompt processing (pp) and generation (tg) tokens/s, time to first
// token and load time, for generated models of realistic shapes (random weights: values do not
// change the speed), three ways in the same run:
//   - the whole path: an OpenAI request to the models service (`aios models serve`), which runs
//     node-llama-cpp;
//   - node-llama-cpp called directly in this process, as it is: without the persistent threadpool
//     the models service gives its contexts (src/native/aios-llama-threads.c), so that the two
//     side by side show what the pool is worth;
//   - llama.cpp's own llama-bench, compiled from the release node-llama-cpp carries and linked
//     against node-llama-cpp's prebuilt libraries, so that it runs the same kernels (the anchor;
//     `node bench/llama-bench.ts` builds it once into out/llama-bench).
// Goal: the whole path at 0.95x llama-bench or better. Generation is compared at the same
// context depth (after the prompt; see llamaBench). The ratio to node-llama-cpp called
// directly is printed too: what the models service and the request cost, less what the pool gains.
// Each way is timed as llama-bench times itself: a warm-up first (the first evaluations after a
// load run slower while the weights and the cache's pages are first touched), then --repetitions
// runs, averaged. The three take turns, one repetition each, so that a slow minute on a shared
// machine slows all three alike instead of one.
//
//   node bench/local.ts [--shape 1.1b,7b] [--threads 1,2] [--pp 512] [--tg 128] [--repetitions 3]
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { SHAPE_1_1B, SHAPE_7B, writeLlamaModel, type LlamaShape } from '../src/models/gguf.ts';
import { MAIN, machine, print, round } from './lib.ts';
import { LLAMA_BENCH, PREBUILT } from './llama-bench.ts';

const { values } = parseArgs({ options: { shape: { type: 'string', default: '1.1b' }, threads: { type: 'string', default: '1,2' }, pp: { type: 'string', default: '512' }, tg: { type: 'string', default: '128' }, repetitions: { type: 'string', default: '3' } } });
const PP = Number(values.pp);
const TG = Number(values.tg);
const THREADS = values.threads.split(',').map(Number);
const REPETITIONS = Number(values.repetitions);
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const SHAPES: Record<string, LlamaShape> = { '1.1b': SHAPE_1_1B, '7b': SHAPE_7B };
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

interface Run {
  ppMs: number;
  /** From the start of generation to the first new token. */
  firstMs: number;
  /** New tokens timed, and the time they took. */
  tgTokens: number;
  tgMs: number;
}

interface Way {
  loadMs: number;
  run(): Promise<Run>;
  close(): Promise<void>;
}

/** node-llama-cpp in this process: the prompt evaluated, then TG tokens generated greedily. */
async function direct(file: string, threads: number): Promise<Way> {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false, maxThreads: threads });
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const loadMs = performance.now() - t0;
  const context = await model.createContext({ contextSize: PP + TG + 64, threads, batchSize: PP });
  const sequence = context.getSequence();
  const prompt = model.tokenize('abcdefghij'.repeat(Math.ceil(PP / 10))).slice(0, PP);
  const run = async (tokens: number): Promise<Run> => {
    await sequence.clearHistory();
    let t0 = performance.now();
    await sequence.evaluateWithoutGeneratingNewTokens(prompt);
    const ppMs = performance.now() - t0;
    t0 = performance.now();
    let generated = 0;
    let firstMs = 0;
    for await (const _token of sequence.evaluate([prompt.at(-1)!], { temperature: 0 })) {
      if (generated === 0) firstMs = performance.now() - t0;
      if (++generated >= tokens) break;
    }
    return { ppMs, firstMs, tgTokens: generated, tgMs: performance.now() - t0 };
  };
  await run(2); // the warm-up
  return {
    loadMs,
    run: () => run(TG),
    close: async () => {
      await context.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Through the models service (`aios models serve`, its own process): per run, a request of the
 * prompt and 1 new token (the prompt's time, as the service measured it), then the same prompt
 * streamed with TG new tokens (timed here, as a client sees it).
 */
async function wholePath(file: string, threads: number): Promise<Way & { promptTokens: number }> {
  const state = path.join(MODELS, `state-${threads}`);
  mkdirSync(path.join(state, 'models'), { recursive: true });
  const link = path.join(state, 'models', path.basename(file));
  if (!existsSync(link)) execFileSync('ln', ['-s', file, link]);
  const port = await freePort();
  const config = path.join(state, 'config.toml');
  // A 7B model on two cores needs minutes for a request: the service must not give up first.
  writeFileSync(config, `[models]\nthreads = ${threads}\ncontext_size = ${PP + TG + 256}\noperational_timeout_seconds = 3600\ntactical_timeout_seconds = 3600\n`);
  const child = spawn(process.execPath, [MAIN, 'models', 'serve', '--listen', `127.0.0.1:${port}`, '--state', state, '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => (/listening on/.test(d.toString()) ? resolve() : undefined));
    child.on('exit', (code) => reject(new Error(`models service exited ${code}`)));
  });
  const url = `http://127.0.0.1:${port}/v1/chat/completions`;
  // One character is one token in the generated vocabulary.
  const prompt = 'abcdefghij'.repeat(Math.ceil(PP / 10)).slice(0, PP - 40);
  const request = (maxTokens: number, stream: boolean) =>
    fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: path.basename(file, '.gguf'), messages: [{ role: 'user', content: prompt }], max_tokens: maxTokens, temperature: 0, stream, ...(stream ? { stream_options: { include_usage: true } } : {}) }) });
  type Usage = { prompt_tokens: number; completion_tokens: number };
  const prefill = async () => (await (await request(1, false)).json()) as { usage: Usage; timings: { load_ms: number; generate_ms: number } };
  const first = await prefill(); // loads the model, and is the warm-up
  return {
    loadMs: first.timings.load_ms,
    promptTokens: first.usage.prompt_tokens,
    run: async () => {
      const ppMs = (await prefill()).timings.generate_ms;
      const t0 = performance.now();
      const response = await request(TG, true);
      let firstMs = 0;
      let usage: Usage = { prompt_tokens: 0, completion_tokens: 0 };
      let buffered = '';
      for await (const piece of response.body!) {
        buffered += Buffer.from(piece).toString();
        if (!firstMs && buffered.includes('"content":"')) firstMs = performance.now() - t0;
        for (const m of buffered.matchAll(/"usage":(\{[^}]*\})/g)) usage = JSON.parse(m[1]!) as Usage;
      }
      const ms = performance.now() - t0;
      // The request reads the prompt again first; what it takes beyond the prefill is the time
      // of its new tokens but the first (the prefill samples that one). Time to first token is
      // as the client sees it: the prompt and the first text.
      return { ppMs, firstMs, tgTokens: Math.max(1, usage.completion_tokens - 1), tgMs: ms - ppMs };
    },
    close: async () => {
      child.kill('SIGTERM');
    },
  };
}

type BenchRow = { n_prompt: number; n_gen: number; n_depth: number; avg_ts: number };

/**
 * One llama-bench run (after its own warm-up): pp from an empty context, and tg. Generation gets
 * slower as the context fills (attention reads every cached token): the whole path generates
 * after its prompt, so the anchor's tg runs at the same depth (llama-bench -d: the tokens are in
 * the cache first, untimed). Its tg from an empty context, llama-bench's default, is kept for
 * reference.
 */
function llamaBench(file: string, threads: number, depth: number): BenchRow[] {
  // Run where the CPU variants are: ggml picks the best one for this CPU, as node-llama-cpp does.
  const run = spawnSync(LLAMA_BENCH, ['-m', file, '-p', `${PP},0`, '-n', `0,${TG}`, '-d', `0,${depth}`, '-t', String(threads), '-r', '1', '-o', 'json'], { encoding: 'utf8', maxBuffer: 64 << 20, cwd: PREBUILT });
  if (run.status !== 0) throw new Error(`llama-bench failed (${run.error?.message ?? `exit ${run.status}`}): ${run.stderr}`);
  // Which kernels ran differs between machines (zen4 on an AMD EPYC, other builds elsewhere): the
  // results say it, so that runs on different machines are not compared as if alike.
  cpuVariant = /libggml-cpu-([\w-]+)\.so/.exec(run.stderr)?.[1] ?? cpuVariant;
  return JSON.parse(run.stdout) as BenchRow[];
}
let cpuVariant = 'unknown';

function summary(loadMs: number, runs: Run[], promptTokens: number): { loadMs: number; ppTokensPerSecond: number; tgTokensPerSecond: number; firstTokenMs: number } {
  return {
    loadMs: round(loadMs, 0),
    ppTokensPerSecond: round((promptTokens / mean(runs.map((r) => r.ppMs))) * 1000, 1),
    tgTokensPerSecond: round((runs.reduce((n, r) => n + r.tgTokens, 0) / runs.reduce((n, r) => n + r.tgMs, 0)) * 1000, 1),
    firstTokenMs: round(mean(runs.map((r) => r.firstMs)), 1),
  };
}

const results = [];
for (const name of values.shape.split(',')) {
  const shape = SHAPES[name];
  if (!shape) throw new Error(`--shape ${name}: one of ${Object.keys(SHAPES).join(', ')}`);
  const file = modelFile(name, shape);
  for (const threads of THREADS) {
    process.stderr.write(`bench local: ${name}, ${threads} thread(s)\n`);
    const ways = { direct: await direct(file, threads), whole: await wholePath(file, threads) };
    const runs = { direct: [] as Run[], whole: [] as Run[], anchor: [] as BenchRow[][] };
    const depth = ways.whole.promptTokens;
    for (let i = 0; i < REPETITIONS; i++) {
      process.stderr.write(`bench local: ${name}, ${threads} thread(s), repetition ${i + 1} of ${REPETITIONS}\n`);
      runs.direct.push(await ways.direct.run());
      runs.whole.push(await ways.whole.run());
      if (existsSync(LLAMA_BENCH)) runs.anchor.push(llamaBench(file, threads, depth));
    }
    await ways.direct.close();
    await ways.whole.close();
    const nodeLlamaCpp = summary(ways.direct.loadMs, runs.direct.map((r) => ({ ...r, firstMs: r.ppMs + r.firstMs })), PP);
    const whole = { ...summary(ways.whole.loadMs, runs.whole, depth), promptTokens: depth, generatedTokens: Math.min(...runs.whole.map((r) => r.tgTokens + 1)) };
    const row = (prompt: number, gen: number, atDepth: number) => round(mean(runs.anchor.map((rows) => rows.find((r) => r.n_prompt === prompt && r.n_gen === gen && r.n_depth === atDepth)!.avg_ts)), 1);
    const anchor = runs.anchor.length ? { ppTokensPerSecond: row(PP, 0, 0), tgTokensPerSecond: row(0, TG, depth), tgDepth: depth, tgEmptyContextTokensPerSecond: row(0, TG, 0) } : null;
    results.push({
      shape: name,
      type: shape.type,
      threads,
      wholePath: whole,
      nodeLlamaCpp,
      llamaBench: anchor ?? 'not built: node bench/llama-bench.ts',
      ratioToLlamaBench: anchor
        ? {
            pp: round(whole.ppTokensPerSecond / anchor.ppTokensPerSecond, 2),
            tg: round(whole.tgTokensPerSecond / anchor.tgTokensPerSecond, 2),
            tgAgainstEmptyContext: round(whole.tgTokensPerSecond / anchor.tgEmptyContextTokensPerSecond, 2),
          }
        : null,
      ratioToNodeLlamaCpp: { pp: round(whole.ppTokensPerSecond / nodeLlamaCpp.ppTokensPerSecond, 2), tg: round(whole.tgTokensPerSecond / nodeLlamaCpp.tgTokensPerSecond, 2) },
    });
  }
}
print({ benchmark: 'local', machine: { ...machine(), ggmlCpuVariant: cpuVariant }, pp: PP, tg: TG, goal: 'the whole path at 0.95x llama-bench or better', results });
