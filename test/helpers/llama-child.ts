// Loads a GGUF with node-llama-cpp (CPU, prebuilt binary, never built here) and asks it for a
// grammar-constrained JSON object: what the models service will do, in a process of its own,
// because a malformed model file aborts the process that loads it.
//   node test/helpers/llama-child.ts MODEL.gguf
// Prints one JSON line: { text, parsed } or { error }.
import { getLlama, LlamaChatSession } from 'node-llama-cpp';

const [file] = process.argv.slice(2);
try {
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never, progressLogs: false });
  const model = await llama.loadModel({ modelPath: file! });
  const context = await model.createContext({ contextSize: 1024, threads: 1 });
  const session = new LlamaChatSession({ contextSequence: context.getSequence(), systemPrompt: 'x' });
  const grammar = await llama.createGrammarForJsonSchema({
    type: 'object',
    properties: { tool: { type: 'string', enum: ['service.restart', 'service.status'] }, name: { type: 'string', enum: ['nginx', 'sshd'] } },
    required: ['tool', 'name'],
  } as const);
  const text = await session.prompt('restart nginx', { grammar, maxTokens: 80 });
  process.stdout.write(`${JSON.stringify({ text, parsed: grammar.parse(text) })}\n`);
  await context.dispose();
  await model.dispose();
} catch (error) {
  process.stdout.write(`${JSON.stringify({ error: (error as Error).message })}\n`);
}
