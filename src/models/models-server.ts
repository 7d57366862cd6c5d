// The models service's HTTP endpoint: the local tiers as an OpenAI-compatible API on loopback,
// as llama-server and ollama offer theirs. The runtime talks to it with the `openai` client (one
// client path for local and cloud models), and other programs on the machine can too.
//
//   GET  /v1/models               the GGUF models here, each with the tier it serves
//   POST /v1/chat/completions     messages, tools (grammar-constrained calls), stream (SSE)
//   POST /v1/embeddings           input: a string or strings
//   GET  /health                  { ok, loaded, threadpools: { live: [{ threads }], made } }
//
// `model` is a model's id (its file name without .gguf), a tier ("operational", "tactical"), or
// "local" (the operational model, else the tactical one). Errors are OpenAI's shape:
// { error: { message, type, param, code } }, with the status that says what went wrong.
import path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { monotonicFactory } from 'ulid';
import * as z from 'zod/mini';
import { ModelError, type ChatMessage, type ChatResult, type LlamaHost, type ToolSpec } from './llama-host.ts';
import { detectTiers, type DetectOptions } from './tiers.ts';

const ulid = monotonicFactory();

const contentSchema = z.union([z.string(), z.array(z.object({ type: z.string(), text: z.optional(z.string()) })), z.null()]);
const messageSchema = z.object({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool']),
  content: z.optional(contentSchema),
  name: z.optional(z.string()),
  tool_call_id: z.optional(z.string()),
  tool_calls: z.optional(z.array(z.object({ id: z.optional(z.string()), type: z.optional(z.literal('function')), function: z.object({ name: z.string(), arguments: z.string() }) }))),
});
const toolSchema = z.object({
  type: z.literal('function'),
  function: z.object({ name: z.string().check(z.regex(/^[a-zA-Z0-9_.-]{1,64}$/, 'a tool name is 1 to 64 letters, digits, _ . -')), description: z._default(z.string(), ''), parameters: z._default(z.record(z.string(), z.unknown()), { type: 'object', properties: {} }) }),
});
const chatSchema = z.object({
  model: z.string().check(z.minLength(1)),
  messages: z.array(messageSchema).check(z.minLength(1, 'messages is empty')),
  tools: z.optional(z.array(toolSchema)),
  tool_choice: z.optional(z.union([z.enum(['auto', 'required', 'none']), z.object({ type: z.literal('function'), function: z.object({ name: z.string() }) })])),
  stream: z._default(z.boolean(), false),
  stream_options: z.optional(z.nullable(z.object({ include_usage: z.optional(z.boolean()) }))),
  max_tokens: z.optional(z.nullable(z.int().check(z.gte(1), z.lte(32_768)))),
  max_completion_tokens: z.optional(z.nullable(z.int().check(z.gte(1), z.lte(32_768)))),
  temperature: z.optional(z.nullable(z.number().check(z.gte(0), z.lte(2)))),
  seed: z.optional(z.nullable(z.int())),
});
const embeddingsSchema = z.object({ model: z.string().check(z.minLength(1)), input: z.union([z.string(), z.array(z.string()).check(z.minLength(1), z.maxLength(256))]) });

export interface ServerOptions extends DetectOptions {
  host: LlamaHost;
  /** Longest a chat request may run, per tier, before it is cut off. */
  timeoutMs: { operational: number; tactical: number };
  /** Tokens a chat may generate when the request does not say. */
  defaultMaxTokens: number;
}

class HttpError extends Error {
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  constructor(status: number, type: string, message: string, param: string | null = null) {
    super(message);
    this.status = status;
    this.type = type;
    this.param = param;
  }
}

interface ModelEntry {
  id: string;
  file: string;
  tier: 'operational' | 'tactical' | null;
  bytes: number;
}

function listModels(options: DetectOptions): ModelEntry[] {
  return detectTiers(options).models.map((m) => ({ id: path.basename(m.file).replace(/\.gguf$/i, ''), file: m.file, tier: m.tier, bytes: m.bytes }));
}

function resolveModel(name: string, options: DetectOptions): ModelEntry {
  const models = listModels(options);
  const wanted = name === 'local' ? (models.find((m) => m.tier === 'operational') ?? models.find((m) => m.tier === 'tactical')) : name === 'operational' || name === 'tactical' ? models.find((m) => m.tier === name) : models.find((m) => m.id === name || m.id === name.replace(/\.gguf$/i, ''));
  if (wanted) return wanted;
  const known = models.map((m) => m.id);
  throw new HttpError(404, 'invalid_request_error', `The model "${name}" is not here: ${known.length ? `use one of ${[...known, 'operational', 'tactical', 'local'].join(', ')}` : `no GGUF model is in the models directory (${path.join(options.stateDir, 'models')} or [models] dir)`}.`, 'model');
}

function text(content: z.infer<typeof contentSchema> | undefined): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  return content.map((part) => part.text ?? '').join('');
}

function zodError(error: z.core.$ZodError): HttpError {
  const issue = error.issues[0]!;
  const param = issue.path.map(String).join('.');
  return new HttpError(400, 'invalid_request_error', `${param ? `${param}: ` : ''}${issue.message}`, param || null);
}

export async function createModelsServer(options: ServerOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger: false, bodyLimit: 8 * 2 ** 20 });
  app.setErrorHandler((error: Error & { statusCode?: number }, _request, reply) => {
    const http =
      error instanceof HttpError
        ? error
        : error instanceof ModelError
          ? new HttpError(error.code === 'ENOMODEL' ? 404 : error.code === 'ETOOBIG' ? 507 : error.code === 'EABORT' ? 499 : 500, error.code === 'ELOAD' ? 'server_error' : 'invalid_request_error', error.message)
          : error.statusCode && error.statusCode < 500
            ? new HttpError(error.statusCode, 'invalid_request_error', error.message)
            : new HttpError(500, 'server_error', `The models service failed: ${error.message}`);
    void reply.status(http.status).send({ error: { message: http.message, type: http.type, param: http.param, code: null } });
  });

  app.get('/health', async () => ({ ok: true, loaded: options.host.loaded().map((l) => path.basename(l.file)), threadpools: options.host.threadpools() }));

  app.get('/v1/models', async () => ({
    object: 'list',
    data: listModels(options).map((m) => ({ id: m.id, object: 'model', created: 0, owned_by: 'aios', tier: m.tier, bytes: m.bytes })),
  }));

  app.post('/v1/embeddings', async (request) => {
    const parsed = embeddingsSchema.safeParse(request.body);
    if (!parsed.success) throw zodError(parsed.error);
    const model = resolveModel(parsed.data.model, options);
    const inputs = typeof parsed.data.input === 'string' ? [parsed.data.input] : parsed.data.input;
    const { vectors, tokens } = await options.host.embed(model.file, inputs);
    return { object: 'list', model: model.id, data: vectors.map((embedding, index) => ({ object: 'embedding', index, embedding })), usage: { prompt_tokens: tokens, total_tokens: tokens } };
  });

  app.post('/v1/chat/completions', async (request, reply) => {
    const parsed = chatSchema.safeParse(request.body);
    if (!parsed.success) throw zodError(parsed.error);
    const body = parsed.data;
    const model = resolveModel(body.model, options);
    const messages: ChatMessage[] = body.messages.map((m) => ({
      role: m.role === 'developer' ? 'system' : m.role,
      content: text(m.content),
      ...(m.name ? { name: m.name } : {}),
      ...(m.tool_calls ? { toolCalls: m.tool_calls.map((c) => ({ name: c.function.name, arguments: c.function.arguments })) } : {}),
    }));
    const tools: ToolSpec[] | undefined = body.tools?.map((t) => ({ name: t.function.name, description: t.function.description, parameters: t.function.parameters }));
    const choice = body.tool_choice === undefined ? undefined : typeof body.tool_choice === 'string' ? body.tool_choice : { name: body.tool_choice.function.name };
    if ((choice === 'required' || typeof choice === 'object') && !tools?.length) throw new HttpError(400, 'invalid_request_error', 'tool_choice asks for a tool call, but no tools were given', 'tool_choice');
    // Cut off after the tier's time, or when the caller goes away.
    const stop = new AbortController();
    const timeout = setTimeout(() => stop.abort(new Error('timeout')), options.timeoutMs[model.tier ?? 'tactical']);
    // The response's close, not the request's: a request closes once its body has been read.
    reply.raw.on('close', () => {
      if (!reply.raw.writableFinished) stop.abort(new Error('caller went away'));
    });
    const id = `chatcmpl-${ulid()}`;
    const created = Math.floor(Date.now() / 1000);
    const chatRequest = {
      messages,
      ...(tools ? { tools } : {}),
      ...(choice ? { toolChoice: choice } : {}),
      maxTokens: body.max_completion_tokens ?? body.max_tokens ?? options.defaultMaxTokens,
      ...(body.temperature != null ? { temperature: body.temperature } : {}),
      ...(body.seed != null ? { seed: body.seed } : {}),
      signal: stop.signal,
    };
    try {
      if (!body.stream) {
        const result = await options.host.chat(model.file, chatRequest);
        return completion(id, created, model.id, result);
      }
      return await stream(reply, id, created, model.id, body.stream_options?.include_usage === true, (onText) => options.host.chat(model.file, { ...chatRequest, onText }));
    } catch (error) {
      if (stop.signal.aborted && stop.signal.reason instanceof Error && stop.signal.reason.message === 'timeout') {
        throw new HttpError(504, 'timeout', `The ${model.tier ?? 'local'} model took longer than ${options.timeoutMs[model.tier ?? 'tactical'] / 1000} s ([models] timeouts)`);
      }
      throw error;
    } finally {
      clearTimeout(timeout);
    }
  });
  return app;
}

function toolCalls(result: ChatResult): { id: string; type: 'function'; function: { name: string; arguments: string } }[] {
  return result.toolCalls.map((c) => ({ id: `call_${ulid()}`, type: 'function' as const, function: c }));
}

function usage(result: ChatResult): Record<string, number> {
  return { prompt_tokens: result.promptTokens, completion_tokens: result.completionTokens, total_tokens: result.promptTokens + result.completionTokens };
}

function completion(id: string, created: number, model: string, result: ChatResult): Record<string, unknown> {
  const calls = toolCalls(result);
  return {
    id,
    object: 'chat.completion',
    created,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: result.content, ...(calls.length ? { tool_calls: calls } : {}) }, finish_reason: result.finishReason }],
    usage: usage(result),
    timings: { load_ms: Math.round(result.loadMs), generate_ms: Math.round(result.generateMs) },
  };
}

/** Server-sent events as the OpenAI API streams them: role, content deltas, the finish, [DONE]. */
async function stream(reply: FastifyReply, id: string, created: number, model: string, includeUsage: boolean, run: (onText: (text: string) => void) => Promise<ChatResult>): Promise<FastifyReply> {
  let started = false;
  const start = (): void => {
    if (started) return;
    started = true;
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  };
  const send = (delta: Record<string, unknown>, finish: string | null, extra: Record<string, unknown> = {}): void => {
    start();
    reply.raw.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`);
  };
  // Errors before the first byte are ordinary HTTP errors (the error handler); after it, the
  // stream ends with an error event, as the OpenAI API does.
  let first = true;
  try {
    const result = await run((text) => {
      send(first ? { role: 'assistant', content: text } : { content: text }, null);
      first = false;
    });
    if (first) send({ role: 'assistant', content: result.toolCalls.length ? null : (result.content ?? '') }, null);
    const calls = toolCalls(result);
    if (calls.length) send({ tool_calls: calls.map((c, index) => ({ index, ...c })) }, null);
    send({}, result.finishReason);
    if (includeUsage) {
      reply.raw.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage: usage(result) })}\n\n`);
    }
    reply.raw.write('data: [DONE]\n\n');
    reply.raw.end();
    return reply;
  } catch (error) {
    if (!started) throw error;
    reply.raw.write(`data: ${JSON.stringify({ error: { message: (error as Error).message, type: 'server_error', param: null, code: null } })}\n\n`);
    reply.raw.end();
    return reply;
  }
}
