// The stand-in's state under attack and accident: a state write replaces state.json (an open
// descriptor keeps reading the complete old document), kill -9 in the middle of a burst of writes
// leaves a valid state whose key files are 0600 and all present, and names with "../" or NUL
// never become paths.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, existsSync, openSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { repoRoot } from '../../core/config.ts';
import { startApigeeLocal } from '../../apigee-local/server.ts';
import { E, assertError, bundle, form, pem, startStandIn, within, type StandIn } from '../helpers/apigee-local.ts';
import { freePort } from '../helpers/ports.ts';
import { tempDir } from '../helpers/temp.ts';

let s: StandIn;
test.before(async () => {
  s = await startStandIn();
});
test.after(async () => {
  await s.close();
});

test('a state write replaces state.json: an open descriptor still reads the complete old document', async () => {
  await s.ok('POST', `${E}/keystores`, JSON.stringify({ name: 'first' }));
  const path = join(s.options.dir, 'state.json');
  const before = readFileSync(path, 'utf8');
  const fd = openSync(path, 'r');
  try {
    await s.ok('POST', `${E}/keystores`, JSON.stringify({ name: 'second' }));
    const throughOldDescriptor = readFileSync(fd, 'utf8');
    assert.is(throughOldDescriptor, before, 'the old file, whole and unchanged');
    assert.equal(Object.keys(JSON.parse(throughOldDescriptor).keystores), ['first']);
    assert.equal(Object.keys(JSON.parse(readFileSync(path, 'utf8')).keystores), ['first', 'second']);
  } finally {
    closeSync(fd);
  }
  assert.is(statSync(path).mode & 0o777, 0o600);
});

test('names with "../", "/" or NUL are refused; encoded ones in paths are just unknown names', async () => {
  for (const name of ['../escape', 'a/b', 'x\u0000y', 'a\\b']) {
    assertError(await s.api('POST', `${E}/keystores`, JSON.stringify({ name })), 400, 'INVALID_ARGUMENT', /invalid keystore name/);
    assertError(await s.api('POST', `${E}/targetservers`, JSON.stringify({ name, host: 'h', port: 1 })), 400, 'INVALID_ARGUMENT');
    assertError(await s.api('POST', `${E}/references`, JSON.stringify({ name, resourceType: 'KeyStore', refers: 'first' })), 400, 'INVALID_ARGUMENT');
    assertError(await s.api('POST', `/apis?name=${encodeURIComponent(name)}&action=import`, bundle('/x', '<URL>https://x</URL>'), 'application/octet-stream'), 400, 'INVALID_ARGUMENT');
    assertError(await s.api('POST', `${E}/keystores/first/aliases?alias=${encodeURIComponent(name)}&format=keycertfile`,
      form({ certFile: pem(s.fx.pki, 'ca-cert.pem') })), 400, 'INVALID_ARGUMENT', /invalid alias name/);
  }
  for (const path of [`${E}/keystores/..%2F..%2Fetc`, `${E}/keystores/%00`, `${E}/references/..%2Fstate.json`, '/apis/..%2F..%2Fbundles']) {
    assertError(await s.api('GET', path), 404, 'NOT_FOUND');
  }
  assert.equal(readdirSync(s.options.dir).filter((f) => !f.startsWith('runtime-')).sort(), ['state.json']);
});

test('"." and "..", and names with non-ASCII spaces (NBSP, BOM, U+2028), are refused; ASCII spaces stay allowed', async () => {
  // "." and ".." match Apigee's patterns but are dot segments: made, they could never be read or deleted.
  // Apigee's [:space:] is ASCII; JavaScript's \s let the others in.
  for (const name of ['.', '..', 'a\u00a0b', '\ufeff', 'x\u2028y', '\u3000']) {
    assertError(await s.api('POST', `${E}/keystores`, JSON.stringify({ name })), 400, 'INVALID_ARGUMENT', /invalid keystore name/);
    assertError(await s.api('POST', `${E}/targetservers`, JSON.stringify({ name, host: 'h', port: 1 })), 400, 'INVALID_ARGUMENT', /invalid target server name/);
    assertError(await s.api('POST', `${E}/references`, JSON.stringify({ name, resourceType: 'KeyStore', refers: 'first' })), 400, 'INVALID_ARGUMENT', /invalid reference name/);
    assertError(await s.api('POST', `${E}/keystores/first/aliases?alias=${encodeURIComponent(name)}&format=keycertfile`,
      form({ certFile: pem(s.fx.pki, 'ca-cert.pem') })), 400, 'INVALID_ARGUMENT', /invalid alias name/);
  }
  for (const name of ['.', '..']) {
    assertError(await s.api('POST', `/apis?name=${name}&action=import`, bundle('/x', '<URL>https://x</URL>'), 'application/octet-stream'), 400, 'INVALID_ARGUMENT', /invalid api proxy name/);
  }
  const spaced = await s.api('POST', `${E}/keystores`, JSON.stringify({ name: 'with space\tand tab' }));
  assert.is(spaced.status, 200, spaced.text);
  assert.is((await s.api('GET', `${E}/keystores/${encodeURIComponent('with space\tand tab')}`)).status, 200);
  assert.is((await s.api('DELETE', `${E}/keystores/${encodeURIComponent('with space\tand tab')}`)).status, 200);
});

test('JSON bodies over 64 KiB are refused before they are parsed; nothing is created', async () => {
  // These resources are a few hundred bytes; up to 16 MB used to be parsed on the event loop the
  // gateway shares (a 6 MB nested array held it ~3 s).
  const nested = (name: string, extra: object = {}) => JSON.stringify({ name, ...extra }).replace(/}$/, `,"x":${'['.repeat(40_000)}${']'.repeat(40_000)}}`);
  assertError(await s.api('POST', `${E}/keystores`, nested('big-ks')), 400, 'INVALID_ARGUMENT', /exceeds the upload limit of 65536 bytes/);
  assertError(await s.api('POST', `${E}/targetservers`, nested('big-ts', { host: 'h', port: 1 })), 400, 'INVALID_ARGUMENT', /exceeds the upload limit of 65536 bytes/);
  assertError(await s.api('POST', `${E}/references`, nested('big-ref', { resourceType: 'KeyStore', refers: 'first' })), 400, 'INVALID_ARGUMENT', /exceeds the upload limit/);
  for (const path of [`${E}/keystores/big-ks`, `${E}/targetservers/big-ts`, `${E}/references/big-ref`]) assertError(await s.api('GET', path), 404, 'NOT_FOUND');
});

/** The stand-in as its own process (as `make all` runs it), on a given state folder. */
async function standInProcess(dir: string): Promise<{ child: ResultPromise; api: string }> {
  const [apiPort, runtimePort] = [await freePort(), await freePort()];
  const child = execa(process.execPath, ['--import', 'tsx', join(repoRoot, 'apigee-local', 'main.ts')], {
    cwd: repoRoot, reject: false, buffer: false,
    // RUN_DIR too: the stand-in publishes its settings there (never into the checkout's .run/).
    env: { CERTS_DIR: s.fx.pki, RUN_DIR: join(dir, 'run'), APIGEE_LOCAL_DIR: dir, APIGEE_LOCAL_API_PORT: String(apiPort), APIGEE_LOCAL_RUNTIME_PORT: String(runtimePort), APIGEE_LOCAL_TOKEN: '' },
  });
  await within(30_000, 'stand-in start', new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => { if (/ready \(pid/.test(String(d))) resolve(); });
    void child.then((r) => reject(new Error(`stand-in exited: ${String(r.stderr ?? '')}`)));
  }));
  return { child, api: `http://127.0.0.1:${apiPort}/v1/organizations/demo-org` };
}

test('kill -9 during a burst of writes: the state stays valid, every key file is 0600 and present', async () => {
  const dir = tempDir('apigee-local-kill-');
  const keyPem = pem(s.fx.pki, 'apigee-client-key.pem');
  const certPem = pem(s.fx.pki, 'apigee-client-cert.pem');
  for (let round = 0; round < 3; round++) {
    const { child, api } = await standInProcess(dir);
    let firstCommit: () => void = () => undefined;
    const committed = new Promise<void>((resolve) => (firstCommit = resolve));
    const send = (method: string, path: string, body: BodyInit, type?: string) =>
      fetch(api + path, { method, body, headers: { authorization: 'Bearer t', ...(type ? { 'content-type': type } : {}) } })
        .then((res) => { if (res.status === 200) firstCommit(); return res; }, () => undefined);
    const burst: Array<Promise<unknown>> = [];
    for (let i = 0; i < 12; i++) {
      const ks = `r${round}-ks${i}`;
      burst.push(send('POST', `${E}/keystores`, JSON.stringify({ name: ks }), 'application/json').then(() => {
        const f = new FormData();
        f.append('certFile', new Blob([certPem]), 'c.pem');
        f.append('keyFile', new Blob([keyPem]), 'k.pem');
        return send('POST', `${E}/keystores/${ks}/aliases?alias=a&format=keycertfile`, f);
      }));
      burst.push(send('POST', `/apis?name=r${round}p${i}&action=import`, new Uint8Array(bundle(`/r${round}p${i}`, '<URL>https://x</URL>')), 'application/octet-stream'));
    }
    // Killed once writes are flowing: after the first one answered, while the rest are in flight.
    await within(20_000, 'a first committed write', committed);
    await new Promise((r) => setTimeout(r, 10 + round * 30));
    child.kill('SIGKILL');
    await child;
    await Promise.allSettled(burst);

    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8'));
    assert.is(state.version, 1);
    assert.is(statSync(join(dir, 'state.json')).mode & 0o777, 0o600);
    for (const ks of Object.values(state.keystores) as Array<{ aliases: Record<string, { keyFile?: string }> }>) {
      for (const alias of Object.values(ks.aliases)) if (alias.keyFile) assert.ok(existsSync(join(dir, alias.keyFile)), `${alias.keyFile} committed before the state that names it`);
    }
    for (const rev of Object.values(state.apis).flatMap((p: any) => Object.values(p.revisions)) as Array<{ bundleFile: string }>) {
      assert.ok(existsSync(join(dir, rev.bundleFile)), rev.bundleFile);
    }
    if (existsSync(join(dir, 'keys'))) {
      for (const key of readdirSync(join(dir, 'keys'))) assert.is(statSync(join(dir, 'keys', key)).mode & 0o777, 0o600, key);
    }
  }
  // The next start reads it and sweeps what the kills left behind.
  const local = await startApigeeLocal({ ...s.options, dir, apiPort: 0, runtimePort: 0 });
  try {
    const names = await (await fetch(`${local.apiUrl}${E}/keystores`, { headers: { authorization: 'Bearer t' } })).json();
    assert.ok(Array.isArray(names));
    assert.equal(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
  } finally {
    await local.close();
  }
});

test.run();
