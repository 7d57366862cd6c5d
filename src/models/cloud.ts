// The strategic tier: Claude through @anthropic-ai/sdk first, OpenAI through `openai` when
// Claude cannot answer (no key, or it failed after the SDK's own retries: overloaded, rate
// limited, server errors, timeouts, a refused key). Both stream (text as it comes, tool calls
// when complete), both take the same tools, and both say how many tokens were used, which the
// router's budgets count.
//
// The SDKs do the retrying (with backoff, honouring retry-after) and the timeouts. Tool names
// are given as the APIs allow them ([a-zA-Z0-9_-]: registry.ts apiName, fs.read as fs_read).
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type { ChatMessage, ToolSpec } from './llama-host.ts';
import type { CloudKey } from './tiers.ts';

export const DEFAULT_MODELS = { anthropic: 'claude-sonnet-4-5', openai: 'gpt-4.1' } as const;

export interface CloudRequest {
  messages: ChatMessage[];
  tools?: ToolSpec[];
  maxTokens: number;
  temperature?: number;
  signal?: AbortSignal;
  onText?: (text: string) => void;
}

export interface CloudResult {
  provider: 'anthropic' | 'openai';
  model: string;
  content: string;
  toolCalls: { id: string; name: string; arguments: Record<string, unknown> }[];
  finishReason: 'stop' | 'length' | 'tool_calls';
  inputTokens: number;
  outputTokens: number;
  /** Providers tried before this one answered, and why each did not. */
  fellBack: { provider: string; error: string }[];
}

/** A conversation in the OpenAI Chat Completions format (the cloud's and the models service's). */
export function toOpenAiMessages(messages: ChatMessage[]): OpenAI.Chat.Completions.ChatCompletionMessageParam[] {
  return messages.map((m) => {
    if (m.role === 'tool') return { role: 'tool', tool_call_id: m.toolCallId ?? '', content: m.content };
    if (m.role === 'assistant') {
      return {
        role: 'assistant',
        content: m.content || null,
        ...(m.toolCalls?.length ? { tool_calls: m.toolCalls.map((c, i) => ({ id: c.id ?? `call_${i}`, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })) } : {}),
      };
    }
    return { role: m.role, content: m.content };
  });
}

export class CloudError extends Error {
  readonly attempts: { provider: string; error: string }[];
  constructor(message: string, attempts: { provider: string; error: string }[]) {
    super(message);
    this.attempts = attempts;
  }
}

export interface CloudOptions {
  timeoutMs: number;
  maxRetries: number;
}

/** What an SDK error says, in one line (status and the API's message). */
function describe(error: unknown): string {
  if (error instanceof Anthropic.APIError || error instanceof OpenAI.APIError) {
    const status = error.status ? `${error.status} ` : '';
    return `${status}${error.constructor.name}: ${error.message.split('\n')[0]}`;
  }
  return (error as Error).message;
}

export class CloudTier {
  readonly #keys: CloudKey[];
  readonly #options: CloudOptions;

  constructor(keys: CloudKey[], options: CloudOptions) {
    this.#keys = keys;
    this.#options = options;
  }

  get providers(): string[] {
    return this.#keys.map((k) => k.provider);
  }

  async chat(request: CloudRequest): Promise<CloudResult> {
    if (this.#keys.length === 0) throw new CloudError('No cloud provider: no API key (ANTHROPIC_API_KEY, OPENAI_API_KEY or /etc/aios/secrets.toml)', []);
    const attempts: { provider: string; error: string }[] = [];
    for (const key of this.#keys) {
      try {
        const result = key.provider === 'anthropic' ? await this.#claude(key, request) : await this.#openai(key, request);
        return { ...result, fellBack: attempts };
      } catch (error) {
        if (request.signal?.aborted) throw new CloudError('cancelled', attempts);
        attempts.push({ provider: key.provider, error: describe(error) });
      }
    }
    throw new CloudError(`The cloud tier could not answer: ${attempts.map((a) => `${a.provider}: ${a.error}`).join('; ')}`, attempts);
  }

  async #claude(key: CloudKey, request: CloudRequest): Promise<Omit<CloudResult, 'fellBack'>> {
    const client = new Anthropic({ apiKey: key.apiKey, ...(key.baseUrl ? { baseURL: key.baseUrl } : {}), maxRetries: this.#options.maxRetries, timeout: this.#options.timeoutMs });
    const model = key.model ?? DEFAULT_MODELS.anthropic;
    const system = request.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
    const messages: Anthropic.MessageParam[] = [];
    for (const m of request.messages) {
      if (m.role === 'user') messages.push({ role: 'user', content: m.content });
      else if (m.role === 'tool') messages.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: m.toolCallId ?? '', content: m.content }] });
      else if (m.role === 'assistant') {
        const blocks: Anthropic.ContentBlockParam[] = m.content ? [{ type: 'text', text: m.content }] : [];
        for (const [i, call] of (m.toolCalls ?? []).entries()) blocks.push({ type: 'tool_use', id: call.id ?? `call_${i}`, name: call.name, input: JSON.parse(call.arguments || '{}') as Record<string, unknown> });
        messages.push({ role: 'assistant', content: blocks });
      }
    }
    const stream = client.messages.stream(
      {
        model,
        max_tokens: request.maxTokens,
        ...(system ? { system } : {}),
        messages,
        ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
        ...(request.tools?.length ? { tools: request.tools.map((t) => ({ name: t.name, description: t.description, input_schema: t.parameters as Anthropic.Tool.InputSchema })) } : {}),
      },
      { signal: request.signal },
    );
    if (request.onText) stream.on('text', request.onText);
    const message = await stream.finalMessage();
    const text = message.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('');
    const toolCalls = message.content.flatMap((b) => (b.type === 'tool_use' ? [{ id: b.id, name: b.name, arguments: b.input as Record<string, unknown> }] : []));
    return {
      provider: 'anthropic',
      model: message.model ?? model,
      content: text,
      toolCalls,
      finishReason: message.stop_reason === 'tool_use' ? 'tool_calls' : message.stop_reason === 'max_tokens' ? 'length' : 'stop',
      inputTokens: message.usage?.input_tokens ?? 0,
      outputTokens: message.usage?.output_tokens ?? 0,
    };
  }

  async #openai(key: CloudKey, request: CloudRequest): Promise<Omit<CloudResult, 'fellBack'>> {
    const client = new OpenAI({ apiKey: key.apiKey, ...(key.baseUrl ? { baseURL: key.baseUrl } : {}), maxRetries: this.#options.maxRetries, timeout: this.#options.timeoutMs });
    const model = key.model ?? DEFAULT_MODELS.openai;
    const messages = toOpenAiMessages(request.messages);
    const stream = await client.chat.completions.create(
      {
        model,
        messages,
        max_completion_tokens: request.maxTokens,
        ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
        ...(request.tools?.length ? { tools: request.tools.map((t) => ({ type: 'function' as const, function: { name: t.name, description: t.description, parameters: t.parameters } })) } : {}),
        stream: true,
        stream_options: { include_usage: true },
      },
      { signal: request.signal },
    );
    let content = '';
    let finish: string | null = null;
    let usage = { prompt_tokens: 0, completion_tokens: 0 };
    let answeredModel = model;
    const calls: { id: string; name: string; arguments: string }[] = [];
    for await (const chunk of stream) {
      if (chunk.model) answeredModel = chunk.model;
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      if (choice.delta.content) {
        content += choice.delta.content;
        request.onText?.(choice.delta.content);
      }
      for (const delta of choice.delta.tool_calls ?? []) {
        const call = (calls[delta.index] ??= { id: '', name: '', arguments: '' });
        if (delta.id) call.id = delta.id;
        if (delta.function?.name) call.name += delta.function.name;
        if (delta.function?.arguments) call.arguments += delta.function.arguments;
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    const toolCalls = calls.map((c) => {
      try {
        return { id: c.id, name: c.name, arguments: JSON.parse(c.arguments || '{}') as Record<string, unknown> };
      } catch {
        throw new Error(`the model's arguments for ${c.name} are not JSON: ${c.arguments.slice(0, 200)}`);
      }
    });
    return {
      provider: 'openai',
      model: answeredModel,
      content,
      toolCalls,
      finishReason: finish === 'tool_calls' || toolCalls.length > 0 ? 'tool_calls' : finish === 'length' ? 'length' : 'stop',
      inputTokens: usage.prompt_tokens,
      outputTokens: usage.completion_tokens,
    };
  }
}
