// One process of concurrency.test.ts: `writer` or `searcher` on FILE until DEADLINE (epoch ms).
// Prints `committed ID` after each row's transaction has committed, `error CODE MESSAGE` for any
// operation that threw (the test wants none), and `done OPERATIONS` at the end.
//
//   node test/memory/concurrency-worker.ts writer|searcher FILE DEADLINE NAME
import { writeSync } from 'node:fs';
import { MemoryStore, type Memory } from '../../src/memory/store.ts';

const [role, file, deadline, name] = process.argv.slice(2) as [string, string, string, string];
const say = (line: string): void => {
  writeSync(1, `${line}\n`);
};

const store = MemoryStore.open(file);
let operations = 0;
const attempt = (work: () => void): void => {
  try {
    work();
    operations++;
  } catch (error) {
    say(`error ${(error as { code?: string }).code ?? '-'} ${(error as Error).message.replace(/\s+/g, ' ')}`);
  }
};

const WORDS = ['zulu', 'nginx', 'restart', 'disk', 'lease', 'kernel'];
for (let i = 0; Date.now() < Number(deadline); i++) {
  if (role === 'writer') {
    attempt(() => {
      const content = (k: number): string => `${name} row ${i}.${k} ${WORDS[(i + k) % WORDS.length]} ${'x'.repeat((i * 7) % 300)}`;
      // Single rows, batches, and updates of a row just written (its words, writer name included, stay).
      const written: Memory[] = i % 10 === 9 ? store.addMany([0, 1, 2, 3, 4].map((k) => ({ type: 'tool' as const, content: content(k), source: name, metadata: { i, k } }))) : [store.add({ type: 'system', content: content(0), source: name, metadata: { i } })];
      for (const m of written) say(`committed ${m.id}`);
      if (i % 7 === 3) store.update(written[0]!.id, `${written[0]!.content} updated`);
    });
  } else {
    attempt(() => {
      const word = WORDS[i % WORDS.length]!;
      const hits = store.search(i % 3 === 0 ? `${word} row` : word, i % 4 === 0 ? { type: 'tool', limit: 20 } : { limit: 20 });
      if (hits[0]) store.get(hits[0].id);
      if (i % 5 === 0) store.search('', { limit: 20 });
      if (i % 50 === 0) store.stats();
      // One searcher also runs retention now and then: its IMMEDIATE transactions meet the writers'.
      // Its row limit is set above what 60 s of writing makes: at the default (100,000), a fast
      // machine's writers pass it and retention rightly removes committed rows, which this test
      // would count as lost.
      if (name === 's1' && i % 20 === 0) store.retain({ operationalMaxRows: 100_000_000 });
    });
  }
}
store.close();
say(`done ${operations}`);
