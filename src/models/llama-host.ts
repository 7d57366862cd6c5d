// The local tiers' models, inside the models service: loaded through node-llama-cpp when first
// asked for, unloaded after an idle time, and never more of them at once than the memory bound
// allows (the least recently used goes first). Each model answers one request at a time (one
// context sequence); requests for it wait their turn.
//
// Tool calls are grammar-constrained: the model may only write a JSON object that is either an
// answer or a call of one of the tools offered, with arguments that match that tool's schema
// (reduced to what llama.cpp's grammars can express: types, enums, constants, required keys,
// bounded strings), so even a small or random model cannot produce a malformed call.
//
// Only this process loads model files: a malformed GGUF can abort the process that loads it
// (FACTS.md), and PID 1 restarts this service when that happens.
import { statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadLlamaThreadpools, type LlamaThreadpools } from '../native/index.ts';
import { importRuntimePackage } from '../native/packages.ts';
import { formatBytes } from '../tools/sys-tools.ts';
import type { ChatHistoryItem, Llama, LlamaContext, LlamaEmbeddingContext, LlamaGrammar, LlamaModel } from 'node-llama-cpp';

export interface HostOptions {
  /** The most the loaded model files may add up to (bytes). */
  memoryMaxBytes: number;
  /** A model unused this long is unloaded. */
  idleMs: number;
  threads: number;
  contextSize: number;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  /** An assistant message's calls, as the OpenAI format has them. */
  toolCalls?: { id?: string; name: string; arguments: string }[];
  /** A tool message: which tool answered, and the call it answers. */
  name?: string;
  toolCallId?: string;
}

export interface ToolSpec {
  name: string;
  description: string;
  parameters: Record<string, unknown>;
}

export interface ChatRequest {
  messages: ChatMessage[];
  tools?: ToolSpec[];
  /** auto: answer or call; required: must call; a name: must call that one; none: must answer. */
  toolChoice?: 'auto' | 'required' | 'none' | { name: string };
  maxTokens: number;
  temperature?: number;
  seed?: number;
  signal?: AbortSignal;
  /** Text as it is generated (answers without tools only: a call is known when it is complete). */
  onText?: (text: string) => void;
}

export interface ChatResult {
  content: string | null;
  toolCalls: { name: string; arguments: string }[];
  finishReason: 'stop' | 'length' | 'tool_calls';
  promptTokens: number;
  completionTokens: number;
  /** Milliseconds: loading the model (0 when it was loaded), then answering. */
  loadMs: number;
  generateMs: number;
}

export class ModelError extends Error {
  readonly code: 'ENOMODEL' | 'ETOOBIG' | 'ELOAD' | 'EABORT';
  constructor(code: ModelError['code'], message: string) {
    super(message);
    this.code = code;
  }
}

interface Loaded {
  file: string;
  bytes: number;
  model: LlamaModel;
  context: LlamaContext;
  embedding: LlamaEmbeddingContext | null;
  lastUsed: number;
  /** The request running on it, for the next one to wait on. */
  turn: Promise<unknown>;
}

/** The default bound: what is left of memory after 2 GiB for the rest of the system, at least 1 GiB. */
export function defaultMemoryMax(): number {
  return Math.max(2 ** 30, os.totalmem() - 2 * 2 ** 30);
}

export class LlamaHost {
  readonly #llama: Llama;
  readonly #options: HostOptions;
  readonly #loaded = new Map<string, Loaded>();
  readonly #loading = new Map<string, Promise<Loaded>>();
  readonly #timer: NodeJS.Timeout;

  readonly #threads: LlamaThreadpools;

  private constructor(llama: Llama, threads: LlamaThreadpools, options: HostOptions) {
    this.#llama = llama;
    this.#threads = threads;
    this.#options = options;
    this.#timer = setInterval(() => void this.unloadIdle(), Math.min(options.idleMs, 30_000));
    this.#timer.unref();
  }

  static async start(options: HostOptions): Promise<LlamaHost> {
    // Before node-llama-cpp loads its addon: its contexts get persistent threadpools, so that
    // generation does not start and join ggml's threads for every token.
    const threads = loadLlamaThreadpools();
    const { getLlama, LlamaLogLevel } = await importRuntimePackage<typeof import('node-llama-cpp')>('node-llama-cpp');
    // The prebuilt CPU binary only: nothing is downloaded or built at run time.
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false, maxThreads: options.threads });
    return new LlamaHost(llama, threads, options);
  }

  /** The persistent threadpools of the contexts loaded now (none at 1 thread), for /health. */
  threadpools(): { live: { threads: number }[]; made: number } {
    return this.#threads.threadpools();
  }

  /** The models loaded now, for /v1/models and status. */
  loaded(): { file: string; bytes: number; idleMs: number }[] {
    const now = Date.now();
    return [...this.#loaded.values()].map((l) => ({ file: l.file, bytes: l.bytes, idleMs: now - l.lastUsed }));
  }

  async #load(file: string): Promise<{ loaded: Loaded; loadMs: number }> {
    const present = this.#loaded.get(file);
    if (present) return { loaded: present, loadMs: 0 };
    const pending = this.#loading.get(file);
    if (pending) return { loaded: await pending, loadMs: 0 };
    const started = performance.now();
    const promise = (async () => {
      let bytes: number;
      try {
        bytes = statSync(file).size;
      } catch {
        throw new ModelError('ENOMODEL', `${file}: no such model file`);
      }
      if (bytes > this.#options.memoryMaxBytes) {
        throw new ModelError('ETOOBIG', `${path.basename(file)} needs ${formatBytes(bytes)}, more than the ${formatBytes(this.#options.memoryMaxBytes)} models may use ([models] memory_max)`);
      }
      // Least recently used first, until the new one fits.
      const byAge = [...this.#loaded.values()].sort((a, b) => a.lastUsed - b.lastUsed);
      while (this.#totalBytes() + bytes > this.#options.memoryMaxBytes && byAge.length > 0) await this.#unload(byAge.shift()!);
      let model: LlamaModel;
      try {
        model = await this.#llama.loadModel({ modelPath: file, gpuLayers: 0 });
      } catch (error) {
        throw new ModelError('ELOAD', `${path.basename(file)} did not load: ${(error as Error).message}`);
      }
      const context = await model.createContext({ contextSize: Math.min(this.#options.contextSize, model.trainContextSize), threads: this.#options.threads, sequences: 1 });
      const loaded: Loaded = { file, bytes, model, context, embedding: null, lastUsed: Date.now(), turn: Promise.resolve() };
      this.#loaded.set(file, loaded);
      return loaded;
    })();
    this.#loading.set(file, promise);
    try {
      return { loaded: await promise, loadMs: performance.now() - started };
    } finally {
      this.#loading.delete(file);
    }
  }

  #totalBytes(): number {
    return [...this.#loaded.values()].reduce((n, l) => n + l.bytes, 0);
  }

  async #unload(loaded: Loaded): Promise<void> {
    this.#loaded.delete(loaded.file);
    await loaded.turn.catch(() => undefined);
    await loaded.embedding?.dispose();
    await loaded.context.dispose();
    await loaded.model.dispose();
  }

  /** Unloads the models idle for longer than the idle time; returns their files. */
  async unloadIdle(now = Date.now()): Promise<string[]> {
    const idle = [...this.#loaded.values()].filter((l) => now - l.lastUsed >= this.#options.idleMs);
    for (const l of idle) await this.#unload(l);
    return idle.map((l) => l.file);
  }

  /** Runs `work` on the model when its previous request is done. */
  async #inTurn<T>(file: string, work: (loaded: Loaded) => Promise<T>): Promise<T & { loadMs: number }> {
    const { loaded, loadMs } = await this.#load(file);
    const run = loaded.turn.catch(() => undefined).then(async () => {
      loaded.lastUsed = Date.now();
      try {
        return await work(loaded);
      } finally {
        loaded.lastUsed = Date.now();
      }
    });
    loaded.turn = run;
    return { ...(await run), loadMs };
  }

  async chat(file: string, request: ChatRequest): Promise<ChatResult> {
    const { LlamaChat } = await importRuntimePackage<typeof import('node-llama-cpp')>('node-llama-cpp');
    return this.#inTurn(file, async (loaded) => {
      const started = performance.now();
      const choice = request.toolChoice ?? 'auto';
      const tools = choice === 'none' ? [] : (request.tools ?? []).filter((t) => typeof choice !== 'object' || t.name === choice.name);
      if (typeof choice === 'object' && tools.length === 0) throw new ModelError('ENOMODEL', `tool_choice names ${choice.name}, which is not among the tools`);
      const grammar = tools.length > 0 ? await this.#llama.createGrammarForJsonSchema(callSchema(tools, choice === 'auto') as never) : null;
      const history = toHistory(request.messages, tools, choice === 'auto');
      const sequence = loaded.context.getSequence();
      const chat = new LlamaChat({ contextSequence: sequence, autoDisposeSequence: false });
      // With tools the model writes JSON; what streams is the answer's text, as it is written.
      const answer = grammar && request.onText ? new AnswerStream(request.onText) : null;
      try {
        const response = await chat.generateResponse(history, {
          maxTokens: request.maxTokens,
          temperature: request.temperature,
          seed: request.seed,
          signal: request.signal,
          stopOnAbortSignal: false,
          ...(grammar ? { grammar: grammar as LlamaGrammar } : {}),
          ...(answer ? { onTextChunk: (chunk: string) => answer.push(chunk) } : request.onText && !grammar ? { onTextChunk: request.onText } : {}),
        });
        // What the model read (the chat template's tokens included) and every token sampled:
        // onToken leaves out the ones held back while they might start a stop text.
        const promptTokens = sequence.tokenMeter.usedInputTokens;
        const completionTokens = sequence.tokenMeter.usedOutputTokens;
        const generateMs = performance.now() - started;
        const cut = response.metadata.stopReason === 'maxTokens';
        if (!grammar) return { content: response.response, toolCalls: [], finishReason: cut ? 'length' : 'stop', promptTokens, completionTokens, generateMs };
        let parsed: { answer?: string; tool?: string; arguments?: unknown };
        try {
          parsed = grammar.parse(response.response) as unknown as typeof parsed;
        } catch {
          // Cut off before the object closed (max_tokens), or a number llama.cpp's grammar let
          // grow to Infinity: the answer so far (else the text as it is), said to be incomplete.
          const partial = new AnswerStream(() => {}).push(response.response);
          return { content: partial ?? response.response, toolCalls: [], finishReason: 'length', promptTokens, completionTokens, generateMs };
        }
        if (parsed.tool !== undefined) return { content: null, toolCalls: [{ name: parsed.tool, arguments: JSON.stringify(parsed.arguments ?? {}) }], finishReason: 'tool_calls', promptTokens, completionTokens, generateMs };
        return { content: parsed.answer ?? '', toolCalls: [], finishReason: 'stop', promptTokens, completionTokens, generateMs };
      } catch (error) {
        if (request.signal?.aborted) throw new ModelError('EABORT', 'cancelled');
        throw error;
      } finally {
        chat.dispose({ disposeSequence: false });
        await sequence.clearHistory();
        sequence.dispose();
      }
    });
  }

  async embed(file: string, texts: string[]): Promise<{ vectors: number[][]; tokens: number; loadMs: number }> {
    return this.#inTurn(file, async (loaded) => {
      loaded.embedding ??= await loaded.model.createEmbeddingContext({ contextSize: Math.min(this.#options.contextSize, loaded.model.trainContextSize), threads: this.#options.threads });
      const vectors: number[][] = [];
      let tokens = 0;
      for (const text of texts) {
        tokens += loaded.model.tokenize(text).length;
        vectors.push([...(await loaded.embedding.getEmbeddingFor(text)).vector]);
      }
      return { vectors, tokens };
    });
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    for (const loaded of [...this.#loaded.values()]) await this.#unload(loaded);
    await this.#llama.dispose();
  }
}

/**
 * The text of {"answer": "..."} while the model writes it: each piece of the string, unescaped,
 * goes to `onText` as soon as it is whole (an escape sequence split across chunks waits).
 * Anything else (a tool call) sends nothing.
 */
export class AnswerStream {
  readonly #onText: (text: string) => void;
  #raw = '';
  /** Where the answer's string starts in #raw (-1: not known yet; null: not an answer). */
  #start: number | null = -1;
  #at = 0;
  #done = false;
  #text = '';

  constructor(onText: (text: string) => void) {
    this.#onText = onText;
  }

  /** Takes the next chunk of the model's output; returns the answer's text so far (null: not an answer). */
  push(chunk: string): string | null {
    this.#raw += chunk;
    if (this.#start === -1) {
      const head = /^\s*\{\s*"answer"\s*:\s*"/.exec(this.#raw);
      if (head) this.#start = this.#at = head[0].length;
      else if (!/^\s*(\{\s*("(a(n(s(w(e(r("\s*(:\s*)?)?)?)?)?)?)?)?)?)?$/.test(this.#raw)) this.#start = null;
    }
    if (this.#start === null) return null;
    if (this.#start === -1 || this.#done) return this.#start === -1 ? null : this.#text;
    let piece = '';
    while (this.#at < this.#raw.length) {
      const c = this.#raw[this.#at]!;
      if (c === '"') {
        this.#done = true;
        break;
      }
      if (c !== '\\') {
        piece += c;
        this.#at++;
        continue;
      }
      const escape = /^\\(["\\/bfnrt]|u[0-9a-fA-F]{4})/.exec(this.#raw.slice(this.#at));
      if (!escape) break; // Not whole yet.
      piece += JSON.parse(`"${escape[0]}"`) as string;
      this.#at += escape[0].length;
    }
    if (piece) {
      this.#text += piece;
      this.#onText(piece);
    }
    return this.#text;
  }
}

/** What the model is told about the tools and the form of its reply. */
function toolPrompt(tools: ToolSpec[], mayAnswer: boolean): string {
  return [
    mayAnswer
      ? 'Reply with one JSON object: {"tool": NAME, "arguments": {...}} to call a tool, or {"answer": "..."} to answer.'
      : 'Reply with one JSON object that calls a tool: {"tool": NAME, "arguments": {...}}.',
    'Tools:',
    ...tools.map((t) => `- ${t.name}: ${t.description} Arguments: ${JSON.stringify(t.parameters)}`),
  ].join('\n');
}

/** The conversation as node-llama-cpp's chat history; tool results become user turns that say so. */
function toHistory(messages: ChatMessage[], tools: ToolSpec[], mayAnswer: boolean): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = [];
  const system = messages.filter((m) => m.role === 'system').map((m) => m.content);
  if (tools.length > 0) system.push(toolPrompt(tools, mayAnswer));
  if (system.length > 0) history.push({ type: 'system', text: system.join('\n\n') });
  for (const m of messages) {
    if (m.role === 'user') history.push({ type: 'user', text: m.content });
    else if (m.role === 'tool') history.push({ type: 'user', text: `Result of ${m.name ?? 'the tool'}: ${m.content}` });
    else if (m.role === 'assistant') {
      const calls = (m.toolCalls ?? []).map((c) => JSON.stringify({ tool: c.name, arguments: JSON.parse(c.arguments || '{}') as unknown }));
      history.push({ type: 'model', response: [m.content, ...calls].filter((x) => x !== '') });
    }
  }
  return history;
}

/** The reply's JSON schema: an answer, or a call of one of the tools with its arguments. */
export function callSchema(tools: ToolSpec[], mayAnswer: boolean): Record<string, unknown> {
  const calls = tools.map((t) => ({ type: 'object', properties: { tool: { const: t.name }, arguments: toGrammarSchema(t.parameters) }, required: ['tool', 'arguments'] }));
  const options = mayAnswer ? [{ type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'] }, ...calls] : calls;
  return options.length === 1 ? options[0]! : { oneOf: options };
}

/** Longest string a tool argument may be when its schema sets no bound (a small model may not stop). */
const STRING_BOUND = 512;

/**
 * A JSON schema reduced to what llama.cpp's grammar can enforce: types, properties and required
 * keys, enums and constants, arrays, one-of choices, and string lengths (every string bounded).
 * What it cannot enforce (patterns, minimum and maximum) is left out here and checked by the
 * tool's own schema when the call runs.
 */
export function toGrammarSchema(schema: unknown): Record<string, unknown> {
  if (schema === null || typeof schema !== 'object') return { type: 'string', maxLength: STRING_BOUND };
  const s = schema as Record<string, unknown>;
  if ('const' in s) return { const: s.const };
  if (Array.isArray(s.enum)) return { enum: s.enum };
  const choices = (s.oneOf ?? s.anyOf) as unknown[] | undefined;
  if (Array.isArray(choices)) return { oneOf: choices.map(toGrammarSchema) };
  const type = Array.isArray(s.type) ? s.type.filter((t) => t !== 'null')[0] : s.type;
  switch (type) {
    case 'object': {
      const properties = (s.properties ?? {}) as Record<string, unknown>;
      const required = Array.isArray(s.required) ? (s.required as string[]).filter((k) => k in properties) : [];
      return { type: 'object', properties: Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, toGrammarSchema(v)])), required };
    }
    case 'array':
      return { type: 'array', items: toGrammarSchema(s.items ?? {}), ...(typeof s.maxItems === 'number' ? { maxItems: s.maxItems } : { maxItems: 32 }) };
    case 'string':
      return { type: 'string', ...(typeof s.minLength === 'number' ? { minLength: s.minLength } : {}), maxLength: typeof s.maxLength === 'number' ? Math.min(s.maxLength, STRING_BOUND) : STRING_BOUND };
    case 'integer':
    case 'number':
    case 'boolean':
    case 'null':
      return { type };
    default:
      return { type: 'string', maxLength: STRING_BOUND };
  }
}
