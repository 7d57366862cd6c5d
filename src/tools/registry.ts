// Every tool of the system, and what is derived from each one definition: the JSON Schema of
// its input and output, the tool definitions for Anthropic's and OpenAI's APIs and for MCP,
// and the CLI's listing and help.
import * as z from 'zod/mini';
import { EXEC_TOOLS } from './exec-tools.ts';
import { FS_TOOLS } from './fs-tools.ts';
import { LOG_TOOLS } from './log-tools.ts';
import { MEMORY_TOOLS } from './memory-tools.ts';
import { NET_TOOLS } from './net-tools.ts';
import { PKG_TOOLS } from './pkg-tools.ts';
import { PROCESS_TOOLS } from './process-tools.ts';
import { SEC_TOOLS } from './sec-tools.ts';
import { SNAPSHOT_TOOLS } from './snapshot-tools.ts';
import { SYS_INFO_TOOLS } from './sys-tools.ts';
import { SYSTEM_TOOLS } from './system-tools.ts';
import type { Tool } from './tool.ts';

export const ALL_TOOLS: readonly Tool[] = [
  ...SYSTEM_TOOLS,
  ...SYS_INFO_TOOLS,
  ...FS_TOOLS,
  ...PROCESS_TOOLS,
  ...EXEC_TOOLS,
  ...NET_TOOLS,
  ...PKG_TOOLS,
  ...SEC_TOOLS,
  ...LOG_TOOLS,
  ...MEMORY_TOOLS,
  ...SNAPSHOT_TOOLS,
] as Tool[];

export function toolMap(tools: readonly Tool[] = ALL_TOOLS): Map<string, Tool> {
  const map = new Map<string, Tool>();
  for (const tool of tools) {
    if (map.has(tool.name)) throw new Error(`two tools are named ${tool.name}`);
    map.set(tool.name, tool);
  }
  return map;
}

type JsonSchema = Record<string, unknown>;

/** The input as a model fills it in: defaults may be left out. */
export function inputSchema(tool: Tool): JsonSchema {
  const { $schema: _, ...schema } = z.toJSONSchema(tool.input, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  return schema;
}

export function outputSchema(tool: Tool): JsonSchema {
  const { $schema: _, ...schema } = z.toJSONSchema(tool.output, { io: 'output', unrepresentable: 'any' }) as JsonSchema;
  return schema;
}

/** Model-facing names: the APIs allow [a-zA-Z0-9_-], so `fs.read` becomes `fs_read`. */
export function apiName(tool: Tool): string {
  return tool.name.replace(/\./g, '_');
}

export function toolByApiName(tools: ReadonlyMap<string, Tool>, name: string): Tool | undefined {
  return tools.get(name) ?? [...tools.values()].find((t) => apiName(t) === name);
}

function longDescription(tool: Tool): string {
  const effects = tool.effects.join(', ');
  return `${tool.description} (effects: ${effects}; risk: ${tool.risk}; every call is checked by the policy and audited; failures come back as {ok:false, code, message})`;
}

export function anthropicTool(tool: Tool): { name: string; description: string; input_schema: JsonSchema } {
  return { name: apiName(tool), description: longDescription(tool), input_schema: inputSchema(tool) };
}

export function openAiTool(tool: Tool): { type: 'function'; function: { name: string; description: string; parameters: JsonSchema } } {
  return { type: 'function', function: { name: apiName(tool), description: longDescription(tool), parameters: inputSchema(tool) } };
}

export function mcpTool(tool: Tool): {
  name: string;
  description: string;
  inputSchema: JsonSchema;
  outputSchema: JsonSchema;
  annotations: { readOnlyHint: boolean; destructiveHint: boolean; openWorldHint: boolean };
} {
  return {
    name: tool.name,
    description: longDescription(tool),
    inputSchema: inputSchema(tool),
    // MCP wants an object at the top of structured output: the result's `data` is wrapped.
    outputSchema: { type: 'object', properties: { data: outputSchema(tool) }, required: ['data'] },
    annotations: {
      readOnlyHint: !tool.effects.includes('writes') && !tool.effects.includes('destructive'),
      destructiveHint: tool.effects.includes('destructive'),
      openWorldHint: tool.effects.includes('network'),
    },
  };
}

/** What `aios tools show NAME` prints. */
export function describeTool(tool: Tool): string {
  const input = inputSchema(tool) as { properties?: Record<string, JsonSchema & { description?: string; default?: unknown }>; required?: string[] };
  const props = Object.entries(input.properties ?? {});
  const lines = [
    `${tool.name}: ${tool.description}`,
    '',
    `capability  ${tool.capability}`,
    `effects     ${tool.effects.join(', ')}`,
    `risk        ${tool.risk}`,
    `timeout     ${tool.timeoutMs / 1000} s`,
    `undo        ${tool.undo === 'snapshot' ? 'snapshot of the paths it changes, taken before it runs' : tool.undo === 'inverse' ? 'another call reverses it' : 'cannot be undone'}`,
    '',
    props.length === 0 ? 'arguments: none' : 'arguments:',
    ...props.map(([name, schema]) => {
      const required = input.required?.includes(name) ? 'required' : schema.default !== undefined ? `default ${JSON.stringify(schema.default)}` : 'optional';
      return `  ${name.padEnd(16)} ${schemaType(schema).padEnd(22)} ${required}`;
    }),
    '',
    `Run it: aios tools run ${tool.name} --args '${JSON.stringify(Object.fromEntries(props.filter(([n]) => input.required?.includes(n)).map(([n, s]) => [n, example(s)])))}'`,
  ];
  return lines.join('\n');
}

function schemaType(schema: JsonSchema): string {
  if (Array.isArray(schema.enum)) return (schema.enum as unknown[]).map((v) => JSON.stringify(v)).join('|');
  if (schema.type === 'array') return `${schemaType((schema.items as JsonSchema | undefined) ?? {})}[]`;
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as JsonSchema[]).map(schemaType).join('|');
  return typeof schema.type === 'string' ? schema.type : 'any';
}

function example(schema: JsonSchema): unknown {
  if (Array.isArray(schema.enum)) return (schema.enum as unknown[])[0];
  switch (schema.type) {
    case 'string':
      return '...';
    case 'integer':
    case 'number':
      return 1;
    case 'boolean':
      return true;
    case 'array':
      return [];
    default:
      return {};
  }
}
