// The registry: every tool's one definition, and what models, MCP clients and the CLI get from
// it. Checked over ALL_TOOLS, so that a tool added later is held to the same rules.
import t from 'tap';
import { ALL_TOOLS, anthropicTool, apiName, inputSchema, mcpTool, openAiTool, outputSchema, toolByApiName, toolMap } from '../../src/tools/registry.ts';
import type { Tool } from '../../src/tools/tool.ts';

/** The tools the issue asks for, family by family. */
const EXPECTED: Record<string, string[]> = {
  fs: ['read', 'write', 'list', 'stat', 'search', 'mkdir', 'copy', 'move', 'delete', 'chmod', 'chown'],
  process: ['list', 'info', 'spawn', 'signal', 'kill', 'tree'],
  service: ['list', 'status', 'start', 'stop', 'restart', 'logs', 'enable', 'disable'],
  pkg: ['search', 'info', 'install', 'remove', 'upgrade', 'list'],
  net: ['interfaces', 'addresses', 'routes', 'dns_lookup', 'ping', 'http_get', 'listening', 'firewall'],
  sys: ['info', 'cpu', 'memory', 'disks', 'temperatures', 'uptime'],
  sec: ['file_permissions', 'listening_audit', 'shell_users', 'failed_logins'],
  log: ['search'],
  memory: ['search'],
  snapshot: ['list', 'create', 'diff', 'restore'],
  shell: ['exec'],
};

/**
 * Tools that change things without naming a path or a command: they act through PID 1 (service.*,
 * sys.power) or name their packages and processes, which their own checks and the policy's
 * tool rules judge. Every other changing tool must say what it touches.
 */
const CHANGES_WITHOUT_PATHS = ['service.start', 'service.stop', 'service.restart', 'service.enable', 'service.disable', 'sys.power', 'snapshot.create', 'snapshot.restore'];

const names = ALL_TOOLS.map((tool) => tool.name);

t.test('names: family.verb, unique, and the families the issue asks for', async (t) => {
  for (const name of names) t.match(name, /^[a-z]+\.[a-z_]+$/, name);
  t.equal(new Set(names).size, names.length, 'no two tools share a name');
  t.equal(toolMap().size, names.length);
  t.throws(() => toolMap([ALL_TOOLS[0]!, ALL_TOOLS[0]!]), { message: `two tools are named ${ALL_TOOLS[0]!.name}` });
  for (const [family, verbs] of Object.entries(EXPECTED)) {
    for (const verb of verbs) t.ok(names.includes(`${family}.${verb}`), `${family}.${verb} is registered`);
  }
  const families = new Set(names.map((n) => n.split('.')[0]));
  t.same([...families].sort(), Object.keys(EXPECTED).sort(), 'exactly these families');
  t.ok(names.length >= 50, `${names.length} tools`);
});

t.test('every tool declares what it is and does', async (t) => {
  for (const tool of ALL_TOOLS) {
    t.ok(tool.description.trim().length > 0, `${tool.name}: a description`);
    t.match(tool.capability, /^[a-z]+\.[a-z_]+$/, `${tool.name}: capability ${tool.capability}`);
    t.ok(tool.effects.length > 0, `${tool.name}: effects`);
    for (const effect of tool.effects) t.ok(['reads', 'writes', 'destructive', 'network'].includes(effect), `${tool.name}: effect ${effect}`);
    t.equal(new Set(tool.effects).size, tool.effects.length, `${tool.name}: no effect twice`);
    t.ok(['low', 'medium', 'high'].includes(tool.risk), `${tool.name}: risk ${tool.risk}`);
    t.ok(Number.isInteger(tool.timeoutMs) && tool.timeoutMs > 0, `${tool.name}: timeout ${tool.timeoutMs}`);
    t.ok(['snapshot', 'inverse', 'none'].includes(tool.undo), `${tool.name}: undo ${tool.undo}`);
    if (tool.undo === 'snapshot') t.type(tool.paths, 'function', `${tool.name}: a snapshot needs the paths it writes`);
    if (tool.effects.includes('destructive')) t.ok(tool.effects.includes('writes'), `${tool.name}: destructive implies writes`);
  }
});

t.test('a tool that changes things says what it touches, or is one of the named exceptions', async (t) => {
  const undeclared = ALL_TOOLS.filter((tool) => (tool.effects.includes('writes') || tool.effects.includes('destructive')) && !tool.paths && !tool.command).map((tool) => tool.name);
  t.same(undeclared.sort(), [...CHANGES_WITHOUT_PATHS].sort());
  for (const name of undeclared) t.match(name, /^(service|sys|pkg|process|snapshot)\./, `${name} is in a family judged by tool rules`);
  for (const name of ['shell.exec', 'process.spawn']) t.type(toolMap().get(name)!.command, 'function', `${name} is judged as a command line`);
});

t.test('input schemas: objects that refuse unknown keys', async (t) => {
  for (const tool of ALL_TOOLS) {
    const schema = inputSchema(tool) as { type?: string; additionalProperties?: unknown; properties?: Record<string, unknown>; $schema?: string };
    t.equal(schema.type, 'object', `${tool.name}: an object`);
    t.equal(schema.additionalProperties, false, `${tool.name}: additionalProperties false`);
    t.type(schema.properties, 'object', `${tool.name}: properties`);
    t.equal(schema.$schema, undefined, `${tool.name}: no $schema key (the APIs do not want it)`);
    t.equal(tool.input.safeParse({ surely_not_an_argument: 1 }).success, false, `${tool.name}: an unknown key is refused at run time too`);
    t.doesNotThrow(() => JSON.stringify(outputSchema(tool)), `${tool.name}: an output schema`);
  }
});

t.test('the definitions for Anthropic, OpenAI and MCP', async (t) => {
  for (const tool of ALL_TOOLS) {
    const anthropic = anthropicTool(tool);
    const openai = openAiTool(tool);
    const mcp = mcpTool(tool);
    t.match(anthropic.name, /^[a-zA-Z0-9_-]{1,64}$/, `${tool.name}: Anthropic name ${anthropic.name}`);
    t.match(openai.function.name, /^[a-zA-Z0-9_-]{1,64}$/, `${tool.name}: OpenAI name ${openai.function.name}`);
    t.equal(anthropic.name, tool.name.replace('.', '_'));
    t.equal(openai.type, 'function');
    t.same(anthropic.input_schema, inputSchema(tool));
    t.same(openai.function.parameters, inputSchema(tool));
    t.ok(anthropic.description.startsWith(tool.description), `${tool.name}: the description comes from the definition`);
    t.match(anthropic.description, new RegExp(`effects: ${tool.effects.join(', ')}; risk: ${tool.risk}`));
    t.equal(mcp.name, tool.name);
    t.equal(mcp.inputSchema.type, 'object', `${tool.name}: MCP inputSchema is an object`);
    t.same(mcp.outputSchema, { type: 'object', properties: { data: outputSchema(tool) }, required: ['data'] }, `${tool.name}: MCP outputSchema`);
    t.same(
      mcp.annotations,
      { readOnlyHint: !tool.effects.includes('writes') && !tool.effects.includes('destructive'), destructiveHint: tool.effects.includes('destructive'), openWorldHint: tool.effects.includes('network') },
      `${tool.name}: annotations`,
    );
    t.equal(toolByApiName(toolMap(), apiName(tool)), tool, `${tool.name}: found again by its API name`);
  }
  const apiNames = ALL_TOOLS.map(apiName);
  t.equal(new Set(apiNames).size, apiNames.length, 'API names are unique too');
});

t.test('a few definitions in full', async (t) => {
  const tools = toolMap();
  const get = (name: string): Tool => tools.get(name)!;
  t.same(inputSchema(get('fs.stat')), {
    type: 'object',
    properties: { path: { type: 'string', minLength: 1, maxLength: 4096 }, follow: { default: false, type: 'boolean' } },
    required: ['path'],
    additionalProperties: false,
  });
  t.same(mcpTool(get('fs.delete')).annotations, { readOnlyHint: false, destructiveHint: true, openWorldHint: false });
  t.same(mcpTool(get('net.http_get')).annotations, { readOnlyHint: true, destructiveHint: false, openWorldHint: true });
  t.same(mcpTool(get('sys.uptime')).annotations, { readOnlyHint: true, destructiveHint: false, openWorldHint: false });
  t.match(get('shell.exec'), { effects: ['reads', 'writes', 'destructive'], risk: 'high', undo: 'none' });
});
