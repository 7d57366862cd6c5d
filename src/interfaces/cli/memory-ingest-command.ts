// `aios memory-ingest`: memories as JSON lines on stdin, added in one transaction. PID 1 hands
// its service events over this way (src/init/service-memory.ts): SQLite is native code and
// writes synchronously, so it runs in this short-lived child and never in PID 1.
import * as z from 'zod/mini';
import type { MemoryStore, NewMemory } from '../../memory/store.ts';
import { UsageError, type Command } from './command.ts';

const lineSchema = z.strictObject({
  type: z.string(),
  tier: z.optional(z.string()),
  content: z.string(),
  metadata: z.optional(z.record(z.string(), z.unknown())),
  source: z.string(),
  importance: z.optional(z.number()),
  /** When it happened (ISO 8601): events wait in PID 1's queue before they are written. */
  createdAt: z.optional(z.iso.datetime()),
});

async function readStdin(): Promise<string> {
  let text = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) text += chunk as string;
  return text;
}

export const memoryIngestCommand: Command = {
  name: 'memory-ingest',
  summary: 'Add memories given as JSON lines on stdin, all or none (init records service events with it).',
  usage: 'aios memory-ingest [--state DIR] < memories.jsonl',
  help: `Each line: {"type":"service","content":"nginx crashed: …","source":"init",
        "tier":"operational","metadata":{…},"createdAt":"2026-11-20T10:00:00.000Z"}
(tier, metadata, importance and createdAt may be left out). Prints {"added":N}.
Options:
  --state DIR  where memory.db is (default $AIOS_STATE_DIR or /var/lib/aios)`,
  options: { state: { type: 'string' } },
  async run(args) {
    if (args.positionals.length > 0) throw new UsageError(`aios memory-ingest reads stdin and takes no arguments.\nUsage: ${this.usage}`);
    const lines = (await readStdin()).split('\n').filter((line) => line.trim() !== '');
    const memories = lines.map((line, i) => {
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (error) {
        throw new UsageError(`line ${i + 1} is not JSON: ${(error as Error).message}`);
      }
      const parsed = lineSchema.safeParse(value);
      if (!parsed.success) throw new UsageError(`line ${i + 1}: ${parsed.error.issues.map((issue) => `${issue.path.join('.') || 'line'}: ${issue.message}`).join('; ')}`);
      const { createdAt, ...memory } = parsed.data;
      // Type and tier are the store's to check: a bad one refuses the whole batch.
      return { ...memory, ...(createdAt ? { createdAt: new Date(createdAt) } : {}) } as NewMemory;
    });
    const { MemoryStore: Store } = await import('../../memory/store.ts');
    const file = Store.pathIn((args.values.state as string | undefined) ?? process.env.AIOS_STATE_DIR ?? '/var/lib/aios');
    let store: MemoryStore;
    try {
      store = Store.open(file);
    } catch (error) {
      process.stderr.write(`aios memory-ingest: cannot open ${file}: ${(error as Error).message}\n`);
      return 1;
    }
    try {
      const added = memories.length === 0 ? [] : store.addMany(memories);
      process.stdout.write(`${JSON.stringify({ added: added.length })}\n`);
      return 0;
    } catch (error) {
      process.stderr.write(`aios memory-ingest: nothing added: ${(error as Error).message}\n`);
      return 1;
    } finally {
      store.close();
    }
  },
};
