// Runs the reflexes (src/models/reflexes.ts) that are due: the maintenance service calls this
// every minute. A reflex's goal goes to the agent loop when a model tier is here (as
// agent:reflex/NAME, so the policy and the audit log see who acted), its tool call and its
// built-in clean-up run either way, and what happened is remembered. When it last fired, per
// thing, is kept in STATE/reflexes.json, so that a restart does not fire it again at once.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dueReflexes, fillIn, firingKey, loadReflexes, type Firing, type Reading } from '../models/reflexes.ts';
import type { Locations } from '../policy/setup.ts';
import type { AgentRuntime } from './runtime.ts';

export interface ReflexOutcome {
  reflex: string;
  subject: string;
  value: number;
  /** One line per action taken, in order. */
  did: string[];
}

export interface ReflexRound {
  fired: ReflexOutcome[];
  problems: string[];
}

export interface ReflexOptions {
  readings: Reading[];
  now?: number;
  signal?: AbortSignal;
  /** Opens what the actions need (the agent runtime, with the tools pipeline and memory). */
  open: () => Promise<AgentRuntime>;
  /** The built-in clean-up (`builtin = "free-space"`): returns what it did. */
  freeSpace: () => Promise<string>;
}

export async function runReflexes(where: Locations, options: ReflexOptions): Promise<ReflexRound> {
  const { reflexes, problems } = loadReflexes();
  const now = options.now ?? Date.now();
  const stateFile = path.join(where.stateDir, 'reflexes.json');
  const last = readLast(stateFile);
  const due = dueReflexes(reflexes, options.readings, last, now);
  if (due.length === 0) return { fired: [], problems };
  // Recorded before acting: an action that crashes the process must not fire again at once.
  for (const firing of due) last.set(firingKey(firing.reflex, firing.reading), now);
  writeLast(stateFile, last);

  let runtime: AgentRuntime | null = null;
  const fired: ReflexOutcome[] = [];
  try {
    for (const firing of due) {
      const did: string[] = [];
      try {
        runtime ??= await options.open();
        await act(firing, runtime, options, did);
      } catch (error) {
        did.push(`failed: ${(error as Error).message}`);
      }
      const { reflex, reading } = firing;
      const threshold = reflex.above !== undefined ? `over ${reflex.above}` : `under ${reflex.below}`;
      const outcome = { reflex: reflex.name, subject: reading.subject, value: Math.round(reading.value * 10) / 10, did };
      runtime?.remember({
        type: 'system',
        tier: 'operational',
        source: 'reflex',
        importance: 0.7,
        content: `reflex ${reflex.name}: ${reading.name} of ${reading.subject} is ${outcome.value} (${threshold}); ${did.join('; ')}`.slice(0, 2000),
        metadata: { reflex: reflex.name, reading: reading.name, subject: reading.subject, value: outcome.value, did },
      });
      fired.push(outcome);
    }
  } finally {
    runtime?.close();
  }
  return { fired, problems };
}

async function act(firing: Firing, runtime: AgentRuntime, options: ReflexOptions, did: string[]): Promise<void> {
  const { reflex, reading } = firing;
  const actor = `agent:reflex/${reflex.name}`;
  if (reflex.goal !== undefined) {
    if (runtime.hasModel) {
      const result = await runtime.handle(fillIn(reflex.goal, reading), { actor, ...(options.signal ? { signal: options.signal } : {}) });
      did.push(`${result.tier ?? 'no tier'} ${result.ok ? 'acted' : 'could not act'}: ${result.answer.replace(/\s+/g, ' ').slice(0, 300)}`);
    } else {
      did.push('no model tier here for the goal (put a GGUF model in /var/lib/aios/models or an API key in /etc/aios/secrets.toml)');
    }
  }
  if (reflex.tool !== undefined) {
    const result = await runtime.callTool(reflex.tool, fillIn(reflex.args, reading), actor, options.signal);
    did.push(`${reflex.tool}: ${result.ok ? 'ok' : result.text}`);
  }
  if (reflex.builtin === 'free-space') did.push(`free-space: ${await options.freeSpace()}`);
}

/** Kept here too, so that the cooldown holds in this process when the state disk cannot be written. */
const firedHere = new Map<string, number>();

function readLast(file: string): Map<string, number> {
  const last = new Map(firedHere);
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    for (const [key, at] of Object.entries(data)) if (typeof at === 'number' && at > (last.get(key) ?? -Infinity)) last.set(key, at);
  } catch {
    // None yet.
  }
  return last;
}

function writeLast(file: string, last: Map<string, number>): void {
  for (const [key, at] of last) firedHere.set(key, at);
  try {
    writeFileSync(`${file}.tmp`, JSON.stringify(Object.fromEntries(last)));
    renameSync(`${file}.tmp`, file);
  } catch {
    // A read-only or full state disk: the cooldown holds in this process (firedHere).
  }
}
