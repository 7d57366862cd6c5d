// Packages through pacman: search, info, list, install, remove, upgrade. Only the Arch-based
// production image has pacman; elsewhere every pkg tool answers ENOTSUP. Package names are
// checked against Arch's rule and always follow `--`, so no name can become an option
// (`--overwrite=*`) or reach a shell (there is none: pacman runs with an argument array).
import * as z from 'zod/mini';
import { defineTool, ToolError, type ChangeMemory, type ToolContext } from './tool.ts';
import { findProgram, runProgram, type ProgramResult } from './sys-tools.ts';

const NAME = /^[a-z0-9@_+][a-z0-9@._+-]*$/;

export const packageName = z.string().check(
  z.maxLength(128, 'a package name is at most 128 characters'),
  z.regex(NAME, {
    error: (iss) => `not a package name: ${JSON.stringify(iss.input)} (Arch package names are lower-case letters, digits and @ . _ + -, and do not start with - or .)`,
  }),
);

const packageNames = z.array(packageName).check(z.minLength(1, 'name at least one package'), z.maxLength(50, 'at most 50 packages at once'));

const NO_PACMAN = 'this system has no pacman (package management is available on the Arch-based production image, not on the development image or this host)';

function pacmanPath(tool: string): string {
  const file = findProgram('pacman');
  if (!file) throw new ToolError('ENOTSUP', `${tool}: ${NO_PACMAN}`);
  return file;
}

function lastLines(text: string, count: number): string {
  return text.trim().split('\n').slice(-count).join('\n');
}

/** Why pacman failed, as a code a model can act on and pacman's own words. */
function pacmanError(tool: string, result: ProgramResult): ToolError {
  const text = `${result.stderr}\n${result.stdout}`;
  const said = lastLines(result.stderr.trim() || result.stdout, 8) || `pacman exited with status ${result.exitCode}`;
  const notFound = [...text.matchAll(/target not found: (\S+)/g)].map((m) => m[1]);
  if (notFound.length) return new ToolError('ENOENT', `${tool}: no such package: ${notFound.join(', ')}`);
  if (/unable to lock database/.test(text)) return new ToolError('EBUSY', `${tool}: the package database is locked (another pacman is running, or /var/lib/pacman/db.lck was left behind): ${said}`);
  if (/unless you are root/.test(text)) return new ToolError('EPERM', `${tool}: pacman needs root: ${said}`);
  if (/failed retrieving file|could not resolve host|failed to synchronize|download library error/i.test(text)) return new ToolError('ENETUNREACH', `${tool}: pacman could not download: ${said}`);
  return new ToolError('EFAILED', `${tool}: pacman exited with status ${result.exitCode}: ${said}`);
}

async function pacman(tool: string, args: string[], context: ToolContext, timeoutMs: number): Promise<ProgramResult> {
  return runProgram(pacmanPath(tool), args, { signal: context.signal, timeoutMs });
}

// ---------------------------------------------------------------------------------------------
// Parsers for pacman's output (LC_ALL=C)

const searchResultSchema = z.object({
  repository: z.string(),
  name: z.string(),
  version: z.string(),
  groups: z.array(z.string()),
  installed: z.boolean(),
  /** Set when the installed version differs from the repository's. */
  installedVersion: z.nullable(z.string()),
  description: z.string(),
});
type SearchResult = z.infer<typeof searchResultSchema>;

/** `pacman -Ss`: "repo/name version (group …) [installed: v]" then the description indented by four spaces. */
export function parseSearch(text: string): SearchResult[] {
  const results: SearchResult[] = [];
  for (const line of text.split('\n')) {
    if (/^\s/.test(line)) {
      const last = results.at(-1);
      if (last) last.description = last.description ? `${last.description} ${line.trim()}` : line.trim();
      continue;
    }
    const m = /^([^/\s]+)\/(\S+) (\S+)(?: \(([^)]*)\))?(?: \[installed(?:: ([^\]]+))?\])?\s*$/.exec(line);
    if (!m) continue;
    results.push({
      repository: m[1]!,
      name: m[2]!,
      version: m[3]!,
      groups: m[4] ? m[4].split(/\s+/) : [],
      installed: line.includes('[installed'),
      installedVersion: m[5] ?? null,
      description: '',
    });
  }
  return results;
}

/** `pacman -Q`: "name version" per line. */
export function parseList(text: string): { name: string; version: string }[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length === 2 && f[0])
    .map(([name, version]) => ({ name: name!, version: version! }));
}

/** `pacman -Qi`/`-Si`: "Key            : value", a value going on in indented lines (Optional Deps). */
export function parseInfoFields(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  let key: string | null = null;
  for (const line of text.split('\n')) {
    if (line.trim() === '') {
      // A second package (-Si finds one per repository): the first is what pacman would use.
      if (key !== null) break;
      continue;
    }
    const m = /^(\S[^:]*?)\s*: (.*)$/.exec(line) ?? /^(\S[^:]*?)\s*:$/.exec(line);
    if (m && !/^\s/.test(line)) {
      key = m[1]!;
      fields[key] = (m[2] ?? '').trim();
    } else if (key !== null) {
      fields[key] = `${fields[key]}\n${line.trim()}`;
    }
  }
  return fields;
}

function list(value: string | undefined, separator: RegExp = /\s{2,}/): string[] {
  if (!value || value === 'None') return [];
  return value.split(separator).map((v) => v.trim()).filter(Boolean);
}

const infoSchema = z.object({
  name: z.string(),
  version: z.string(),
  description: z.string(),
  installed: z.boolean(),
  repository: z.nullable(z.string()),
  url: z.nullable(z.string()),
  licenses: z.array(z.string()),
  groups: z.array(z.string()),
  dependsOn: z.array(z.string()),
  optionalDeps: z.array(z.string()),
  /** Only known for an installed package. */
  requiredBy: z.nullable(z.array(z.string())),
  installedSize: z.nullable(z.string()),
  /** Every field pacman printed, as it printed it. */
  fields: z.record(z.string(), z.string()),
});
type PackageInfo = z.infer<typeof infoSchema>;

export function toPackageInfo(fields: Record<string, string>, installed: boolean): PackageInfo {
  const field = (key: string): string | null => (fields[key] === undefined || fields[key] === 'None' ? null : fields[key]!);
  return {
    name: fields.Name ?? '',
    version: fields.Version ?? '',
    description: fields.Description ?? '',
    installed,
    repository: field('Repository'),
    url: field('URL'),
    licenses: list(fields.Licenses),
    groups: list(fields.Groups),
    dependsOn: list(fields['Depends On']),
    optionalDeps: list(fields['Optional Deps'], /\n/),
    requiredBy: installed ? list(fields['Required By']) : null,
    installedSize: field('Installed Size'),
    fields,
  };
}

/** "Packages (2) foo-1.0-1  bar-2.0-1", wrapped onto indented lines when long: what a transaction changes. */
export function parseTransaction(text: string): string[] {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^Packages \(\d+\)/.test(l));
  if (start < 0) return [];
  const out = list(lines[start]!.replace(/^Packages \(\d+\)\s*/, ''));
  for (const line of lines.slice(start + 1)) {
    if (!/^\s+\S/.test(line)) break;
    out.push(...list(line.trim()));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Tools

const READ = { capability: 'pkg.read', effects: ['reads' as const], risk: 'low' as const, undo: 'none' as const, timeoutMs: 30_000 };
// Where a transaction writes: the files of packages, their configuration, pacman's database and cache.
const TRANSACTION_PATHS = { write: ['/usr', '/etc', '/var/lib/pacman', '/var/cache/pacman/pkg'] };

export const searchTool = defineTool({
  name: 'pkg.search',
  description: 'Search the package repositories (pacman -Ss) by name and description; every word must match (each is a regular expression).',
  input: z.strictObject({
    query: z.string().check(
      z.minLength(1, 'query must not be empty'),
      z.maxLength(200, 'query is at most 200 characters'),
      z.refine((v) => !/(^|\s)-/.test(v), { error: (iss) => `no word of the query may start with '-', got ${JSON.stringify(iss.input)}` }),
      z.refine((v) => !/[\0-\x1f\x7f]/.test(v), 'query must not contain control characters'),
    ),
    limit: z._default(z.int().check(z.gte(1, 'limit must be at least 1'), z.lte(500, 'limit must be at most 500')), 50),
  }),
  output: z.object({ total: z.number(), results: z.array(searchResultSchema) }),
  ...READ,
  async run(input, context) {
    const result = await pacman('pkg.search', ['-Ss', '--', ...input.query.trim().split(/\s+/)], context, 25_000);
    // Status 1 with no output is "nothing found".
    if (result.exitCode !== 0 && (result.exitCode !== 1 || result.stderr.trim())) throw pacmanError('pkg.search', result);
    const results = parseSearch(result.stdout);
    return { total: results.length, results: results.slice(0, input.limit) };
  },
  render(r) {
    if (r.total === 0) return 'no package matches';
    const lines = r.results.map((p) => `${p.repository}/${p.name} ${p.version}${p.installed ? ` [installed${p.installedVersion ? `: ${p.installedVersion}` : ''}]` : ''} - ${p.description}`);
    if (r.total > r.results.length) lines.push(`… ${r.total - r.results.length} more`);
    return lines.join('\n');
  },
});

export const infoTool = defineTool({
  name: 'pkg.info',
  description: 'Details of one package: version, description, dependencies, size; the installed package (pacman -Qi) if there is one, else the repository one (pacman -Si).',
  input: z.strictObject({
    name: packageName,
    source: z._default(z.enum(['auto', 'installed', 'repository']), 'auto'),
  }),
  output: infoSchema,
  ...READ,
  async run(input, context) {
    let last: ProgramResult | null = null;
    for (const [flag, installed] of [['-Qi', true], ['-Si', false]] as const) {
      if ((input.source === 'installed' && !installed) || (input.source === 'repository' && installed)) continue;
      const result = await pacman('pkg.info', [flag, '--', input.name], context, 25_000);
      if (result.exitCode === 0) return toPackageInfo(parseInfoFields(result.stdout), installed);
      last = result;
    }
    const said = last ? lastLines(last.stderr || last.stdout, 3) : '';
    if (last && /was not found|target not found/.test(said)) {
      const where = input.source === 'installed' ? 'installed' : input.source === 'repository' ? 'in the repositories' : 'installed or in the repositories';
      throw new ToolError('ENOENT', `pkg.info: no package named ${input.name} ${where} (pacman: ${said})`);
    }
    throw pacmanError('pkg.info', last!);
  },
  render(p) {
    return [
      `${p.name} ${p.version}${p.installed ? ' (installed)' : p.repository ? ` (${p.repository})` : ''}: ${p.description}`,
      ...(p.url ? [`url: ${p.url}`] : []),
      `depends on: ${p.dependsOn.join(' ') || 'nothing'}`,
      ...(p.requiredBy ? [`required by: ${p.requiredBy.join(' ') || 'nothing'}`] : []),
      ...(p.installedSize ? [`installed size: ${p.installedSize}`] : []),
    ].join('\n');
  },
});

export const listTool = defineTool({
  name: 'pkg.list',
  description: 'Installed packages with their versions (pacman -Q), optionally only those installed explicitly, or those whose name contains a text.',
  input: z.strictObject({
    explicit: z._default(z.boolean(), false),
    contains: z.optional(z.string().check(z.maxLength(128, 'contains is at most 128 characters'))),
    limit: z._default(z.int().check(z.gte(1, 'limit must be at least 1'), z.lte(10_000, 'limit must be at most 10000')), 500),
  }),
  output: z.object({ total: z.number(), packages: z.array(z.object({ name: z.string(), version: z.string() })) }),
  ...READ,
  async run(input, context) {
    const result = await pacman('pkg.list', [input.explicit ? '-Qe' : '-Q'], context, 25_000);
    // -Qe with nothing explicitly installed says so with status 1 and no words.
    if (result.exitCode !== 0 && result.stderr.trim()) throw pacmanError('pkg.list', result);
    const all = parseList(result.stdout).filter((p) => !input.contains || p.name.includes(input.contains));
    return { total: all.length, packages: all.slice(0, input.limit) };
  },
  render(r) {
    if (r.total === 0) return 'no packages';
    const lines = r.packages.map((p) => `${p.name} ${p.version}`);
    if (r.total > r.packages.length) lines.push(`… ${r.total - r.packages.length} more`);
    return lines.join('\n');
  },
});

const transactionSchema = z.object({
  requested: z.array(z.string()),
  /** name-version of every package the transaction installed, upgraded or removed. */
  changed: z.array(z.string()),
  /** Requested packages already installed at the newest version (skipped by --needed). */
  upToDate: z.array(z.string()),
  nothingToDo: z.boolean(),
  /** The end of pacman's output. */
  log: z.string(),
});
type Transaction = z.infer<typeof transactionSchema>;

function transaction(requested: string[], result: ProgramResult): Transaction {
  const text = `${result.stdout}\n${result.stderr}`;
  return {
    requested,
    changed: parseTransaction(result.stdout),
    upToDate: [...text.matchAll(/warning: (\S+)-[^-\s]+-[^-\s]+ is up to date -- skipping/g)].map((m) => m[1]!),
    nothingToDo: /there is nothing to do/.test(text),
    log: lastLines(result.stdout, 30),
  };
}

/** `vim-runtime-9.1.1000-1` → `vim-runtime`: pacman's name-version-release. */
export function packageNameOf(nameVersion: string): string {
  return nameVersion.replace(/-[^-]+-[^-]+$/, '');
}

/** A transaction that changed something, as a `package` memory ("installed vim, gpm (asked for vim)"). */
function packageMemory(action: 'install' | 'remove' | 'upgrade', t: Transaction): ChangeMemory | null {
  if (t.changed.length === 0) return null;
  const packages = t.changed.map(packageNameOf);
  const shown = packages.length > 40 ? `${packages.slice(0, 40).join(', ')} and ${packages.length - 40} more` : packages.join(', ');
  const verb = { install: 'installed', remove: 'removed', upgrade: 'upgraded' }[action];
  const asked = t.requested.length > 0 && t.requested.join() !== packages.join() ? ` (asked for ${t.requested.join(', ')})` : '';
  return { type: 'package', content: `${verb} ${shown}${asked}`, metadata: { action, packages, versions: t.changed, requested: t.requested } };
}

function renderTransaction(verb: string, t: Transaction): string {
  if (t.nothingToDo && t.changed.length === 0) return `nothing to do${t.upToDate.length ? ` (${t.upToDate.join(', ')} up to date)` : ''}`;
  return `${verb} ${t.changed.length} package${t.changed.length === 1 ? '' : 's'}: ${t.changed.join(' ')}${t.upToDate.length ? `\nalready up to date: ${t.upToDate.join(' ')}` : ''}`;
}

export const installTool = defineTool({
  name: 'pkg.install',
  description: 'Install packages and their dependencies from the repositories (pacman -S --needed); packages already up to date are skipped.',
  input: z.strictObject({ names: packageNames }),
  output: transactionSchema,
  capability: 'pkg.install',
  effects: ['writes', 'network'],
  risk: 'medium',
  timeoutMs: 600_000,
  undo: 'inverse',
  paths: () => TRANSACTION_PATHS,
  async run(input, context) {
    const result = await pacman('pkg.install', ['-S', '--noconfirm', '--needed', '--', ...input.names], context, 590_000);
    if (result.exitCode !== 0) throw pacmanError('pkg.install', result);
    return transaction(input.names, result);
  },
  render: (t) => renderTransaction('installed', t),
  remember: (_input, t) => packageMemory('install', t),
});

export const removeTool = defineTool({
  name: 'pkg.remove',
  description: 'Remove packages with the dependencies nothing else needs and their saved configuration files (pacman -Rns).',
  input: z.strictObject({ names: packageNames }),
  output: transactionSchema,
  capability: 'pkg.remove',
  effects: ['writes', 'network', 'destructive'],
  risk: 'high',
  timeoutMs: 300_000,
  undo: 'inverse',
  paths: () => TRANSACTION_PATHS,
  async run(input, context) {
    const result = await pacman('pkg.remove', ['-Rns', '--noconfirm', '--', ...input.names], context, 290_000);
    if (result.exitCode !== 0) throw pacmanError('pkg.remove', result);
    return transaction(input.names, result);
  },
  render: (t) => renderTransaction('removed', t),
  remember: (_input, t) => packageMemory('remove', t),
});

export const upgradeTool = defineTool({
  name: 'pkg.upgrade',
  description: 'Refresh the package databases and upgrade every installed package (pacman -Syu).',
  input: z.strictObject({}),
  output: transactionSchema,
  capability: 'pkg.upgrade',
  effects: ['writes', 'network'],
  risk: 'high',
  timeoutMs: 1_800_000,
  undo: 'none',
  paths: () => TRANSACTION_PATHS,
  async run(_input, context) {
    const result = await pacman('pkg.upgrade', ['-Syu', '--noconfirm'], context, 1_790_000);
    if (result.exitCode !== 0) throw pacmanError('pkg.upgrade', result);
    return transaction([], result);
  },
  render: (t) => renderTransaction('upgraded', t),
  remember: (_input, t) => packageMemory('upgrade', t),
});

export const PKG_TOOLS = [searchTool, infoTool, installTool, removeTool, upgradeTool, listTool];
