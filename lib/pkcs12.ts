// PKCS#12 (RFC 7292) with node: built-ins only: read keystores made by openssl or keytool
// (MAC check, PBES2 and the PKCS#12 3DES schemes) and write truststores Java accepts.
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
import {
  DerError,
  Tag,
  childrenOf,
  contextTag,
  encodeBmpString,
  encodeExplicit,
  encodeInteger,
  encodeNull,
  encodeOctets,
  encodeOid,
  encodeSequence,
  encodeSet,
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

export type Pkcs12ErrorCode = 'BAD_PASSWORD' | 'MALFORMED' | 'UNSUPPORTED' | 'NO_SUCH_ALIAS' | 'NO_KEY';

export class Pkcs12Error extends Error {
  override name = 'Pkcs12Error';
  constructor(readonly code: Pkcs12ErrorCode, message: string) {
    super(message);
  }
}

export interface Pkcs12Key {
  key: KeyObject;
  localKeyId?: string;
  friendlyName?: string;
}

export interface Pkcs12Cert {
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

export interface Pkcs12KeyEntry {
  alias: string;
  key: KeyObject;
  cert: Pkcs12Cert;
  /** The certificate path, leaf first (chain[0] === cert), then each issuer found in the store. */
  chain: Pkcs12Cert[];
}

export const OID = {
  data: '1.2.840.113549.1.7.1',
  signedData: '1.2.840.113549.1.7.2',
  envelopedData: '1.2.840.113549.1.7.3',
  encryptedData: '1.2.840.113549.1.7.6',
  keyBag: '1.2.840.113549.1.12.10.1.1',
  pkcs8ShroudedKeyBag: '1.2.840.113549.1.12.10.1.2',
  certBag: '1.2.840.113549.1.12.10.1.3',
  crlBag: '1.2.840.113549.1.12.10.1.4',
  secretBag: '1.2.840.113549.1.12.10.1.5',
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

/** Digest OIDs (MAC) → node hash name and PKCS#12 KDF block size in bytes. */
const DIGESTS: Record<string, { hash: string; block: number }> = {
  [OID.sha1]: { hash: 'sha1', block: 64 },
  '2.16.840.1.101.3.4.2.4': { hash: 'sha224', block: 64 },
  [OID.sha256]: { hash: 'sha256', block: 64 },
  '2.16.840.1.101.3.4.2.2': { hash: 'sha384', block: 128 },
  '2.16.840.1.101.3.4.2.3': { hash: 'sha512', block: 128 },
};

/** PBKDF2 PRF OIDs → node hash name. */
const PRFS: Record<string, string> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  [OID.hmacWithSha256]: 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
};

/** PBES2 encryption scheme OIDs → node cipher name and key length. */
const CIPHERS: Record<string, { cipher: string; keyLen: number; ivLen: number }> = {
  '2.16.840.1.101.3.4.1.2': { cipher: 'aes-128-cbc', keyLen: 16, ivLen: 16 },
  '2.16.840.1.101.3.4.1.22': { cipher: 'aes-192-cbc', keyLen: 24, ivLen: 16 },
  [OID.aes256Cbc]: { cipher: 'aes-256-cbc', keyLen: 32, ivLen: 16 },
  '1.2.840.113549.3.7': { cipher: 'des-ede3-cbc', keyLen: 24, ivLen: 8 },
};

/** PKCS#12 PBE schemes (appendix C) we can decrypt. */
const PKCS12_PBE: Record<string, { cipher: string; keyLen: number; ivLen: number }> = {
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

// One-shot hashing (Node >= 20.12) is several times faster than createHash in the KDF's
// iteration loop, which runs 10 000 times per derived value for stores made by keytool.
const oneShot = (nodeCrypto as { hash?: (alg: string, data: Buffer, enc: 'buffer') => Buffer }).hash;
const digestOnce = (alg: string, data: Buffer): Buffer => (oneShot ? oneShot(alg, data, 'buffer') : createHash(alg).update(data).digest());

/** RFC 7292 appendix B.2: derive `n` bytes of key (id 1), IV (id 2) or MAC key (id 3). */
export function pkcs12Kdf(hash: string, block: number, password: Buffer, salt: Buffer, id: 1 | 2 | 3, iterations: number, n: number): Buffer {
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

// ---- reading ------------------------------------------------------------------------------

// Real stores use 2048 (openssl) to 10 000 (keytool); a hostile count would stall the caller.
const MAX_ITERATIONS = 1_000_000;

function iterationsOf(node: DerNode | undefined, what: string): number {
  const n = readSmallInt(node, what);
  if (n < 1 || n > MAX_ITERATIONS) throw new Pkcs12Error('MALFORMED', `${what}: ${n} is out of range`);
  return n;
}

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

/** Decrypts `data` per AlgorithmIdentifier `alg` (PBES2 or a PKCS#12 PBE scheme). */
function decrypt(alg: DerNode, data: Buffer, password: Password): Buffer {
  const [oidNode, params] = sequence(alg, 'encryption algorithm', 1);
  const oid = readOid(oidNode, 'encryption algorithm');
  const pbe = PKCS12_PBE[oid];
  if (pbe) {
    const [salt, iter] = sequence(params, 'PBE parameters', 2);
    const s = readOctets(salt, 'PBE salt');
    const n = iterationsOf(iter, 'PBE iterations');
    const key = pkcs12Kdf('sha1', 64, password.bmp, s, 1, n, pbe.keyLen);
    const iv = pkcs12Kdf('sha1', 64, password.bmp, s, 2, n, pbe.ivLen);
    return decipher(pbe.cipher, key, iv, data);
  }
  if (oid === OID.pbes2) {
    const [kdf, scheme] = sequence(params, 'PBES2 parameters', 2);
    const [kdfOid, kdfParams] = sequence(kdf, 'PBES2 key derivation', 2);
    if (readOid(kdfOid) !== OID.pbkdf2) throw new Pkcs12Error('UNSUPPORTED', `PBES2 key derivation ${readOid(kdfOid)} is not supported (only PBKDF2)`);
    const [salt, iter, ...rest] = sequence(kdfParams, 'PBKDF2 parameters', 2);
    let prf = 'sha1';
    for (const item of rest) {
      if (item.tag === Tag.INTEGER) continue; // keyLength: implied by the cipher
      const prfOid = readOid(sequence(item, 'PBKDF2 prf', 1)[0]);
      const name = PRFS[prfOid];
      if (!name) throw new Pkcs12Error('UNSUPPORTED', `PBKDF2 PRF ${prfOid} is not supported`);
      prf = name;
    }
    const [schemeOid, ivNode] = sequence(scheme, 'PBES2 encryption scheme', 2);
    const c = CIPHERS[readOid(schemeOid)];
    if (!c) throw new Pkcs12Error('UNSUPPORTED', `PBES2 cipher ${readOid(schemeOid)} is not supported`);
    const iv = readOctets(ivNode, 'PBES2 IV');
    if (iv.length !== c.ivLen) throw new Pkcs12Error('MALFORMED', `PBES2 IV has ${iv.length} bytes, ${c.cipher} needs ${c.ivLen}`);
    const key = pbkdf2Sync(Buffer.from(password.text, 'utf8'), readOctets(salt, 'PBKDF2 salt'), iterationsOf(iter, 'PBKDF2 iterations'), c.keyLen, prf);
    return decipher(c.cipher, key, iv, data);
  }
  const legacy = UNSUPPORTED_PBE[oid];
  if (legacy) throw new Pkcs12Error('UNSUPPORTED', `${legacy} encryption (openssl -legacy) is not supported: ${LEGACY_HINT}`);
  throw new Pkcs12Error('UNSUPPORTED', `encryption algorithm ${oid} is not supported`);
}

/** The MAC key password that verifies, or BAD_PASSWORD. Empty passwords are tried both ways, like OpenSSL. */
function verifyMac(macData: DerNode, authSafe: Buffer, password: string): Buffer {
  const [digestInfo, saltNode, iterNode] = sequence(macData, 'MacData', 2);
  const [algId, digest] = sequence(digestInfo, 'MAC DigestInfo', 2);
  const digestOid = readOid(sequence(algId, 'MAC algorithm', 1)[0], 'MAC algorithm');
  if (digestOid === OID.pbmac1) throw new Pkcs12Error('UNSUPPORTED', 'PBMAC1 integrity (OpenSSL 3.4 -pbmac1_pbkdf2) is not supported');
  const d = DIGESTS[digestOid];
  if (!d) throw new Pkcs12Error('UNSUPPORTED', `MAC digest ${digestOid} is not supported`);
  const expected = readOctets(digest, 'MAC digest');
  const salt = readOctets(saltNode, 'MAC salt');
  const iterations = iterNode ? iterationsOf(iterNode, 'MAC iterations') : 1;
  const candidates = password === '' ? [bmpPassword(''), bmpPassword(null)] : [bmpPassword(password)];
  for (const bmp of candidates) {
    const outLen = createHash(d.hash).digest().length;
    const key = pkcs12Kdf(d.hash, d.block, bmp, salt, 3, iterations, outLen);
    const mac = createHmac(d.hash, key).update(authSafe).digest();
    if (mac.length === expected.length && timingSafeEqual(mac, expected)) return bmp;
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
  for (const attr of sequence(node, 'bag attributes', 0, Tag.SET)) {
    const [idNode, values] = sequence(attr, 'attribute', 2);
    const id = readOid(idNode, 'attribute type');
    const first = sequence(values, 'attribute values', 0, Tag.SET)[0];
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

function readSafeContents(der: Buffer, password: Password, out: Pkcs12Contents, depth = 0): void {
  if (depth > 4) throw new Pkcs12Error('MALFORMED', 'safeContents nested too deeply');
  for (const bag of sequence(parseDer(der), 'SafeContents')) {
    const [idNode, valueNode, attrNode] = sequence(bag, 'SafeBag', 2);
    const bagId = readOid(idNode, 'bag type');
    const value = explicit(valueNode, 0, 'bag value');
    const attrs = readAttributes(attrNode);
    const named = { ...(attrs.localKeyId !== undefined && { localKeyId: attrs.localKeyId }), ...(attrs.friendlyName !== undefined && { friendlyName: attrs.friendlyName }) };
    switch (bagId) {
      case OID.keyBag:
        out.keys.push({ key: privateKeyFromPkcs8(value.raw), ...named });
        break;
      case OID.pkcs8ShroudedKeyBag: {
        const [alg, enc] = sequence(value, 'EncryptedPrivateKeyInfo', 2);
        const plain = decrypt(alg, readOctets(enc, 'encrypted key'), password);
        out.keys.push({ key: readDecrypted(password, () => privateKeyFromPkcs8(plain)), ...named });
        break;
      }
      case OID.certBag: {
        const [typeNode, certValue] = sequence(value, 'CertBag', 2);
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
        readSafeContents(value.raw, password, out, depth + 1);
        break;
      default:
        break; // CRL and secret bags carry nothing a TLS endpoint needs
    }
  }
}

/** The bytes of an encryptedData's encryptedContent [0] IMPLICIT OCTET STRING (primitive or chunked). */
function encryptedContent(node: DerNode): Buffer {
  if (node.tag === contextTag(0, false)) return node.content;
  if (node.tag === contextTag(0, true)) return Buffer.concat(childrenOf(node).map((c) => readOctets(c, 'encrypted content chunk')));
  throw new DerError('encryptedContent: expected [0]');
}

/** Reads a PKCS#12 file (DER). Throws Pkcs12Error: BAD_PASSWORD, MALFORMED or UNSUPPORTED. */
export function parsePkcs12(der: Buffer, password: string): Pkcs12Contents {
  try {
    return parse(der, password);
  } catch (e) {
    if (e instanceof DerError) throw new Pkcs12Error('MALFORMED', `not a valid PKCS#12 file: ${e.message}`);
    throw e;
  }
}

function parse(der: Buffer, password: string): Pkcs12Contents {
  const [versionNode, authSafeInfo, macData] = sequence(parseDer(der), 'PFX', 2);
  const version = readSmallInt(versionNode, 'PFX version');
  if (version !== 3) throw new Pkcs12Error('UNSUPPORTED', `PFX version ${version} is not supported (expected 3)`);
  const [typeNode, contentNode] = sequence(authSafeInfo, 'authSafe', 2);
  const type = readOid(typeNode, 'authSafe content type');
  if (type === OID.signedData) throw new Pkcs12Error('UNSUPPORTED', 'public-key integrity mode (signedData) is not supported');
  if (type !== OID.data) throw new Pkcs12Error('MALFORMED', `authSafe content type ${type} is not data`);
  const authSafe = readOctets(explicit(contentNode, 0, 'authSafe content'), 'authSafe');

  // No MAC (openssl -nomac): a wrong password then shows up as a decryption failure.
  const bmp = macData ? verifyMac(macData, authSafe, password) : bmpPassword(password);
  const pw: Password = { text: password, bmp, verified: macData !== undefined };
  const out: Pkcs12Contents = { keys: [], certs: [] };
  for (const info of sequence(parseDer(authSafe), 'AuthenticatedSafe')) {
    const [ctNode, ctContent] = sequence(info, 'ContentInfo', 1);
    const ct = readOid(ctNode, 'content type');
    if (ct === OID.data) {
      readSafeContents(readOctets(explicit(ctContent, 0, 'data content'), 'data'), pw, out);
    } else if (ct === OID.encryptedData) {
      const [, eci] = sequence(explicit(ctContent, 0, 'encryptedData content'), 'EncryptedData', 2);
      const [, alg, enc] = sequence(eci, 'EncryptedContentInfo', 2);
      if (!enc) continue; // no content: nothing stored
      const plain = decrypt(alg, encryptedContent(enc), pw);
      readDecrypted(pw, () => readSafeContents(plain, pw, out));
    } else if (ct === OID.envelopedData) {
      throw new Pkcs12Error('UNSUPPORTED', 'public-key privacy mode (envelopedData) is not supported');
    } else {
      throw new Pkcs12Error('MALFORMED', `AuthenticatedSafe content type ${ct} is unknown`);
    }
  }
  return out;
}

// ---- picking a key entry ------------------------------------------------------------------

function spki(key: KeyObject): Buffer {
  return (key.type === 'private' ? createPublicKey(key) : key).export({ type: 'spki', format: 'der' });
}

function aliasList(parsed: Pkcs12Contents): string {
  const names = [...parsed.keys, ...parsed.certs].map((e) => e.friendlyName).filter((n): n is string => !!n);
  return names.length ? [...new Set(names)].join(', ') : '(no aliases)';
}

/** Issuers of `leaf` found among `certs`, nearest first; stops at a self-signed cert or a gap. */
function buildChain(leaf: Pkcs12Cert, certs: Pkcs12Cert[]): Pkcs12Cert[] {
  const chain = [leaf];
  for (let current = leaf; ; ) {
    if (current.x509.checkIssued(current.x509) && current.x509.verify(current.x509.publicKey)) break;
    const issuer = certs.find((c) => !chain.includes(c) && current.x509.checkIssued(c.x509) && current.x509.verify(c.x509.publicKey));
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

export interface TrustStoreOptions {
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
