// Reflexes: the reactive tier's threshold rules, e.g. "a file system over 90 % full: the
// maintenance agent frees space". They live beside the intent rules, as [[reflex]] tables in
// the rules files (/etc/aios/rules/*.toml; a later file replaces a reflex by name, `disabled =
// true` switches one off), and the maintenance service checks them every minute.
//
//   [[reflex]]
//   name = "disk-full"
//   reading = "disk.used_percent"   # per writable file system; or memory.used_percent,
//   above = 90                      # load.per_cpu, services.failed; `below` for the other side
//   cooldown_seconds = 3600         # the same reflex for the same thing at most this often
//   goal = "{subject} is {value} % full: ..."   # for the agent loop, when a model tier is here
//   tool = "service.list"           # and/or a tool call (args may use {subject} and {value})
//   args = { state = "failed" }
//   builtin = "free-space"          # and/or the maintenance service's own safe clean-up
//
// What a reflex does is done as `agent:reflex/NAME`, through the tools pipeline (policy,
// approvals, audit), and remembered.
import { readFileSync, statfsSync } from 'node:fs';
import os from 'node:os';
import { parse as parseToml } from 'smol-toml';
import * as z from 'zod/mini';
import { parseMounts, readMeminfo, type MountEntry } from '../init/procfs.ts';
import { DEFAULT_RULES_DIR, readRulesFiles } from './rules.ts';

export const READINGS = ['disk.used_percent', 'memory.used_percent', 'load.per_cpu', 'services.failed'] as const;
export type ReadingName = (typeof READINGS)[number];
export const BUILTINS = ['free-space'] as const;

const reflexSchema = z
  .strictObject({
    name: z.string().check(z.regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'a name is a-z, 0-9, . _ -')),
    description: z._default(z.string(), ''),
    reading: z.enum(READINGS, { error: `expected \`reading\` to be one of ${READINGS.join(', ')}` }),
    above: z.optional(z.number()),
    below: z.optional(z.number()),
    cooldown_seconds: z._default(z.number().check(z.gte(0), z.lte(30 * 86_400)), 3600),
    goal: z.optional(z.string().check(z.minLength(1))),
    tool: z.optional(z.string().check(z.regex(/^[a-z]+\.[a-z_]+$/, 'a tool name such as service.list'))),
    args: z._default(z.record(z.string(), z.unknown()), {}),
    builtin: z.optional(z.enum(BUILTINS, { error: `expected \`builtin\` to be one of ${BUILTINS.join(', ')}` })),
    disabled: z._default(z.boolean(), false),
  })
  .check(
    z.refine((r) => (r.above === undefined) !== (r.below === undefined), 'give exactly one of `above` and `below`'),
    z.refine((r) => r.goal !== undefined || r.tool !== undefined || r.builtin !== undefined, 'give what it does: `goal`, `tool` or `builtin`'),
  );

export type Reflex = z.infer<typeof reflexSchema>;

/** One measured value: a reading about a subject ("/var/lib/aios" for a disk, "machine" otherwise). */
export interface Reading {
  name: ReadingName;
  subject: string;
  value: number;
}

export interface Firing {
  reflex: Reflex;
  reading: Reading;
}

export interface LoadedReflexes {
  reflexes: Reflex[];
  problems: string[];
}

/** The [[reflex]] tables of the rules files, by name (a later file replaces an earlier one). */
export function loadReflexes(dir: string = process.env.AIOS_RULES_DIR ?? DEFAULT_RULES_DIR): LoadedReflexes {
  const byName = new Map<string, Reflex | null>();
  const { files, problems, error } = readRulesFiles(dir);
  if (error) return { reflexes: [], problems: [`${error}; no reflexes`] };
  for (const { where, text } of files) {
    let data: { reflex?: unknown };
    try {
      data = parseToml(text) as { reflex?: unknown };
    } catch (error) {
      problems.push(`${where}: ${(error as Error).message.split('\n')[0]}; its reflexes are left out`);
      continue;
    }
    if (data.reflex === undefined) continue;
    if (!Array.isArray(data.reflex)) {
      problems.push(`${where}: \`reflex\` must be [[reflex]] tables; left out`);
      continue;
    }
    for (const [i, value] of data.reflex.entries()) {
      const label = typeof (value as { name?: unknown } | null)?.name === 'string' ? `reflex[${i}] "${(value as { name: string }).name}"` : `reflex[${i}]`;
      const parsed = reflexSchema.safeParse(value);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        problems.push(`${where}: ${label}: ${issue.path.length ? `\`${issue.path.join('.')}\`: ` : ''}${issue.message}; left out`);
        continue;
      }
      byName.delete(parsed.data.name);
      byName.set(parsed.data.name, parsed.data.disabled ? null : parsed.data);
    }
  }
  return { reflexes: [...byName.values()].filter((r): r is Reflex => r !== null), problems };
}

/**
 * The reflexes that fire on these readings now: past their threshold, and not fired for the
 * same subject within their cooldown (`last` maps "NAME subject" to when it last fired).
 */
export function dueReflexes(reflexes: Reflex[], readings: Reading[], last: ReadonlyMap<string, number>, now: number): Firing[] {
  const firings: Firing[] = [];
  for (const reflex of reflexes) {
    for (const reading of readings) {
      if (reading.name !== reflex.reading) continue;
      const past = reflex.above !== undefined ? reading.value > reflex.above : reading.value < reflex.below!;
      if (!past) continue;
      const at = last.get(firingKey(reflex, reading));
      if (at !== undefined && now - at < reflex.cooldown_seconds * 1000) continue;
      firings.push({ reflex, reading });
    }
  }
  return firings;
}

export function firingKey(reflex: Reflex, reading: Reading): string {
  return `${reflex.name} ${reading.subject}`;
}

/** {subject} and {value} in a goal or in the arguments' strings. */
export function fillIn<T>(template: T, reading: Reading): T {
  if (typeof template === 'string') return template.replaceAll('{subject}', reading.subject).replaceAll('{value}', String(Math.round(reading.value * 10) / 10)) as T;
  if (Array.isArray(template)) return template.map((t) => fillIn(t, reading)) as T;
  if (template && typeof template === 'object') return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, fillIn(v, reading)])) as T;
  return template;
}

/** File systems whose fullness says nothing (kernel, memory-backed API mounts) or that cannot be freed (read-only images). */
const NOT_DISKS = new Set(['proc', 'sysfs', 'devtmpfs', 'devpts', 'cgroup', 'cgroup2', 'mqueue', 'debugfs', 'tracefs', 'securityfs', 'pstore', 'bpf', 'configfs', 'fusectl', 'hugetlbfs', 'autofs', 'binfmt_misc', 'efivarfs', 'nsfs', 'squashfs', 'iso9660', 'erofs']);

/**
 * The machine's readings now: how full each writable file system is (from a mounts table in
 * /proc/mounts' format), memory in use, load per CPU, and the services that failed (when known).
 */
export function readMachine(options: { mounts?: string; meminfo?: string; failedServices?: number | null } = {}): Reading[] {
  const readings: Reading[] = [];
  const seen = new Set<string>();
  let mounts: MountEntry[] = [];
  try {
    mounts = parseMounts(readFileSync(options.mounts ?? '/proc/mounts', 'utf8'));
  } catch {
    // No /proc: no disk readings.
  }
  for (const { target: mountPoint, fstype, options: flags } of mounts) {
    if (NOT_DISKS.has(fstype) || flags.split(',').includes('ro')) continue;
    if (seen.has(mountPoint)) continue;
    seen.add(mountPoint);
    try {
      const stats = statfsSync(mountPoint);
      if (stats.blocks === 0) continue;
      readings.push({ name: 'disk.used_percent', subject: mountPoint, value: (100 * (stats.blocks - stats.bavail)) / stats.blocks });
    } catch {
      // Gone, or not ours to look at.
    }
  }
  const { MemTotal: total, MemAvailable: available } = readMeminfo(options.meminfo);
  if (total && available !== undefined) readings.push({ name: 'memory.used_percent', subject: 'machine', value: (100 * (total - available)) / total });
  readings.push({ name: 'load.per_cpu', subject: 'machine', value: os.loadavg()[0]! / Math.max(1, os.availableParallelism()) });
  if (options.failedServices !== undefined && options.failedServices !== null) readings.push({ name: 'services.failed', subject: 'machine', value: options.failedServices });
  return readings;
}
