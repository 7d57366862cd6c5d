// Client side of PID 1's control socket, for the `aios` CLI.
import net from 'node:net';
import path from 'node:path';
import { LineSplitter, type ControlResponse } from './control-protocol.ts';

export class ControlError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function runDirFrom(flag: string | undefined): string {
  return flag ?? process.env.AIOS_RUN_DIR ?? '/run/aios';
}

export function initSocketPath(runDir: string): string {
  return path.join(runDir, 'init.sock');
}

/**
 * Sends one request. `onEvent` receives streamed events (log lines) after the response,
 * until the connection closes (then `onClose` is called); without it the connection is
 * closed after the response.
 */
export function request(
  socketPath: string,
  body: Record<string, unknown>,
  onEvent?: (event: { event: string; data: unknown }) => void,
  onClose?: () => void,
  signal?: AbortSignal,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    // Giving up on the answer (ctrl-C) closes the connection; init still finishes what it began.
    signal?.addEventListener(
      'abort',
      () => {
        socket.destroy();
        reject(new ControlError('ECANCELED', 'cancelled'));
      },
      { once: true },
    );
    const splitter = new LineSplitter();
    let answered = false;
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify({ id: 1, ...body })}\n`));
    socket.on('data', (chunk: string) => {
      for (const line of splitter.push(chunk)) {
        if (line === null || line.trim() === '') continue;
        let message: ControlResponse;
        try {
          message = JSON.parse(line) as ControlResponse;
        } catch {
          reject(new ControlError('EPROTO', `init answered something that is not JSON: ${line.slice(0, 200)}`));
          socket.destroy();
          return;
        }
        if ('event' in message) {
          onEvent?.({ event: message.event, data: message.data });
          continue;
        }
        answered = true;
        if (message.ok) resolve(message.data);
        else reject(new ControlError(message.code, message.message));
        if (!onEvent || !message.ok) socket.end();
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (answered) return;
      const hint =
        error.code === 'ENOENT' || error.code === 'ECONNREFUSED'
          ? `no init is listening at ${socketPath}. Is aios-init running? Point at it with --run DIR or AIOS_RUN_DIR.`
          : error.code === 'EACCES'
            ? `permission denied on ${socketPath}: the control socket is for root; run the command as root.`
            : `cannot reach init at ${socketPath}: ${error.message}`;
      reject(new ControlError(error.code ?? 'ECONNECT', hint, { cause: error }));
    });
    socket.on('close', () => {
      onClose?.();
      if (!answered) reject(new ControlError('ECLOSED', `init closed the connection at ${socketPath} without answering.`));
    });
  });
}
