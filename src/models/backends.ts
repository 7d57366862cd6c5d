// One way to ask each model tier for a turn: the local tiers through the models service's
// OpenAI-compatible endpoint (the `openai` client), the strategic tier through CloudTier, within
// the cloud budget. The agent loop sees only Backend.
import OpenAI from 'openai';
import { BudgetError, type Budget } from './budget.ts';
import { toOpenAiMessages, type CloudTier } from './cloud.ts';
import type { ChatMessage, ToolSpec } from './llama-host.ts';

export interface TurnRequest {
  messages: ChatMessage[];
  tools: ToolSpec[];
  maxTokens: number;
  temperature?: number;
  signal?: AbortSignal;
  onText?: (text: string) => void;
  /** What the backend is doing before the first word (starting the models service). */
  onStatus?: (text: string) => void;
}

export interface Turn {
  content: string;
  toolCalls: { id: string; name: string; arguments: string }[];
  finishReason: 'stop' | 'length' | 'tool_calls';
  model: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface Backend {
  tier: 'operational' | 'tactical' | 'strategic';
  complete(request: TurnRequest): Promise<Turn>;
}

/** A backend that cannot serve now (budget spent, service down): the router skips its tier. */
export class BackendUnavailable extends Error {}

/**
 * operational or tactical: the models service, asked by tier name, streamed. When the service
 * does not answer, `startService` (init starts it on demand: it is not started at boot) is
 * awaited once and the turn tried again.
 */
export class LocalBackend implements Backend {
  readonly tier: 'operational' | 'tactical';
  readonly #client: OpenAI;
  readonly #startService: ((signal?: AbortSignal) => Promise<void>) | undefined;

  constructor(tier: 'operational' | 'tactical', baseUrl: string, timeoutMs: number, startService?: (signal?: AbortSignal) => Promise<void>) {
    this.tier = tier;
    this.#client = new OpenAI({ baseURL: baseUrl, apiKey: 'local', maxRetries: 0, timeout: timeoutMs });
    this.#startService = startService;
  }

  async complete(request: TurnRequest): Promise<Turn> {
    let response: OpenAI.Chat.Completions.ChatCompletion;
    try {
      response = await this.#ask(request);
    } catch (error) {
      if (!(error instanceof OpenAI.APIConnectionError) || error instanceof OpenAI.APIConnectionTimeoutError || !this.#startService) throw unavailable(error);
      request.onStatus?.('starting the models service');
      await this.#startService(request.signal);
      try {
        response = await this.#ask(request);
      } catch (again) {
        throw unavailable(again);
      }
    }
    const choice = response.choices[0]!;
    return {
      content: choice.message.content ?? '',
      toolCalls: (choice.message.tool_calls ?? []).flatMap((c) => (c.type === 'function' ? [{ id: c.id, name: c.function.name, arguments: c.function.arguments }] : [])),
      finishReason: choice.finish_reason === 'tool_calls' ? 'tool_calls' : choice.finish_reason === 'length' ? 'length' : 'stop',
      model: response.model,
      inputTokens: response.usage?.prompt_tokens ?? 0,
      outputTokens: response.usage?.completion_tokens ?? 0,
      costUsd: 0,
    };
  }

  /** One streamed turn: the words go to onText as they come; the whole turn is returned. */
  async #ask(request: TurnRequest): Promise<OpenAI.Chat.Completions.ChatCompletion> {
    const stream = this.#client.chat.completions.stream(
      {
        model: this.tier,
        messages: toOpenAiMessages(request.messages),
        max_tokens: request.maxTokens,
        stream_options: { include_usage: true },
        ...(request.temperature !== undefined ? { temperature: request.temperature } : {}),
        ...(request.tools.length ? { tools: request.tools.map((t) => ({ type: 'function' as const, function: { name: t.name, description: t.description, parameters: t.parameters } })) } : {}),
      },
      { signal: request.signal },
    );
    stream.on('content', (delta) => request.onText?.(delta));
    return stream.finalChatCompletion();
  }
}

/** The models service's silence as the router understands it: this tier cannot serve now. */
function unavailable(error: unknown): unknown {
  if (error instanceof OpenAI.APIConnectionTimeoutError) return new BackendUnavailable(`the models service did not answer in time (${error.message}; [models] operational_timeout_seconds / tactical_timeout_seconds)`);
  if (error instanceof OpenAI.APIConnectionError) return new BackendUnavailable(`the models service does not answer (${error.message})`);
  return error;
}

/** A prompt's size in tokens, for reserving its worst case: about four characters a token, rounded up generously. */
export function estimateTokens(messages: ChatMessage[], tools: ToolSpec[]): number {
  const chars = messages.reduce((n, m) => n + m.content.length + JSON.stringify(m.toolCalls ?? []).length, 0) + JSON.stringify(tools).length;
  return Math.ceil(chars / 3) + 16 * messages.length;
}

/** strategic: Claude then OpenAI, each request's worst case reserved in the budget first. */
export class CloudBackend implements Backend {
  readonly tier = 'strategic' as const;
  readonly #cloud: CloudTier;
  readonly #budget: Budget;
  readonly #model: { provider: string; model: string };

  constructor(cloud: CloudTier, budget: Budget, model: { provider: string; model: string }) {
    this.#cloud = cloud;
    this.#budget = budget;
    this.#model = model;
  }

  async complete(request: TurnRequest): Promise<Turn> {
    let reservation;
    try {
      reservation = this.#budget.reserve(this.#model.provider, this.#model.model, estimateTokens(request.messages, request.tools), request.maxTokens);
    } catch (error) {
      if (error instanceof BudgetError) throw new BackendUnavailable(error.message);
      throw error;
    }
    let result;
    try {
      result = await this.#cloud.chat({ messages: request.messages, tools: request.tools, maxTokens: request.maxTokens, ...(request.temperature !== undefined ? { temperature: request.temperature } : {}), ...(request.signal ? { signal: request.signal } : {}), ...(request.onText ? { onText: request.onText } : {}) });
    } catch (error) {
      this.#budget.release(reservation);
      throw error;
    }
    const costUsd = this.#budget.settle(reservation, result.provider, result.model, result.inputTokens, result.outputTokens);
    return {
      content: result.content,
      toolCalls: result.toolCalls.map((c) => ({ id: c.id, name: c.name, arguments: JSON.stringify(c.arguments) })),
      finishReason: result.finishReason,
      model: result.model,
      inputTokens: result.inputTokens,
      outputTokens: result.outputTokens,
      costUsd,
    };
  }
}
