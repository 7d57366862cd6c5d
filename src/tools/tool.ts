// A tool: one definition gives input validation, the text a person sees, the policy's view of
// what the call touches, and the schemas shown to models and MCP clients (registry.ts).
import * as z from 'zod/mini';
import en from 'zod/v4/locales/en.js';
import type { MemoryType } from '../memory/store.ts';

// zod/mini ships without messages ("Invalid input"); models and people need the English ones
// (this locale only: z.locales would bundle all of them).
z.config(en());

export interface ToolContext {
  /** Where init's control socket and boot.json are. */
  runDir: string;
  stateDir: string;
  signal: AbortSignal;
}

export type ToolResult<T> = { ok: true; data: T } | { ok: false; code: string; message: string };

/** What a call does to the system; the policy engine judges a call by these. */
export type Effect = 'reads' | 'writes' | 'destructive' | 'network';

export type Risk = 'low' | 'medium' | 'high';

/** The paths one call touches, as given (the policy canonicalises them before judging). */
export interface TouchedPaths {
  read?: string[];
  write?: string[];
}

export interface Tool<I extends z.ZodMiniType = z.ZodMiniType, O = unknown> {
  /** family.verb, e.g. `fs.read`. */
  name: string;
  description: string;
  input: I;
  /** The shape of `data` in a successful result (for models and MCP clients). */
  output: z.ZodMiniType<O>;
  /** The capability a caller needs, e.g. `fs.write`; policy rules may name it. */
  capability: string;
  effects: Effect[];
  risk: Risk;
  /** The call is given up (and reported as a timeout) after this long. */
  timeoutMs: number;
  /**
   * How a call is undone: `snapshot` (the pipeline snapshots the paths it writes first),
   * `inverse` (another call undoes it, e.g. service.stop for service.start), or `none`.
   */
  undo: 'snapshot' | 'inverse' | 'none';
  /** The paths a call reads and writes, for the policy engine (and snapshots). */
  paths?(input: z.infer<I>): TouchedPaths;
  /** A command line the policy engine must judge as the shell would run it (shell.exec). */
  command?(input: z.infer<I>): string;
  run(input: z.infer<I>, context: ToolContext): Promise<O>;
  /** The answer as a person reads it at the prompt. */
  render(output: O): string;
  /**
   * What a successful call changed, remembered beside the call's one-line summary (pkg.install:
   * a `package` memory, so that "what did I install yesterday" finds it); null when nothing did.
   */
  remember?(input: z.infer<I>, output: O): ChangeMemory | null;
}

export interface ChangeMemory {
  type: MemoryType;
  content: string;
  metadata: Record<string, unknown>;
}

export function defineTool<I extends z.ZodMiniType, O>(tool: Tool<I, O>): Tool<I, O> {
  return tool;
}

/** A failure a tool reports on purpose: the code goes into the result for the model to read. */
export class ToolError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export function describeInputError(toolName: string, error: z.core.$ZodError): string {
  return `${toolName}: ${error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ')}`;
}

/**
 * Validates and runs one tool, turning every failure into a result a caller (or a model) can
 * read. This is the last step of the pipeline (pipeline.ts), which decides whether it may run.
 */
export async function callTool<I extends z.ZodMiniType, O>(tool: Tool<I, O>, args: unknown, context: ToolContext): Promise<ToolResult<O>> {
  const parsed = tool.input.safeParse(args);
  if (!parsed.success) return { ok: false, code: 'EINVAL', message: describeInputError(tool.name, parsed.error) };
  try {
    return { ok: true, data: await tool.run(parsed.data, context) };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return { ok: false, code: typeof code === 'string' ? code : 'EFAILED', message: (error as Error).message };
  }
}
