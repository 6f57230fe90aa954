// Reads the server keystore and truststore into what Node's TLS needs: one private key, the
// certificate chain to present, and the trust anchors — exactly the truststore's certificates.
// Node would trust any CA found inside a `pfx`, so the stores are never handed to it as pfx.
// loadStores is the one way in, at start and on every reload. Files are size-checked before they
// are read, and lib/pkcs12.ts checks its work limits before any key derivation, so a store built
// to burn CPU is refused in one line. On a reload, while requests are being served, the
// derivation runs in lib's worker thread (parsePkcs12Async) so a slow store cannot stall them; at
// start nothing is served yet, so the stores are parsed on the main thread and the worker (about
// 10 MiB and a thread) only exists once a reload has happened.
import { X509Certificate, createHash, type KeyObject } from 'node:crypto';
import { open } from 'node:fs/promises';
import { PKCS12_LIMITS, Pkcs12Error, keyEntry, parsePkcs12, parsePkcs12Async, type Pkcs12Contents } from '../lib/pkcs12.ts';

type Parse = (der: Buffer, password: string) => Promise<Pkcs12Contents>;
const onMainThread: Parse = async (der, password) => parsePkcs12(der, password);
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
    // No command to make it: the settings it would need are the kit's (step 20 adds that line).
    throw new StoreError(`${role} ${path}: ${why} (${variable})`);
  }
  try {
    const stat = await file.stat();
    // A folder, a device such as /dev/zero or a FIFO is no store (and a device's size says nothing).
    if (!stat.isFile()) throw new StoreError(`${role} ${path}: not a regular file (${stat.isDirectory() ? 'a folder' : 'a device, FIFO or socket'}; ${variable})`);
    const tooBig = (size: number) => new StoreError(`${role} ${path}: ${size} bytes, over the limit of ${MAX_STORE_BYTES} for a store`);
    if (stat.size > MAX_STORE_BYTES) throw tooBig(stat.size);
    // Read at most one byte past the limit: a file that grew since stat() is still bounded.
    const data = Buffer.allocUnsafe(MAX_STORE_BYTES + 1);
    let length = 0;
    while (length < data.length) {
      const { bytesRead } = await file.read(data, length, data.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > MAX_STORE_BYTES) throw tooBig(length);
    return Buffer.from(data.subarray(0, length));
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

async function keyPart(settings: BackendSettings, der: Buffer, parse: Parse): Promise<Omit<TlsMaterial, 'trustPem' | 'trusted' | 'digest'>> {
  const role = 'server keystore';
  let entry;
  try {
    entry = keyEntry(await parse(der, settings.keyStorePassword), settings.keyAlias);
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

async function trustPart(settings: BackendSettings, data: Buffer, parse: Parse): Promise<X509Certificate[]> {
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
      parsed = await parse(data, settings.trustStorePassword);
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
 * Reads and checks both stores; throws StoreError with one line on any problem. Given the stores
 * in use (`current`), this is a reload: it returns undefined when the files' bytes are unchanged,
 * and parses off the event loop.
 */
export async function loadStores(settings: BackendSettings, current?: TlsMaterial): Promise<TlsMaterial | undefined> {
  const [keyDer, trustData] = await Promise.all([
    readStore(settings.keyStore, 'server keystore', 'SERVER_SSL_KEYSTORE'),
    readStore(settings.trustStore, 'server truststore', 'SERVER_SSL_TRUSTSTORE'),
  ]);
  const digest = createHash('sha256').update(keyDer).update(trustData).digest('hex');
  if (digest === current?.digest) return undefined;
  const parse = current ? parsePkcs12Async : onMainThread;
  // One after the other (one worker parses both anyway): a bad keystore is reported first.
  const keys = await keyPart(settings, keyDer, parse);
  const trusted = await trustPart(settings, trustData, parse);
  return { ...keys, trusted, trustPem: trusted.map((c) => c.toString()), digest };
}
