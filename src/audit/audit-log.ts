// The audit log: every tool execution, allowed or not, as one row of an append-only SQLite
// table whose rows are chained by SHA-256.
//
// Invariants:
// - hash(row) = SHA-256 of the canonical JSON of every field of the row (arguments and the
//   result's digest included) and the previous row's hash; the first row follows 64 zeros.
// - Rows are only ever appended, seq 1, 2, 3... in one IMMEDIATE transaction each (several
//   processes may append); triggers refuse UPDATE and DELETE through SQLite.
// - verify() names the first row that does not check out: changed, missing, moved or forged.
//   Without an outside anchor of the last hash, someone who rewrites the whole chain from a
//   row onwards is not detected: the chain proves order and integrity, not authorship.
// - synchronous=FULL: an appended row survives a power cut once append() returns.
// - Secret-looking argument keys are redacted before anything is hashed or stored.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { requireRuntimePackage } from '../native/packages.ts';
import { canonicalJson, redactSecrets } from './canonical.ts';

export const GENESIS = '0'.repeat(64);

export type Verdict = 'allow' | 'notify' | 'approval' | 'deny';

export interface AuditInput {
  /** Who asked: a tier, an agent, a user or a client, e.g. "user:console", "tier:reactive". */
  actor: string;
  tool: string;
  args: unknown;
  verdict: Verdict;
  /** The policy rule that decided. */
  rule: string | null;
  /** Who approved, when approval was needed (null otherwise). */
  approval: string | null;
  /** What the tool returned; only its digest is stored. */
  result: unknown;
  status: 'ok' | 'error' | 'denied' | 'cancelled' | 'timeout';
}

export interface AuditRow {
  seq: number;
  time: string;
  actor: string;
  tool: string;
  /** Canonical JSON of the (redacted) arguments. */
  args: string;
  verdict: Verdict;
  rule: string | null;
  approval: string | null;
  resultDigest: string;
  status: string;
  prevHash: string;
  hash: string;
}

export type VerifyResult = { ok: true; rows: number; head: string } | { ok: false; rows: number; firstBad: number; reason: string };

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY,
  time TEXT NOT NULL,
  actor TEXT NOT NULL,
  tool TEXT NOT NULL,
  args TEXT NOT NULL,
  verdict TEXT NOT NULL,
  rule TEXT,
  approval TEXT,
  result_digest TEXT NOT NULL,
  status TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_append_only_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_append_only_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
`;

// Rows read back in the shape of AuditRow: the table's snake_case columns renamed in SQL.
const SELECT_ROW =
  'SELECT seq, time, actor, tool, args, verdict, rule, approval, result_digest AS resultDigest, status, prev_hash AS prevHash, hash FROM audit';

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The hash of a row: everything in it but the hash itself, canonically encoded. */
export function rowHash(row: Omit<AuditRow, 'hash'>): string {
  return sha256(
    canonicalJson({
      seq: row.seq,
      time: row.time,
      actor: row.actor,
      tool: row.tool,
      args: row.args,
      verdict: row.verdict,
      rule: row.rule,
      approval: row.approval,
      resultDigest: row.resultDigest,
      status: row.status,
      prevHash: row.prevHash,
    }),
  );
}

export class AuditLog {
  readonly file: string;
  readonly #db: BetterSqlite3.Database;
  readonly #append: (input: AuditInput, time: string) => AuditRow;

  private constructor(file: string, db: BetterSqlite3.Database) {
    this.file = file;
    this.#db = db;
    const last = db.prepare<[], { seq: number; hash: string }>('SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1');
    const insert = db.prepare(
      'INSERT INTO audit (seq, time, actor, tool, args, verdict, rule, approval, result_digest, status, prev_hash, hash) VALUES (@seq, @time, @actor, @tool, @args, @verdict, @rule, @approval, @resultDigest, @status, @prevHash, @hash)',
    );
    this.#append = db
      .transaction((input: AuditInput, time: string): AuditRow => {
        const previous = last.get();
        const partial = {
          seq: (previous?.seq ?? 0) + 1,
          time,
          actor: input.actor,
          tool: input.tool,
          args: canonicalJson(redactSecrets(input.args ?? null)),
          verdict: input.verdict,
          rule: input.rule,
          approval: input.approval,
          resultDigest: sha256(canonicalJson(redactSecrets(input.result ?? null))),
          status: input.status,
          prevHash: previous?.hash ?? GENESIS,
        };
        const row = { ...partial, hash: rowHash(partial) };
        insert.run(row);
        return row;
      })
      .immediate;
  }

  /**
   * Opens (and creates) the log at the given file (STATE/audit.db). `synchronous: 'OFF'` is
   * for filling a log in a benchmark only: a row is then not durable when append returns.
   */
  static open(file: string, options: { synchronous?: 'FULL' | 'OFF' } = {}): AuditLog {
    mkdirSync(path.dirname(file), { recursive: true });
    const Database = requireRuntimePackage<typeof BetterSqlite3>('better-sqlite3');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    db.pragma('busy_timeout = 5000');
    db.exec(SCHEMA);
    return new AuditLog(file, db);
  }

  /**
   * Opens an existing log only to read it (verify, tail, show), so that checking it needs no
   * free space or write access; null when there is no log yet.
   */
  static openForReading(file: string): AuditLog | null {
    if (!existsSync(file)) return null;
    const Database = requireRuntimePackage<typeof BetterSqlite3>('better-sqlite3');
    return new AuditLog(file, new Database(file, { readonly: true, fileMustExist: true }));
  }

  static pathIn(stateDir: string): string {
    return path.join(stateDir, 'audit.db');
  }

  append(input: AuditInput, time: Date = new Date()): AuditRow {
    return this.#append(input, time.toISOString());
  }

  tail(count: number): AuditRow[] {
    return this.#db
      .prepare<[number], AuditRow>(`${SELECT_ROW} ORDER BY seq DESC LIMIT ?`)
      .all(count)
      .reverse();
  }

  show(seq: number): AuditRow | null {
    return this.#db.prepare<[number], AuditRow>(`${SELECT_ROW} WHERE seq = ?`).get(seq) ?? null;
  }

  /** Walks the whole chain in order; stops at the first row that does not check out. */
  verify(): VerifyResult {
    let expected = 1;
    let previous = GENESIS;
    for (const row of this.#db.prepare<[], AuditRow>(`${SELECT_ROW} ORDER BY seq`).iterate()) {
      const rows = expected - 1;
      if (row.seq !== expected) {
        return { ok: false, rows, firstBad: expected, reason: row.seq > expected ? `row ${expected} is missing (the next row is ${row.seq})` : `row ${row.seq} is out of order` };
      }
      if (row.prevHash !== previous) return { ok: false, rows, firstBad: row.seq, reason: `row ${row.seq} does not follow row ${row.seq - 1} (previous hash differs): a row was removed, moved or inserted` };
      if (rowHash(row) !== row.hash) return { ok: false, rows, firstBad: row.seq, reason: `row ${row.seq} was changed after it was written (its hash does not match its contents)` };
      previous = row.hash;
      expected += 1;
    }
    return { ok: true, rows: expected - 1, head: previous };
  }

  close(): void {
    this.#db.close();
  }
}
