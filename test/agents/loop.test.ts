// The agent loop with scripted tiers: the reactive tier runs its call with no model; a model
// answers, or calls tools whose results go back marked untrusted; a wrong call is told to the
// model once, a second failure (or a backend error, or a tier that cannot serve) escalates to
// the next tier; rounds are bounded; identical turns come from the cache; ctrl-C cancels; and
// every request leaves one recorded decision.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { DROPPED_RESULT, fitContext, handleRequest, type AgentContext, type AgentEvent, type AgentResult } from '../../src/agents/loop.ts';
import { BackendUnavailable, type Backend, type Turn, type TurnRequest } from '../../src/models/backends.ts';
import { openRouterDb } from '../../src/models/budget.ts';
import { ResponseCache } from '../../src/models/cache.ts';
import { loadRules } from '../../src/models/rules.ts';
import type { MachineTiers, Tier } from '../../src/models/tiers.ts';

const RULES = loadRules(path.join(import.meta.dirname, '../../rootfs-overlay/etc/aios/rules'));

function machine(...present: Tier[]): MachineTiers {
  const state = (tier: Tier) => (present.includes(tier) || tier === 'reactive' ? { tier, present: true, backend: tier, missing: null } : { tier, present: false, backend: null, missing: `no ${tier}` });
  return { tiers: { reactive: state('reactive'), operational: state('operational'), tactical: state('tactical'), strategic: state('strategic') }, models: [], keys: [], problems: [] };
}

const answer = (content: string): Turn => ({ content, toolCalls: [], finishReason: 'stop', model: 'm', inputTokens: 10, outputTokens: 3, costUsd: 0.001 });
const call = (name: string, args: unknown, id = 'c1'): Turn => ({ content: '', toolCalls: [{ id, name, arguments: typeof args === 'string' ? args : JSON.stringify(args) }], finishReason: 'tool_calls', model: 'm', inputTokens: 10, outputTokens: 5, costUsd: 0.001 });

/** A tier that replies from a script and keeps what it was asked. */
function scripted(tier: Backend['tier'], script: (Turn | Error | ((r: TurnRequest) => Promise<Turn>))[]): Backend & { asked: TurnRequest[] } {
  const asked: TurnRequest[] = [];
  return {
    tier,
    asked,
    async complete(request) {
      asked.push(structuredClone({ ...request, signal: undefined, onText: undefined, onStatus: undefined }));
      const next = script.shift();
      if (!next) throw new Error('the script is out of turns');
      if (next instanceof Error) throw next;
      const turn = typeof next === 'function' ? await next(request) : next;
      if (turn.content) request.onText?.(turn.content);
      return turn;
    },
  };
}

const TOOLS = [
  { name: 'sys_status', description: 'status', parameters: { type: 'object', properties: {} } },
  { name: 'service_restart', description: 'restart', parameters: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } },
];

function context(overrides: Partial<AgentContext>): AgentContext & { ran: { name: string; args: unknown }[]; events: AgentEvent[]; recorded: AgentResult[] } {
  const ran: { name: string; args: unknown }[] = [];
  const events: AgentEvent[] = [];
  const recorded: AgentResult[] = [];
  return {
    rules: RULES,
    machine: machine('operational', 'tactical', 'strategic'),
    backends: {},
    tools: TOOLS,
    async runTool(name, args) {
      ran.push({ name, args });
      if (name === 'service_restart' && (args as { name?: string }).name === 'ghost') return { ok: false, text: 'ENOENT: no service ghost' };
      return { ok: true, text: JSON.stringify({ tool: name, fine: true }) };
    },
    onEvent: (e) => events.push(e),
    record: (d) => recorded.push(d),
    ran,
    events,
    recorded,
    ...overrides,
  };
}

t.test('a sure rule: the reactive tier calls its tool; no model is asked', async (t) => {
  const operational = scripted('operational', []);
  const ctx = context({ backends: { operational } });
  const result = await handleRequest('restart nginx', ctx);
  t.match(result, { ok: true, tier: 'reactive', wanted: 'reactive', rounds: 0 });
  t.same(ctx.ran, [{ name: 'service.restart', args: { name: 'nginx' } }]);
  t.equal(operational.asked.length, 0);
  t.equal(ctx.recorded.length, 1, 'the decision is recorded');
});

t.test('a model calls a tool, reads the result (marked untrusted), then answers', async (t) => {
  const operational = scripted('operational', [call('sys_status', {}), answer('all good')]);
  const ctx = context({ backends: { operational }, context: () => 'uptime 3 days' });
  const result = await handleRequest('what does the load average mean', ctx);
  t.match(result, { ok: true, tier: 'operational', answer: 'all good', rounds: 2, inputTokens: 20, outputTokens: 8 });
  t.same(ctx.ran, [{ name: 'sys_status', args: {} }]);
  const second = operational.asked[1]!.messages;
  t.match(second[0], { role: 'system', content: /uptime 3 days/ }, 'the context is in the system message');
  t.match(second.at(-1), { role: 'tool', toolCallId: 'c1', content: /^<untrusted>.*<\/untrusted>$/ });
  t.match(ctx.events.map((e) => e.type), ['route', 'tool', 'tool-result', 'text']);
});

t.test('one wrong call is repaired in place; two escalate to the next tier', async (t) => {
  let operational = scripted('operational', [call('no_such_tool', {}), answer('fixed it')]);
  let ctx = context({ backends: { operational } });
  t.match(await handleRequest('what does the load average mean', ctx), { ok: true, tier: 'operational', answer: 'fixed it' });
  t.match(operational.asked[1]!.messages.at(-1), { role: 'tool', content: /EUNKNOWN: there is no tool no_such_tool; the tools are sys_status, service_restart/ });

  operational = scripted('operational', [call('service_restart', { name: 'ghost' }), call('service_restart', '{not json')]);
  const tactical = scripted('tactical', [answer('tactical answers')]);
  ctx = context({ backends: { operational, tactical } });
  const result = await handleRequest('what does the load average mean', ctx);
  t.match(result, { ok: true, tier: 'tactical', wanted: 'operational', answer: 'tactical answers', reason: /calls failed twice .*escalated to tactical/ });
  t.match(ctx.events.find((e) => e.type === 'escalate'), { from: 'operational', to: 'tactical' });
});

t.test('a backend that fails or cannot serve hands on; the last one says why', async (t) => {
  const tactical = scripted('tactical', [new Error('llama.cpp crashed')]);
  const strategic = scripted('strategic', [new BackendUnavailable("today's cloud budget is spent")]);
  const ctx = context({ backends: { tactical, strategic } });
  const result = await handleRequest('why does nginx keep crashing', ctx);
  t.match(result, { ok: false, tier: 'strategic', wanted: 'tactical', answer: /Could not answer: today's cloud budget is spent/, reason: /the tactical tier failed: llama\.cpp crashed, escalated to strategic/ });
});

t.test('rounds are bounded per tier', async (t) => {
  const operational = scripted('operational', Array.from({ length: 10 }, (_, i) => call('sys_status', {}, `c${i}`)));
  const ctx = context({ backends: { operational }, machine: machine('operational'), limits: { operational: { rounds: 3, maxTokens: 64 } } });
  const result = await handleRequest('what does the load average mean', ctx);
  t.match(result, { ok: false, rounds: 3, answer: /used its 3 rounds without an answer/ });
  t.equal(operational.asked.length, 3);
  t.equal(operational.asked[0]!.maxTokens, 64);
});

t.test('an identical request is answered from the cache', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-loop-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = openRouterDb(dir);
  t.teardown(() => db.close());
  const cache = new ResponseCache(db, 60_000);
  const operational = scripted('operational', [answer('once')]);
  const first = await handleRequest('what does the load average mean', context({ backends: { operational }, cache }));
  const second = await handleRequest('what does the load average mean', context({ backends: { operational }, cache }));
  t.match(first, { answer: 'once', cached: 0 });
  t.match(second, { answer: 'once', cached: 1, inputTokens: 0 });
  t.equal(operational.asked.length, 1, 'the model was asked once');
  const other = await handleRequest('what does uptime mean', context({ backends: { operational: scripted('operational', [answer('other')]) }, cache }));
  t.equal(other.answer, 'other', 'a different request is not a hit');
});

t.test('the conversation is kept within the model context: older results go first, the newest stays', async (t) => {
  const big = 'x'.repeat(3000);
  const operational = scripted('operational', [call('sys_status', {}, 'a'), call('sys_status', {}, 'b'), call('sys_status', {}, 'c'), answer('done')]);
  const ctx = context({
    backends: { operational },
    machine: machine('operational'),
    runTool: async () => ({ ok: true, text: big }),
    context: () => 'remembered: '.padEnd(2000, 'm'),
    limits: { operational: { rounds: 6, maxTokens: 100, contextTokens: 1900 } },
  });
  const result = await handleRequest('what does the load average mean', ctx);
  t.match(result, { ok: true, answer: 'done' });
  const last = operational.asked.at(-1)!.messages;
  const results = last.filter((m) => m.role === 'tool').map((m) => m.content);
  t.same(results.slice(0, -1), [DROPPED_RESULT, DROPPED_RESULT], 'the older results were left out');
  t.match(results.at(-1), /^<untrusted>x+<\/untrusted>$/, 'the newest result stays whole');
  t.notMatch(last[0]!.content, /remembered/, 'then the remembered background');
  t.match(last.find((m) => m.role === 'user'), { content: 'what does the load average mean' }, 'the request always stays');

  // Nothing is left out when it fits.
  const messages = [{ role: 'system' as const, content: 'short' }, { role: 'user' as const, content: 'hi' }, { role: 'tool' as const, content: 'r1' }, { role: 'tool' as const, content: 'r2' }];
  t.equal(fitContext(messages, [], { rounds: 1, maxTokens: 10, contextTokens: 10_000 }), 0);
  t.equal(messages[2]!.content, 'r1');
});

t.test('cancelling ends the request', async (t) => {
  const stop = new AbortController();
  const operational = scripted('operational', [
    async (request) => {
      setTimeout(() => stop.abort(), 50);
      return new Promise<Turn>((_resolve, reject) => request.signal?.addEventListener('abort', () => reject(new Error('aborted'))));
    },
  ]);
  const result = await handleRequest('what does the load average mean', context({ backends: { operational }, signal: stop.signal }));
  t.match(result, { ok: false, answer: 'cancelled', reason: /cancelled/ });
});

t.test('no tier here: the answer says what to add', async (t) => {
  const result = await handleRequest('write a python script', context({ machine: machine() }));
  t.match(result, { ok: false, tier: null, wanted: 'strategic', answer: /No tier here can answer this: .*no model tier is present/ });
});
