// Where the policy's inputs live on an installed system, and the engine built from them.
import path from 'node:path';
import { AuditLog } from '../audit/audit-log.ts';
import { DEFAULT_CONFIG_FILE, loadPermissions } from './config.ts';
import { builtinProtectedPaths, Policy } from './policy.ts';

export interface Locations {
  configFile: string;
  stateDir: string;
  runDir: string;
}

/** Flags first, then the environment init gives services, then the installed defaults. */
export function locations(flags: { config?: unknown; state?: unknown; run?: unknown } = {}): Locations {
  return {
    configFile: (flags.config as string | undefined) ?? process.env.AIOS_CONFIG ?? DEFAULT_CONFIG_FILE,
    stateDir: (flags.state as string | undefined) ?? process.env.AIOS_STATE_DIR ?? '/var/lib/aios',
    runDir: (flags.run as string | undefined) ?? process.env.AIOS_RUN_DIR ?? '/run/aios',
  };
}

/** The engine for the installed configuration (a missing default file means the defaults). */
export function loadPolicy(where: Locations): Policy {
  const permissions = loadPermissions(where.configFile, { missingOk: where.configFile === DEFAULT_CONFIG_FILE });
  return new Policy(permissions, { protectedPaths: builtinProtectedPaths(where.stateDir, where.configFile) });
}

/**
 * The audit log on the state disk; when it cannot be opened there (a full or read-only disk),
 * one in the run directory, so that calls are still recorded (until power-off) and the
 * person is told why.
 */
export function openAudit(where: Locations): { log: AuditLog; warning: string | null } {
  const file = AuditLog.pathIn(where.stateDir);
  try {
    return { log: AuditLog.open(file), warning: null };
  } catch (error) {
    const fallback = path.join(where.runDir, 'audit-fallback.db');
    return {
      log: AuditLog.open(fallback),
      warning: `the audit log ${file} cannot be written (${(error as Error).message}); tool calls are recorded in ${fallback} instead, which is lost at power-off. Free space on the state disk, or repair it.`,
    };
  }
}
