// PKCS#12 work bombs against lib/pkcs12.ts: valid files (made by openssl, then re-wrapped with
// lib/der.ts) that would cost seconds to minutes of key derivation, plus too many bags, too deep
// nesting and oversized input. Each must be refused with Pkcs12Error LIMIT naming the limit and
// the value found, by the synchronous and the asynchronous parser, in less time than half the
// derivations the limit allows take on this machine in this run (so before any derivation ran:
// the machine may be shared and loaded); the same construction just under each limit must parse.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createCipheriv, createPrivateKey, pbkdf2Sync, randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  encodeExplicit,
  encodeInteger,
  encodeNull,
  encodeOctets,
  encodeOid,
  encodeSequence,
  explicit,
  parseDer,
  readOctets,
  readOid,
  sequence,
  tlv,
} from '../../lib/der.ts';
import { PKCS12_LIMITS, Pkcs12Error, keyEntry, parsePkcs12, parsePkcs12Async, type Pkcs12LimitName } from '../../lib/pkcs12.ts';
import { tempDir } from '../helpers/temp.ts';

const dir = tempDir('hostile-pkcs12-');
const PASS = 'changeit';
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const read = (name: string) => readFileSync(join(dir, name));

const OIDS = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  safeContentsBag: '1.2.840.113549.1.12.10.1.6',
  certBag: '1.2.840.113549.1.12.10.1.3',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSha256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
};

// ---- building files -----------------------------------------------------------------------

/** Every SafeBag (DER) in the plain data safes of an openssl `-nomac` file, in order. */
function bagsOf(file: string): Buffer[] {
  const [, authSafeInfo] = sequence(parseDer(read(file)), 'PFX', 2);
  const authSafe = readOctets(explicit(sequence(authSafeInfo, 'authSafe', 2)[1], 0, 'content'));
  return sequence(parseDer(authSafe), 'AuthenticatedSafe').flatMap((info) => {
    const [type, content] = sequence(info, 'ContentInfo', 2);
    if (readOid(type) !== OIDS.data) throw new Error(`${file}: expected only plain data safes`);
    return sequence(parseDer(readOctets(explicit(content, 0, 'data'))), 'SafeContents').map((bag) => bag.raw);
  });
}

const dataSafe = (bags: Buffer[]) => encodeSequence(encodeOid(OIDS.data), encodeExplicit(0, encodeOctets(encodeSequence(...bags))));

/** A PFX without a MAC (what `openssl pkcs12 -export -nomac` writes) around these ContentInfos. */
const pfx = (...safes: Buffer[]) => encodeSequence(encodeInteger(3), encodeSequence(encodeOid(OIDS.data), encodeExplicit(0, encodeOctets(encodeSequence(...safes)))));

/** A bag holding SafeContents: the nesting the format allows. */
const nestedBag = (bags: Buffer[]) => encodeSequence(encodeOid(OIDS.safeContentsBag), encodeExplicit(0, encodeSequence(...bags)));

/** An encryptedData safe as openssl writes it (PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC), at `iterations`. */
function encryptedSafe(bags: Buffer[], iterations: number): Buffer {
  const salt = randomBytes(16);
  const iv = randomBytes(16);
  const key = pbkdf2Sync(PASS, salt, iterations, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const data = Buffer.concat([cipher.update(encodeSequence(...bags)), cipher.final()]);
  const kdf = encodeSequence(encodeOid(OIDS.pbkdf2), encodeSequence(encodeOctets(salt), encodeInteger(iterations), encodeSequence(encodeOid(OIDS.hmacWithSha256), encodeNull())));
  const alg = encodeSequence(encodeOid(OIDS.pbes2), encodeSequence(kdf, encodeSequence(encodeOid(OIDS.aes256Cbc), encodeOctets(iv))));
  const encryptedData = encodeSequence(encodeInteger(0), encodeSequence(encodeOid(OIDS.data), alg, tlv(0x80, data)));
  return encodeSequence(encodeOid(OIDS.encryptedData), encodeExplicit(0, encryptedData));
}

/**
 * openssl's -nomac export of the test key: its key bag encrypted with `keypbe` at `iter`, its cert
 * bag plain. -nomac must follow -iter, which also sets the MAC's count.
 */
const exportKey = (out: string, keypbe: string, iter: number) =>
  openssl('pkcs12', '-export', '-in', 'cert.pem', '-inkey', 'key.pem', '-name', 'bomb', '-out', out, '-passout', `pass:${PASS}`, '-keypbe', keypbe, '-certpbe', 'NONE', '-iter', String(iter), '-nomac');

let certBag: Buffer;
let keyBag1M: Buffer; // pkcs8ShroudedKeyBag, pbeWithSHAAnd3-KeyTripleDES-CBC at 1 000 000 iterations

test.before(() => {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-subj', '/CN=bomb.test', '-days', '2');
  exportKey('3des-1m.p12', 'PBE-SHA1-3DES', 1_000_000);
  [certBag, keyBag1M] = bagsOf('3des-1m.p12') as [Buffer, Buffer];
  // MAC at 2 000 000 iterations over plain bags: what `-iter` alone does to an unencrypted store.
  openssl('pkcs12', '-export', '-in', 'cert.pem', '-inkey', 'key.pem', '-out', 'mac-2m.p12', '-passout', `pass:${PASS}`, '-keypbe', 'NONE', '-certpbe', 'NONE', '-iter', '2000000');
  // The budget's edge: PBKDF2-HMAC-SHA256 derives AES-256's key in one block per iteration.
  exportKey('aes-at-limit.p12', 'AES-256-CBC', PKCS12_LIMITS.work);
  exportKey('aes-over.p12', 'AES-256-CBC', PKCS12_LIMITS.work + 1);
});

// ---- asserting refusals -------------------------------------------------------------------

interface Refusal { name: Pkcs12LimitName; found?: number; message: RegExp }

function assertRefusal(e: unknown, want: Refusal, label: string) {
  assert.instance(e, Pkcs12Error, `${label}: ${String(e)}`);
  const err = e as Pkcs12Error;
  assert.is(err.code, 'LIMIT', `${label}: ${err.message}`);
  assert.is(err.limit?.name, want.name, label);
  assert.is(err.limit?.max, PKCS12_LIMITS[want.name], label);
  if (want.found !== undefined) assert.is(err.limit?.found, want.found, label);
  assert.match(err.message, new RegExp(`over the limit of ${PKCS12_LIMITS[want.name]} \\(PKCS12_LIMITS\\.${want.name}\\)`), label);
  assert.match(err.message, want.message, label);
}

/** Refused by both parsers, each faster than the cheapest derivation over the limit could be. */
async function refused(der: Buffer, want: Refusal, password = PASS) {
  // The yardstick, measured now under whatever load the machine has: half the rounds the work
  // budget allows. Every bomb here would derive more than the whole budget before a late refusal.
  let started = performance.now();
  pbkdf2Sync(PASS, 'salt', PKCS12_LIMITS.work / 2, 32, 'sha256');
  const halfMs = performance.now() - started;
  started = performance.now();
  try {
    parsePkcs12(der, password);
    assert.unreachable('parsePkcs12 accepted it');
  } catch (e) {
    assertRefusal(e, want, 'sync');
  }
  const syncMs = performance.now() - started;
  started = performance.now();
  try {
    await parsePkcs12Async(der, password);
    assert.unreachable('parsePkcs12Async accepted it');
  } catch (e) {
    assertRefusal(e, want, 'async');
  }
  const asyncMs = performance.now() - started;
  const yardstick = `${PKCS12_LIMITS.work / 2} PBKDF2 rounds take ${halfMs.toFixed(0)} ms here`;
  assert.ok(syncMs < halfMs, `sync refusal took ${syncMs.toFixed(0)} ms; ${yardstick}`);
  assert.ok(asyncMs < halfMs, `async refusal took ${asyncMs.toFixed(0)} ms; ${yardstick}`);
}

// ---- work ---------------------------------------------------------------------------------

test('the worker is up (its start-up is not part of the timings below)', async () => {
  const contents = await parsePkcs12Async(pfx(dataSafe([certBag])), PASS);
  assert.is(contents.certs[0]?.x509.subject, 'CN=bomb.test');
});

test('one 3DES key bag at 1 000 000 iterations (openssl -iter 1000000): 3 000 000 rounds', async () => {
  await refused(read('3des-1m.p12'), { name: 'work', found: 3_000_000, message: /asks for 3000000 key-derivation rounds/ });
});

test('several 3DES key bags at 1 000 000 iterations in one valid file: refused, not 20 s of derivation', async () => {
  const der = pfx(dataSafe([certBag, keyBag1M, keyBag1M, keyBag1M, keyBag1M, keyBag1M, keyBag1M]));
  assert.ok(der.length < 2500, `${der.length} bytes`);
  await refused(der, { name: 'work', found: 18_000_000, message: /asks for 18000000 key-derivation rounds/ });
});

test('a MAC at 2 000 000 iterations (openssl -iter 2000000, unencrypted bags)', async () => {
  await refused(read('mac-2m.p12'), { name: 'work', found: 2_000_000, message: /asks for 2000000 key-derivation rounds/ });
  // An empty password is tried two ways, so it counts twice.
  await refused(read('mac-2m.p12'), { name: 'work', found: 4_000_000, message: /asks for 4000000/ }, '');
});

test('key bags hidden inside an encrypted safe are counted once it is decrypted, before their keys are derived', async () => {
  // The outer safe costs 1 round; the four 3DES bags inside only show after decrypting it.
  const der = pfx(encryptedSafe([certBag, keyBag1M, keyBag1M, keyBag1M, keyBag1M], 1));
  await refused(der, { name: 'work', found: 12_000_001, message: /asks for 12000001 key-derivation rounds/ });
});

test('exactly at the work budget parses (sync and async); one iteration more is refused', async () => {
  const atLimit = read('aes-at-limit.p12');
  for (const contents of [parsePkcs12(atLimit, PASS), await parsePkcs12Async(atLimit, PASS)]) {
    const entry = keyEntry(contents);
    assert.is(entry.alias, 'bomb');
    assert.is(entry.cert.x509.subject, 'CN=bomb.test');
    assert.ok(entry.cert.x509.checkPrivateKey(entry.key));
  }
  const over = PKCS12_LIMITS.work + 1;
  await refused(read('aes-over.p12'), { name: 'work', found: over, message: new RegExp(`asks for ${over} key-derivation rounds`) });
});

// ---- bags, nesting, size ------------------------------------------------------------------

test('too many bags: refused at the first one over the limit; exactly at the limit parses', async () => {
  // One safe plus N bags: the safe counts too.
  const atLimit = pfx(dataSafe(Array(PKCS12_LIMITS.bags - 1).fill(certBag)));
  assert.is(parsePkcs12(atLimit, PASS).certs.length, PKCS12_LIMITS.bags - 1);
  assert.is((await parsePkcs12Async(atLimit, PASS)).certs.length, PKCS12_LIMITS.bags - 1);
  const over = pfx(dataSafe(Array(PKCS12_LIMITS.bags).fill(certBag)));
  await refused(over, { name: 'bags', found: PKCS12_LIMITS.bags + 1, message: new RegExp(`holds more than ${PKCS12_LIMITS.bags} bags and safes`) });
  // Many empty safes are bags too.
  await refused(pfx(...Array(PKCS12_LIMITS.bags + 5).fill(dataSafe([]))), { name: 'bags', found: PKCS12_LIMITS.bags + 1, message: /bags and safes/ });
});

test('safeContents nesting: at the limit parses, one level deeper is refused', async () => {
  let bags = [certBag];
  for (let depth = 1; depth <= PKCS12_LIMITS.nesting; depth++) bags = [nestedBag(bags)];
  assert.is(parsePkcs12(pfx(dataSafe(bags)), PASS).certs[0]?.x509.subject, 'CN=bomb.test');
  await refused(pfx(dataSafe([nestedBag(bags)])), { name: 'nesting', found: PKCS12_LIMITS.nesting + 1, message: /nested 5 levels deep/ });
});

test('a file over the size limit is refused before it is parsed', async () => {
  const bag = encodeSequence(encodeOid('1.2.840.113549.1.12.10.1.5'), encodeExplicit(0, encodeOctets(Buffer.alloc(PKCS12_LIMITS.bytes))));
  const der = pfx(dataSafe([certBag, bag]));
  await refused(der, { name: 'bytes', found: der.length, message: new RegExp(`the file has ${der.length} bytes`) });
});

// ---- keyEntry ------------------------------------------------------------------------------

test('keyEntry: many certificates sharing the issuer name cost at most PKCS12_LIMITS.signatureChecks checks', () => {
  // A leaf issued by "CN=Same" and certificates named "CN=Same" whose keys did not sign it:
  // without the limit each step of the chain search would check every one of them.
  const noIds = join(dir, 'no-ids.cnf');
  writeFileSync(noIds, 'subjectKeyIdentifier=none\nauthorityKeyIdentifier=none\nbasicConstraints=critical,CA:TRUE\n');
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'same-key.pem', '-out', 'same.csr', '-subj', '/CN=Same');
  openssl('x509', '-req', '-in', 'same.csr', '-signkey', 'same-key.pem', '-days', '2', '-out', 'same.pem', '-extfile', noIds);
  // Copies of one look-alike are as many candidates: a file may repeat a bag.
  const sames = Array.from({ length: PKCS12_LIMITS.signatureChecks + 1 }, () => new X509Certificate(read('same.pem')));
  // The leaf: signed by a key none of the "CN=Same" certificates holds.
  openssl('req', '-new', '-key', 'key.pem', '-out', 'leaf.csr', '-subj', '/CN=leaf.test');
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'other-key.pem', '-out', 'other.csr', '-subj', '/CN=Same');
  openssl('x509', '-req', '-in', 'other.csr', '-signkey', 'other-key.pem', '-days', '2', '-out', 'other.pem', '-extfile', noIds);
  openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'other.pem', '-CAkey', 'other-key.pem', '-set_serial', '7', '-days', '2', '-out', 'leaf.pem', '-extfile', noIds);
  const leafCert = { pem: read('leaf.pem').toString(), x509: new X509Certificate(read('leaf.pem')), javaTrusted: false };
  const key = { key: createPrivateKey(read('key.pem')) };
  const certs = [leafCert, ...sames.map((x509) => ({ pem: x509.toString(), x509, javaTrusted: false }))];
  // Counted, not timed: the signature checks keyEntry actually made.
  const verify = X509Certificate.prototype.verify;
  let checks = 0;
  X509Certificate.prototype.verify = function (this: X509Certificate, ...args: Parameters<typeof verify>) {
    checks++;
    return verify.apply(this, args);
  };
  try {
    keyEntry({ keys: [key], certs });
    assert.unreachable('keyEntry accepted it');
  } catch (e) {
    assertRefusal(e, { name: 'signatureChecks', found: PKCS12_LIMITS.signatureChecks + 1, message: /more than 32 signature checks/ }, 'keyEntry');
  } finally {
    X509Certificate.prototype.verify = verify;
  }
  assert.is(checks, PKCS12_LIMITS.signatureChecks, 'signature checks made before the refusal');
  // With the real issuer present (and fewer look-alikes) the chain is found.
  const other = new X509Certificate(read('other.pem'));
  const entry = keyEntry({ keys: [key], certs: [leafCert, ...certs.slice(1, 5), { pem: other.toString(), x509: other, javaTrusted: false }] });
  assert.equal(entry.chain.map((c) => c.x509.subject), ['CN=leaf.test', 'CN=Same']);
  assert.is(entry.chain[1]?.x509.fingerprint256, other.fingerprint256);
});

test.run();
