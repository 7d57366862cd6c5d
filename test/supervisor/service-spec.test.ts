import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { loadServiceDirectory, parseServiceFile } from '../../src/supervisor/service-spec.ts';

t.test('defaults follow the contract', async (t) => {
  const result = parseServiceFile('/x/web.toml', 'exec = ["/bin/true"]');
  t.ok(result.ok);
  if (!result.ok) return;
  t.match(result.spec, {
    name: 'web',
    restart: 'always',
    restart_sec: 1,
    stop_signal: 'SIGTERM',
    stop_timeout: 5,
    depends_on: [],
    env: {},
    ready: { kind: 'started' },
  });
});

t.test('every field, including sizes', async (t) => {
  const result = parseServiceFile(
    '/x/db.toml',
    `exec = ["postgres", "-D", "/data"]
env = { PGDATA = "/data" }
cwd = "/data"
user = "postgres"
restart = "on-failure"
restart_sec = 0.5
restart_max_sec = 10
start_limit_burst = 3
healthy_sec = 30
stop_signal = "SIGINT"
stop_timeout = 20
depends_on = ["net"]
ready = { kind = "socket", path = "/run/pg.sock" }
[limits]
memory_max = "512M"
cpu_weight = 200
pids_max = 100
`,
  );
  t.ok(result.ok);
  if (result.ok) t.equal(result.spec.limits.memory_max, 512 * 1024 * 1024);
});

t.test('errors name the file, the key and the problem', async (t) => {
  const cases: [string, RegExp][] = [
    ['exec = []', /key `exec`: Expected `exec` to name a program/],
    ['exec = ["/x"]\nrestart = "sometimes"', /key `restart`: Expected `restart` to be "always", "on-failure" or "never"/],
    ['exec = ["/x"]\nstop_signal = "SIGNOPE"', /key `stop_signal`/],
    ['exec = ["/x"]\nstop_timeout = "5"', /key `stop_timeout`: Expected `stop_timeout` to be a number of seconds/],
    ['exec = ["/x"]\nready = { kind = "telepathy" }', /key `ready.kind`/],
    ['exec = ["/x"]\n[limits]\nmemory_max = "lots"', /key `limits.memory_max`: Expected a size such as 256M/],
    ['exec = ["/x"]\ndepends_on = ["svc"]', /cannot depend on itself/],
    ['exec = ["/x"]\nready = { kind = "exited" }', /key `restart`: a service that is ready when it exits .* cannot have restart = "always"/],
    ['exec = ["/x"]\nbogus = 1', /unknown key `bogus`/],
    ['exec = ["/x"', /TOML syntax error at line 1/],
  ];
  for (const [text, pattern] of cases) {
    const result = parseServiceFile('/etc/aios/services/svc.toml', text);
    t.notOk(result.ok, text);
    if (!result.ok) {
      t.equal(result.error.file, '/etc/aios/services/svc.toml');
      t.match(result.error.message, pattern, text);
    }
  }
  const badName = parseServiceFile('/x/Bad Name.toml', 'exec = ["/x"]');
  t.notOk(badName.ok);
});

t.test('directory: unknown dependencies and cycles drop only the services involved', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-spec-'));
  t.teardown(() => process.getBuiltinModule('node:fs').rmSync(dir, { recursive: true }));
  const files: Record<string, string> = {
    a: 'exec = ["/x"]',
    b: 'exec = ["/x"]\ndepends_on = ["a"]',
    c: 'exec = ["/x"]\ndepends_on = ["d"]',
    d: 'exec = ["/x"]\ndepends_on = ["c"]',
    e: 'exec = ["/x"]\ndepends_on = ["c"]',
    f: 'exec = ["/x"]\ndepends_on = ["ghost"]',
  };
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, `${name}.toml`), text);
  mkdirSync(path.join(dir, 'not-a-service.d'));
  const { specs, errors } = loadServiceDirectory(dir);
  t.same(specs.map((s) => s.name).sort(), ['a', 'b']);
  const byFile = Object.fromEntries(errors.map((e) => [path.basename(e.file, '.toml'), e.message]));
  t.match(byFile.c, /dependency cycle/);
  t.match(byFile.d, /dependency cycle/);
  t.match(byFile.e, /service `c` is not valid/);
  t.match(byFile.f, /unknown service `ghost`/);
  t.match(loadServiceDirectory(path.join(dir, 'missing')).errors[0]!.message, /does not exist/);
});
