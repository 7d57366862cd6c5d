// The control socket (RUN/init.sock): list, show, start, stop, restart services, tail their
// logs, reload, and power actions.
//
// Invariants:
// - The socket is mode 0600, and every caller is also checked with SO_PEERCRED: only root,
//   the supervisor's own uid and configured uids get an answer.
// - A malformed line gets an error response naming the problem; the connection stays open
//   and PID 1 is never affected.
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { native } from '../native/index.ts';
import {
  controlRequestSchema,
  describeZodError,
  LineSplitter,
  type ControlRequest,
  type ControlResponse,
} from '../interfaces/control-protocol.ts';
import { SupervisorError, type Supervisor } from './supervisor.ts';
import type { Logger } from '../log.ts';

export type PowerAction = 'poweroff' | 'reboot' | 'halt';

export interface ControlServerOptions {
  socketPath: string;
  supervisor: Supervisor;
  allowedUids: ReadonlySet<number>;
  log: Logger;
  onPower(action: PowerAction, requestedBy: string): void;
  onReload(): Promise<unknown>;
  /** Test hook (AIOS_FAULTS=no-peercred): skip the SO_PEERCRED check, to show that tests catch it. */
  checkPeer: boolean;
}

export class ControlServer {
  readonly #options: ControlServerOptions;
  #server: net.Server | undefined;

  constructor(options: ControlServerOptions) {
    this.#options = options;
  }

  listen(): Promise<void> {
    const { socketPath, log } = this.#options;
    mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o755 });
    // A socket left by an earlier run (we are the only one who binds it).
    if (existsSync(socketPath)) unlinkSync(socketPath);
    const server = net.createServer((socket) => this.#accept(socket));
    server.on('error', (error) => log.error({ err: error }, 'control socket error'));
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => {
        server.off('error', reject);
        chmodSync(socketPath, 0o600);
        log.info({ socket: socketPath }, 'control socket listening');
        resolve();
      });
    });
  }

  close(): void {
    this.#server?.close();
  }

  #accept(socket: net.Socket): void {
    const { log } = this.#options;
    socket.on('error', () => {});
    let peer = { pid: 0, uid: -1, gid: -1 };
    try {
      const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
      if (fd !== undefined && fd >= 0) peer = native().peerCredentials(fd);
    } catch (error) {
      log.warn({ err: error }, 'SO_PEERCRED failed');
    }
    if (this.#options.checkPeer && !this.#options.allowedUids.has(peer.uid)) {
      log.warn({ peer }, 'control socket: caller refused');
      const allowed = [...this.#options.allowedUids].join(', ');
      socket.end(
        `${JSON.stringify({ ok: false, code: 'EACCES', message: `uid ${peer.uid} may not control init (allowed uids: ${allowed}); run it as root` })}\n`,
      );
      return;
    }
    const who = `uid ${peer.uid} pid ${peer.pid}`;
    const splitter = new LineSplitter();
    const unfollow: (() => void)[] = [];
    socket.on('close', () => unfollow.forEach((f) => f()));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      for (const line of splitter.push(chunk)) {
        if (line === null) {
          this.#send(socket, { ok: false, code: 'EFRAME', message: 'request line longer than 1 MiB; skipped' });
          continue;
        }
        if (line.trim() === '') continue;
        void this.#handleLine(socket, line, who, unfollow);
      }
    });
  }

  async #handleLine(socket: net.Socket, line: string, who: string, unfollow: (() => void)[]): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (error) {
      this.#send(socket, { ok: false, code: 'EBADJSON', message: `request is not valid JSON: ${(error as Error).message}` });
      return;
    }
    const parsed = controlRequestSchema.safeParse(json);
    const id = typeof json === 'object' && json !== null && 'id' in json ? (json as { id: unknown }).id : undefined;
    const replyId = typeof id === 'string' || typeof id === 'number' ? id : undefined;
    if (!parsed.success) {
      this.#send(socket, { id: replyId, ok: false, code: 'EBADREQUEST', message: describeZodError(parsed.error) });
      return;
    }
    try {
      const data = await this.#execute(parsed.data, socket, who, unfollow);
      this.#send(socket, { id: replyId, ok: true, data });
    } catch (error) {
      const code = error instanceof SupervisorError ? error.code : 'EINTERNAL';
      if (code === 'EINTERNAL') this.#options.log.error({ err: error, request: parsed.data }, 'control request failed');
      this.#send(socket, { id: replyId, ok: false, code, message: (error as Error).message });
    }
  }

  async #execute(request: ControlRequest, socket: net.Socket, who: string, unfollow: (() => void)[]): Promise<unknown> {
    const { supervisor } = this.#options;
    switch (request.cmd) {
      case 'ping':
        return { pid: process.pid };
      case 'services':
        return { services: supervisor.list(), errors: supervisor.loadErrors };
      case 'status':
        return supervisor.get(request.name).status();
      case 'start':
        await supervisor.start(request.name);
        return supervisor.get(request.name).status();
      case 'stop':
        await supervisor.stop(request.name);
        return supervisor.get(request.name).status();
      case 'restart':
        await supervisor.restart(request.name);
        return supervisor.get(request.name).status();
      case 'enable':
      case 'disable':
        return supervisor.setEnabled(request.name, request.cmd === 'enable');
      case 'logs': {
        const service = supervisor.get(request.name);
        const lines = service.logs.tail(request.lines);
        if (request.follow) {
          unfollow.push(service.logs.follow((line) => this.#send(socket, { id: request.id, event: 'log', data: line })));
        }
        return { lines, following: request.follow };
      }
      case 'reload':
        return this.#options.onReload();
      case 'poweroff':
      case 'reboot':
      case 'halt':
        // Answer first: the shutdown will close this socket.
        setImmediate(() => this.#options.onPower(request.cmd, `control socket (${who})`));
        return { action: request.cmd };
    }
  }

  #send(socket: net.Socket, response: ControlResponse): void {
    if (!socket.writable) return;
    socket.write(`${JSON.stringify(response)}\n`);
  }
}
