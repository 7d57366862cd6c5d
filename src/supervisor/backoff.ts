// When to restart a service that died: the pure rule, kept apart so it can be tested alone.
//
// Guarantees (s6 and systemd): the n-th consecutive restart waits restart_sec * 2^(n-1),
// capped at restart_max_sec, and never less than restart_sec; a run that lasted healthy_sec
// resets the count; after start_limit_burst consecutive restarts the next death is final.

export interface RestartRule {
  restart_sec: number;
  restart_max_sec: number;
  start_limit_burst: number;
  healthy_sec: number;
}

export type RestartDecision = { restart: true; delayMs: number; consecutive: number } | { restart: false; consecutive: number };

export function decideRestart(rule: RestartRule, consecutiveBefore: number, ranForMs: number): RestartDecision {
  const consecutive = (ranForMs >= rule.healthy_sec * 1000 ? 0 : consecutiveBefore) + 1;
  if (consecutive > rule.start_limit_burst) return { restart: false, consecutive };
  const exponential = rule.restart_sec * 2 ** (consecutive - 1);
  const delaySec = Math.max(rule.restart_sec, Math.min(rule.restart_max_sec, exponential));
  return { restart: true, delayMs: Math.round(delaySec * 1000), consecutive };
}
