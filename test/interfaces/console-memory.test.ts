// The prompt and memory, on a real terminal (a pty made by script(1)): time questions are
// answered from what was recorded, in readable lines, and every line typed, with a summary of
// its answer, becomes a chat memory (secrets in typed JSON redacted).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { stripAnsi } from '../../qemu/smoke.ts';
import { summarizeAnswer } from '../../src/interfaces/console/console.ts';
import { MemoryStore } from '../../src/memory/store.ts';
import { MAIN, waitFor } from '../helpers/init-harness.ts';

/** The rules the image ships (the console reads AIOS_RULES_DIR instead of /etc/aios/rules). */
const RULES_DIR = path.join(import.meta.dirname, '../../rootfs-overlay/etc/aios/rules');

t.test('an answer in one line', async (t) => {
  t.equal(summarizeAnswer(['2026-03-03 01:30  installed nginx']), '2026-03-03 01:30  installed nginx');
  t.equal(summarizeAnswer(['a\nb', 'c']), 'a (+2 more lines)');
  t.equal(summarizeAnswer(['x'.repeat(300), 'y']), `${'x'.repeat(197)}... (+1 more line)`);
  t.equal(summarizeAnswer([]), '(no answer)');
});

t.test('time questions at the prompt, and the conversation remembered', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-console-memory-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stateDir = path.join(dir, 'state');
  const now = new Date();
  const startOfToday = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  const seeded = MemoryStore.open(MemoryStore.pathIn(stateDir));
  seeded.addMany([
    { type: 'package', content: 'installed nginx, mailcap (asked for nginx)', source: 'user:console', metadata: { action: 'install', packages: ['nginx', 'mailcap'] }, createdAt: new Date(startOfToday.getTime() - 12 * 3_600_000) },
    { type: 'package', content: 'installed htop', source: 'user:console', metadata: { action: 'install', packages: ['htop'] }, createdAt: new Date(startOfToday.getTime() - 60 * 3_600_000) },
    { type: 'service', content: 'nginx crashed: killed by SIGSEGV; restarting in 1000 ms', source: 'init', metadata: { service: 'nginx', event: 'exit', crashed: true }, createdAt: new Date(now.getTime() - 60_000) },
  ]);
  seeded.close();

  const command = `${process.execPath} ${MAIN} console --run ${dir}/run --state ${stateDir}`;
  const pty = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, AIOS_RULES_DIR: RULES_DIR, TERM: 'xterm' } });
  let text = '';
  pty.stdout.on('data', (d: Buffer) => (text += stripAnsi(d.toString())));
  const exited = new Promise<number | null>((resolve) => pty.on('exit', resolve));
  t.teardown(() => pty.kill());
  const seen = (pattern: RegExp, from = 0) =>
    waitFor(() => pattern.test(text.slice(from)), 15_000, String(pattern)).catch((error: Error) => {
      throw new Error(`${error.message}; the console said: ${text.slice(from)}`);
    });
  await seen(/aios> /);

  const typed = async (line: string, answer: RegExp): Promise<string> => {
    const from = text.length;
    pty.stdin.write(`${line}\r`);
    await seen(new RegExp(`${answer.source}[\\s\\S]*aios> `), from);
    return text.slice(from);
  };
  const installed = await typed('what did I install yesterday', /\d{4}-\d\d-\d\d 12:00 {2}installed nginx, mailcap \(asked for nginx\)/);
  t.notMatch(installed, /htop/, 'only yesterday');
  await typed('When did nginx last crash?', /\d{4}-\d\d-\d\d \d\d:\d\d {2}nginx crashed: killed by SIGSEGV/);
  await typed('when did sshd last crash', /nothing recorded/);
  await typed('what happened on the day of the storm', /error: I don't know the time "on the day of the storm"/);
  await typed('tool fs.stat {"path":"/","password":"s3cret"}', /error: fs\.stat: /);
  await typed('help', /what did I install WHEN/);

  pty.stdin.write('\x04');
  t.equal(await exited, 0);

  const store = MemoryStore.open(MemoryStore.pathIn(stateDir));
  t.teardown(() => store.close());
  const chat = store.search('', { type: 'chat', limit: 100 }).reverse();
  t.same(
    chat.map((m) => [m.metadata.role, m.content.replace(/^\d{4}-\d\d-\d\d \d\d:\d\d {2}/, 'TIME  ')]),
    [
      ['user', 'what did I install yesterday'],
      ['assistant', 'TIME  installed nginx, mailcap (asked for nginx)'],
      ['user', 'When did nginx last crash?'],
      ['assistant', 'TIME  nginx crashed: killed by SIGSEGV; restarting in 1000 ms'],
      ['user', 'when did sshd last crash'],
      ['assistant', 'nothing recorded'],
      ['user', 'what happened on the day of the storm'],
      ['assistant', `error: I don't know the time "on the day of the storm"; try today, yesterday, this week, last week, last 3 days, last 12 hours, on monday, since 2026-11-20.`],
      ['user', 'tool fs.stat {"path":"/","password":"[redacted]"}'],
      ['assistant', chat[9]!.content],
      ['user', 'help'],
      ['assistant', chat[11]!.content],
    ],
    'every line typed and a summary of each answer, in order',
  );
  t.match(chat[9]!.content, /^error: fs\.stat: /);
  t.match(chat[11]!.content, /^Commands \(add --json for machine-readable output\): \(\+\d+ more lines\)$/);
  t.equal(new Set(chat.map((m) => m.metadata.session)).size, 1, 'one session');
  t.match(chat[0], { tier: 'operational', source: 'user:console' });
  t.match(chat[1], { source: 'tier:reactive' });
  t.notMatch(JSON.stringify(chat), /s3cret/, 'a secret typed in JSON arguments is not remembered');
  t.equal(store.search('', { type: 'tool', metadata: { tool: 'memory.search' } }).length, 3, 'the questions went through the tool pipeline');
});
