// The program's entry point. In the single executable, the build runs this once to make a V8
// startup snapshot (every module already evaluated), and the executable starts from that
// snapshot: under emulation this saves most of Node's start-up for PID 1 and the console.
import v8 from 'node:v8';
import { controlRequestSchema } from './interfaces/control-protocol.ts';
import { run } from './main.ts';
import { parseServiceFile } from './supervisor/service-spec.ts';
import { decide } from './models/reactive.ts';
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
  for (const line of ['status', 'services', 'logs x', 'restart x', 'boot', 'poweroff', 'reboot', 'help', 'nonsense', 'what did I install yesterday', 'when did x last crash', 'what changed in /etc this week', 'what happened on monday']) decide(line);
  warmUpRendering();
  warmUpSupervision();
  warmUpSpawn();
  settleTimers();
  v8.startupSnapshot.setDeserializeMainFunction(run);
} else {
  run();
}
