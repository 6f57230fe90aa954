// Reads the server keystore and truststore into what Node's TLS needs: one private key, the
// certificate chain to present, and the trust anchors — exactly the truststore's certificates.
// Node would trust any CA found inside a `pfx`, so the stores are never handed to it as pfx.
// loadStores is the one way in, at start and on every reload. It never stalls the event loop:
// files are size-checked before they are read, and PKCS#12 files are parsed by
// parsePkcs12Async, which checks lib/pkcs12.ts's work limits first and then derives keys in a
// worker thread — a store built to burn CPU is refused in one line, a slow one does not hold up
// requests.
import { X509Certificate, createHash, type KeyObject } from 'node:crypto';
import { open } from 'node:fs/promises';
import { PKCS12_LIMITS, Pkcs12Error, keyEntry, parsePkcs12Async } from '../lib/pkcs12.ts';
import type { BackendSettings } from './settings.ts';

export class StoreError extends Error {
  override name = 'StoreError';
}

export interface TlsMaterial {
  alias: string;
  /** PKCS#8 PEM of the server key (kept in memory only). */
  keyPem: string;
  /** Server certificate then its issuers found in the keystore, as PEM. */
  chainPem: string;
  serverCert: X509Certificate;
  trustPem: string[];
  trusted: X509Certificate[];
  /** Hash of both files' bytes: a reload with identical files changes nothing. */
  digest: string;
}

/** Largest store file read (PKCS#12 or PEM); the PKCS#12 reader refuses larger files anyway. */
const MAX_STORE_BYTES = PKCS12_LIMITS.bytes;

async function readStore(path: string, role: string, variable: string): Promise<Buffer> {
  let file;
  try {
    file = await open(path, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'not readable (permission denied)' : (error as Error).message;
    throw new StoreError(`${role} ${path}: ${why} (${variable}; run "make certs" first?)`);
  }
  try {
    const { size } = await file.stat();
    if (size > MAX_STORE_BYTES) throw new StoreError(`${role} ${path}: ${size} bytes, over the limit of ${MAX_STORE_BYTES} for a store`);
    return await file.readFile();
  } finally {
    await file.close();
  }
}

function describePkcs12Error(error: unknown, role: string, path: string, passwordVariable: string): StoreError {
  if (error instanceof Pkcs12Error) {
    if (error.code === 'BAD_PASSWORD') return new StoreError(`${role} ${path}: wrong password (${passwordVariable})`);
    return new StoreError(`${role} ${path}: ${error.message}`);
  }
  return new StoreError(`${role} ${path}: ${(error as Error).message}`);
}

function checkValidity(cert: X509Certificate, what: string, now = Date.now()): void {
  if (Date.parse(cert.validTo) < now) throw new StoreError(`${what} expired on ${new Date(cert.validTo).toISOString()}`);
  if (Date.parse(cert.validFrom) > now) throw new StoreError(`${what} is not valid before ${new Date(cert.validFrom).toISOString()}`);
}

function cn(cert: X509Certificate): string {
  return /^CN=(.*)$/m.exec(cert.subject)?.[1] ?? cert.subject.replace(/\n/g, ', ');
}

async function keyPart(settings: BackendSettings, der: Buffer): Promise<Omit<TlsMaterial, 'trustPem' | 'trusted' | 'digest'>> {
  const role = 'server keystore';
  let entry;
  try {
    entry = keyEntry(await parsePkcs12Async(der, settings.keyStorePassword), settings.keyAlias);
  } catch (error) {
    if (error instanceof Pkcs12Error && error.code === 'NO_SUCH_ALIAS') {
      throw new StoreError(`${role} ${settings.keyStore}: ${error.message} (SERVER_SSL_KEYALIAS)`);
    }
    throw describePkcs12Error(error, role, settings.keyStore, 'SERVER_SSL_KEYSTOREPASSWORD');
  }
  const key: KeyObject = entry.key;
  const cert = entry.cert.x509;
  if (!cert.checkPrivateKey(key)) {
    throw new StoreError(`${role} ${settings.keyStore}: the private key of "${entry.alias}" does not match its certificate`);
  }
  checkValidity(cert, `server certificate "${cn(cert)}" in ${settings.keyStore}`);
  // Present the chain as stored, as Java does. With the chain given, OpenSSL also skips building
  // (and verifying) the server's own chain from the trust store on every handshake.
  const chain = entry.chain;
  return {
    alias: entry.alias,
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }).toString(),
    chainPem: chain.map((c) => c.pem.trim()).join('\n') + '\n',
    serverCert: cert,
  };
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

async function trustPart(settings: BackendSettings, data: Buffer): Promise<X509Certificate[]> {
  const role = 'server truststore';
  const path = settings.trustStore;
  const looksPem = data.subarray(0, 64).toString('latin1').includes('-----BEGIN');
  const type = settings.trustStoreType ?? (looksPem ? 'PEM' : 'PKCS12');
  let certs: X509Certificate[];
  if (type === 'PEM') {
    try {
      certs = (data.toString('utf8').match(PEM_CERT) ?? []).map((pem) => new X509Certificate(pem));
    } catch (error) {
      throw new StoreError(`${role} ${path}: unreadable PEM certificate (${(error as Error).message})`);
    }
  } else {
    if (settings.trustStorePassword === undefined) {
      throw new StoreError(`${role} ${path}: SERVER_SSL_TRUSTSTOREPASSWORD is not set (needed to check a PKCS#12 truststore)`);
    }
    let parsed;
    try {
      parsed = await parsePkcs12Async(data, settings.trustStorePassword);
    } catch (error) {
      throw describePkcs12Error(error, role, path, 'SERVER_SSL_TRUSTSTOREPASSWORD');
    }
    // Java only trusts certificate bags marked as trusted entries; do the same so a store that
    // works here also works for the Spring Boot service, and vice versa.
    certs = parsed.certs.filter((c) => c.javaTrusted).map((c) => c.x509);
    if (certs.length === 0 && parsed.certs.length > 0) {
      throw new StoreError(`${role} ${path}: holds certificates but no trusted entries (Java would see it empty); create it with keytool -importcert`);
    }
  }
  if (certs.length === 0) throw new StoreError(`${role} ${path}: holds no certificates`);
  return certs;
}

/**
 * Reads and checks both stores; throws StoreError with one line on any problem. Returns undefined
 * when the files' bytes still match `unlessDigest` (nothing to reload).
 */
export async function loadStores(settings: BackendSettings, unlessDigest?: string): Promise<TlsMaterial | undefined> {
  const [keyDer, trustData] = await Promise.all([
    readStore(settings.keyStore, 'server keystore', 'SERVER_SSL_KEYSTORE'),
    readStore(settings.trustStore, 'server truststore', 'SERVER_SSL_TRUSTSTORE'),
  ]);
  const digest = createHash('sha256').update(keyDer).update(trustData).digest('hex');
  if (digest === unlessDigest) return undefined;
  // One after the other (one worker parses both anyway): a bad keystore is reported first.
  const keys = await keyPart(settings, keyDer);
  const trusted = await trustPart(settings, trustData);
  return { ...keys, trusted, trustPem: trusted.map((c) => c.toString()), digest };
}
