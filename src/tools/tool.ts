// A tool: one definition gives input validation, the text a person sees, and (with the
// policy and model issues) the schemas shown to models and MCP clients.
import type * as z from 'zod/mini';

export interface ToolContext {
  /** Where init's control socket and boot.json are. */
  runDir: string;
  stateDir: string;
  signal: AbortSignal;
}

export type ToolResult<T> = { ok: true; data: T } | { ok: false; code: string; message: string };

export interface Tool<I extends z.ZodMiniType = z.ZodMiniType, O = unknown> {
  name: string;
  description: string;
  input: I;
  run(input: z.infer<I>, context: ToolContext): Promise<O>;
  /** The answer as a person reads it at the prompt. */
  render(output: O): string;
}

export function defineTool<I extends z.ZodMiniType, O>(tool: Tool<I, O>): Tool<I, O> {
  return tool;
}

/** Validates, runs, and turns every failure into a result a caller (or a model) can read. */
export async function callTool<I extends z.ZodMiniType, O>(tool: Tool<I, O>, args: unknown, context: ToolContext): Promise<ToolResult<O>> {
  const parsed = tool.input.safeParse(args);
  if (!parsed.success) {
    return { ok: false, code: 'EINVAL', message: `${tool.name}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ')}` };
  }
  try {
    return { ok: true, data: await tool.run(parsed.data, context) };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return { ok: false, code: typeof code === 'string' ? code : 'EFAILED', message: (error as Error).message };
  }
}
