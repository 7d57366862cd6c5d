// The program's entry point. In the single executable, the build runs this once to make a V8
// startup snapshot (every module already evaluated), and the executable starts from that
// snapshot: under emulation this saves most of Node's start-up for PID 1 and the console.
import v8 from 'node:v8';
import { controlRequestSchema } from './interfaces/control-protocol.ts';
import { run } from './main.ts';
import { parseServiceFile } from './supervisor/service-spec.ts';
import { decide } from './models/reactive.ts';
import { RuleSet } from './models/rules.ts';
import { settleTimers, warmUpRendering, warmUpSpawn, warmUpSupervision } from './warm-up.ts';
import { SYSTEM_TOOLS } from './tools/system-tools.ts';

if (v8.startupSnapshot.isBuildingSnapshot()) {
  // V8 compiles a function, and zod a schema's parser, on first use: milliseconds here, a good
  // part of a second under emulation at boot. Run the boot path's parsers once now, so that
  // what they compile is in the snapshot.
  parseServiceFile('/etc/aios/services/warm-up.toml', 'exec = ["/bin/true"]\nrestart = "always"\n[limits]\nmemory_max = "1M"\n');
  parseServiceFile('/etc/aios/services/warm-up.toml', 'exec = 1');
  controlRequestSchema.safeParse({ cmd: 'ping' });
  controlRequestSchema.safeParse({ cmd: 'logs', name: 'x' });
  for (const tool of SYSTEM_TOOLS) tool.input.safeParse({});
  // The console reads the real rules (/etc/aios/rules) when it starts; these only exercise the
  // same compile and match paths.
  const rules = RuleSet.fromToml(
    '[[rule]]\nname = "a"\npatterns = ["[show] (x|y) {n} [{when}]"]\ntool = "service.logs"\nargs = { name = "{n}", since = "{when.since}" }\nslots = { n = "name", when = "time" }\n' +
      '[[rule]]\nname = "b"\npatterns = ["what did i {e} [{when}]"]\ntool = "memory.search"\nargs = { event = "{e}" }\n[rule.slots]\ne = { install = "install" }\nwhen = "time"\n',
  );
  for (const line of ['x nginx', 'show y sshd yesterday', 'what did I install this week', 'help', 'nonsense', 'tool fs.stat {}']) decide(line, rules);
  warmUpRendering();
  warmUpSupervision();
  warmUpSpawn();
  settleTimers();
  v8.startupSnapshot.setDeserializeMainFunction(run);
} else {
  run();
}
