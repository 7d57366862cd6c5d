// A loopback server that speaks the Anthropic Messages and OpenAI Chat Completions wire formats
// (JSON and SSE streaming, tool_use / tool_calls, errors), answering from a script: each request
// to an API takes the next scripted reply for that API. The real SDKs are pointed at it by
// baseURL, so the cloud tier is tested without the internet.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Reply =
  | { kind: 'text'; text: string[]; inputTokens?: number; outputTokens?: number; stop?: 'end_turn' | 'max_tokens' }
  | { kind: 'tool'; name: string; arguments: Record<string, unknown>; text?: string }
  | { kind: 'error'; status: number; message: string; headers?: Record<string, string> }
  | { kind: 'malformed' }
  | { kind: 'hang' };

export interface FakeCloud {
  anthropicUrl: string;
  openaiUrl: string;
  anthropic: Reply[];
  openai: Reply[];
  requests: { api: 'anthropic' | 'openai'; headers: IncomingMessage['headers']; body: Record<string, unknown> }[];
  close(): Promise<void>;
}

const sse = (res: ServerResponse, events: { event?: string; data: unknown }[]): void => {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  for (const e of events) res.write(`${e.event ? `event: ${e.event}\n` : ''}data: ${typeof e.data === 'string' ? e.data : JSON.stringify(e.data)}\n\n`);
  res.end();
};

function anthropicReply(res: ServerResponse, reply: Extract<Reply, { kind: 'text' | 'tool' }>, model: string): void {
  const events: { event: string; data: unknown }[] = [];
  const push = (data: { type: string } & Record<string, unknown>): void => void events.push({ event: data.type, data });
  push({ type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: reply.kind === 'text' ? (reply.inputTokens ?? 10) : 12, output_tokens: 0 } } });
  if (reply.kind === 'text') {
    push({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    for (const piece of reply.text) push({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: piece } });
    push({ type: 'content_block_stop', index: 0 });
    push({ type: 'message_delta', delta: { stop_reason: reply.stop ?? 'end_turn', stop_sequence: null }, usage: { output_tokens: reply.outputTokens ?? reply.text.length } });
  } else {
    let index = 0;
    if (reply.text) {
      push({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      push({ type: 'content_block_delta', index, delta: { type: 'text_delta', text: reply.text } });
      push({ type: 'content_block_stop', index });
      index++;
    }
    push({ type: 'content_block_start', index, content_block: { type: 'tool_use', id: 'toolu_1', name: reply.name, input: {} } });
    const json = JSON.stringify(reply.arguments);
    for (let i = 0; i < json.length; i += 5) push({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: json.slice(i, i + 5) } });
    push({ type: 'content_block_stop', index });
    push({ type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 7 } });
  }
  push({ type: 'message_stop' });
  sse(res, events);
}

function openaiReply(res: ServerResponse, reply: Extract<Reply, { kind: 'text' | 'tool' }>, model: string): void {
  const chunk = (delta: Record<string, unknown>, finish: string | null) => ({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta, finish_reason: finish }] });
  const events: { data: unknown }[] = [{ data: chunk({ role: 'assistant', content: '' }, null) }];
  if (reply.kind === 'text') {
    for (const piece of reply.text) events.push({ data: chunk({ content: piece }, null) });
    events.push({ data: chunk({}, reply.stop === 'max_tokens' ? 'length' : 'stop') });
  } else {
    if (reply.text) events.push({ data: chunk({ content: reply.text }, null) });
    events.push({ data: chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: reply.name, arguments: '' } }] }, null) });
    const json = JSON.stringify(reply.arguments);
    for (let i = 0; i < json.length; i += 5) events.push({ data: chunk({ tool_calls: [{ index: 0, function: { arguments: json.slice(i, i + 5) } }] }, null) });
    events.push({ data: chunk({}, 'tool_calls') });
  }
  events.push({ data: { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model, choices: [], usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 } } });
  events.push({ data: '[DONE]' });
  sse(res, events);
}

export async function startFakeCloud(): Promise<FakeCloud> {
  const fake = { anthropic: [] as Reply[], openai: [] as Reply[], requests: [] as FakeCloud['requests'] };
  const hanging: ServerResponse[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d.toString()));
    req.on('end', () => {
      const api = req.url?.startsWith('/anthropic/') ? 'anthropic' : 'openai';
      const body = JSON.parse(raw || '{}') as Record<string, unknown>;
      fake.requests.push({ api, headers: req.headers, body });
      const reply = fake[api].shift() ?? { kind: 'error', status: 500, message: 'the script has no more replies' };
      const model = String(body.model ?? 'unknown');
      switch (reply.kind) {
        case 'error':
          res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
          res.end(JSON.stringify(api === 'anthropic' ? { type: 'error', error: { type: reply.status === 529 ? 'overloaded_error' : 'api_error', message: reply.message } } : { error: { message: reply.message, type: 'server_error', code: null } }));
          return;
        case 'malformed':
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.end('data: {this is not json\n\n');
          return;
        case 'hang':
          hanging.push(res);
          return;
        default:
          if (api === 'anthropic') anthropicReply(res, reply, model);
          else openaiReply(res, reply, model);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    ...fake,
    anthropicUrl: `http://127.0.0.1:${port}/anthropic`,
    openaiUrl: `http://127.0.0.1:${port}/openai/v1`,
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
