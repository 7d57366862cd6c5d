// The set of services: loading and reloading the directory, starting in dependency order,
// stopping in reverse dependency order.
//
// Invariants:
// - A service starts only when every service it depends on is `up`.
// - A service stops only after every service that depends on it is down.
// - An invalid file never stops the other services; on reload, an invalid file leaves the
//   running version of that service untouched.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { Service, type ServiceEnvironment, type ServiceStatus } from './service.ts';
import { loadServiceDirectory, type ServiceSpec, type SpecError } from './service-spec.ts';
import type { Logger } from '../log.ts';

export interface ReloadSummary {
  added: string[];
  removed: string[];
  changed: string[];
  errors: SpecError[];
}

export class SupervisorError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export class Supervisor {
  readonly services = new Map<string, Service>();
  loadErrors: SpecError[] = [];
  readonly #dir: string;
  readonly #env: ServiceEnvironment;
  readonly #log: Logger;
  #shuttingDown = false;
  #reconcileQueued = false;

  constructor(dir: string, env: ServiceEnvironment) {
    this.#dir = dir;
    this.#env = env;
    this.#log = env.log;
    env.reaper.on('reaped', () => {
      for (const service of this.services.values()) service.onProcessGone();
    });
  }

  get directory(): string {
    return this.#dir;
  }

  /** Reads the directory and starts what it holds; the same code serves SIGHUP. */
  async reload(): Promise<ReloadSummary> {
    const { specs, errors } = loadServiceDirectory(this.#dir);
    for (const error of errors) this.#log.error({ file: error.file }, `invalid service file ${error.file}: ${error.message}`);
    this.loadErrors = errors;
    const invalidFiles = new Set(errors.map((e) => e.file));
    const next = new Map(specs.map((s) => [s.name, s]));
    const summary: ReloadSummary = { added: [], removed: [], changed: [], errors };

    for (const [name, service] of this.services) {
      if (next.has(name)) continue;
      if (invalidFiles.has(service.spec.file)) continue; // keep what runs until the file is fixed
      summary.removed.push(name);
    }
    const changed = specs.filter((spec) => {
      const current = this.services.get(spec.name);
      return current !== undefined && !isDeepStrictEqual(current.spec, spec);
    });
    summary.changed = changed.map((s) => s.name);
    summary.added = specs.filter((s) => !this.services.has(s.name)).map((s) => s.name);

    // Dependents of what goes away or changes are stopped first and brought back after.
    const affected = [...summary.removed, ...summary.changed];
    const comeBack = this.#dependentsOf(affected).filter((name) => this.services.get(name)?.wanted && !affected.includes(name));
    // Nothing to stop (always so at boot): no await, so that the first services start now.
    const stopping = [...new Set([...affected, ...comeBack])];
    if (stopping.length > 0) await this.#stopInOrder(stopping);
    for (const name of summary.removed) this.#delete(name);
    for (const spec of changed) {
      this.#delete(spec.name);
      this.#add(spec);
    }
    for (const name of summary.added) this.#add(next.get(name)!);
    for (const name of comeBack) {
      const service = this.services.get(name);
      if (service) service.wanted = true;
    }
    if (summary.added.length + summary.removed.length + summary.changed.length > 0) {
      this.#log.info(summary, 'services reloaded');
    }
    this.reconcile();
    return summary;
  }

  list(): ServiceStatus[] {
    return [...this.services.values()].map((s) => s.status()).sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): Service {
    const service = this.services.get(name);
    if (!service) {
      const known = [...this.services.keys()].sort().join(', ') || 'none';
      throw new SupervisorError('ENOSERVICE', `No service named \`${name}\` (known: ${known}).`);
    }
    return service;
  }

  /** Starts the service and, first, what it depends on (failed ones get a fresh start). */
  async start(name: string): Promise<void> {
    const wanted: Service[] = [];
    const want = (s: Service): void => {
      wanted.push(s);
      for (const dep of s.spec.depends_on) want(this.get(dep));
    };
    want(this.get(name));
    for (const s of wanted) {
      if (s.state === 'failed' || s.state === 'backoff') await s.stop();
      s.wanted = true;
    }
    this.reconcile();
    await this.#settled(this.get(name));
  }

  /** Waits (bounded by its ready_timeout) until a service that is starting is up or has failed. */
  async #settled(service: Service): Promise<void> {
    await Promise.resolve(); // reconcile's own state changes land first
    await service.settled(service.spec.ready_timeout * 1000 + 1000);
  }

  /** Stops the service and, first, everything that depends on it. */
  async stop(name: string): Promise<void> {
    this.get(name);
    await this.#stopInOrder([name, ...this.#dependentsOf([name])]);
  }

  async restart(name: string): Promise<void> {
    const service = this.get(name);
    await this.#stopInOrder([name]);
    service.wanted = true;
    this.reconcile();
    await this.#settled(service);
  }

  /** Shutdown: stop everything in reverse dependency order; nothing starts again afterwards. */
  async stopAll(): Promise<void> {
    this.#shuttingDown = true;
    await this.#stopInOrder([...this.services.keys()]);
  }

  /** Closes every service's log file (shutdown, before the state disk is unmounted). */
  async closeLogs(): Promise<void> {
    await Promise.all([...this.services.values()].map((service) => service.logs.close()));
  }

  /** Resolves once every early service is up, failed or down (or after timeoutMs). */
  async earlyServicesSettled(timeoutMs: number): Promise<void> {
    await Promise.resolve();
    await Promise.all([...this.services.values()].filter((s) => s.spec.early).map((s) => s.settled(timeoutMs)));
  }

  /** The state directory is ready (a machine's state disk is mounted): log files, then the other services. */
  stateReady(): void {
    // The enable/disable choices live on the state disk: only now can they be read.
    const overrides = this.#enabledOverrides();
    for (const service of this.services.values()) {
      service.logs.enableFile();
      const enabled = overrides[service.name];
      if (enabled === undefined || enabled === service.enabled) continue;
      service.enabled = enabled;
      if (service.state === 'down') service.wanted = enabled;
    }
    this.reconcile();
  }

  /** Whether the service starts at boot; persisted beside the logs, applied at the next boot. */
  setEnabled(name: string, enabled: boolean): ServiceStatus {
    const service = this.get(name);
    const file = this.#env.enabledFile;
    if (!file) throw new SupervisorError('ENOTSUP', 'This init has no state directory to remember enable/disable in.');
    if (!this.#env.stateReady()) throw new SupervisorError('EAGAIN', 'The state disk is not mounted yet; try again in a moment.');
    const overrides = this.#enabledOverrides();
    overrides[name] = enabled;
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, `${JSON.stringify(overrides, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
    service.enabled = enabled;
    return service.status();
  }

  #enabledOverrides(): Record<string, boolean> {
    const file = this.#env.enabledFile;
    if (!file || !existsSync(file)) return {};
    try {
      const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
      return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, boolean] => typeof e[1] === 'boolean'));
    } catch (error) {
      this.#log.error({ file }, `ignoring ${file}: ${(error as Error).message}`);
      return {};
    }
  }

  /** Starts every wanted service whose dependencies are up. Called after every state change. */
  reconcile(): void {
    if (this.#shuttingDown) return;
    const stateReady = this.#env.stateReady();
    for (const service of this.services.values()) {
      if (!service.wanted || service.state !== 'down') continue;
      if (!stateReady && !service.spec.early) {
        service.reason = 'waiting for the state disk';
        continue;
      }
      const waiting = service.spec.depends_on.filter((dep) => this.services.get(dep)?.state !== 'up');
      if (waiting.length === 0) {
        service.start();
      } else {
        const described = waiting.map((dep) => `${dep} (${this.services.get(dep)?.state ?? 'missing'})`).join(', ');
        service.reason = `waiting for ${described}`;
      }
    }
  }

  /** Stops the named services in waves: a service goes once nothing still running depends on it. */
  async #stopInOrder(names: string[]): Promise<void> {
    const pending = new Set(names.filter((n) => this.services.has(n)));
    for (const name of pending) this.services.get(name)!.wanted = false;
    while (pending.size > 0) {
      const wave = [...pending].filter((name) =>
        [...pending].every((other) => other === name || !this.services.get(other)!.spec.depends_on.includes(name)),
      );
      // The loader rejects cycles, so a wave is never empty; guard anyway rather than spin.
      const batch = wave.length > 0 ? wave : [...pending];
      await Promise.all(batch.map((name) => this.services.get(name)!.stop()));
      for (const name of batch) pending.delete(name);
    }
  }

  #queueReconcile(): void {
    if (this.#reconcileQueued) return;
    this.#reconcileQueued = true;
    queueMicrotask(() => {
      this.#reconcileQueued = false;
      this.reconcile();
    });
  }

  #dependentsOf(names: string[]): string[] {
    const result = new Set<string>();
    const visit = (name: string): void => {
      for (const service of this.services.values()) {
        if (service.spec.depends_on.includes(name) && !result.has(service.name)) {
          result.add(service.name);
          visit(service.name);
        }
      }
    };
    for (const name of names) visit(name);
    return [...result];
  }

  #add(spec: ServiceSpec): void {
    const service = new Service(spec, this.#env);
    const enabled = this.#env.stateReady() ? this.#enabledOverrides()[spec.name] : undefined;
    if (enabled !== undefined) {
      service.enabled = enabled;
      service.wanted = enabled;
    }
    service.on('state', (next, previous) => {
      try {
        this.#env.onState?.(service, next, previous);
      } catch (error) {
        // An observer's bug must not break the state machine that told it.
        this.#log.error({ err: error, service: service.name }, 'a service state observer failed');
      }
      this.#queueReconcile();
    });
    this.services.set(spec.name, service);
  }

  #delete(name: string): void {
    void this.services.get(name)?.logs.close();
    this.services.delete(name);
  }
}
