// The runtime's socket (RUN/aios.sock): the same conversation as the aios> prompt, for
// `aios chat`, `aios shell` and other programs on the machine. One JSON object per line each way:
//
//   → { "id"?, "cmd": "chat", "text": "...", "tier"?: "operational" | ... }
//   ← { "id", "event": "route" | "text" | "tool" | "tool-result" | "escalate", ... }   as they happen
//   ← { "id", "event": "approval", "request": { "id", "tool", "args", "reason", "rule", "expiresAt" } }
//   → { "cmd": "answer", "request": "ID", "answer": "approved" | "denied" }
//   → { "cmd": "cancel" }                                   stops the connection's running chat
//   ← { "id", "ok": true, "data": AgentResult } | { "id", "ok": false, "code", "message" }
//
// The socket is 0600 and each caller is named by SO_PEERCRED (`user:root`, `uid:1000`): that is
// the actor the policy and the audit log see. A connection runs one chat at a time; closing it
// cancels its chat. Bad frames are answered with an error naming what is wrong, and the
// connection goes on.
import { chmodSync, rmSync } from 'node:fs';
import net from 'node:net';
import * as z from 'zod/mini';
import type { AgentRuntime } from '../agents/runtime.ts';
import { native } from '../native/index.ts';
import type { ApprovalRequest } from '../policy/approvals.ts';
import { describeZodError, LineSplitter } from './control-protocol.ts';

const id = z.optional(z.union([z.string().check(z.maxLength(128)), z.int()]));
export const runtimeRequestSchema = z.discriminatedUnion(
  'cmd',
  [
    z.strictObject({ id, cmd: z.literal('ping') }),
    z.strictObject({ id, cmd: z.literal('chat'), text: z.string().check(z.minLength(1, 'say something'), z.maxLength(16_000)), tier: z.optional(z.enum(['reactive', 'operational', 'tactical', 'strategic'])) }),
    z.strictObject({ id, cmd: z.literal('answer'), request: z.string(), answer: z.enum(['approved', 'denied']) }),
    z.strictObject({ id, cmd: z.literal('cancel') }),
  ],
  { error: (issue) => (issue.code === 'invalid_union' ? 'Expected `cmd` to be one of ping, chat, answer, cancel' : undefined) },
);

export function runtimeSocketPath(runDir: string): string {
  return `${runDir.replace(/\/$/, '')}/aios.sock`;
}

function actorOf(socket: net.Socket): string {
  try {
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (fd !== undefined && fd >= 0) {
      const { uid } = native().peerCredentials(fd);
      return uid === 0 ? 'user:root' : `uid:${uid}`;
    }
  } catch {
    // Named below.
  }
  return 'user:unknown';
}

export async function serveRuntime(socketPath: string, runtime: AgentRuntime): Promise<net.Server> {
  rmSync(socketPath, { force: true });
  const server = net.createServer((socket) => accept(socket, runtime));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      chmodSync(socketPath, 0o600);
      resolve();
    });
  });
  return server;
}

function accept(socket: net.Socket, runtime: AgentRuntime): void {
  socket.on('error', () => {});
  socket.setEncoding('utf8');
  const actor = actorOf(socket);
  const send = (message: Record<string, unknown>): void => {
    if (!socket.destroyed) socket.write(`${JSON.stringify(message)}\n`);
  };
  let running: AbortController | null = null;
  const waiting = new Map<string, (answer: 'approved' | 'denied') => void>();
  socket.on('close', () => running?.abort());
  const splitter = new LineSplitter();
  socket.on('data', (chunk: string) => {
    for (const line of splitter.push(chunk)) {
      if (line === null) {
        send({ ok: false, code: 'EFRAME', message: 'request line longer than 1 MiB; skipped' });
        continue;
      }
      if (line.trim() === '') continue;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch (error) {
        send({ ok: false, code: 'EBADJSON', message: `request is not valid JSON: ${(error as Error).message}` });
        continue;
      }
      const parsed = runtimeRequestSchema.safeParse(json);
      if (!parsed.success) {
        send({ id: (json as { id?: unknown } | null)?.id ?? null, ok: false, code: 'EINVAL', message: describeZodError(parsed.error) });
        continue;
      }
      const request = parsed.data;
      switch (request.cmd) {
        case 'ping':
          send({ id: request.id, ok: true, data: { pong: true, actor, tiers: runtime.machine.tiers } });
          break;
        case 'cancel':
          running?.abort();
          send({ id: request.id, ok: true, data: { cancelled: running !== null } });
          break;
        case 'answer': {
          const resolve = waiting.get(request.request);
          if (resolve) resolve(request.answer);
          send({ id: request.id, ok: resolve !== undefined, ...(resolve ? { data: { answered: request.request } } : { code: 'ENOENT', message: `no approval ${request.request} is waiting on this connection` }) });
          break;
        }
        case 'chat': {
          if (running) {
            send({ id: request.id, ok: false, code: 'EBUSY', message: 'a chat is running on this connection; cancel it or open another' });
            break;
          }
          const stop = new AbortController();
          running = stop;
          const ask = (approval: ApprovalRequest, settled: AbortSignal): Promise<'approved' | 'denied' | undefined> =>
            new Promise((resolve) => {
              waiting.set(approval.id, resolve);
              const done = (): void => {
                waiting.delete(approval.id);
                resolve(undefined);
              };
              settled.addEventListener('abort', done, { once: true });
              stop.signal.addEventListener('abort', done, { once: true });
              send({ id: request.id, event: 'approval', request: { id: approval.id, tool: approval.tool, args: JSON.parse(approval.args) as unknown, reason: approval.reason, rule: approval.rule, expiresAt: approval.expiresAt } });
            });
          runtime
            .handle(request.text, { actor, signal: stop.signal, ask, ...(request.tier ? { tier: request.tier } : {}), onEvent: (event) => send({ id: request.id, event: event.type, ...event, type: undefined }) })
            .then((result) => send({ id: request.id, ok: true, data: result }))
            .catch((error: unknown) => send({ id: request.id, ok: false, code: 'EFAIL', message: (error as Error).message }))
            .finally(() => {
              running = null;
            });
          break;
        }
      }
    }
  });
}
