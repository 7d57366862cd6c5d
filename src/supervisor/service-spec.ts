// A service is one TOML file in the services directory; its name is the file name.
// Validation names the file, the key and the problem; one bad file never stops the others.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import * as z from 'zod/mini';
import os from 'node:os';

// zod/mini rather than zod: the same validation with a far smaller heap, which matters for the
// start-up snapshot of PID 1 and the console (a fifth of a second each under emulation).

const SIGNALS = Object.keys(os.constants.signals) as [string, ...string[]];
const NAME = /^[a-z0-9][a-z0-9_.@-]{0,63}$/;

const seconds = (what: string, fallback: number) =>
  z._default(
    z.number({ error: `Expected \`${what}\` to be a number of seconds` }).check(
      z.nonnegative({ error: `Expected \`${what}\` to be a non-negative number of seconds` }),
      z.lte(86_400 * 365, { error: `Expected \`${what}\` to be at most a year` }),
    ),
    fallback,
  );

const positiveInt = (what: string, fallback: number) =>
  z._default(
    z.int({ error: `Expected \`${what}\` to be an integer` }).check(z.positive({ error: `Expected \`${what}\` to be a positive integer` })),
    fallback,
  );

const absolutePath = (message: string) => z.string().check(z.startsWith('/', message));

const readySchema = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({ kind: z.literal('started') }),
    z.strictObject({ kind: z.literal('file'), path: absolutePath('must be an absolute path') }),
    z.strictObject({ kind: z.literal('socket'), path: absolutePath('must be an absolute path') }),
    // s6-style: the service writes a line (empty, or READY=1) to the file descriptor named
    // by $NOTIFY_FD, which is 3.
    z.strictObject({ kind: z.literal('notify') }),
    // A one-shot task (udev coldplug, creating users): ready once it has exited with status 0,
    // and it stays `up` with nothing running, as its work stays done, until it is stopped.
    z.strictObject({ kind: z.literal('exited') }),
  ],
  { error: 'Expected `ready.kind` to be "started", "file", "socket", "notify" or "exited"' },
);

/** Parses sizes such as 64M, 1G, 1048576 or "max" for memory.max. */
export const memorySize = z.pipe(
  z.union([z.int().check(z.positive()), z.string()]),
  z.transform((value: number | string, ctx) => {
    if (typeof value === 'number') return value;
    if (value === 'max') return 'max' as const;
    const match = /^(\d+)\s*([KMGT]?)i?B?$/i.exec(value);
    if (!match) {
      ctx.issues.push({ code: 'custom', message: `Expected a size such as 256M, 1G or "max", got \`${value}\``, input: value });
      return z.NEVER;
    }
    const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[match[2]!.toUpperCase()]!;
    return Number(match[1]) * unit;
  }),
);

const account = z.optional(z.union([z.string().check(z.minLength(1)), z.int().check(z.nonnegative())]));

export const serviceFileSchema = z.strictObject({
  description: z._default(z.string(), ''),
  exec: z
    .array(z.string().check(z.minLength(1, 'arguments must not be empty')), { error: 'Expected `exec` to be an array of strings' })
    .check(z.minLength(1, 'Expected `exec` to name a program')),
  env: z._default(z.record(z.string(), z.string(), { error: 'Expected `env` to be a table of strings' }), {}),
  cwd: z.optional(absolutePath('Expected `cwd` to be an absolute path')),
  user: account,
  group: account,
  restart: z._default(z.enum(['always', 'on-failure', 'never'], { error: 'Expected `restart` to be "always", "on-failure" or "never"' }), 'always'),
  restart_sec: seconds('restart_sec', 1),
  restart_max_sec: seconds('restart_max_sec', 30),
  start_limit_burst: positiveInt('start_limit_burst', 5),
  healthy_sec: seconds('healthy_sec', 10),
  stop_signal: z._default(z.enum(SIGNALS, { error: 'Expected `stop_signal` to be a signal name such as "SIGTERM"' }), 'SIGTERM'),
  stop_timeout: seconds('stop_timeout', 5),
  depends_on: z._default(z.array(z.string().check(z.regex(NAME, 'not a valid service name'))), []),
  ready: z._default(readySchema, { kind: 'started' as const }),
  ready_timeout: seconds('ready_timeout', 30),
  enabled: z._default(z.boolean(), true),
  // Starts before the state disk is mounted (the console); its output reaches the log file once it is.
  early: z._default(z.boolean(), false),
  limits: z._default(
    z.strictObject({
      memory_max: z.optional(memorySize),
      cpu_weight: z.optional(z.int().check(z.gte(1), z.lte(10_000, 'cpu.weight is 1-10000'))),
      pids_max: z.optional(z.int().check(z.positive())),
    }),
    {},
  ),
});

export type ServiceSpec = z.infer<typeof serviceFileSchema> & { name: string; file: string };

export interface SpecError {
  file: string;
  message: string;
}

export type LoadResult = { ok: true; spec: ServiceSpec } | { ok: false; error: SpecError };

function describeIssue(issue: z.core.$ZodIssue): string {
  const key = issue.path.length > 0 ? issue.path.join('.') : '(file)';
  if (issue.code === 'unrecognized_keys') {
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `\`${k}\``).join(', ')}${
      issue.path.length > 0 ? ` in \`${key}\`` : ''
    }`;
  }
  return `key \`${key}\`: ${issue.message}`;
}

export function parseServiceFile(file: string, text: string): LoadResult {
  const name = path.basename(file, '.toml');
  if (!NAME.test(name)) {
    return {
      ok: false,
      error: { file, message: `the file name must be a service name (a-z, 0-9, _ . @ -, at most 64 characters), got \`${name}\`` },
    };
  }
  let data: unknown;
  try {
    data = parseToml(text);
  } catch (error) {
    const message = error instanceof TomlError ? `TOML syntax error at line ${error.line}, column ${error.column}: ${error.message.split('\n')[0]}` : String(error);
    return { ok: false, error: { file, message } };
  }
  const parsed = serviceFileSchema.safeParse(data);
  if (!parsed.success) {
    return { ok: false, error: { file, message: parsed.error.issues.map(describeIssue).join('; ') } };
  }
  if (parsed.data.ready.kind === 'exited' && parsed.data.restart === 'always') {
    return { ok: false, error: { file, message: 'key `restart`: a service that is ready when it exits (ready.kind = "exited") cannot have restart = "always"; use "on-failure" or "never"' } };
  }
  if (parsed.data.depends_on.includes(name)) {
    return { ok: false, error: { file, message: 'key `depends_on`: a service cannot depend on itself' } };
  }
  return { ok: true, spec: { ...parsed.data, name, file } };
}

export interface LoadedDirectory {
  specs: ServiceSpec[];
  errors: SpecError[];
}

/**
 * Reads every *.toml in the directory, then drops (with an error) services whose
 * dependencies are unknown, invalid, or form a cycle: the rest still start.
 */
export function loadServiceDirectory(dir: string): LoadedDirectory {
  const errors: SpecError[] = [];
  let entries: string[];
  try {
    entries = readdirSync(dir).filter((f) => f.endsWith('.toml')).sort();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { specs: [], errors: [{ file: dir, message: 'the services directory does not exist' }] };
    return { specs: [], errors: [{ file: dir, message: `cannot read the services directory: ${String(error)}` }] };
  }
  const specs = new Map<string, ServiceSpec>();
  for (const entry of entries) {
    const file = path.join(dir, entry);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      errors.push({ file, message: `cannot read: ${(error as Error).message}` });
      continue;
    }
    const result = parseServiceFile(file, text);
    if (result.ok) specs.set(result.spec.name, result.spec);
    else errors.push(result.error);
  }
  return { specs: resolveDependencies(specs, errors), errors };
}

export function resolveDependencies(specs: Map<string, ServiceSpec>, errors: SpecError[]): ServiceSpec[] {
  const bad = new Map<string, string>();
  // A service whose dependency is unknown or dropped is dropped too, until nothing changes.
  const propagate = (): void => {
    let changed = true;
    while (changed) {
      changed = false;
      for (const spec of specs.values()) {
        if (bad.has(spec.name)) continue;
        const dep = spec.depends_on.find((d) => !specs.has(d) || bad.has(d));
        if (dep === undefined) continue;
        bad.set(spec.name, `key \`depends_on\`: ${specs.has(dep) ? `service \`${dep}\` is not valid` : `unknown service \`${dep}\``}`);
        changed = true;
      }
    }
  };
  propagate();
  // Cycles, by depth-first search.
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (name: string, trail: string[]): void => {
    if (done.has(name) || bad.has(name)) return;
    if (visiting.has(name)) {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      for (const member of cycle) bad.set(member, `key \`depends_on\`: dependency cycle ${cycle.join(' -> ')}`);
      return;
    }
    visiting.add(name);
    for (const dep of specs.get(name)!.depends_on) visit(dep, [...trail, name]);
    visiting.delete(name);
    done.add(name);
  };
  for (const name of specs.keys()) visit(name, []);
  propagate();
  for (const [name, message] of bad) errors.push({ file: specs.get(name)!.file, message });
  return [...specs.values()].filter((s) => !bad.has(s.name));
}
