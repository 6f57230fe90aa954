// The small pieces of the cloud steps, in-process: the env/local.env line update, the
// create-or-reuse / delete-if-present reading of gcloud's errors (against a stand-in gcloud that
// answers like the real one), the image split and the generated kustomization.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StepError } from '../core/errors.ts';
import { setLocalEnv } from '../scripts/lib/gcp/local-env.ts';
import { createOrReuse, deleteIfPresent } from '../scripts/lib/gcp/idempotent.ts';
import { $, outputOf, setupShell } from '../scripts/lib/shell.ts';
import { splitImage, wrapperKustomization } from '../scripts/lib/gcp/k8s.ts';
import { tempDir } from './helpers/temp.ts';

const work = tempDir('infra-lib-');

test('setLocalEnv replaces only the SERVER_HOST line, keeps the rest, writes 0600', () => {
  const file = join(work, 'local.env');
  writeFileSync(file, '# my settings\nGCP_PROJECT=p1\nexport SERVER_HOST=10.0.0.1\nAPIGEE_TOKEN=abc\n');
  assert.ok(setLocalEnv('SERVER_HOST', '203.0.113.5', file));
  assert.is(readFileSync(file, 'utf8'), '# my settings\nGCP_PROJECT=p1\nSERVER_HOST=203.0.113.5\nAPIGEE_TOKEN=abc\n');
  assert.is(statSync(file).mode & 0o777, 0o600);
  assert.not.ok(setLocalEnv('SERVER_HOST', '203.0.113.5', file), 'an unchanged line is reported as unchanged');
});

test('setLocalEnv appends to a file without the line, and creates a missing file', () => {
  const file = join(work, 'other.env');
  writeFileSync(file, 'A=1');
  setLocalEnv('SERVER_HOST', 'backend.example.com', file);
  assert.is(readFileSync(file, 'utf8'), 'A=1\nSERVER_HOST=backend.example.com\n');
  const fresh = join(work, 'sub', 'new.env');
  mkdirSync(join(work, 'sub'));
  setLocalEnv('SERVER_HOST', '198.51.100.1', fresh);
  assert.is(readFileSync(fresh, 'utf8'), 'SERVER_HOST=198.51.100.1\n');
});

test('setLocalEnv refuses a value with a line break (it would inject a second setting)', () => {
  assert.throws(() => setLocalEnv('SERVER_HOST', '1.2.3.4\nSTORE_PASSWORD=x', join(work, 'x.env')), /bad line/);
});

// A stand-in gcloud: prints $FAKE_ERR to stderr, records that it ran, and exits $FAKE_RC.
const bin = join(work, 'bin');
const ran = join(work, 'gcloud-ran');
mkdirSync(bin);
writeFileSync(join(bin, 'gcloud'), `#!/bin/sh\necho "$*" >> "${ran}"\n[ -n "$FAKE_ERR" ] && echo "$FAKE_ERR" >&2\nexit "\${FAKE_RC:-0}"\n`);
chmodSync(join(bin, 'gcloud'), 0o755);
const answer = (rc: number, err = '') => {
  setupShell({ dryRun: false, env: { PATH: `${bin}:${process.env.PATH}`, FAKE_RC: String(rc), FAKE_ERR: err } });
};
const create = () => $`gcloud compute firewall-rules create r1`;
const remove = () => $`gcloud compute firewall-rules delete r1`;

test('createOrReuse: created, already exists, dry run, and any other error stops the step', async () => {
  answer(0);
  assert.is(await createOrReuse(create(), 'rule r1', false), 'created');
  answer(1, "ERROR: (gcloud.compute.firewall-rules.create) Could not fetch resource:\n - The resource 'projects/p/global/firewalls/r1' already exists");
  assert.is(await createOrReuse(create(), 'rule r1', false), 'exists');
  writeFileSync(ran, '');
  setupShell({ dryRun: true, env: { PATH: `${bin}:${process.env.PATH}`, FAKE_RC: '1', FAKE_ERR: 'must not run' } });
  assert.is(await createOrReuse(create(), 'rule r1', true), 'dry-run');
  assert.is(readFileSync(ran, 'utf8'), '', 'a dry run started gcloud');
  answer(1, " - Required 'compute.firewalls.create' permission for 'projects/p'");
  try {
    await createOrReuse(create(), 'rule r1', false);
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.instance(error, StepError);
    assert.match((error as Error).message, 'permission');
    assert.match((error as Error).message, 'gcloud compute firewall-rules create r1 failed (exit 1)');
  }
});

test('deleteIfPresent: deleted, not found is fine, in use says to wait and re-run', async () => {
  answer(0);
  assert.is(await deleteIfPresent(remove(), 'rule r1', false), 'deleted');
  answer(1, "ERROR: (gcloud.compute.firewall-rules.delete) Could not fetch resource:\n - The resource 'projects/p/global/firewalls/r1' was not found");
  assert.is(await deleteIfPresent(remove(), 'rule r1', false), 'absent');
  answer(1, " - The address resource 'projects/p/regions/r/addresses/a' is already being used by 'forwardingRules/x'");
  try {
    await deleteIfPresent(remove(), 'address a', false);
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.instance(error, StepError);
    assert.match((error as Error).message, 'run the teardown again');
  }
});

/** What the step would print while `body` runs (log lines go to stdout). */
async function printed(body: () => Promise<unknown>): Promise<string> {
  const write = process.stdout.write;
  let text = '';
  process.stdout.write = ((chunk: string) => ((text += chunk), true)) as typeof process.stdout.write;
  try {
    await body();
  } finally {
    process.stdout.write = write;
  }
  return text;
}

test('outputOf: a real run returns the output and later commands show the value; a dry run prints NAME="$(command)" and "$NAME"', async () => {
  const describe = () => $`gcloud compute addresses describe a1 --format='value(address)'`;
  writeFileSync(join(bin, 'gcloud'), '#!/bin/sh\necho 203.0.113.5\n');
  answer(0);
  let ip = '';
  const real = await printed(async () => {
    ip = await outputOf('SERVER_HOST', describe);
    await $`echo ${ip}:8443 ${'$SERVER_HOST'}`;
  });
  assert.is(ip, '203.0.113.5');
  assert.match(real, "$ gcloud compute addresses describe a1 --format='value(address)'\n");
  // A real run registers no shell variable: "$SERVER_HOST" from elsewhere stays literal.
  assert.match(real, "$ echo 203.0.113.5:8443 '$SERVER_HOST'\n");
  setupShell({ dryRun: true });
  const dry = await printed(async () => {
    ip = await outputOf('SERVER_HOST', describe);
    await $`echo ${ip}:8443`;
  });
  assert.is(ip, '$SERVER_HOST');
  assert.match(dry, `$ SERVER_HOST="$(gcloud compute addresses describe a1 --format='value(address)')"\n`);
  assert.match(dry, '$ echo "$SERVER_HOST":8443\n');
});

test('splitImage: the tag after the last slash only (a registry port is not a tag)', () => {
  assert.equal(splitImage('europe-west1-docker.pkg.dev/p/r/app:1.2'), { name: 'europe-west1-docker.pkg.dev/p/r/app', tag: '1.2' });
  assert.equal(splitImage('localhost:5000/app'), { name: 'localhost:5000/app', tag: 'latest' });
});

test('wrapperKustomization points back at the overlay and carries image, IP and ranges', () => {
  const text = wrapperKustomization({
    wrapperDir: '/x/.run/k8s-gcp', overlayDir: '/x/k8s/overlays/gcp', image: 'reg/app:7', ip: '203.0.113.9', sourceRanges: ['10.0.0.0/8', '1.2.3.4/32'],
  });
  assert.match(text, '\n  - ../../k8s/overlays/gcp\n');
  assert.match(text, 'newName: reg/app\n    newTag: "7"');
  assert.match(text, 'value: "203.0.113.9"');
  assert.match(text, '          - 10.0.0.0/8\n          - 1.2.3.4/32\n');
});

test.run();
