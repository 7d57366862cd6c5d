// User and group lookup from /etc/passwd and /etc/group: Node has no getpwnam.
import { readFileSync } from 'node:fs';

export interface Account {
  uid: number;
  gid: number;
  home: string;
  name: string;
}

function readTable(file: string): string[][] {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => line.split(':'));
  } catch {
    return [];
  }
}

export function lookupUser(user: string | number, passwd = '/etc/passwd'): Account | null {
  for (const [name, , uid, gid, , home] of readTable(passwd)) {
    if (name === undefined || uid === undefined || gid === undefined) continue;
    if (name === user || Number(uid) === user) return { name, uid: Number(uid), gid: Number(gid), home: home ?? '/' };
  }
  return typeof user === 'number' ? { name: String(user), uid: user, gid: user, home: '/' } : null;
}

export function lookupGroup(group: string | number, file = '/etc/group'): number | null {
  if (typeof group === 'number') return group;
  for (const [name, , gid] of readTable(file)) if (name === group && gid !== undefined) return Number(gid);
  return null;
}
