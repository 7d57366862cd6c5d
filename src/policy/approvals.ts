// Pending approvals: a tool call the policy will not run without a person's yes.
//
// Invariants:
// - An approval is bound to the exact call it was asked for: its id answers only the call
//   whose SHA-256 (tool + canonical arguments) it holds, and only once.
// - No answer before the expiry is a no: an expired request is never approved.
// - The store is a small SQLite file in the run directory, so that the process that asked
//   (the console, the runtime) and the process that answers (`aios approve`, the web console)
//   need not be the same.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { canonicalJson, redactSecrets } from '../audit/canonical.ts';
import { sha256 } from '../audit/audit-log.ts';
import { requireRuntimePackage } from '../native/packages.ts';

export type ApprovalState = 'pending' | 'approved' | 'denied' | 'expired' | 'used';

export interface ApprovalRequest {
  id: string;
  createdAt: string;
  expiresAt: string;
  actor: string;
  tool: string;
  /** Canonical JSON of the (redacted) arguments, as shown to the person asked. */
  args: string;
  callHash: string;
  rule: string;
  reason: string;
  state: ApprovalState;
  answeredBy: string | null;
  answeredAt: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS approvals (
  id TEXT PRIMARY KEY,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL,
  actor TEXT NOT NULL,
  tool TEXT NOT NULL,
  args TEXT NOT NULL,
  call_hash TEXT NOT NULL,
  rule TEXT NOT NULL,
  reason TEXT NOT NULL,
  state TEXT NOT NULL,
  answered_by TEXT,
  answered_at TEXT
);`;

const SELECT =
  'SELECT id, created_at AS createdAt, expires_at AS expiresAt, actor, tool, args, call_hash AS callHash, rule, reason, state, answered_by AS answeredBy, answered_at AS answeredAt FROM approvals';

/** The hash an approval is bound to. Secrets are redacted first, as in the audit log. */
export function callHash(tool: string, args: unknown): string {
  return sha256(canonicalJson({ tool, args: redactSecrets(args ?? null) }));
}

export class ApprovalError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export class ApprovalStore {
  readonly file: string;
  readonly #db: BetterSqlite3.Database;

  private constructor(file: string, db: BetterSqlite3.Database) {
    this.file = file;
    this.#db = db;
  }

  static open(runDir: string): ApprovalStore {
    mkdirSync(runDir, { recursive: true });
    const file = path.join(runDir, 'approvals.db');
    const Database = requireRuntimePackage<typeof BetterSqlite3>('better-sqlite3');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    db.exec(SCHEMA);
    return new ApprovalStore(file, db);
  }

  request(input: { actor: string; tool: string; args: unknown; rule: string; reason: string; timeoutSeconds: number }, now = new Date()): ApprovalRequest {
    const row: ApprovalRequest = {
      id: randomBytes(4).toString('hex'),
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + input.timeoutSeconds * 1000).toISOString(),
      actor: input.actor,
      tool: input.tool,
      args: canonicalJson(redactSecrets(input.args ?? null)),
      callHash: callHash(input.tool, input.args),
      rule: input.rule,
      reason: input.reason,
      state: 'pending',
      answeredBy: null,
      answeredAt: null,
    };
    this.#db
      .prepare('INSERT INTO approvals (id, created_at, expires_at, actor, tool, args, call_hash, rule, reason, state) VALUES (@id, @createdAt, @expiresAt, @actor, @tool, @args, @callHash, @rule, @reason, @state)')
      .run(row);
    return row;
  }

  get(id: string, now = new Date()): ApprovalRequest | null {
    this.#expire(now);
    return this.#db.prepare<[string], ApprovalRequest>(`${SELECT} WHERE id = ?`).get(id) ?? null;
  }

  /** Requests still waiting for an answer (and, with `all`, the answered ones too), newest last. */
  list(options: { all?: boolean } = {}, now = new Date()): ApprovalRequest[] {
    this.#expire(now);
    return this.#db.prepare<[], ApprovalRequest>(`${SELECT}${options.all ? '' : " WHERE state = 'pending'"} ORDER BY created_at`).all();
  }

  /** A person's answer. Only a pending, unexpired request can be answered, once. */
  answer(id: string, decision: 'approved' | 'denied', by: string, now = new Date()): ApprovalRequest {
    const result = this.#db.transaction(() => {
      this.#expire(now);
      const row = this.#db.prepare<[string], ApprovalRequest>(`${SELECT} WHERE id = ?`).get(id);
      if (!row) throw new ApprovalError('ENOAPPROVAL', `No approval request \`${id}\` (see \`aios approvals\`).`);
      if (row.state !== 'pending') throw new ApprovalError('EANSWERED', `Approval request ${id} is already ${row.state}${row.answeredBy ? ` (by ${row.answeredBy})` : ''}.`);
      this.#db.prepare("UPDATE approvals SET state = ?, answered_by = ?, answered_at = ? WHERE id = ? AND state = 'pending'").run(decision, by, now.toISOString(), id);
      return { ...row, state: decision, answeredBy: by, answeredAt: now.toISOString() };
    }).immediate();
    return result;
  }

  /**
   * Waits for the answer to a request made for this exact call. Resolves to the final row:
   * `used` (approved, and now spent by this wait), `denied` or `expired`. A request spent
   * already (by an earlier or a concurrent wait) rejects with EUSED. Checks every `pollMs`.
   */
  async wait(id: string, tool: string, args: unknown, signal: AbortSignal, pollMs = 100): Promise<ApprovalRequest> {
    const expected = callHash(tool, args);
    for (;;) {
      const row = this.get(id);
      if (!row) throw new ApprovalError('ENOAPPROVAL', `approval request ${id} disappeared`);
      if (row.callHash !== expected) throw new ApprovalError('EMISMATCH', `approval request ${id} was made for another call`);
      // A yes lets one call run once: a spent request is not a yes for whoever waits next.
      if (row.state === 'used') throw new ApprovalError('EUSED', `approval request ${id} was already used (an approval lets one call run, once)`);
      if (row.state === 'approved') {
        const spent = this.#db.prepare("UPDATE approvals SET state = 'used' WHERE id = ? AND state = 'approved'").run(id);
        if (spent.changes === 1) return { ...row, state: 'used' };
      }
      if (row.state !== 'pending' && row.state !== 'approved') return row;
      if (signal.aborted) {
        this.#db.prepare("UPDATE approvals SET state = 'denied', answered_by = 'cancelled', answered_at = ? WHERE id = ? AND state = 'pending'").run(new Date().toISOString(), id);
        throw new ApprovalError('ECANCELLED', 'the call was cancelled while it waited for approval');
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  #expire(now: Date): void {
    this.#db.prepare("UPDATE approvals SET state = 'expired', answered_at = expires_at WHERE state = 'pending' AND expires_at <= ?").run(now.toISOString());
  }

  close(): void {
    this.#db.close();
  }
}
