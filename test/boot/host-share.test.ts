// The host share disk (qemu/boot.ts --models / --secrets): what goes on it, with which owner
// and modes, when it is made again, and the errors for inputs that cannot work.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { makeHostShare, memoryForModels } from '../../qemu/host-share.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'aios-host-share-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** A file that starts like a GGUF (magic, version 3). */
function gguf(file: string, bytes = 4096): void {
  const data = Buffer.alloc(bytes, 7);
  data.write('GGUF', 0, 'latin1');
  data.writeUInt32LE(3, 4);
  writeFileSync(file, data);
}

const debugfs = (image: string, request: string): string => execFileSync('debugfs', ['-R', request, image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

t.test('models and secrets go on an ext4 disk labelled aios-host, root-owned, the secrets readable by root only', async (t) => {
  const models = path.join(dir, 'models');
  mkdirSync(models);
  gguf(path.join(models, 'small model.gguf'), 100_000);
  gguf(path.join(models, 'other.GGUF'));
  writeFileSync(path.join(models, 'notes.txt'), 'left out');
  const secrets = path.join(dir, 'secrets.toml');
  writeFileSync(secrets, '[openai]\napi_key = "sk-x"\n', { mode: 0o644 });
  const image = path.join(dir, 'share.img');
  const share = makeHostShare({ models, secrets }, image);
  t.same(share.models.map((m) => m.name), ['other.GGUF', 'small model.gguf']);
  t.equal(share.made, true);
  t.match(execFileSync('dumpe2fs', ['-h', image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }), /Filesystem volume name:\s+aios-host/);
  t.match(debugfs(image, 'ls -l models'), /small model\.gguf/);
  t.notMatch(debugfs(image, 'ls -l models'), /notes\.txt/, 'only GGUF files');
  t.match(debugfs(image, 'stat "models/small model.gguf"'), /Mode:\s+0644[\s\S]*User:\s+0\s+Group:\s+0\s+Project:\s+\d+\s+Size: 100000\b/);
  t.match(debugfs(image, 'stat secrets.toml'), /Mode:\s+0600[\s\S]*User:\s+0\s+Group:\s+0/, 'mode 600 whatever it was on the host');
  t.equal(debugfs(image, 'cat secrets.toml'), '[openai]\napi_key = "sk-x"\n');
  t.equal(memoryForModels(share), 1024 + 256);

  const again = makeHostShare({ models, secrets }, image);
  t.equal(again.made, false, 'unchanged inputs: the disk is reused');
  const modified = statSync(image).mtimeMs;
  utimesSync(secrets, new Date(), new Date(Date.now() + 5_000));
  t.equal(makeHostShare({ models, secrets }, image).made, true, 'a changed file: made again');
  t.not(statSync(image).mtimeMs, modified);
});

t.test('inputs that cannot work are refused, naming the input and what to do', async (t) => {
  const image = path.join(dir, 'bad.img');
  t.throws(() => makeHostShare({ models: path.join(dir, 'missing') }, image), /--models .*missing: no such file or folder/);
  const empty = path.join(dir, 'empty');
  mkdirSync(empty);
  t.throws(() => makeHostShare({ models: empty }, image), /--models .*empty: no \*\.gguf file in that folder/);
  const fake = path.join(empty, 'fake.gguf');
  writeFileSync(fake, 'not a model at all');
  t.throws(() => makeHostShare({ models: empty }, image), /fake\.gguf is not a GGUF model/);
  t.throws(() => makeHostShare({ secrets: empty }, image), /--secrets .*: not a file/);
  t.throws(() => makeHostShare({}, image), /needs --models or --secrets/);
  const quoted = path.join(dir, 'q"uote.gguf');
  gguf(quoted);
  t.throws(() => makeHostShare({ models: quoted }, image), /rename it/);
});
