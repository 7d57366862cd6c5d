// Paths as the kernel will see them: `..`, `//` and symlinks resolved before a path is judged,
// so that /tmp/../etc/aios and a symlink to /etc/aios are both /etc/aios.
//
// A judged path is both its normalised text and (where symlinks lead elsewhere) its real
// target: a rule that matches either one applies. The check happens before the call runs; a
// symlink swapped in between (a race) is the tools' job: fs.* tools refuse to follow symlinks
// out of what was judged (see fs-tools.ts).
import { lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';

/** The normalised absolute path and, when symlinks lead elsewhere, where they lead. */
export function canonicalForms(input: string, cwd = '/'): string[] {
  const normal = path.posix.resolve(cwd, input);
  const real = resolveExisting(normal);
  return real === normal ? [normal] : [normal, real];
}

/**
 * Resolves every symlink on the way, component by component, like the kernel does; unlike
 * realpath it also follows a link whose target does not exist (yet): a dangling link into
 * /etc/aios still leads into /etc/aios.
 */
export function resolveExisting(absolute: string): string {
  let links = 0;
  const walk = (pathname: string): string => {
    let resolved = '/';
    const parts = pathname.split('/').filter((p) => p !== '' && p !== '.');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (part === '..') {
        resolved = path.posix.dirname(resolved);
        continue;
      }
      const next = path.posix.join(resolved, part);
      let target: string | null = null;
      try {
        if (lstatSync(next).isSymbolicLink()) target = readlinkSync(next);
      } catch {
        // Does not exist (yet): the rest of the path is taken as written.
      }
      if (target === null) {
        resolved = next;
        continue;
      }
      if (++links > 40) return path.posix.join(next, ...parts.slice(i + 1)); // a loop (ELOOP)
      resolved = walk(path.posix.resolve(resolved, target));
    }
    return resolved;
  };
  return walk(absolute);
}

/** Whether `inner` is `outer` or lies below it. */
export function within(inner: string, outer: string): boolean {
  if (outer === '/') return true;
  return inner === outer || inner.startsWith(`${outer.replace(/\/+$/, '')}/`);
}

// Device files that are safe to write: the bit bucket and the caller's own streams.
const HARMLESS_DEVICES = /^\/dev\/(null|zero|full|stdout|stderr|stdin|tty|fd\/\d+|shm(\/.*)?|pts\/\d+)$/;

/** A write that reaches a device (a disk, memory, a port) rather than a file. */
export function isDeviceWrite(forms: string[]): boolean {
  if (HARMLESS_DEVICES.test(forms[0]!)) return false;
  return forms.some((f) => within(f, '/dev'));
}

/** /proc and /sys: writing there changes the running kernel. */
export function isKernelInterface(forms: string[]): boolean {
  return forms.some((f) => (within(f, '/proc') && !/^\/proc\/(self|\d+)\/fd\//.test(f)) || within(f, '/sys'));
}
