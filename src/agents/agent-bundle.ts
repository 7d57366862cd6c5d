// What the model tiers need, bundled apart from the single executable (out/build/agent.cjs,
// /usr/lib/aios/agent.cjs in the image): the cloud SDKs and fastify add megabytes that the
// init's start-up snapshot would otherwise carry on every boot. load.ts loads it when a
// request first needs a model.
export { AgentRuntime } from './runtime.ts';
export { defaultMemoryMax, LlamaHost } from '../models/llama-host.ts';
export { createModelsServer } from '../models/models-server.ts';
