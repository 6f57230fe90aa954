// Step 41's rendered copy of the bundle (replaceBundle in scripts/lib/apigee/bundle.ts): replaced
// as a whole, also when several processes replace it at the same moment (two step-41 runs).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { renderBundle, replaceBundle } from '../scripts/lib/apigee/bundle.ts';
import { tempDir } from './helpers/temp.ts';

const files = (dir: string): string[] => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath ?? e.path, e.name).slice(dir.length + 1)).sort();

test('the copy is replaced whole: a stale file of an older copy does not survive, nothing is left beside it', () => {
  const runDir = tempDir('bundle-replace-');
  const dir = join(runDir, 'bundle');
  mkdirSync(join(dir, 'apiproxy', 'policies'), { recursive: true });
  writeFileSync(join(dir, 'apiproxy', 'policies', 'Old-Policy.xml'), '<old/>');
  const bundle = renderBundle('api-mtls-test', 'ts-backend-mtls');
  assert.is(replaceBundle(bundle, dir), join(dir, 'apiproxy'));
  assert.equal(files(dir), [...bundle.files.keys()].sort());
  assert.equal(readdirSync(runDir), ['bundle'], 'no temporary folder left');
});

test('a copy left half-written by a run that no longer exists is removed; one of a live run is not', async () => {
  const runDir = tempDir('bundle-abandoned-');
  const dir = join(runDir, 'bundle');
  // A process that has ended: its pid is free (until reused, which this test does not wait for).
  const ended = (await execa(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'])).stdout;
  const abandoned = join(runDir, `.bundle-new-${ended}-AbC123`);
  mkdirSync(join(abandoned, 'apiproxy'), { recursive: true });
  writeFileSync(join(abandoned, 'apiproxy', 'half.xml'), '<half');
  mkdirSync(`${abandoned}-old`);
  const live = join(runDir, `.bundle-new-${process.ppid}-XyZ789`); // the test runner: alive
  mkdirSync(live);
  replaceBundle(renderBundle('api-mtls-test', 'ts-backend-mtls'), dir);
  assert.equal(readdirSync(runDir).sort(), [live.slice(runDir.length + 1), 'bundle'].sort());
});

test('four processes replacing the same copy 40 times each all succeed, and one whole copy remains', async () => {
  const runDir = tempDir('bundle-race-');
  const dir = join(runDir, 'bundle');
  const script = `import { renderBundle, replaceBundle } from ${JSON.stringify(new URL('../scripts/lib/apigee/bundle.ts', import.meta.url).pathname)};
const bundle = renderBundle('api-mtls-test', 'ts-backend-mtls');
for (let i = 0; i < 40; i++) replaceBundle(bundle, ${JSON.stringify(dir)});`;
  const runs = await Promise.all(Array.from({ length: 4 }, () => execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { reject: false })));
  for (const r of runs) assert.is(r.exitCode, 0, r.stderr);
  assert.ok(existsSync(join(dir, 'apiproxy')));
  assert.equal(files(dir), [...renderBundle('api-mtls-test', 'ts-backend-mtls').files.keys()].sort());
  assert.equal(readdirSync(runDir), ['bundle'], 'no temporary folder left');
});

test.run();
