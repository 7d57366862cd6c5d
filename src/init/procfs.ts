// Reading /proc: processes, mounts and memory, as PID 1 sees them.
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  pgrp: number;
  session: number;
  /** R, S, D, Z (zombie), T, ... */
  state: string;
  comm: string;
  kernelThread: boolean;
}

const PF_KTHREAD = 0x00200000;

/** Parses /proc/PID/stat; comm may contain spaces and parentheses, so split at the last ')'. */
export function parseStat(text: string): ProcessInfo | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const fields = text.slice(close + 2).split(' ');
  const flags = Number(fields[6]);
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: fields[0] ?? '?',
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    session: Number(fields[3]),
    kernelThread: (flags & PF_KTHREAD) !== 0,
  };
}

export function listProcesses(): ProcessInfo[] {
  const result: ProcessInfo[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return result;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const info = parseStat(readFileSync(`/proc/${entry}/stat`, 'utf8'));
      if (info) result.push(info);
    } catch {
      // The process went away between readdir and read.
    }
  }
  return result;
}

/** User processes other than ourselves (kernel threads never count). */
export function otherUserProcesses(): ProcessInfo[] {
  return listProcesses().filter((p) => p.pid !== process.pid && !p.kernelThread);
}

export interface MountEntry {
  source: string;
  target: string;
  fstype: string;
  options: string;
}

// /proc/self/mounts escapes space, tab, newline and backslash as octal.
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function parseMounts(text: string): MountEntry[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [source = '', target = '', fstype = '', options = ''] = line.split(' ');
      return {
        source: unescapeMountField(source),
        target: unescapeMountField(target),
        fstype,
        options,
      };
    });
}

/** /proc/meminfo's fields in bytes (MemTotal, MemAvailable, ...); {} without /proc. */
export function readMeminfo(file = '/proc/meminfo'): Record<string, number> {
  try {
    return Object.fromEntries(
      readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          const [key, value] = line.split(':');
          return [key!, Number.parseInt(value ?? '0', 10) * 1024];
        }),
    );
  } catch {
    return {};
  }
}

export function readMounts(): MountEntry[] {
  try {
    return parseMounts(readFileSync('/proc/self/mounts', 'utf8'));
  } catch {
    return [];
  }
}
