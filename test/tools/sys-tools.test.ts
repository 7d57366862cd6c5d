// sys.*: what the tools say about this machine agrees with what the kernel says directly.
import { readFileSync, statfsSync } from 'node:fs';
import os from 'node:os';
import t, { type Test } from 'tap';
import type * as z from 'zod/mini';
import { callTool, type ToolContext, type Tool } from '../../src/tools/tool.ts';
import { SYS_INFO_TOOLS, cpuTool, disksTool, findProgram, infoTool, memoryTool, runProgram, temperaturesTool, uptimeTool } from '../../src/tools/sys-tools.ts';

const context: ToolContext = { runDir: os.tmpdir(), stateDir: os.tmpdir(), signal: new AbortController().signal };

/** Calls a tool, checks the result is ok and matches the tool's own output schema, and renders it. */
async function ok<O>(t: Test, tool: Tool<z.ZodMiniType, O>, args: unknown = {}): Promise<O> {
  const result = await callTool(tool, args, context);
  if (!result.ok) throw new Error(`${tool.name} failed: ${result.code} ${result.message}`);
  t.ok(tool.output.safeParse(result.data).success, `${tool.name}: data matches its output schema`);
  t.type(tool.render(result.data), 'string');
  return result.data;
}

t.test('every tool declares what the policy needs', async (t) => {
  t.same(SYS_INFO_TOOLS.map((x) => x.name), ['sys.info', 'sys.cpu', 'sys.memory', 'sys.disks', 'sys.temperatures', 'sys.uptime']);
  for (const tool of SYS_INFO_TOOLS) {
    t.same(tool.effects, ['reads'], tool.name);
    t.equal(tool.risk, 'low', tool.name);
    t.equal(tool.undo, 'none', tool.name);
    t.ok(tool.timeoutMs > 0, tool.name);
  }
  const refused = await callTool(infoTool, { extra: 1 }, context);
  t.equal(refused.ok, false);
  t.equal(!refused.ok && refused.code, 'EINVAL');
});

t.test('sys.info names this host, kernel and architecture', async (t) => {
  const info = await ok(t, infoTool);
  t.equal(info.hostname, os.hostname());
  t.equal(info.kernel, os.release());
  t.equal(info.arch, os.arch());
  t.equal(info.os.platform, 'linux');
  t.type(info.virtualization.virtual, 'boolean');
});

t.test('sys.cpu counts the cores the kernel counts, with usage per core', async (t) => {
  const cpu = await ok(t, cpuTool);
  t.equal(cpu.cores, os.cpus().length);
  t.equal(cpu.perCore.length, cpu.cores);
  for (const core of cpu.perCore) t.ok(core.usagePercent >= 0 && core.usagePercent <= 100, `core ${core.cpu}: ${core.usagePercent}%`);
  t.ok(cpu.usagePercent >= 0 && cpu.usagePercent <= 100);
  t.ok(Math.abs(cpu.load.one - os.loadavg()[0]!) < 2);
});

t.test('sys.memory: total is MemTotal, used is total minus available', async (t) => {
  const m = await ok(t, memoryTool);
  const memTotal = Number(/MemTotal:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;
  t.equal(m.totalBytes, memTotal);
  t.equal(m.usedBytes, m.totalBytes - m.availableBytes);
  t.ok(m.availableBytes > 0 && m.availableBytes <= m.totalBytes);
  t.ok(m.usedPercent > 0 && m.usedPercent < 100);
});

t.test('sys.disks lists / with the size statfs gives', async (t) => {
  const disks = await ok(t, disksTool);
  const root = disks.find((d) => d.mount === '/');
  if (!root) throw new Error(`no / in ${JSON.stringify(disks)}`);
  const s = statfsSync('/');
  // df rounds to KiB blocks.
  t.ok(Math.abs(root.sizeBytes - s.blocks * s.bsize) <= 1024 * 1024, `size ${root.sizeBytes} vs statfs ${s.blocks * s.bsize}`);
  t.ok(root.usedBytes > 0 && root.usedBytes < root.sizeBytes);
});

t.test('sys.temperatures says whether sensors exist, and why not', async (t) => {
  const temps = await ok(t, temperaturesTool);
  if (temps.available) {
    t.equal(temps.note, null);
    t.ok(temps.mainC !== null || temps.coresC.length > 0 || temps.socketsC.length > 0 || temps.chipsetC !== null);
  } else {
    t.match(temps.note, /no temperature sensor/);
    t.same([temps.mainC, temps.maxC, temps.coresC], [null, null, []]);
    t.match(temperaturesTool.render(temps), /not available/);
  }
});

t.test('sys.uptime agrees with the kernel', async (t) => {
  const u = await ok(t, uptimeTool);
  t.ok(Math.abs(u.uptimeSeconds - os.uptime()) < 5);
  t.ok(Math.abs(new Date(u.bootedAt).getTime() - (Date.now() - os.uptime() * 1000)) < 5000);
  t.match(u.human, /\d+s$/);
});

t.test('findProgram: AIOS_<NAME> wins (and a wrong one is not silently replaced), else PATH', async (t) => {
  const saved = { ...process.env };
  t.teardown(() => {
    process.env = saved;
  });
  t.match(findProgram('sh'), /^\/.*\/sh$/);
  process.env.AIOS_SH = '/nonexistent/sh';
  t.equal(findProgram('sh'), null);
  delete process.env.AIOS_SH;
  process.env.PATH = '/nonexistent';
  t.equal(findProgram('sh'), null);
  // No PATH at all (PID 1): the usual directories.
  delete process.env.PATH;
  t.match(findProgram('sh'), /^\/(usr\/)?(s)?bin\/sh$/);
});

t.test('runProgram: argv is passed as is, status is returned, a timeout is an error', async (t) => {
  const sh = findProgram('sh')!;
  const r = await runProgram(sh, ['-c', 'printf "%s|" "$@"; exit 3', 'x', '; rm -rf /', '$(id)'], { signal: context.signal, timeoutMs: 5_000 });
  t.same(r, { exitCode: 3, stdout: '; rm -rf /|$(id)|', stderr: '' });
  // `sleep` is the shell's child and holds the pipes: only killing the whole group ends the call at once.
  const started = Date.now();
  await t.rejects(runProgram(sh, ['-c', 'sleep 30; true'], { signal: context.signal, timeoutMs: 200 }), { code: 'ETIMEDOUT' });
  t.ok(Date.now() - started < 3_000, `gave up after ${Date.now() - started} ms`);
  const cancel = new AbortController();
  setTimeout(() => cancel.abort(), 100);
  await t.rejects(runProgram(sh, ['-c', 'sleep 30; true'], { signal: cancel.signal, timeoutMs: 10_000 }), { code: 'ECANCELED' });
  await t.rejects(runProgram('/nonexistent/program', [], { signal: context.signal, timeoutMs: 1_000 }), { code: 'ENOENT' });
});
