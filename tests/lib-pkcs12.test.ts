// lib/pkcs12.ts against real stores: openssl pkcs12 -export (every cipher/MAC choice we claim),
// keytool keystores and truststores, wrong passwords, broken files, and the truststores we write
// read back by keytool, openssl and a JSSE server.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createPublicKey, pbkdf2Sync, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { connect } from 'node:tls';
import { once } from 'node:events';
import { repoRoot } from '../core/config.ts';
import { PKCS12_LIMITS, Pkcs12Error, buildTrustStore, keyEntry, parsePkcs12, parsePkcs12Async, type Pkcs12Contents } from '../lib/pkcs12.ts';
import { pkiFixture } from './helpers/fixtures.ts';
import { requireCommand } from './helpers/tools.ts';
import { tempDir } from './helpers/temp.ts';

const dir = tempDir('lib-pkcs12-');
const at = (name: string) => join(dir, name);
const read = (name: string) => readFileSync(at(name));
const pem = (name: string) => readFileSync(at(name), 'utf8');
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const openssl = (...args: string[]) => sh('openssl', args);
const keytool = (...args: string[]) => sh('keytool', args);
const PASS = 'changeit';

/** Whether this openssl can load its legacy provider, needed to write -legacy (RC2-40) stores. */
const opensslHasLegacy = (() => {
  try {
    openssl('list', '-providers', '-provider', 'legacy');
    return true;
  } catch {
    return false;
  }
})();

function failsWith(code: string, fn: () => unknown, message?: RegExp) {
  try {
    fn();
  } catch (e) {
    assert.instance(e, Pkcs12Error);
    assert.is((e as Pkcs12Error).code, code, (e as Error).message);
    if (message) assert.match((e as Error).message, message);
    return;
  }
  assert.unreachable(`expected Pkcs12Error ${code}`);
}

const spkiOf = (k: KeyObject) => (k.type === 'public' ? k : createPublicKey(k)).export({ type: 'spki', format: 'der' });

function makePki() {
  writeFileSync(at('ext.cnf'), '[ca]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n[leaf]\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'root-key.pem', '-out', 'root.pem', '-subj', '/CN=Test Root', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=keyCertSign,cRLSign');
  const issue = (name: string, subject: string, issuer: string, ext: string, keyArgs: string[]) => {
    openssl('req', '-new', ...keyArgs, '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', subject);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}-key.pem`, '-set_serial', String(Date.now() % 1e9 + name.length), '-days', '2', '-out', `${name}.pem`, '-extfile', 'ext.cnf', '-extensions', ext);
  };
  issue('inter', '/CN=Test Intermediate', 'root', 'ca', ['-newkey', 'rsa:2048']);
  issue('leaf', '/CN=leaf.test', 'inter', 'leaf', ['-newkey', 'rsa:2048']);
  issue('ec', '/CN=ec.test', 'root', 'leaf', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']);
  issue('client', '/CN=client.test', 'root', 'leaf', ['-newkey', 'rsa:2048']);
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'stranger-key.pem', '-out', 'stranger.pem', '-subj', '/CN=Stranger', '-days', '2');
  writeFileSync(at('chain-shuffled.pem'), pem('root.pem') + pem('inter.pem'));
}

const exportP12 = (out: string, extra: string[], pass = PASS, cert = 'leaf') =>
  openssl('pkcs12', '-export', '-in', `${cert}.pem`, '-inkey', `${cert}-key.pem`, '-name', 'Server', '-out', out, '-passout', `pass:${pass}`, ...extra);

test.before(() => {
  makePki();
  exportP12('default.p12', ['-certfile', 'chain-shuffled.pem']);
  exportP12('3des.p12', ['-certfile', 'chain-shuffled.pem', '-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1']);
  exportP12('aes-mix.p12', ['-keypbe', 'AES-128-CBC', '-certpbe', 'AES-192-CBC', '-macalg', 'sha512'], PASS, 'ec');
  exportP12('ec-sha384.p12', ['-macalg', 'sha384'], PASS, 'ec');
  exportP12('plain.p12', ['-keypbe', 'NONE', '-certpbe', 'NONE']);
  exportP12('nomac.p12', ['-nomac']);
  exportP12('empty.p12', [], '');
  if (opensslHasLegacy) exportP12('legacy.p12', ['-legacy']);
  // keytool: two key entries (RSA, EC) in one keystore, and a truststore with one CA.
  const gen = (alias: string, alg: string[]) =>
    keytool('-genkeypair', '-alias', alias, ...alg, '-dname', `CN=${alias}`, '-validity', '2', '-storetype', 'PKCS12', '-keystore', 'keytool-keys.p12', '-storepass', PASS);
  gen('Alpha', ['-keyalg', 'RSA', '-keysize', '2048']);
  gen('beta', ['-keyalg', 'EC', '-groupname', 'secp256r1']);
  keytool('-importcert', '-noprompt', '-alias', 'Test-Root', '-file', 'root.pem', '-storetype', 'PKCS12', '-keystore', 'keytool-trust.p12', '-storepass', PASS);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

function assertServerStore(p: Pkcs12Contents, withChain: boolean) {
  assert.is(p.keys.length, 1);
  assert.is(p.keys[0].key.asymmetricKeyType, 'rsa');
  assert.is(p.keys[0].friendlyName, 'Server');
  assert.is(p.certs.length, withChain ? 3 : 1);
  const leaf = p.certs.find((c) => c.x509.subject === 'CN=leaf.test');
  assert.ok(leaf, 'leaf certificate present');
  assert.is(leaf!.localKeyId, p.keys[0].localKeyId);
  assert.ok(p.certs.every((c) => !c.javaTrusted));
  assert.is(leaf!.pem, new X509Certificate(read('leaf.pem')).toString());
  assert.ok(spkiOf(p.keys[0].key).equals(spkiOf(leaf!.x509.publicKey)));
}

test('openssl default export (PBES2 AES-256-CBC, HMAC-SHA256): key, certs, attributes', () => {
  assertServerStore(parsePkcs12(read('default.p12'), PASS), true);
});

test('openssl 3DES + SHA-1 MAC export reads the same', () => {
  assertServerStore(parsePkcs12(read('3des.p12'), PASS), true);
});

test('unencrypted bags (keyBag, data) and -nomac stores read', () => {
  assertServerStore(parsePkcs12(read('plain.p12'), PASS), false);
  assertServerStore(parsePkcs12(read('nomac.p12'), PASS), false);
});

test('EC keys with AES-128/192 and SHA-512 or SHA-384 MACs', () => {
  for (const file of ['aes-mix.p12', 'ec-sha384.p12']) {
    const p = parsePkcs12(read(file), PASS);
    assert.is(p.keys[0].key.asymmetricKeyType, 'ec', file);
    const entry = keyEntry(p, 'server');
    assert.is(entry.cert.x509.subject, 'CN=ec.test');
    assert.ok(spkiOf(entry.key).equals(spkiOf(entry.cert.x509.publicKey)));
  }
});

test('empty password like OpenSSL; a wrong one is BAD_PASSWORD', () => {
  assertServerStore(parsePkcs12(read('empty.p12'), ''), false);
  failsWith('BAD_PASSWORD', () => parsePkcs12(read('empty.p12'), 'x'));
  failsWith('BAD_PASSWORD', () => parsePkcs12(read('default.p12'), ''));
  failsWith('BAD_PASSWORD', () => parsePkcs12(read('default.p12'), 'Changeit'), /MAC verification failed/);
  failsWith('BAD_PASSWORD', () => parsePkcs12(read('3des.p12'), 'wrong'));
  // Without a MAC the wrong key is only noticed when decrypting.
  failsWith('BAD_PASSWORD', () => parsePkcs12(read('nomac.p12'), 'wrong'));
});

// An openssl built without the legacy provider cannot write such a store: counted as skipped there.
(opensslHasLegacy ? test : test.skip)('openssl -legacy (RC2-40) is UNSUPPORTED with a re-export hint', () => {
  failsWith('UNSUPPORTED', () => parsePkcs12(read('legacy.p12'), PASS), /-certpbe PBE-SHA1-3DES/);
});

test('keyEntry orders the chain leaf → intermediate → root whatever the bag order', () => {
  for (const file of ['default.p12', '3des.p12']) {
    const entry = keyEntry(parsePkcs12(read(file), PASS));
    assert.is(entry.alias, 'Server');
    assert.is(entry.chain[0], entry.cert);
    assert.equal(entry.chain.map((c) => c.x509.subject), ['CN=leaf.test', 'CN=Test Intermediate', 'CN=Test Root'], file);
  }
});

test('keyEntry matches the certificate by public key when localKeyId is missing', () => {
  const p = parsePkcs12(read('default.p12'), PASS);
  const stripped: Pkcs12Contents = {
    keys: p.keys.map(({ key, friendlyName }) => ({ key, friendlyName })),
    // Put the CA certs first so "first cert" would be wrong.
    certs: [...p.certs].reverse().map(({ localKeyId: _drop, ...rest }) => rest),
  };
  assert.is(keyEntry(stripped).cert.x509.subject, 'CN=leaf.test');
  failsWith('NO_KEY', () => keyEntry({ keys: p.keys, certs: p.certs.filter((c) => c.x509.subject !== 'CN=leaf.test') }), /no matching certificate/);
});

test('keytool keystore: two keys, aliases case-insensitive, clear errors', () => {
  const p = parsePkcs12(read('keytool-keys.p12'), PASS);
  assert.is(p.keys.length, 2);
  const alpha = keyEntry(p, 'ALPHA');
  assert.is(alpha.alias.toLowerCase(), 'alpha');
  assert.is(alpha.cert.x509.subject, 'CN=Alpha');
  assert.is(alpha.key.asymmetricKeyType, 'rsa');
  const beta = keyEntry(p, 'Beta');
  assert.is(beta.key.asymmetricKeyType, 'ec');
  assert.equal(beta.chain.map((c) => c.x509.subject), ['CN=beta']);
  failsWith('NO_SUCH_ALIAS', () => keyEntry(p), /2 private keys.*alpha, beta/);
  failsWith('NO_SUCH_ALIAS', () => keyEntry(p, 'gamma'), /"gamma".*alpha, beta/);
});

test('keytool truststore: trustedCertEntry bag is javaTrusted, and has no key', () => {
  const p = parsePkcs12(read('keytool-trust.p12'), PASS);
  assert.is(p.keys.length, 0);
  assert.is(p.certs.length, 1);
  assert.ok(p.certs[0].javaTrusted);
  assert.is(p.certs[0].friendlyName?.toLowerCase(), 'test-root');
  failsWith('NO_KEY', () => keyEntry(p), /no private key.*test-root/i);
});

test('garbage, PEM text and truncated files are MALFORMED', () => {
  failsWith('MALFORMED', () => parsePkcs12(Buffer.alloc(0), PASS));
  failsWith('MALFORMED', () => parsePkcs12(Buffer.from('not a keystore at all'), PASS));
  failsWith('MALFORMED', () => parsePkcs12(read('leaf.pem'), PASS));
  failsWith('MALFORMED', () => parsePkcs12(new X509Certificate(read('leaf.pem')).raw, PASS), /PFX/);
  const der = read('default.p12');
  for (let len = 0; len < der.length; len += 97) failsWith('MALFORMED', () => parsePkcs12(der.subarray(0, len), PASS));
  failsWith('MALFORMED', () => parsePkcs12(Buffer.concat([der, Buffer.from([0])]), PASS), /unexpected bytes/);
});

test('an absurd iteration count is refused before any key derivation', () => {
  // MacData ends with iterations INTEGER 65536 (02 03 01 00 00); make it 8 388 607.
  const der = buildTrustStore([{ alias: 'root', pem: pem('root.pem') }], PASS, { iterations: 0x10000 });
  assert.is(der.subarray(-5).toString('hex'), '0203010000');
  der.set([0x7f, 0xff, 0xff], der.length - 3);
  // The yardstick, measured now under whatever load the machine has: half the work budget.
  let started = performance.now();
  pbkdf2Sync(PASS, 'salt', PKCS12_LIMITS.work / 2, 32, 'sha256');
  const halfMs = performance.now() - started;
  started = performance.now();
  // 8 388 607 MAC rounds plus 65 536 for the AES-encrypted certificate safe.
  failsWith('LIMIT', () => parsePkcs12(der, PASS), /asks for 8454143 key-derivation rounds.*over the limit of 1000000 \(PKCS12_LIMITS\.work\)/);
  const ms = performance.now() - started;
  assert.ok(ms < halfMs, `refused after ${ms.toFixed(0)} ms; ${PKCS12_LIMITS.work / 2} PBKDF2 rounds take ${halfMs.toFixed(0)} ms here`);
});

test('flipped bytes anywhere give a Pkcs12Error, never a crash', () => {
  const der = read('plain.p12');
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n;
  for (let i = 0; i < 150; i++) {
    const copy = Buffer.from(der);
    copy[rand(copy.length)] ^= 1 << rand(8);
    try {
      parsePkcs12(copy, PASS);
    } catch (e) {
      assert.instance(e, Pkcs12Error, String(e));
    }
  }
});

// ---- the asynchronous parser and the limits, on what real tools write -----------------------

/** Everything a caller can see in a parse result, comparable with assert.equal. */
const summary = (p: Pkcs12Contents) => ({
  keys: p.keys.map((k) => [k.key.asymmetricKeyType, k.friendlyName, k.localKeyId, spkiOf(k.key).toString('hex')]),
  certs: p.certs.map((c) => [c.pem, c.x509.fingerprint256, c.friendlyName, c.localKeyId, c.javaTrusted]),
});

async function outcome(parse: () => Pkcs12Contents | Promise<Pkcs12Contents>) {
  try {
    return summary(await parse());
  } catch (e) {
    return e instanceof Pkcs12Error ? { code: e.code, message: e.message } : { thrown: String(e) };
  }
}

const READ_FILES: Array<[string, string]> = [
  ['default.p12', PASS], ['3des.p12', PASS], ['aes-mix.p12', PASS], ['ec-sha384.p12', PASS], ['plain.p12', PASS],
  ['nomac.p12', PASS], ['empty.p12', ''], ['keytool-keys.p12', PASS], ['keytool-trust.p12', PASS],
  ['default.p12', 'wrong'], ['nomac.p12', 'wrong'], ['keytool-keys.p12', ''],
];

test('parsePkcs12Async gives what parsePkcs12 gives, for openssl and keytool stores and wrong passwords', async () => {
  for (const [file, password] of READ_FILES) {
    const sync = await outcome(() => parsePkcs12(read(file), password));
    const async = await outcome(() => parsePkcs12Async(read(file), password));
    assert.equal(async, sync, `${file} / ${password ? 'password' : 'empty'}`);
    if (password === PASS) assert.ok('certs' in sync && sync.certs.length > 0, file);
  }
  const garbage = await outcome(() => parsePkcs12Async(Buffer.from('not a keystore'), PASS));
  assert.is((garbage as { code: string }).code, 'MALFORMED');
});

test("the kit's stores (made by the real steps 10-13) read the same both ways", async () => {
  const { pki, password } = await pkiFixture();
  for (const file of ['server-keystore.p12', 'client-apigee-keystore.p12', 'server-truststore.p12']) {
    const der = readFileSync(join(pki, file));
    const sync = summary(parsePkcs12(der, password));
    assert.equal(summary(await parsePkcs12Async(der, password)), sync, file);
    assert.is(sync.keys.length, file.includes('keystore') ? 1 : 0, file);
  }
});

/** Iteration counts `openssl pkcs12 -info` reports: MAC first, then each encrypted safe and key. */
function iterationsOf(file: string, password = PASS): Array<{ what: string; iterations: number }> {
  const r = spawnSync('openssl', ['pkcs12', '-info', '-noout', '-in', file, '-passin', `pass:${password}`], { cwd: dir, encoding: 'utf8' });
  return [...(r.stdout + r.stderr).matchAll(/^(?:MAC|Shrouded Keybag|PKCS7 Encrypted data): .*\bIteration (\d+).*$/gm)].map((m) => ({ what: m[0], iterations: Number(m[1]) }));
}

test('what openssl, keytool and the kit write by default costs at most 1/25 of the work budget', () => {
  writeFileSync(at('kit-trust.p12'), buildTrustStore(trustEntries(), PASS));
  writeFileSync(at('kit-trust-legacy.p12'), buildTrustStore(trustEntries(), PASS, { legacy: true }));
  // Derivation rounds as lib/pkcs12.ts counts them: a 3DES key or safe derives 3 SHA-1 blocks
  // per iteration; PBKDF2 for AES-256 with HMAC-SHA256, and a MAC, 1.
  const rounds = (file: string) =>
    iterationsOf(file).reduce((sum, { what, iterations }) => sum + iterations * (/TripleDES/.test(what) ? 3 : /AES-256-CBC.*hmacWithSHA256|^MAC/.test(what) ? 1 : NaN), 0);
  const measured = Object.fromEntries(['default.p12', '3des.p12', 'keytool-keys.p12', 'keytool-trust.p12', 'kit-trust.p12', 'kit-trust-legacy.p12'].map((f) => [f, rounds(f)]));
  assert.equal(measured, {
    'default.p12': 3 * 2048, // openssl 3: MAC, key and certificates at 2048
    '3des.p12': 2048 + 2 * 3 * 2048, // the kit's PKCS12_LEGACY keystores
    'keytool-keys.p12': 4 * 10_000, // keytool 17: MAC, certificates, and one per key (two here)
    'keytool-trust.p12': 2 * 10_000,
    'kit-trust.p12': 2 * 10_000,
    'kit-trust-legacy.p12': 10_000 + 3 * 10_000,
  });
  for (const [file, n] of Object.entries(measured)) assert.ok(n * 25 <= PKCS12_LIMITS.work, `${file}: ${n}`);
});

test("Java's whole cacerts as a PKCS#12 truststore fits the bag and size limits with a 4x margin", async () => {
  requireCommand('keytool');
  const java = realpathSync(execFileSync('sh', ['-c', 'command -v java']).toString().trim());
  const cacerts = join(dirname(java), '..', 'lib', 'security', 'cacerts');
  keytool('-importkeystore', '-noprompt', '-srckeystore', cacerts, '-srcstorepass', 'changeit', '-destkeystore', 'cacerts.p12', '-deststoretype', 'PKCS12', '-deststorepass', PASS);
  const entries = Number(/contains (\d+) entries/.exec(keytool('-list', '-keystore', 'cacerts.p12', '-storetype', 'PKCS12', '-storepass', PASS))?.[1]);
  assert.ok(entries > 50, `cacerts holds ${entries} entries`);
  const der = read('cacerts.p12');
  const sync = parsePkcs12(der, PASS);
  assert.is(sync.certs.length, entries);
  assert.ok(sync.certs.every((c) => c.javaTrusted));
  assert.equal(summary(await parsePkcs12Async(der, PASS)), summary(sync));
  // Bags: the certificates plus their one safe.
  assert.ok((entries + 1) * 4 <= PKCS12_LIMITS.bags, `${entries + 1} bags`);
  assert.ok(der.length * 4 <= PKCS12_LIMITS.bytes, `${der.length} bytes`);
});

test('a keytool keystore holding a chain of 5 certificates reads both ways, chain in order', async () => {
  for (const [name, issuer] of [['inter2', 'inter'], ['inter3', 'inter2']] as const) {
    openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=Test ${name}`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}-key.pem`, '-set_serial', String(name.length * 31), '-days', '2', '-out', `${name}.pem`, '-extfile', 'ext.cnf', '-extensions', 'ca');
  }
  openssl('req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'leaf5-key.pem', '-out', 'leaf5.csr', '-subj', '/CN=leaf5.test');
  openssl('x509', '-req', '-in', 'leaf5.csr', '-CA', 'inter3.pem', '-CAkey', 'inter3-key.pem', '-set_serial', '55', '-days', '2', '-out', 'leaf5.pem', '-extfile', 'ext.cnf', '-extensions', 'leaf');
  writeFileSync(at('chain5.pem'), ['root', 'inter2', 'inter', 'inter3'].map((n) => pem(`${n}.pem`)).join(''));
  exportP12('chain5-openssl.p12', ['-certfile', 'chain5.pem'], PASS, 'leaf5');
  keytool('-importkeystore', '-noprompt', '-srckeystore', 'chain5-openssl.p12', '-srcstoretype', 'PKCS12', '-srcstorepass', PASS, '-destkeystore', 'chain5-keytool.p12', '-deststoretype', 'PKCS12', '-deststorepass', PASS);
  for (const file of ['chain5-openssl.p12', 'chain5-keytool.p12']) {
    const sync = parsePkcs12(read(file), PASS);
    const async = await parsePkcs12Async(read(file), PASS);
    assert.equal(summary(async), summary(sync), file);
    const chain = keyEntry(async, 'server').chain.map((c) => c.x509.subject);
    assert.equal(chain, ['CN=leaf5.test', 'CN=Test inter3', 'CN=Test inter2', 'CN=Test Intermediate', 'CN=Test Root'], file);
  }
});

// The container image runs the backend compiled by backend/tsconfig.build.json under plain node,
// with no tsx and no node_modules: the worker file must be emitted beside lib/pkcs12.js and found.
test('parsePkcs12Async works in the compiled container build under plain node', async () => {
  const out = join(dir, 'build');
  execFileSync(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', 'backend/tsconfig.build.json', '--outDir', out], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
  assert.ok(existsSync(join(out, 'lib', 'pkcs12-worker.js')), 'the worker is emitted');
  writeFileSync(
    join(out, 'read.js'),
    `import { readFileSync } from 'node:fs';
import { parsePkcs12Async } from './lib/pkcs12.js';
const p = await parsePkcs12Async(readFileSync(process.argv[2]), process.argv[3]).catch((e) => ({ error: e.code }));
console.log(JSON.stringify(p.error ? p : { keys: p.keys.map((k) => k.key.asymmetricKeyType), certs: p.certs.map((c) => c.x509.fingerprint256) }));
`,
  );
  const run = (file: string, password: string) =>
    JSON.parse(execFileSync(process.execPath, [join(out, 'read.js'), at(file), password], { cwd: out, env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] }).toString());
  const expected = parsePkcs12(read('default.p12'), PASS);
  assert.equal(run('default.p12', PASS), { keys: ['rsa'], certs: expected.certs.map((c) => c.x509.fingerprint256) });
  assert.equal(run('default.p12', 'wrong'), { error: 'BAD_PASSWORD' });
});

// ---- writing ------------------------------------------------------------------------------

const trustEntries = () => [
  { alias: 'Test-Root', pem: pem('root.pem') },
  { alias: 'test-intermediate', pem: pem('inter.pem') },
];

for (const legacy of [false, true]) {
  const label = legacy ? 'legacy (3DES, HMAC-SHA1)' : 'default (AES-256, HMAC-SHA256)';
  test(`buildTrustStore ${label}: round trip, keytool and openssl read it`, () => {
    const file = legacy ? 'built-legacy.p12' : 'built.p12';
    writeFileSync(at(file), buildTrustStore(trustEntries(), PASS, { legacy }));
    const p = parsePkcs12(read(file), PASS);
    assert.is(p.keys.length, 0);
    assert.equal(p.certs.map((c) => [c.friendlyName, c.javaTrusted, c.pem]), trustEntries().map((e) => [e.alias, true, new X509Certificate(e.pem).toString()]));
    failsWith('BAD_PASSWORD', () => parsePkcs12(read(file), 'nope'));

    const listing = keytool('-list', '-keystore', file, '-storetype', 'PKCS12', '-storepass', PASS);
    assert.match(listing, /contains 2 entries/);
    assert.match(listing, /^test-root, .*trustedCertEntry/m);
    assert.match(listing, /^test-intermediate, .*trustedCertEntry/m);

    const info = execFileSync('openssl', ['pkcs12', '-info', '-nokeys', '-in', file, '-passin', `pass:${PASS}`], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(info.toString(), /subject=CN = Test Intermediate/);
    assert.match(info.toString(), /friendlyName: Test-Root/);
  });
}

test('buildTrustStore refuses duplicate aliases, empty lists and non-certificates', () => {
  failsWith('MALFORMED', () => buildTrustStore([], PASS), /at least one/);
  failsWith('MALFORMED', () => buildTrustStore([{ alias: 'a', pem: pem('root.pem') }, { alias: 'A', pem: pem('inter.pem') }], PASS), /duplicate alias/);
  failsWith('MALFORMED', () => buildTrustStore([{ alias: 'k', pem: pem('root-key.pem') }], PASS), /no PEM certificate/);
});

// A JSSE server (tests/java/TrustStoreCheck.java) with our truststore must accept a client
// certificate from the trusted CA and refuse one from a stranger.
test('a JSSE server trusting our truststore accepts the CA-signed client only', async () => {
  requireCommand('java');
  exportP12('jsse-server.p12', ['-certfile', 'inter.pem']);
  writeFileSync(at('jsse-trust.p12'), buildTrustStore([{ alias: 'test-root', pem: pem('root.pem') }], PASS));
  const server = spawn('java', [join(repoRoot, 'tests', 'java', 'TrustStoreCheck.java'), at('jsse-server.p12'), at('jsse-trust.p12'), PASS, '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  server.stdout.on('data', (d) => (output += d));
  server.stderr.on('data', (d) => (output += d));
  const exited = once(server, 'exit');
  try {
    const port = await new Promise<number>((resolve, reject) => {
      server.stdout.on('data', () => {
        const m = /LISTENING (\d+)/.exec(output);
        if (m) resolve(Number(m[1]));
      });
      server.on('exit', () => reject(new Error(`java exited before listening: ${output}`)));
    });
    const handshake = (cert: string) =>
      new Promise<string>((resolve) => {
        const socket = connect({ port, host: '127.0.0.1', ca: pem('root.pem'), cert: pem(`${cert}.pem`), key: pem(`${cert}-key.pem`), servername: 'localhost' });
        let data = '';
        socket.on('data', (d) => (data += d));
        socket.on('end', () => resolve(data.trim()));
        socket.on('error', (e) => resolve(`ERROR ${e.message}`));
      });
    assert.is(await handshake('client'), 'HELLO CN=client.test');
    assert.not.match(await handshake('stranger'), /^HELLO/);
    await exited;
    assert.match(output, /ACCEPTED CN=client\.test/);
    assert.match(output, /REJECTED/);
  } finally {
    server.kill();
  }
});

test.run();
