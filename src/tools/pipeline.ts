// The one way a tool runs on someone's behalf:
//   exists → validate → policy verdict → (approval) → snapshot if risky and undoable →
//   execute with a timeout → audit → result.
//
// Invariants:
// - Every call that names a tool is audited, whatever happens to it (unknown tool, bad
//   arguments, denied, not approved, failed, timed out, cancelled), with its verdict and rule.
// - Nothing runs without a verdict of allow or notify, or an approval bound to this exact call.
// - The caller always gets a result, never an exception: `{ ok, data }` or
//   `{ ok: false, code, message }`, so that a model can read the failure and try again.
import type { AuditLog, Verdict } from '../audit/audit-log.ts';
import { redactSecrets } from '../audit/canonical.ts';
import type { MemoryStore, NewMemory } from '../memory/store.ts';
import type { ApprovalRequest, ApprovalStore } from '../policy/approvals.ts';
import type { Decision, Policy } from '../policy/policy.ts';
import { describeInputError, type Tool, type ToolContext } from './tool.ts';

export type CallResult<T = unknown> = ({ ok: true; data: T } | { ok: false; code: string; message: string }) & {
  /** The verdict and the rule behind it (absent when the call never reached the policy). */
  decision?: Decision;
  /** The audit row written for this call (-1 when it could not be written: see auditError). */
  auditSeq: number;
  auditError?: string;
  approval?: string;
  snapshot?: string;
};

/** What a session knows about its conversation: whether outside text has entered it. */
export interface Session {
  tainted: boolean;
}

export interface PipelineOptions {
  tools: ReadonlyMap<string, Tool>;
  policy: Policy;
  audit: AuditLog;
  approvals: ApprovalStore;
  /** Who asks: `user:console`, `tier:reactive`, `agent:NAME`, `client:mcp`. */
  actor: string;
  context: ToolContext;
  session?: Session;
  /**
   * Asks a person at once (the console's inline y/N) while the request also waits for
   * `aios approve|deny ID`. Resolves to their answer, or to undefined for no answer here; the
   * signal is aborted when the request was settled some other way (or expired).
   */
  ask?(request: ApprovalRequest, settled: AbortSignal): Promise<'approved' | 'denied' | undefined>;
  /** Shown before the call runs when the verdict is notify. */
  onNotify?(tool: Tool, decision: Decision): void;
  /** How many automatic and before-tool snapshots to keep ([snapshots] keep_automatic; default 24). */
  keepSnapshots?: number;
  /** Where a one-line summary of every call is remembered (the audit log keeps the proof). */
  memory?: MemoryStore;
}

/** The pipeline as a process opens it once (policy, audit, approvals, tools, memory) and the call that runs through it. */
export type OpenPipeline = Pick<PipelineOptions, 'policy' | 'audit' | 'approvals' | 'tools' | 'memory'> & { run: typeof runToolCall };

/** Tools whose output carries text other people wrote: after them, the conversation is tainted. */
// (memory.read: remembered chat turns and answers quote what was read before.)
const TAINTING_CAPABILITIES = new Set(['fs.read', 'net.http', 'log.read', 'service.read', 'shell.exec', 'process.spawn', 'process.read', 'net.read', 'memory.read']);

export async function runToolCall(name: string, args: unknown, options: PipelineOptions): Promise<CallResult> {
  const trouble: { auditError?: string } = {};
  const result = await judgeAndRun(name, args, options, trouble);
  remember(name, args, result, options);
  return trouble.auditError ? { ...result, auditError: trouble.auditError } : result;
}

/**
 * "fs.write {"path":"/etc/x"} → ok": what a person or a model later searches for, with the
 * paths the call writes (so that "what changed in /etc" finds it) and, when the tool says what
 * a successful call changed (pkg.install), a memory of that change beside it.
 */
function remember(name: string, args: unknown, result: CallResult, options: PipelineOptions): void {
  if (!options.memory) return;
  let shown: string;
  try {
    shown = JSON.stringify(redactSecrets(args ?? {}));
  } catch {
    shown = '(arguments not shown)';
  }
  if (shown.length > 300) shown = `${shown.slice(0, 297)}...`;
  const outcome = result.ok ? `ok (${result.decision?.verdict ?? 'allow'})` : `${result.code}: ${result.message.slice(0, 200)}`;
  try {
    const tool = options.tools.get(name);
    const parsed = tool?.input.safeParse(args);
    const input: unknown = parsed?.success ? parsed.data : undefined;
    const paths = tool && input !== undefined ? (tool.paths?.(input).write ?? []) : [];
    const changes = tool ? tool.effects.includes('writes') || tool.effects.includes('destructive') : false;
    const call: NewMemory = {
      type: 'tool',
      tier: 'operational',
      content: `${name} ${shown} → ${outcome}${result.snapshot ? `; undo with aios restore ${result.snapshot}` : ''}`,
      source: options.actor,
      metadata: { tool: name, ok: result.ok, code: result.ok ? null : result.code, auditSeq: result.auditSeq, verdict: result.decision?.verdict ?? null, changes, ...(paths.length ? { paths } : {}), ...(result.snapshot ? { snapshot: result.snapshot } : {}) },
    };
    const change = result.ok && tool?.remember ? tool.remember(input, result.data) : null;
    options.memory.addMany(
      change
        ? [call, { type: change.type, tier: 'operational', content: change.content, source: options.actor, metadata: { ...change.metadata, tool: name, auditSeq: result.auditSeq, ...(paths.length ? { paths } : {}) } }]
        : [call],
    );
  } catch {
    // Memory is a convenience; the audit log is the record. A full disk must not fail the call.
  }
}

async function judgeAndRun(name: string, args: unknown, options: PipelineOptions, trouble: { auditError?: string }): Promise<CallResult> {
  const { audit, actor } = options;
  // A full or broken disk must not turn into an exception the caller never sees: the failure
  // comes back with the result (auditSeq -1, auditError says why).
  const record = (verdict: Verdict, rule: string | null, status: 'ok' | 'error' | 'denied' | 'cancelled' | 'timeout', result: unknown, approval: string | null = null): number => {
    try {
      return audit.append({ actor, tool: name, args, verdict, rule, approval, result, status }).seq;
    } catch (error) {
      trouble.auditError = `the audit log could not record this call: ${(error as Error).message}`;
      return -1;
    }
  };

  const tool = options.tools.get(name);
  if (!tool) {
    const message = `There is no tool \`${name}\`. See \`aios tools\` for the list.`;
    return { ok: false, code: 'ENOTOOL', message, auditSeq: record('deny', 'builtin:unknown-tool', 'error', { code: 'ENOTOOL', message }) };
  }
  const parsed = tool.input.safeParse(args);
  if (!parsed.success) {
    const message = describeInputError(tool.name, parsed.error);
    return { ok: false, code: 'EINVAL', message, auditSeq: record('deny', 'builtin:invalid-arguments', 'error', { code: 'EINVAL', message }) };
  }
  const input = parsed.data;
  let decision: Decision;
  try {
    decision = options.policy.checkToolCall(tool, input, { tainted: options.session?.tainted ?? false });
  } catch (error) {
    const message = `${tool.name}: the policy could not judge this call (${(error as Error).message}), so it does not run`;
    return { ok: false, code: 'EPOLICY', message, auditSeq: record('deny', 'builtin:policy-error', 'error', { code: 'EPOLICY', message }) };
  }
  if (decision.verdict === 'deny') {
    const message = `${tool.name} is denied by the policy (${decision.rule}): ${decision.reason}`;
    return { ok: false, code: 'EDENIED', message, decision, auditSeq: record('deny', decision.rule, 'denied', { code: 'EDENIED', message }) };
  }

  let approval: string | null = null;
  if (decision.verdict === 'approval') {
    const outcome = await obtainApproval(tool, input, decision, options);
    approval = outcome.approval;
    if (!outcome.ok) {
      return { ok: false, code: outcome.code, message: outcome.message, decision, approval: outcome.id, auditSeq: record('approval', decision.rule, outcome.code === 'ECANCELLED' ? 'cancelled' : 'denied', { code: outcome.code, message: outcome.message }, approval) };
    }
  } else if (decision.verdict === 'notify') {
    options.onNotify?.(tool, decision);
  }

  let snapshot: string | undefined;
  if (tool.undo === 'snapshot' && tool.risk !== 'low' && tool.paths) {
    try {
      snapshot = await snapshotBefore(tool, input, options);
    } catch (error) {
      // A change that was meant to be undoable does not run without its snapshot.
      const message = `${tool.name} did not run: the snapshot before it failed: ${(error as Error).message}`;
      return { ok: false, code: 'ESNAPSHOT', message, decision, auditSeq: record(decision.verdict, decision.rule, 'error', { code: 'ESNAPSHOT', message }, approval) };
    }
  }

  const controller = new AbortController();
  const cancel = (): void => controller.abort();
  options.context.signal.addEventListener('abort', cancel, { once: true });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      resolve('timeout');
    }, tool.timeoutMs);
  });
  // A tool that ignores its signal must not hold the caller: cancelling answers at once.
  const cancelled = new Promise<never>((_, reject) => {
    const stop = (): void => reject(Object.assign(new Error(`${tool.name} was cancelled`), { code: 'ECANCELLED' }));
    if (options.context.signal.aborted) stop();
    else options.context.signal.addEventListener('abort', stop, { once: true });
  });
  try {
    const outcome = await Promise.race([tool.run(input, { ...options.context, signal: controller.signal }).then((data) => ({ data })), timeout, cancelled]);
    if (outcome === 'timeout') {
      const message = `${tool.name} did not finish within ${tool.timeoutMs / 1000} s and was given up`;
      return { ok: false, code: 'ETIMEDOUT', message, decision, approval: approval ?? undefined, auditSeq: record(decision.verdict, decision.rule, 'timeout', { code: 'ETIMEDOUT', message }, approval) };
    }
    if (options.session && TAINTING_CAPABILITIES.has(tool.capability)) options.session.tainted = true;
    return { ok: true, data: outcome.data, decision, approval: approval ?? undefined, snapshot, auditSeq: record(decision.verdict, decision.rule, 'ok', outcome.data, approval) };
  } catch (error) {
    const raw = (error as { code?: unknown }).code;
    const code = typeof raw === 'string' ? raw : 'EFAILED';
    const message = (error as Error).message ?? String(error);
    const status = options.context.signal.aborted ? 'cancelled' : 'error';
    return { ok: false, code: status === 'cancelled' ? 'ECANCELLED' : code, message, decision, approval: approval ?? undefined, auditSeq: record(decision.verdict, decision.rule, status, { code, message }, approval) };
  } finally {
    clearTimeout(timer);
    options.context.signal.removeEventListener('abort', cancel);
  }
}

/**
 * What the call will change, kept as a before-tool snapshot (restorable with `aios restore`):
 * a path that does not exist yet is recorded as absent, so restoring removes what the call made.
 */
async function snapshotBefore(tool: Tool, input: unknown, options: PipelineOptions): Promise<string | undefined> {
  const paths = tool.paths?.(input).write ?? [];
  if (paths.length === 0) return undefined;
  const { createSnapshot } = await import('../recovery/snapshots.ts');
  const metadata = await createSnapshot({
    stateDir: options.context.stateDir,
    paths,
    trigger: 'before-tool',
    description: `before ${tool.name}`,
    tool: { name: tool.name, args: redactSecrets(input ?? {}), actor: options.actor },
    keepAutomatic: options.keepSnapshots,
  });
  return metadata.id;
}

async function obtainApproval(
  tool: Tool,
  input: unknown,
  decision: Decision,
  options: PipelineOptions,
): Promise<{ ok: true; approval: string } | { ok: false; approval: string | null; id: string; code: string; message: string }> {
  const { approvals } = options;
  const request = approvals.request({ actor: options.actor, tool: tool.name, args: input, rule: decision.rule, reason: decision.reason, timeoutSeconds: options.policy.permissions.approval_timeout_seconds });
  // Asked here (inline) and answerable elsewhere (`aios approve`) at once: the first answer wins.
  const asking = new AbortController();
  void options.ask?.(request, asking.signal).then(
    (answer) => {
      if (!answer || asking.signal.aborted) return;
      try {
        approvals.answer(request.id, answer, `${options.actor} (inline)`);
      } catch {
        // Answered elsewhere first, or expired: that outcome stands.
      }
    },
    () => {},
  );
  let final: ApprovalRequest;
  try {
    final = await approvals.wait(request.id, tool.name, input, options.context.signal);
  } catch (error) {
    const code = (error as { code?: string }).code ?? 'EAPPROVAL';
    return { ok: false, approval: null, id: request.id, code, message: `${tool.name}: ${(error as Error).message}` };
  } finally {
    asking.abort();
  }
  if (final.state === 'used') return { ok: true, approval: `${final.id} by ${final.answeredBy}` };
  const why = final.state === 'expired' ? `nobody answered approval request ${final.id} before it expired (a request without an answer counts as no)` : `approval request ${final.id} was denied by ${final.answeredBy}`;
  return { ok: false, approval: `${final.id} ${final.state}${final.answeredBy ? ` by ${final.answeredBy}` : ''}`, id: final.id, code: final.state === 'expired' ? 'EEXPIRED' : 'EREFUSED', message: `${tool.name} did not run: ${why}` };
}
