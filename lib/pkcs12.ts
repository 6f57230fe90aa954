// PKCS#12 (RFC 7292) with node: built-ins only: read keystores made by openssl or keytool
// (MAC check, PBES2 and the PKCS#12 3DES schemes) and write truststores Java accepts.
//
// Usage (details and measurements in docs/pkcs12.md):
//   parsePkcs12(der, password): Pkcs12Contents                synchronous, on the caller's thread
//   await parsePkcs12Async(der, password): Pkcs12Contents     the same result, but the MAC check and
//                                                             every key derivation run in a worker
//   keyEntry(contents, alias?): { alias, key, cert, chain }   a private key entry, chain leaf first
//   buildTrustStore([{ alias, pem }], password, { legacy? }): Buffer
// Errors: Pkcs12Error with a stable `code`: BAD_PASSWORD, MALFORMED, UNSUPPORTED, NO_SUCH_ALIAS,
// NO_KEY, and LIMIT (with `limit: { name, max, found }`) for a file over PKCS12_LIMITS.
//
// Limits (PKCS12_LIMITS), all checked by walking the structure before any PBKDF2 or PKCS#12-KDF
// round runs. What sits inside an encrypted safe only shows once that safe is decrypted: it is
// walked then, added to the running totals and checked before anything inside it is derived.
// Measured with openssl 3.0 and keytool 17 (tests/lib-pkcs12.test.ts re-measures the work figures
// and the cacerts margins):
// - bytes 1 MiB. Java's whole cacerts (144 CAs here) as a PKCS#12 truststore: 180 KB (5.8x).
// - bags 1024, counting SafeBags and the safes holding them. That cacerts truststore has 145, a
//   keystore with a chain of 5 certificates 8 (openssl or keytool), the kit's stores 3 or 4.
// - nesting 4 levels of safeContentsBag; openssl and keytool write none.
// - work 1 000 000 derivation rounds: iterations x hash blocks derived, summed over the MAC (twice
//   for an empty password, which is tried two ways) and every encrypted safe and key. A 3DES safe
//   or key derives 3 blocks (key 2, IV 1); PBKDF2 for AES-256 with HMAC-SHA256, or a MAC, 1.
//   Defaults: openssl 3 6 144 (MAC, key and certificates at 2048), openssl -legacy 8 192 (refused
//   anyway: RC2), the kit's PKCS12_LEGACY keystores 14 336, keytool 17 30 000 for a keystore
//   (+10 000 per further key) and 20 000 for a truststore, the kit's truststore writer 20 000
//   (legacy 40 000). So the limit is 25x the largest default and 33x keytool's keystore. At the
//   limit a parse costs about a second of CPU (0.75 us per round of the PKCS#12 KDF, which is
//   JavaScript; PBKDF2 in node:crypto is ~4x cheaper).
// - signatureChecks 32 per keyEntry chain: a chain of 5 distinct names needs 5.
//
// parsePkcs12Async checks the limits on the caller's thread (microseconds, no key derivation), then
// hands the bytes to one shared worker thread that runs parsePkcs12 itself and sends back the
// result: KeyObject and X509Certificate are cloned across threads, so the caller's event loop only
// copies bytes in and results out. Running the whole parse there (not only the derivations) keeps
// one code path for both functions and also moves decryption and key/certificate parsing off the
// loop. The worker starts on first use (about 0.1 s compiled, 0.4 s under tsx, which the worker
// registers itself: Node 20 does not run --import preloads in workers) and, when idle, does not
// keep the process alive.
//
// Why hand-written: the backend runs in a distroless image without node_modules, so what it needs
// to read its keystore and truststore must be node: built-ins only (node:crypto has no PKCS#12
// reader, and a TLS `pfx` cannot tell a truststore's trusted entries from the rest). Checked
// against real stores from openssl 3.0 and keytool 17 in tests/lib-pkcs12.test.ts; the stores it
// writes are read back by keytool, openssl and a JSSE server.
import {
  X509Certificate,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  pbkdf2Sync,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import * as nodeCrypto from 'node:crypto';
import { Worker } from 'node:worker_threads';
import {
  DerError,
  Tag,
  childrenOf,
  contextTag,
  eachChild,
  encodeBmpString,
  encodeExplicit,
  encodeInteger,
  encodeNull,
  encodeOctets,
  encodeOid,
  encodeSequence,
  encodeSet,
  expectTag,
  explicit,
  parseDer,
  readBmpString,
  readOctets,
  readOid,
  readSmallInt,
  sequence,
  tlv,
  type DerNode,
} from './der.ts';
// This import also puts the worker file into the backend's build: backend/tsconfig.build.json
// compiles what main.ts reaches, and the worker is otherwise only named in a URL.
import type { WorkerReply, WorkerRequest } from './pkcs12-worker.ts';

/** What one file may cost; the header says what real stores use. */
export const PKCS12_LIMITS = Object.freeze({
  bytes: 1024 * 1024,
  bags: 1024,
  nesting: 4,
  work: 1_000_000,
  signatureChecks: 32,
});

export type Pkcs12LimitName = keyof typeof PKCS12_LIMITS;

export type Pkcs12ErrorCode = 'BAD_PASSWORD' | 'MALFORMED' | 'UNSUPPORTED' | 'NO_SUCH_ALIAS' | 'NO_KEY' | 'LIMIT';

export interface Pkcs12Limit {
  name: Pkcs12LimitName;
  max: number;
  /** The value found; for bags and signature checks counting stops at max + 1. */
  found: number;
}

export class Pkcs12Error extends Error {
  override name = 'Pkcs12Error';
  constructor(
    readonly code: Pkcs12ErrorCode,
    message: string,
    /** Set when code is LIMIT. */
    readonly limit?: Pkcs12Limit,
  ) {
    super(message);
  }
}

function overLimit(name: Pkcs12LimitName, found: number, what: string): Pkcs12Error {
  const max = PKCS12_LIMITS[name];
  return new Pkcs12Error('LIMIT', `${what}, over the limit of ${max} (PKCS12_LIMITS.${name})`, { name, max, found });
}

interface Pkcs12Key {
  key: KeyObject;
  localKeyId?: string;
  friendlyName?: string;
}

interface Pkcs12Cert {
  pem: string;
  x509: X509Certificate;
  localKeyId?: string;
  friendlyName?: string;
  /** The bag carries Oracle's "trusted key usage" attribute: Java lists it as trustedCertEntry. */
  javaTrusted: boolean;
}

export interface Pkcs12Contents {
  keys: Pkcs12Key[];
  certs: Pkcs12Cert[];
}

interface Pkcs12KeyEntry {
  alias: string;
  key: KeyObject;
  cert: Pkcs12Cert;
  /** The certificate path, leaf first (chain[0] === cert), then each issuer found in the store. */
  chain: Pkcs12Cert[];
}

const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  safeContentsBag: '1.2.840.113549.1.12.10.1.6',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
  javaTrustedKeyUsage: '2.16.840.1.113894.746875.1.1',
  anyExtendedKeyUsage: '2.5.29.37.0',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  pbmac1: '1.2.840.113549.1.5.14',
  pbeSha1Rc4_128: '1.2.840.113549.1.12.1.1',
  pbeSha1Rc4_40: '1.2.840.113549.1.12.1.2',
  pbeSha1TripleDes: '1.2.840.113549.1.12.1.3',
  pbeSha1TwoKeyTripleDes: '1.2.840.113549.1.12.1.4',
  pbeSha1Rc2_128: '1.2.840.113549.1.12.1.5',
  pbeSha1Rc2_40: '1.2.840.113549.1.12.1.6',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  hmacWithSha256: '1.2.840.113549.2.9',
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
} as const;

/** Digest OIDs (MAC) → node hash name, output size and PKCS#12 KDF block size in bytes. */
const DIGESTS: Record<string, { hash: string; size: number; block: number }> = {
  [OID.sha1]: { hash: 'sha1', size: 20, block: 64 },
  '2.16.840.1.101.3.4.2.4': { hash: 'sha224', size: 28, block: 64 },
  [OID.sha256]: { hash: 'sha256', size: 32, block: 64 },
  '2.16.840.1.101.3.4.2.2': { hash: 'sha384', size: 48, block: 128 },
  '2.16.840.1.101.3.4.2.3': { hash: 'sha512', size: 64, block: 128 },
};

/** PBKDF2 PRF OIDs → node hash name and output size. */
const PRFS: Record<string, { hash: string; size: number }> = {
  '1.2.840.113549.2.7': { hash: 'sha1', size: 20 },
  '1.2.840.113549.2.8': { hash: 'sha224', size: 28 },
  [OID.hmacWithSha256]: { hash: 'sha256', size: 32 },
  '1.2.840.113549.2.10': { hash: 'sha384', size: 48 },
  '1.2.840.113549.2.11': { hash: 'sha512', size: 64 },
};
const PBKDF2_DEFAULT_PRF = PRFS['1.2.840.113549.2.7']!;

interface Cipher {
  cipher: string;
  keyLen: number;
  ivLen: number;
}

/** PBES2 encryption scheme OIDs → node cipher name and key length. */
const CIPHERS: Record<string, Cipher> = {
  '2.16.840.1.101.3.4.1.2': { cipher: 'aes-128-cbc', keyLen: 16, ivLen: 16 },
  '2.16.840.1.101.3.4.1.22': { cipher: 'aes-192-cbc', keyLen: 24, ivLen: 16 },
  [OID.aes256Cbc]: { cipher: 'aes-256-cbc', keyLen: 32, ivLen: 16 },
  '1.2.840.113549.3.7': { cipher: 'des-ede3-cbc', keyLen: 24, ivLen: 8 },
};

/** PKCS#12 PBE schemes (appendix C) we can decrypt; their KDF always uses SHA-1. */
const PKCS12_PBE: Record<string, Cipher> = {
  [OID.pbeSha1TripleDes]: { cipher: 'des-ede3-cbc', keyLen: 24, ivLen: 8 },
  [OID.pbeSha1TwoKeyTripleDes]: { cipher: 'des-ede-cbc', keyLen: 16, ivLen: 8 },
};

const LEGACY_HINT =
  'OpenSSL 3 and Node no longer ship RC2/RC4; re-export the store without -legacy, or with -certpbe PBE-SHA1-3DES -keypbe PBE-SHA1-3DES';

const UNSUPPORTED_PBE: Record<string, string> = {
  [OID.pbeSha1Rc2_40]: 'pbeWithSHAAnd40BitRC2-CBC',
  [OID.pbeSha1Rc2_128]: 'pbeWithSHAAnd128BitRC2-CBC',
  [OID.pbeSha1Rc4_40]: 'pbeWithSHAAnd40BitRC4',
  [OID.pbeSha1Rc4_128]: 'pbeWithSHAAnd128BitRC4',
};

// ---- passwords and key derivation ---------------------------------------------------------

/**
 * Password bytes for the PKCS#12 KDF: BMPString (UTF-16BE) plus a two-byte terminator.
 * `null` means "no password" the way OpenSSL passes it: zero bytes, not even the terminator.
 */
function bmpPassword(password: string | null): Buffer {
  if (password === null) return Buffer.alloc(0);
  const b = Buffer.alloc(password.length * 2 + 2);
  for (let i = 0; i < password.length; i++) b.writeUInt16BE(password.charCodeAt(i), i * 2);
  return b;
}

/** The MAC key passwords to try: an empty password both ways, like OpenSSL. */
const macPasswords = (password: string): Buffer[] => (password === '' ? [bmpPassword(''), bmpPassword(null)] : [bmpPassword(password)]);

// One-shot hashing (Node >= 20.12) is several times faster than createHash in the KDF's
// iteration loop, which runs 10 000 times per derived value for stores made by keytool.
const oneShot = (nodeCrypto as { hash?: (alg: string, data: Buffer, enc: 'buffer') => Buffer }).hash;
const digestOnce = (alg: string, data: Buffer): Buffer => (oneShot ? oneShot(alg, data, 'buffer') : createHash(alg).update(data).digest());

/** RFC 7292 appendix B.2: derive `n` bytes of key (id 1), IV (id 2) or MAC key (id 3). */
function pkcs12Kdf(hash: string, block: number, password: Buffer, salt: Buffer, id: 1 | 2 | 3, iterations: number, n: number): Buffer {
  const fill = (src: Buffer) => {
    if (src.length === 0) return Buffer.alloc(0);
    const out = Buffer.alloc(block * Math.ceil(src.length / block));
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length];
    return out;
  };
  const D = Buffer.alloc(block, id);
  const I = Buffer.concat([fill(salt), fill(password)]);
  const parts: Buffer[] = [];
  for (let have = 0; have < n; ) {
    let A: Buffer = createHash(hash).update(D).update(I).digest();
    for (let r = 1; r < iterations; r++) A = digestOnce(hash, A);
    parts.push(A);
    have += A.length;
    if (have >= n) break;
    const B = Buffer.alloc(block);
    for (let i = 0; i < block; i++) B[i] = A[i % A.length];
    // I_j = (I_j + B + 1) mod 2^(block*8), for each block-sized chunk of I.
    for (let j = 0; j < I.length; j += block) {
      let carry = 1;
      for (let k = block - 1; k >= 0; k--) {
        const sum = I[j + k] + B[k] + carry;
        I[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(parts).subarray(0, n);
}

/** Hash blocks a KDF runs its iterations for to produce `bytes` with a hash of `size` bytes. */
const blocks = (bytes: number, size: number) => Math.ceil(bytes / size);

// ---- the structure, read without deriving anything ----------------------------------------

function iterationsOf(node: DerNode | undefined, what: string): number {
  const n = readSmallInt(node, what);
  if (n < 1) throw new Pkcs12Error('MALFORMED', `${what}: ${n} is out of range`);
  return n;
}

/** A password-based encryption scheme as the file states it. */
type Scheme =
  | { kdf: 'pkcs12'; cipher: Cipher; salt: Buffer; iterations: number }
  | { kdf: 'pbkdf2'; cipher: Cipher; prf: { hash: string; size: number }; salt: Buffer; iterations: number; iv: Buffer };

/** Reads AlgorithmIdentifier `alg` (PBES2 or a PKCS#12 PBE scheme); UNSUPPORTED for anything else. */
function readScheme(alg: DerNode): Scheme {
  const [oidNode, params] = sequence(alg, 'encryption algorithm', 1, Tag.SEQUENCE, 2);
  const oid = readOid(oidNode, 'encryption algorithm');
  const pbe = PKCS12_PBE[oid];
  if (pbe) {
    const [salt, iter] = sequence(params, 'PBE parameters', 2, Tag.SEQUENCE, 2);
    return { kdf: 'pkcs12', cipher: pbe, salt: readOctets(salt, 'PBE salt'), iterations: iterationsOf(iter, 'PBE iterations') };
  }
  if (oid === OID.pbes2) {
    const [kdf, scheme] = sequence(params, 'PBES2 parameters', 2, Tag.SEQUENCE, 2);
    const [kdfOid, kdfParams] = sequence(kdf, 'PBES2 key derivation', 2, Tag.SEQUENCE, 2);
    if (readOid(kdfOid) !== OID.pbkdf2) throw new Pkcs12Error('UNSUPPORTED', `PBES2 key derivation ${readOid(kdfOid)} is not supported (only PBKDF2)`);
    const [salt, iter, ...rest] = sequence(kdfParams, 'PBKDF2 parameters', 2, Tag.SEQUENCE, 4);
    let prf = PBKDF2_DEFAULT_PRF;
    for (const item of rest) {
      if (item.tag === Tag.INTEGER) continue; // keyLength: implied by the cipher
      const prfOid = readOid(sequence(item, 'PBKDF2 prf', 1, Tag.SEQUENCE, 2)[0]);
      const known = PRFS[prfOid];
      if (!known) throw new Pkcs12Error('UNSUPPORTED', `PBKDF2 PRF ${prfOid} is not supported`);
      prf = known;
    }
    const [schemeOid, ivNode] = sequence(scheme, 'PBES2 encryption scheme', 2, Tag.SEQUENCE, 2);
    const cipher = CIPHERS[readOid(schemeOid)];
    if (!cipher) throw new Pkcs12Error('UNSUPPORTED', `PBES2 cipher ${readOid(schemeOid)} is not supported`);
    const iv = readOctets(ivNode, 'PBES2 IV');
    if (iv.length !== cipher.ivLen) throw new Pkcs12Error('MALFORMED', `PBES2 IV has ${iv.length} bytes, ${cipher.cipher} needs ${cipher.ivLen}`);
    return { kdf: 'pbkdf2', cipher, prf, salt: readOctets(salt, 'PBKDF2 salt'), iterations: iterationsOf(iter, 'PBKDF2 iterations'), iv };
  }
  const legacy = UNSUPPORTED_PBE[oid];
  if (legacy) throw new Pkcs12Error('UNSUPPORTED', `${legacy} encryption (openssl -legacy) is not supported: ${LEGACY_HINT}`);
  throw new Pkcs12Error('UNSUPPORTED', `encryption algorithm ${oid} is not supported`);
}

/** Derivation rounds a scheme costs: the PKCS#12 KDF derives key and IV (SHA-1, 20-byte blocks). */
function schemeWork(s: Scheme): number {
  if (s.kdf === 'pkcs12') return s.iterations * (blocks(s.cipher.keyLen, 20) + blocks(s.cipher.ivLen, 20));
  return s.iterations * blocks(s.cipher.keyLen, s.prf.size);
}

interface Mac {
  digest: { hash: string; size: number; block: number };
  expected: Buffer;
  salt: Buffer;
  iterations: number;
}

function readMac(macData: DerNode): Mac {
  const [digestInfo, saltNode, iterNode] = sequence(macData, 'MacData', 2, Tag.SEQUENCE, 3);
  const [algId, digest] = sequence(digestInfo, 'MAC DigestInfo', 2, Tag.SEQUENCE, 2);
  const digestOid = readOid(sequence(algId, 'MAC algorithm', 1, Tag.SEQUENCE, 2)[0], 'MAC algorithm');
  if (digestOid === OID.pbmac1) throw new Pkcs12Error('UNSUPPORTED', 'PBMAC1 integrity (OpenSSL 3.4 -pbmac1_pbkdf2) is not supported');
  const d = DIGESTS[digestOid];
  if (!d) throw new Pkcs12Error('UNSUPPORTED', `MAC digest ${digestOid} is not supported`);
  return {
    digest: d,
    expected: readOctets(digest, 'MAC digest'),
    salt: readOctets(saltNode, 'MAC salt'),
    iterations: iterNode ? iterationsOf(iterNode, 'MAC iterations') : 1,
  };
}

interface Pfx {
  /** The authenticated bytes (the MAC covers them). */
  authSafe: Buffer;
  /** AuthenticatedSafe: SEQUENCE OF ContentInfo. */
  safes: DerNode;
  mac?: Mac;
}

function readPfx(der: Buffer): Pfx {
  if (der.length > PKCS12_LIMITS.bytes) throw overLimit('bytes', der.length, `the file has ${der.length} bytes`);
  const [versionNode, authSafeInfo, macData] = sequence(parseDer(der), 'PFX', 2, Tag.SEQUENCE, 3);
  const version = readSmallInt(versionNode, 'PFX version');
  if (version !== 3) throw new Pkcs12Error('UNSUPPORTED', `PFX version ${version} is not supported (expected 3)`);
  const [typeNode, contentNode] = sequence(authSafeInfo, 'authSafe', 2, Tag.SEQUENCE, 2);
  const type = readOid(typeNode, 'authSafe content type');
  if (type === OID.signedData) throw new Pkcs12Error('UNSUPPORTED', 'public-key integrity mode (signedData) is not supported');
  if (type !== OID.data) throw new Pkcs12Error('MALFORMED', `authSafe content type ${type} is not data`);
  const authSafe = readOctets(explicit(contentNode, 0, 'authSafe content'), 'authSafe');
  const safes = expectTag(parseDer(authSafe), Tag.SEQUENCE, 'AuthenticatedSafe');
  return { authSafe, safes, ...(macData && { mac: readMac(macData) }) };
}

/** One ContentInfo of the AuthenticatedSafe: plain SafeContents bytes, or an encrypted safe. */
type Safe = { kind: 'data'; contents: Buffer } | { kind: 'encrypted'; alg: DerNode; content: DerNode | undefined };

function readSafe(info: DerNode): Safe {
  const [ctNode, ctContent] = sequence(info, 'ContentInfo', 1, Tag.SEQUENCE, 2);
  const ct = readOid(ctNode, 'content type');
  if (ct === OID.data) return { kind: 'data', contents: readOctets(explicit(ctContent, 0, 'data content'), 'data') };
  if (ct === OID.encryptedData) {
    const [, eci] = sequence(explicit(ctContent, 0, 'encryptedData content'), 'EncryptedData', 2, Tag.SEQUENCE, 3);
    const [, alg, content] = sequence(eci, 'EncryptedContentInfo', 2, Tag.SEQUENCE, 3);
    return { kind: 'encrypted', alg, content };
  }
  if (ct === OID.envelopedData) throw new Pkcs12Error('UNSUPPORTED', 'public-key privacy mode (envelopedData) is not supported');
  throw new Pkcs12Error('MALFORMED', `AuthenticatedSafe content type ${ct} is unknown`);
}

/** The bytes of an encryptedData's encryptedContent [0] IMPLICIT OCTET STRING (primitive or chunked). */
function encryptedContent(node: DerNode): Buffer {
  if (node.tag === contextTag(0, false)) return node.content;
  if (node.tag === contextTag(0, true)) return Buffer.concat(childrenOf(node).map((c) => readOctets(c, 'encrypted content chunk')));
  throw new DerError('encryptedContent: expected [0]');
}

// ---- the work budget ----------------------------------------------------------------------

/** Running totals of one file, checked against PKCS12_LIMITS before anything is derived. */
class Budget {
  private bags = 0;
  private rounds = 0;

  bag(): void {
    if (++this.bags > PKCS12_LIMITS.bags) throw overLimit('bags', this.bags, `the file holds more than ${PKCS12_LIMITS.bags} bags and safes`);
  }

  add(rounds: number): void {
    this.rounds += rounds;
  }

  /** Call once everything visible so far is added, before deriving any of it. */
  check(): void {
    if (this.rounds > PKCS12_LIMITS.work) {
      throw overLimit('work', this.rounds, `the file asks for ${this.rounds} key-derivation rounds (iterations x derived hash blocks, MAC included)`);
    }
  }
}

/** Adds what the MAC and the AuthenticatedSafe's top level cost, then checks the budget. */
function planPfx(pfx: Pfx, password: string, budget: Budget): void {
  if (pfx.mac) budget.add(pfx.mac.iterations * blocks(pfx.mac.digest.size, pfx.mac.digest.size) * macPasswords(password).length);
  for (const info of eachChild(pfx.safes)) {
    budget.bag();
    const safe = readSafe(info);
    if (safe.kind === 'data') planSafeContents(safe.contents, budget, 0);
    else if (safe.content) budget.add(schemeWork(readScheme(safe.alg)));
  }
  budget.check();
}

/** Counts the bags of a SafeContents and adds what its shrouded keys cost (no budget check). */
function planSafeContents(der: Buffer, budget: Budget, depth: number): void {
  if (depth > PKCS12_LIMITS.nesting) throw overLimit('nesting', depth, `safeContents nested ${depth} levels deep`);
  for (const bag of eachChild(expectTag(parseDer(der), Tag.SEQUENCE, 'SafeContents'))) {
    budget.bag();
    const [idNode, valueNode] = sequence(bag, 'SafeBag', 2, Tag.SEQUENCE, 3);
    const bagId = readOid(idNode, 'bag type');
    if (bagId === OID.pkcs8ShroudedKeyBag) {
      const [alg] = sequence(explicit(valueNode, 0, 'bag value'), 'EncryptedPrivateKeyInfo', 2, Tag.SEQUENCE, 2);
      budget.add(schemeWork(readScheme(alg)));
    } else if (bagId === OID.safeContentsBag) {
      planSafeContents(explicit(valueNode, 0, 'bag value').raw, budget, depth + 1);
    }
  }
}

// ---- reading ------------------------------------------------------------------------------

/** The password in both encodings; `verified` once the MAC has confirmed it. */
interface Password {
  text: string;
  bmp: Buffer;
  verified: boolean;
}

/**
 * Parses freshly decrypted bytes. Without a MAC, a wrong key can slip past the CBC padding check
 * (about 1 time in 256) and yield garbage: report that as a wrong password, not a broken file.
 */
function readDecrypted<T>(password: Password, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    const garbage = e instanceof DerError || (e instanceof Pkcs12Error && e.code === 'MALFORMED');
    if (garbage && !password.verified) throw new Pkcs12Error('BAD_PASSWORD', 'decrypted data is not valid: wrong password (or corrupted data)');
    throw e;
  }
}

function decipher(cipher: string, key: Buffer, iv: Buffer, data: Buffer): Buffer {
  try {
    const d = createDecipheriv(cipher, key, iv);
    return Buffer.concat([d.update(data), d.final()]);
  } catch {
    // With CBC a wrong key almost always shows up as bad padding.
    throw new Pkcs12Error('BAD_PASSWORD', 'decryption failed: wrong password (or corrupted data)');
  }
}

function decrypt(s: Scheme, data: Buffer, password: Password): Buffer {
  if (s.kdf === 'pkcs12') {
    const key = pkcs12Kdf('sha1', 64, password.bmp, s.salt, 1, s.iterations, s.cipher.keyLen);
    const iv = pkcs12Kdf('sha1', 64, password.bmp, s.salt, 2, s.iterations, s.cipher.ivLen);
    return decipher(s.cipher.cipher, key, iv, data);
  }
  const key = pbkdf2Sync(Buffer.from(password.text, 'utf8'), s.salt, s.iterations, s.cipher.keyLen, s.prf.hash);
  return decipher(s.cipher.cipher, key, s.iv, data);
}

/** The MAC key password that verifies, or BAD_PASSWORD. */
function verifyMac(mac: Mac, authSafe: Buffer, password: string): Buffer {
  const { hash, size, block } = mac.digest;
  for (const bmp of macPasswords(password)) {
    const key = pkcs12Kdf(hash, block, bmp, mac.salt, 3, mac.iterations, size);
    const computed = createHmac(hash, key).update(authSafe).digest();
    if (computed.length === mac.expected.length && timingSafeEqual(computed, mac.expected)) return bmp;
  }
  throw new Pkcs12Error('BAD_PASSWORD', 'MAC verification failed: wrong password (or the file was altered)');
}

interface Attributes {
  friendlyName?: string;
  localKeyId?: string;
  javaTrusted: boolean;
}

function readAttributes(node: DerNode | undefined): Attributes {
  const out: Attributes = { javaTrusted: false };
  if (!node) return out;
  for (const attr of eachChild(expectTag(node, Tag.SET, 'bag attributes'))) {
    const [idNode, values] = sequence(attr, 'attribute', 2, Tag.SEQUENCE, 2);
    const id = readOid(idNode, 'attribute type');
    const [first] = eachChild(expectTag(values, Tag.SET, 'attribute values'));
    if (id === OID.friendlyName && first) out.friendlyName = readBmpString(first, 'friendlyName');
    else if (id === OID.localKeyId && first) out.localKeyId = readOctets(first, 'localKeyId').toString('hex');
    else if (id === OID.javaTrustedKeyUsage) out.javaTrusted = true;
  }
  return out;
}

function toPem(der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`;
}

function privateKeyFromPkcs8(der: Buffer): KeyObject {
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  } catch (e) {
    throw new Pkcs12Error('MALFORMED', `private key is not valid PKCS#8: ${(e as Error).message}`);
  }
}

/** Reads the bags of a SafeContents that planSafeContents has already counted and costed. */
function readSafeContents(der: Buffer, password: Password, out: Pkcs12Contents): void {
  for (const bag of eachChild(expectTag(parseDer(der), Tag.SEQUENCE, 'SafeContents'))) {
    const [idNode, valueNode, attrNode] = sequence(bag, 'SafeBag', 2, Tag.SEQUENCE, 3);
    const bagId = readOid(idNode, 'bag type');
    const value = explicit(valueNode, 0, 'bag value');
    const attrs = readAttributes(attrNode);
    const named = { ...(attrs.localKeyId !== undefined && { localKeyId: attrs.localKeyId }), ...(attrs.friendlyName !== undefined && { friendlyName: attrs.friendlyName }) };
    switch (bagId) {
      case OID.keyBag:
        out.keys.push({ key: privateKeyFromPkcs8(value.raw), ...named });
        break;
      case OID.pkcs8ShroudedKeyBag: {
        const [alg, enc] = sequence(value, 'EncryptedPrivateKeyInfo', 2, Tag.SEQUENCE, 2);
        const plain = decrypt(readScheme(alg), readOctets(enc, 'encrypted key'), password);
        out.keys.push({ key: readDecrypted(password, () => privateKeyFromPkcs8(plain)), ...named });
        break;
      }
      case OID.certBag: {
        const [typeNode, certValue] = sequence(value, 'CertBag', 2, Tag.SEQUENCE, 2);
        if (readOid(typeNode, 'certificate type') !== OID.x509Certificate) break; // SDSI certificates: not ours to read
        const der = readOctets(explicit(certValue, 0, 'certificate value'), 'certificate');
        let x509: X509Certificate;
        try {
          x509 = new X509Certificate(der);
        } catch (e) {
          throw new Pkcs12Error('MALFORMED', `certificate is not valid X.509: ${(e as Error).message}`);
        }
        out.certs.push({ pem: toPem(der), x509, ...named, javaTrusted: attrs.javaTrusted });
        break;
      }
      case OID.safeContentsBag:
        readSafeContents(value.raw, password, out);
        break;
      default:
        break; // CRL and secret bags carry nothing a TLS endpoint needs
    }
  }
}

/** Runs `read` with DerError reported as a MALFORMED Pkcs12Error. */
function asPkcs12<T>(read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof DerError) throw new Pkcs12Error('MALFORMED', `not a valid PKCS#12 file: ${e.message}`);
    throw e;
  }
}

/** Reads a PKCS#12 file (DER) on the caller's thread. Throws Pkcs12Error (see the header). */
export function parsePkcs12(der: Buffer, password: string): Pkcs12Contents {
  return asPkcs12(() => parse(der, password));
}

function parse(der: Buffer, password: string): Pkcs12Contents {
  const pfx = readPfx(der);
  const budget = new Budget();
  planPfx(pfx, password, budget);

  // No MAC (openssl -nomac): a wrong password then shows up as a decryption failure.
  const bmp = pfx.mac ? verifyMac(pfx.mac, pfx.authSafe, password) : bmpPassword(password);
  const pw: Password = { text: password, bmp, verified: pfx.mac !== undefined };
  const out: Pkcs12Contents = { keys: [], certs: [] };
  for (const info of eachChild(pfx.safes)) {
    const safe = readSafe(info);
    if (safe.kind === 'data') {
      readSafeContents(safe.contents, pw, out);
    } else if (safe.content) {
      const plain = decrypt(readScheme(safe.alg), encryptedContent(safe.content), pw);
      readDecrypted(pw, () => {
        // Only now is this safe's content visible: cost it before deriving any key inside it.
        planSafeContents(plain, budget, 0);
        budget.check();
        readSafeContents(plain, pw, out);
      });
    }
  }
  return out;
}

// ---- off the event loop -------------------------------------------------------------------

let worker: Worker | undefined;
let nextId = 0;
const waiting = new Map<number, { resolve: (c: Pkcs12Contents) => void; reject: (e: Error) => void }>();

function startWorker(): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(fromSource ? './pkcs12-worker.ts' : './pkcs12-worker.js', import.meta.url);
  if (!fromSource) return new Worker(entry);
  // Under `node --import tsx`: Node 20 does not run --import preloads in worker threads
  // (nodejs/node#47747), so the worker registers tsx itself before loading its .ts entry.
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(`import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}); });`, { eval: true });
}

function pkcs12Worker(): Worker {
  if (worker) return worker;
  const w = startWorker();
  const fail = (error: Error) => {
    if (worker !== w) return;
    worker = undefined;
    for (const job of waiting.values()) job.reject(new Error(`PKCS#12 worker failed: ${error.message}`));
    waiting.clear();
  };
  w.on('message', (reply: WorkerReply) => {
    const job = waiting.get(reply.id);
    waiting.delete(reply.id);
    if (waiting.size === 0) w.unref();
    if (!job) return;
    if ('contents' in reply) job.resolve(reply.contents);
    else job.reject(reply.error.code ? new Pkcs12Error(reply.error.code, reply.error.message, reply.error.limit) : new Error(reply.error.message));
  });
  w.on('error', fail);
  w.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
  w.unref();
  worker = w;
  return w;
}

/**
 * parsePkcs12 off the caller's event loop: the limits are checked here first (no derivation), then
 * a worker thread parses. Resolves to the same Pkcs12Contents; rejects with the same Pkcs12Error.
 */
export async function parsePkcs12Async(der: Buffer, password: string): Promise<Pkcs12Contents> {
  asPkcs12(() => planPfx(readPfx(der), password, new Budget()));
  const w = pkcs12Worker();
  const id = nextId++;
  const bytes = new Uint8Array(der); // a copy of just these bytes, moved to the worker
  const request: WorkerRequest = { id, der: bytes, password };
  return new Promise<Pkcs12Contents>((resolve, reject) => {
    waiting.set(id, { resolve, reject });
    w.ref();
    w.postMessage(request, [bytes.buffer]);
  });
}

// ---- picking a key entry ------------------------------------------------------------------

function spki(key: KeyObject): Buffer {
  return (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });
}

function aliasList(parsed: Pkcs12Contents): string {
  const names = [...parsed.keys, ...parsed.certs].map((e) => e.friendlyName).filter((n): n is string => !!n);
  return names.length ? [...new Set(names)].join(', ') : '(no aliases)';
}

/**
 * Issuers of `leaf` found among `certs`, nearest first; stops at a self-signed cert or a gap.
 * Signatures are only checked where the names match, and at most PKCS12_LIMITS.signatureChecks
 * times: many certificates sharing one name would otherwise cost a check per pair.
 */
function buildChain(leaf: Pkcs12Cert, certs: Pkcs12Cert[]): Pkcs12Cert[] {
  const chain = [leaf];
  let checks = 0;
  const signedBy = (cert: X509Certificate, issuer: X509Certificate) => {
    if (!cert.checkIssued(issuer)) return false;
    if (++checks > PKCS12_LIMITS.signatureChecks) {
      throw overLimit('signatureChecks', checks, `building the certificate chain needs more than ${PKCS12_LIMITS.signatureChecks} signature checks`);
    }
    return cert.verify(issuer.publicKey);
  };
  for (let current = leaf; ; ) {
    if (signedBy(current.x509, current.x509)) break;
    const issuer = certs.find((c) => !chain.includes(c) && signedBy(current.x509, c.x509));
    if (!issuer) break;
    chain.push(issuer);
    current = issuer;
  }
  return chain;
}

/**
 * The private key entry named `alias` (case-insensitive, as Java lowercases aliases) or the only
 * one, with its certificate (matched by localKeyId, else by public key) and chain.
 */
export function keyEntry(parsed: Pkcs12Contents, alias?: string): Pkcs12KeyEntry {
  if (parsed.keys.length === 0) throw new Pkcs12Error('NO_KEY', `the store holds no private key (aliases: ${aliasList(parsed)})`);
  let key: Pkcs12Key | undefined;
  if (alias !== undefined) {
    const want = alias.toLowerCase();
    key = parsed.keys.find((k) => k.friendlyName?.toLowerCase() === want);
    if (!key) {
      // The name may sit only on the certificate bag: follow it to its key.
      const cert = parsed.certs.find((c) => c.friendlyName?.toLowerCase() === want && c.localKeyId !== undefined);
      key = cert && parsed.keys.find((k) => k.localKeyId === cert.localKeyId);
    }
    if (!key) throw new Pkcs12Error('NO_SUCH_ALIAS', `no private key with alias "${alias}" (aliases: ${aliasList(parsed)})`);
  } else if (parsed.keys.length === 1) {
    key = parsed.keys[0];
  } else {
    throw new Pkcs12Error('NO_SUCH_ALIAS', `the store holds ${parsed.keys.length} private keys; name one (aliases: ${aliasList(parsed)})`);
  }
  const keyPublic = spki(key.key);
  const cert =
    (key.localKeyId !== undefined ? parsed.certs.find((c) => c.localKeyId === key.localKeyId) : undefined) ??
    parsed.certs.find((c) => spki(c.x509.publicKey).equals(keyPublic));
  if (!cert) throw new Pkcs12Error('NO_KEY', `private key "${key.friendlyName ?? alias ?? ''}" has no matching certificate in the store`);
  return { alias: key.friendlyName ?? cert.friendlyName ?? alias ?? '', key: key.key, cert, chain: buildChain(cert, parsed.certs) };
}

// ---- writing a truststore -----------------------------------------------------------------

interface TrustStoreOptions {
  /** pbeWithSHAAnd3-KeyTripleDES-CBC + HMAC-SHA1, for old readers (Java 8 before 8u301). */
  legacy?: boolean;
  iterations?: number;
}

function pemToDer(pem: string, alias: string): Buffer {
  const m = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new Pkcs12Error('MALFORMED', `entry "${alias}": no PEM certificate found`);
  const der = Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
  try {
    new X509Certificate(der);
  } catch (e) {
    throw new Pkcs12Error('MALFORMED', `entry "${alias}": not a valid certificate: ${(e as Error).message}`);
  }
  return der;
}

const attribute = (oid: string, value: Buffer) => encodeSequence(encodeOid(oid), encodeSet(value));

function trustedCertBag(alias: string, der: Buffer): Buffer {
  const certBag = encodeSequence(encodeOid(OID.x509Certificate), encodeExplicit(0, encodeOctets(der)));
  const attrs = encodeSet(
    attribute(OID.friendlyName, encodeBmpString(alias)),
    attribute(OID.javaTrustedKeyUsage, encodeOid(OID.anyExtendedKeyUsage)),
  );
  return encodeSequence(encodeOid(OID.certBag), encodeExplicit(0, certBag), attrs);
}

function encrypt(plain: Buffer, password: string, legacy: boolean, iterations: number): { alg: Buffer; data: Buffer } {
  const salt = randomBytes(legacy ? 8 : 16);
  if (legacy) {
    const bmp = bmpPassword(password);
    const key = pkcs12Kdf('sha1', 64, bmp, salt, 1, iterations, 24);
    const iv = pkcs12Kdf('sha1', 64, bmp, salt, 2, iterations, 8);
    const c = createCipheriv('des-ede3-cbc', key, iv);
    const alg = encodeSequence(encodeOid(OID.pbeSha1TripleDes), encodeSequence(encodeOctets(salt), encodeInteger(iterations)));
    return { alg, data: Buffer.concat([c.update(plain), c.final()]) };
  }
  const iv = randomBytes(16);
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const c = createCipheriv('aes-256-cbc', key, iv);
  const kdf = encodeSequence(
    encodeOid(OID.pbkdf2),
    encodeSequence(encodeOctets(salt), encodeInteger(iterations), encodeSequence(encodeOid(OID.hmacWithSha256), encodeNull())),
  );
  const alg = encodeSequence(encodeOid(OID.pbes2), encodeSequence(kdf, encodeSequence(encodeOid(OID.aes256Cbc), encodeOctets(iv))));
  return { alg, data: Buffer.concat([c.update(plain), c.final()]) };
}

/**
 * A PKCS#12 truststore: one certBag per entry, named by alias and marked trusted for any
 * purpose, so Java's keytool lists each as trustedCertEntry. Returns the DER bytes.
 */
export function buildTrustStore(entries: Array<{ alias: string; pem: string }>, password: string, options: TrustStoreOptions = {}): Buffer {
  const legacy = options.legacy ?? false;
  const iterations = options.iterations ?? 10_000;
  if (entries.length === 0) throw new Pkcs12Error('MALFORMED', 'a truststore needs at least one certificate');
  const seen = new Set<string>();
  const bags = entries.map(({ alias, pem }) => {
    const lower = alias.toLowerCase();
    if (!alias.trim()) throw new Pkcs12Error('MALFORMED', 'empty alias');
    if (seen.has(lower)) throw new Pkcs12Error('MALFORMED', `duplicate alias "${alias}" (Java aliases are case-insensitive)`);
    seen.add(lower);
    return trustedCertBag(alias, pemToDer(pem, alias));
  });
  const { alg, data } = encrypt(encodeSequence(...bags), password, legacy, iterations);
  const encryptedData = encodeSequence(
    encodeInteger(0),
    encodeSequence(encodeOid(OID.data), alg, tlv(contextTag(0, false), data)),
  );
  const authSafe = encodeSequence(encodeSequence(encodeOid(OID.encryptedData), encodeExplicit(0, encryptedData)));

  const hash = legacy ? 'sha1' : 'sha256';
  const macSalt = randomBytes(legacy ? 8 : 16);
  const macKey = pkcs12Kdf(hash, 64, bmpPassword(password), macSalt, 3, iterations, legacy ? 20 : 32);
  const mac = createHmac(hash, macKey).update(authSafe).digest();
  const macData = encodeSequence(
    encodeSequence(encodeSequence(encodeOid(legacy ? OID.sha1 : OID.sha256), encodeNull()), encodeOctets(mac)),
    encodeOctets(macSalt),
    encodeInteger(iterations),
  );
  return encodeSequence(encodeInteger(3), encodeSequence(encodeOid(OID.data), encodeExplicit(0, encodeOctets(authSafe))), macData);
}
