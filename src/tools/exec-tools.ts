// Running commands: shell.exec (a command line) and process.spawn (argv, no shell). Both run
// only in the sandbox, and the policy judges the command as the shell would run it (tool.command).
import * as z from 'zod/mini';
import { shellQuote } from '../policy/policy.ts';
import { runSandboxed, type SandboxResult } from '../sandbox/bwrap.ts';
import { defineTool, ToolError, type ToolContext } from './tool.ts';

const absolutePath = z.string().check(
  z.minLength(1),
  z.refine((p) => p.startsWith('/'), 'must be an absolute path'),
  z.refine((p) => !p.includes('\0'), 'must not contain NUL bytes'),
);

const common = {
  cwd: z._default(absolutePath, '/tmp'),
  /** Paths the command may change; everything else is read-only inside the sandbox. */
  writable: z._default(z.array(absolutePath).check(z.maxLength(32)), []),
  network: z._default(z.boolean(), false),
  timeoutSeconds: z._default(z.int().check(z.gte(1), z.lte(3600)), 60),
};

const resultSchema = z.object({
  exitCode: z.nullable(z.number()),
  signal: z.nullable(z.string()),
  stdout: z.string(),
  stderr: z.string(),
  truncated: z.boolean(),
  timedOut: z.boolean(),
  durationMs: z.number(),
});

const MAX_OUTPUT = 256 * 1024;

function sandboxed(argv: string[], input: { cwd: string; writable: string[]; network: boolean; timeoutSeconds: number }, context: ToolContext): Promise<SandboxResult> {
  return runSandboxed(argv, {
    writable: input.writable,
    cwd: input.cwd,
    network: input.network,
    hidden: [context.runDir, '/run/aios'],
    timeoutMs: input.timeoutSeconds * 1000,
    signal: context.signal,
    maxOutput: MAX_OUTPUT,
  });
}

function render(r: SandboxResult): string {
  const status = r.timedOut ? 'timed out' : r.signal ? `killed by ${r.signal}` : `exit ${r.exitCode}`;
  return [r.stdout.trimEnd(), r.stderr.trimEnd() && `[stderr] ${r.stderr.trimEnd()}`, `(${status}, ${r.durationMs} ms${r.truncated ? ', output truncated' : ''})`].filter(Boolean).join('\n');
}

export const shellExecTool = defineTool({
  name: 'shell.exec',
  description:
    'Run a command line with /bin/sh in a sandbox: the system is read-only except `writable`, no network unless `network`, no access to aiOS sockets. Every command in the line is judged by the policy first.',
  input: z.strictObject({
    command: z.string().check(z.minLength(1, 'the command line is empty'), z.maxLength(16_384), z.refine((c) => !c.includes('\0'), 'must not contain NUL bytes')),
    ...common,
  }),
  output: resultSchema,
  capability: 'shell.exec',
  effects: ['reads', 'writes', 'destructive'],
  risk: 'high',
  timeoutMs: 3_600_000,
  undo: 'none',
  paths: (input) => ({ write: input.writable, read: [input.cwd] }),
  command: (input) => input.command,
  async run(input, context) {
    const result = await sandboxed(['/bin/sh', '-c', input.command], input, context);
    if (result.timedOut) throw new ToolError('ETIMEDOUT', `shell.exec: the command ran longer than ${input.timeoutSeconds} s and was killed`);
    return result;
  },
  render,
});

export const processSpawnTool = defineTool({
  name: 'process.spawn',
  description:
    'Run a program with an argument vector (no shell) in the sandbox and wait for it: read-only system except `writable`, no network unless `network`. The program and its arguments are judged by the policy first.',
  input: z.strictObject({
    argv: z.array(z.string().check(z.refine((a) => !a.includes('\0'), 'must not contain NUL bytes'))).check(z.minLength(1, 'argv needs at least the program'), z.maxLength(4096)),
    ...common,
  }),
  output: resultSchema,
  capability: 'process.spawn',
  effects: ['reads', 'writes', 'destructive'],
  risk: 'high',
  timeoutMs: 3_600_000,
  undo: 'none',
  paths: (input) => ({ write: input.writable, read: [input.cwd] }),
  command: (input) => input.argv.map(shellQuote).join(' '),
  async run(input, context) {
    if (input.argv[0] === '') throw new ToolError('EINVAL', 'process.spawn: argv[0] (the program) is empty');
    const result = await sandboxed(input.argv, input, context);
    if (result.timedOut) throw new ToolError('ETIMEDOUT', `process.spawn: ${input.argv[0]} ran longer than ${input.timeoutSeconds} s and was killed`);
    return result;
  },
  render,
});

export const EXEC_TOOLS = [shellExecTool, processSpawnTool];
