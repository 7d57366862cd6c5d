// The strategic tier with the real SDKs (@anthropic-ai/sdk, openai) against a loopback server
// that speaks both wire formats: streamed text and tool calls, Claude first and OpenAI when
// Claude cannot answer (overloaded, rate limited past the retries, a refused key, a malformed
// body, a timeout), retries that honour retry-after, and an error naming every attempt.
import t from 'tap';
import { CloudError, CloudTier } from '../../src/models/cloud.ts';
import type { CloudKey } from '../../src/models/tiers.ts';
import { startFakeCloud, type FakeCloud } from '../helpers/fake-cloud.ts';

let fake: FakeCloud;
t.before(async () => {
  fake = await startFakeCloud();
});
t.teardown(() => fake.close());
t.beforeEach(() => {
  fake.anthropic.length = 0;
  fake.openai.length = 0;
  fake.requests.length = 0;
});

const keys = (): CloudKey[] => [
  { provider: 'anthropic', apiKey: 'sk-ant-test', baseUrl: fake.anthropicUrl, model: null, from: 'test' },
  { provider: 'openai', apiKey: 'sk-openai-test', baseUrl: fake.openaiUrl, model: 'gpt-test', from: 'test' },
];
const tier = (options: Partial<{ timeoutMs: number; maxRetries: number }> = {}) => new CloudTier(keys(), { timeoutMs: 5_000, maxRetries: 2, ...options });
const TOOLS = [{ name: 'service_restart', description: 'Restart a service', parameters: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } }];
const ask = { messages: [{ role: 'system' as const, content: 'You run a Linux machine.' }, { role: 'user' as const, content: 'restart nginx' }], maxTokens: 200 };

t.test('Claude streams the answer; the key and the request are as the API wants them', async (t) => {
  fake.anthropic.push({ kind: 'text', text: ['nginx ', 'is ', 'up'], inputTokens: 21, outputTokens: 3 });
  const pieces: string[] = [];
  const result = await tier().chat({ ...ask, onText: (p) => pieces.push(p) });
  t.match(result, { provider: 'anthropic', model: 'claude-sonnet-4-5', content: 'nginx is up', finishReason: 'stop', inputTokens: 21, outputTokens: 3, fellBack: [] });
  t.same(pieces, ['nginx ', 'is ', 'up'], 'text as it came');
  const request = fake.requests[0]!;
  t.equal(request.api, 'anthropic');
  t.ok(request.headers['x-api-key'] === 'sk-ant-test' || request.headers.authorization === 'Bearer sk-ant-test', 'the key is sent');
  t.match(request.body, { system: 'You run a Linux machine.', messages: [{ role: 'user', content: 'restart nginx' }], max_tokens: 200, stream: true });
});

t.test('tool calls, streamed; tool results go back by id', async (t) => {
  fake.anthropic.push({ kind: 'tool', name: 'service_restart', arguments: { name: 'nginx' }, text: 'Restarting.' });
  const claude = await tier().chat({ ...ask, tools: TOOLS });
  t.match(claude, { provider: 'anthropic', finishReason: 'tool_calls', toolCalls: [{ id: 'toolu_1', name: 'service_restart', arguments: { name: 'nginx' } }], content: 'Restarting.' });
  t.match(fake.requests[0]!.body, { tools: [{ name: 'service_restart', input_schema: { type: 'object' } }] });

  fake.anthropic.push({ kind: 'text', text: ['done'] });
  await tier().chat({
    messages: [...ask.messages, { role: 'assistant', content: '', toolCalls: [{ id: 'toolu_1', name: 'service_restart', arguments: '{"name":"nginx"}' }] }, { role: 'tool', name: 'service_restart', toolCallId: 'toolu_1', content: 'nginx: up' }],
    tools: TOOLS,
    maxTokens: 50,
  });
  t.match(fake.requests[1]!.body.messages, [
    { role: 'user' },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'service_restart', input: { name: 'nginx' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'nginx: up' }] },
  ]);

  // OpenAI's streamed call, its arguments in pieces.
  const openaiOnly = new CloudTier([keys()[1]!], { timeoutMs: 5_000, maxRetries: 0 });
  fake.openai.push({ kind: 'tool', name: 'service_restart', arguments: { name: 'sshd', lines: [1, 2] } });
  t.match(await openaiOnly.chat({ ...ask, tools: TOOLS }), { provider: 'openai', model: 'gpt-test', finishReason: 'tool_calls', toolCalls: [{ id: 'call_1', name: 'service_restart', arguments: { name: 'sshd', lines: [1, 2] } }], inputTokens: 9, outputTokens: 4 });
  t.match(fake.requests.at(-1)!.body, { model: 'gpt-test', tools: [{ type: 'function', function: { name: 'service_restart' } }], stream: true });
});

t.test('a 429 with retry-after is retried by the SDK; then Claude answers', async (t) => {
  fake.anthropic.push({ kind: 'error', status: 429, message: 'slow down', headers: { 'retry-after': '0' } }, { kind: 'text', text: ['ok'] });
  const result = await tier().chat(ask);
  t.match(result, { provider: 'anthropic', content: 'ok', fellBack: [] });
  t.equal(fake.requests.filter((r) => r.api === 'anthropic').length, 2, 'one retry');
});

t.test('Claude overloaded (529) past its retries: OpenAI answers, and says why', async (t) => {
  for (let i = 0; i < 3; i++) fake.anthropic.push({ kind: 'error', status: 529, message: 'Overloaded', headers: { 'retry-after': '0' } });
  fake.openai.push({ kind: 'text', text: ['from ', 'openai'] });
  const result = await tier().chat(ask);
  t.match(result, { provider: 'openai', content: 'from openai', fellBack: [{ provider: 'anthropic', error: /529 .*Overloaded/ }] });
  t.equal(fake.requests.filter((r) => r.api === 'anthropic').length, 3, 'the SDK tried three times');
});

t.test('a refused key, a malformed body and a timeout each fall back', async (t) => {
  fake.anthropic.push({ kind: 'error', status: 401, message: 'invalid x-api-key' });
  fake.openai.push({ kind: 'text', text: ['a'] });
  t.match(await tier().chat(ask), { provider: 'openai', fellBack: [{ provider: 'anthropic', error: /401 AuthenticationError/ }] });

  fake.anthropic.push({ kind: 'malformed' });
  fake.openai.push({ kind: 'text', text: ['b'] });
  t.match(await tier({ maxRetries: 0 }).chat(ask), { provider: 'openai', content: 'b', fellBack: [{ provider: 'anthropic' }] });

  fake.anthropic.push({ kind: 'hang' });
  fake.openai.push({ kind: 'text', text: ['c'] });
  const started = Date.now();
  t.match(await tier({ maxRetries: 0, timeoutMs: 500 }).chat(ask), { provider: 'openai', content: 'c', fellBack: [{ provider: 'anthropic', error: /time/i }] });
  t.ok(Date.now() - started < 4_000, 'the timeout holds');
});

t.test('both fail: an error naming each attempt; no keys: an error saying what to set', async (t) => {
  fake.anthropic.push({ kind: 'error', status: 500, message: 'boom' });
  fake.openai.push({ kind: 'error', status: 500, message: 'bang' });
  const error = await tier({ maxRetries: 0 })
    .chat(ask)
    .catch((e: unknown) => e);
  t.type(error, CloudError);
  t.match((error as CloudError).message, /could not answer: anthropic: 500 .*boom.*; openai: 500 .*bang/);
  t.equal((error as CloudError).attempts.length, 2);
  await t.rejects(new CloudTier([], { timeoutMs: 1000, maxRetries: 0 }).chat(ask), /No cloud provider: no API key \(ANTHROPIC_API_KEY, OPENAI_API_KEY or \/etc\/aios\/secrets\.toml\)/);
});

t.test('cancelling stops the request and does not fall back', async (t) => {
  fake.anthropic.push({ kind: 'hang' });
  fake.openai.push({ kind: 'text', text: ['should not be asked'] });
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 200);
  await t.rejects(tier().chat({ ...ask, signal: stop.signal }), /cancelled/);
  t.equal(fake.requests.filter((r) => r.api === 'openai').length, 0);
});
