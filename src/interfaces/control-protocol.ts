// PID 1's control socket protocol: one JSON object per line each way.
//   request:  { "id"?: string|number, "cmd": "...", ...arguments }
//   response: { "id", "ok": true, "data" } | { "id", "ok": false, "code", "message" }
//   stream:   { "id", "event": "log", "data": LogLine }   (logs with follow: true)
import * as z from 'zod/mini';

const id = z.optional(z.union([z.string().check(z.maxLength(128)), z.int()]));
const name = z.string({ error: 'Expected `name` to be a service name' }).check(z.minLength(1), z.maxLength(64));

export const controlRequestSchema = z.discriminatedUnion(
  'cmd',
  [
    z.strictObject({ id, cmd: z.literal('ping') }),
    z.strictObject({ id, cmd: z.literal('services') }),
    z.strictObject({ id, cmd: z.literal('status'), name }),
    z.strictObject({ id, cmd: z.literal('start'), name }),
    z.strictObject({ id, cmd: z.literal('stop'), name }),
    z.strictObject({ id, cmd: z.literal('restart'), name }),
    z.strictObject({ id, cmd: z.literal('enable'), name }),
    z.strictObject({ id, cmd: z.literal('disable'), name }),
    z.strictObject({
      id,
      cmd: z.literal('logs'),
      name,
      lines: z._default(z.int().check(z.gte(0), z.lte(100_000)), 50),
      follow: z._default(z.boolean(), false),
    }),
    z.strictObject({ id, cmd: z.literal('reload') }),
    z.strictObject({ id, cmd: z.literal('poweroff') }),
    z.strictObject({ id, cmd: z.literal('reboot') }),
    z.strictObject({ id, cmd: z.literal('halt') }),
  ],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? 'Expected `cmd` to be one of ping, services, status, start, stop, restart, enable, disable, logs, reload, poweroff, reboot, halt'
        : undefined,
  },
);

export type ControlRequest = z.infer<typeof controlRequestSchema>;

export type ControlResponse =
  | { id?: string | number | undefined; ok: true; data: unknown }
  | { id?: string | number | undefined; ok: false; code: string; message: string }
  | { id?: string | number | undefined; event: 'log'; data: unknown };

/** The largest request line accepted; longer lines are answered with an error and skipped. */
export const MAX_FRAME_BYTES = 1024 * 1024;

export function describeZodError(error: { issues: z.core.$ZodIssue[] }): string {
  return error.issues
    .map((issue) => {
      if (issue.code === 'unrecognized_keys') return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `\`${k}\``).join(', ')}`;
      const where = issue.path.length > 0 ? `\`${issue.path.join('.')}\`: ` : '';
      return `${where}${issue.message}`;
    })
    .join('; ');
}

/** Splits a byte stream into lines, refusing lines over the limit without losing the ones after. */
export class LineSplitter {
  #pending = '';
  #discarding = false;
  readonly #max: number;

  constructor(max = MAX_FRAME_BYTES) {
    this.#max = max;
  }

  /** Returns complete lines; an oversized line comes back as null, once. */
  push(chunk: string): (string | null)[] {
    const out: (string | null)[] = [];
    this.#pending += chunk;
    let newline: number;
    while ((newline = this.#pending.indexOf('\n')) >= 0) {
      const line = this.#pending.slice(0, newline);
      this.#pending = this.#pending.slice(newline + 1);
      if (this.#discarding) {
        this.#discarding = false;
        continue;
      }
      out.push(line.length > this.#max ? null : line);
    }
    if (this.#pending.length > this.#max) {
      if (!this.#discarding) out.push(null);
      this.#discarding = true;
      this.#pending = '';
    }
    return out;
  }
}
