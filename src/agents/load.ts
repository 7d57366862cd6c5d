// Loads the model tiers' code (agent-bundle.ts): from agent.cjs beside the executable when
// there is one (the image, out/), else from the sources.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export type AgentModules = typeof import('./agent-bundle.ts');

export async function loadAgentModules(): Promise<AgentModules> {
  const bundled = path.join(path.dirname(process.execPath), 'agent.cjs');
  if (existsSync(bundled)) return createRequire(bundled)(bundled) as AgentModules;
  // Not a literal: the executable's bundle must not take these modules in.
  const sources = './agent-bundle.ts';
  return (await import(sources)) as AgentModules;
}
