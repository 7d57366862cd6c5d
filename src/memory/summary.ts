// Rule-based summaries of operational memories that retention removes: one long-term
// `knowledge` memory per day and type, in words a search finds ("2026-11-20: 34 tool calls
// (fs.write ×3, service.restart ×2, …); service nginx crashed 4 times"). No model: what is
// counted comes from each memory's metadata (tool, service and event, package action), and
// for other types a few of the memories' own words are kept as examples.
//
// Invariants:
// - A summary's metadata holds its counts, so a later batch of the same day and type merges
//   into it exactly (one summary per day and type, however many runs it took).
// - The text is rebuilt from the counts alone: the same counts give the same words.

export interface SummaryFacts {
  /** The UTC day, YYYY-MM-DD. */
  day: string;
  /** The type of the memories summarised. */
  type: string;
  summaryOf: number;
  /** The oldest and newest summarised memory's createdAt. */
  from: string;
  to: string;
  /** What the memories were: label → how many (`tool fs.write`, `service nginx crashed`, `installed vim`). */
  counts: Record<string, number>;
  /** For types without known metadata: a few distinct contents, shortened. */
  examples: string[];
}

export interface Summarised {
  type: string;
  content: string;
  metadata: Record<string, unknown>;
  createdAt: string;
}

const EXAMPLES = 3;
const SHOWN = 8;

/** The labels one memory adds to its day's counts. */
function labelsOf(memory: Summarised): string[] {
  const m = memory.metadata;
  const text = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null);
  switch (memory.type) {
    case 'tool': {
      const tool = text(m.tool) ?? memory.content.split(/\s/, 1)[0]!;
      return m.ok === false ? [`tool ${tool}`, 'failed'] : [`tool ${tool}`];
    }
    case 'service': {
      const service = text(m.service);
      if (!service) return [];
      const event = m.crashed === true ? 'crashed' : ({ start: 'started', restart: 'restarted', failed: 'failed', exit: 'stopped' } as Record<string, string>)[String(m.event)];
      return event ? [`service ${service} ${event}`] : [];
    }
    case 'package': {
      const verb = ({ install: 'installed', remove: 'removed', upgrade: 'upgraded' } as Record<string, string>)[String(m.action)];
      const packages = Array.isArray(m.packages) ? m.packages.filter((p): p is string => typeof p === 'string') : [];
      return verb ? packages.map((p) => `${verb} ${p}`) : [];
    }
    case 'chat': {
      const session = text(m.session);
      return session ? [`conversation ${session}`] : [];
    }
    default:
      return [];
  }
}

/** The facts of `memories` (all of one day and type), added to `previous` when there is one. */
export function mergeFacts(previous: SummaryFacts | null, day: string, type: string, memories: Summarised[]): SummaryFacts {
  const facts: SummaryFacts = previous
    ? { ...previous, counts: { ...previous.counts }, examples: [...previous.examples] }
    : { day, type, summaryOf: 0, from: memories[0]!.createdAt, to: memories[0]!.createdAt, counts: {}, examples: [] };
  for (const memory of memories) {
    facts.summaryOf++;
    if (memory.createdAt < facts.from) facts.from = memory.createdAt;
    if (memory.createdAt > facts.to) facts.to = memory.createdAt;
    const labels = labelsOf(memory);
    for (const label of labels) facts.counts[label] = (facts.counts[label] ?? 0) + 1;
    if (labels.length === 0 && facts.examples.length < EXAMPLES) {
      const example = memory.content.replace(/\s+/g, ' ').trim().slice(0, 80);
      if (!facts.examples.includes(example)) facts.examples.push(example);
    }
  }
  return facts;
}

/** The facts read back from a summary's metadata (null when it is not one). */
export function factsFrom(metadata: Record<string, unknown>): SummaryFacts | null {
  const { day, type, summaryOf, from, to, counts, examples } = metadata;
  if (typeof day !== 'string' || typeof type !== 'string' || typeof summaryOf !== 'number' || typeof from !== 'string' || typeof to !== 'string') return null;
  if (!counts || typeof counts !== 'object' || !Array.isArray(examples)) return null;
  return { day, type, summaryOf, from, to, counts: counts as Record<string, number>, examples: examples.filter((e): e is string => typeof e === 'string') };
}

const times = (n: number): string => (n === 1 ? 'once' : n === 2 ? 'twice' : `${n} times`);
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** The labels with a prefix, most frequent first: [rest of the label, count]. */
function top(counts: Record<string, number>, prefix: string): [string, number][] {
  return Object.entries(counts)
    .filter(([label]) => label.startsWith(prefix))
    .map(([label, n]): [string, number] => [label.slice(prefix.length), n])
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
}

function list(items: string[]): string {
  return items.length > SHOWN ? `${items.slice(0, SHOWN).join(', ')}, …` : items.join(', ');
}

/** The summary's words, from its facts alone. */
export function summaryText(facts: SummaryFacts): string {
  const { day, type, summaryOf: n, counts } = facts;
  let text: string;
  switch (type) {
    case 'tool': {
      const tools = top(counts, 'tool ').map(([tool, k]) => (k > 1 ? `${tool} ×${k}` : tool));
      const failed = counts.failed ?? 0;
      text = `${plural(n, 'tool call')}${tools.length ? ` (${list(tools)})` : ''}${failed ? `; ${failed} failed` : ''}`;
      break;
    }
    case 'service': {
      const events = top(counts, 'service ').map(([what, k]) => `service ${what} ${times(k)}`);
      text = `${plural(n, 'service event')}${events.length ? `; ${list(events)}` : ''}`;
      break;
    }
    case 'package': {
      const changes = ['installed', 'upgraded', 'removed']
        .map((verb) => [verb, top(counts, `${verb} `).map(([p, k]) => (k > 1 ? `${p} ×${k}` : p))] as const)
        .filter(([, packages]) => packages.length > 0)
        .map(([verb, packages]) => `${verb} ${list(packages)}`);
      text = `${plural(n, 'package change')}${changes.length ? `: ${changes.join('; ')}` : ''}`;
      break;
    }
    case 'chat': {
      const conversations = top(counts, 'conversation ').length;
      text = `${plural(n, 'chat message')}${conversations ? ` in ${plural(conversations, 'conversation')}` : ''}`;
      break;
    }
    default:
      text = `${plural(n, `${type} memory`, `${type} memories`)}`;
  }
  if (facts.examples.length > 0) text += ` (e.g. ${facts.examples.map((e) => `"${e}"`).join('; ')})`;
  return `${day}: ${text}`;
}
