// Which kind of init we are: PID 1 of a machine, PID 1 of a PID namespace (a container), or
// an ordinary process acting as a child subreaper (development, tests).
import { statSync } from 'node:fs';

export type InitMode = 'machine' | 'container' | 'subreaper';

// The kernel gives the initial PID namespace this fixed inode (PROC_PID_INIT_INO).
const INITIAL_PID_NAMESPACE_INODE = 0xeffffffc;

export function detectMode(env: NodeJS.ProcessEnv = process.env): InitMode {
  const forced = env.AIOS_INIT_MODE;
  if (forced !== undefined && forced !== '') {
    if (forced === 'machine' || forced === 'container' || forced === 'subreaper') return forced;
    throw new Error(`Expected AIOS_INIT_MODE to be machine, container or subreaper, got \`${forced}\`.`);
  }
  if (process.pid !== 1) return 'subreaper';
  if (env.container) return 'container';
  try {
    return statSync('/proc/self/ns/pid').ino === INITIAL_PID_NAMESPACE_INODE ? 'machine' : 'container';
  } catch {
    // No /proc yet: a bare initramfs on a real machine, before the early mounts.
    return 'machine';
  }
}
