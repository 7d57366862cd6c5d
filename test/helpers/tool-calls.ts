// Calling a tool in a test: `ok` wants success (and data matching the output schema),
// `fails` wants a failure with a given code and answers its message.
import type { Test } from 'tap';
import { callTool, type Tool, type ToolContext } from '../../src/tools/tool.ts';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyTool<O = any> = Tool<any, O>;

export async function ok<O>(t: Test, tool: AnyTool<O>, args: unknown, s: { context: ToolContext }): Promise<O> {
  const result = await callTool(tool, args, s.context);
  if (!result.ok) throw new Error(`${tool.name} ${JSON.stringify(args)} failed: ${result.code}: ${result.message}`);
  const parsed = tool.output.safeParse(result.data);
  t.ok(parsed.success, `${tool.name}: data matches the output schema${parsed.success ? '' : `: ${parsed.error.message}`}`);
  t.type(tool.render(result.data), 'string');
  return result.data;
}

export async function fails(t: Test, tool: AnyTool, args: unknown, s: { context: ToolContext }, code: string): Promise<string> {
  const result = await callTool(tool, args, s.context);
  if (result.ok) {
    t.fail(`${tool.name} ${JSON.stringify(args)} should fail with ${code}, got ${JSON.stringify(result.data)}`);
    return '';
  }
  t.equal(result.code, code, `${tool.name}: ${result.message}`);
  return result.message;
}
