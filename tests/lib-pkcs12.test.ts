// lib/pkcs12.ts against real stores: openssl pkcs12 -export (every cipher/MAC choice we claim),
// keytool keystores and truststores, wrong passwords, broken files, and the truststores we write
// read back by keytool, openssl and a JSSE server.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { once } from 'node:events';
import { repoRoot } from '../core/config.ts';
import { Pkcs12Error, buildTrustStore, keyEntry, parsePkcs12, type Pkcs12Contents } from '../lib/pkcs12.ts';
import { requireCommand } from './helpers/tools.ts';

const dir = mkdtempSync(join(tmpdir(), 'lib-pkcs12-'));
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
  const started = Date.now();
  // 8 388 607 MAC rounds plus 65 536 for the AES-encrypted certificate safe.
  failsWith('LIMIT', () => parsePkcs12(der, PASS), /asks for 8454143 key-derivation rounds.*over the limit of 1000000 \(PKCS12_LIMITS\.work\)/);
  assert.ok(Date.now() - started < 1000);
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
