// Checks on existing PKCS#12 stores, read in-process with lib/pkcs12.ts: they open with the
// configured password and hold exactly the expected entries (by alias and SHA-256 fingerprint).
import type { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { parsePkcs12, Pkcs12Error, type Pkcs12Contents } from '../../../lib/pkcs12.ts';
import { encodeOid } from '../../../lib/der.ts';

const PBE_SHA1_3DES = encodeOid('1.2.840.113549.1.12.1.3');
const PBES2 = encodeOid('1.2.840.113549.1.5.13');

/** True when the store is encrypted the PKCS12_LEGACY way: 3DES everywhere, no PBES2 (AES). */
export function isLegacyEncrypted(der: Buffer): boolean {
  return der.includes(PBE_SHA1_3DES) && !der.includes(PBES2);
}

type StoreRead = { contents: Pkcs12Contents } | { error: string };

/** readStore's error for a store STORE_PASSWORD does not open (step 14 prints it; step 20 looks for it). */
export const NOT_OPENING = 'it does not open with STORE_PASSWORD';

export function readStore(path: string, password: string): StoreRead {
  if (!existsSync(path)) return { error: 'it does not exist yet' };
  if (!statSync(path).isFile()) return { error: 'it is not a file (a directory?)' };
  try {
    return { contents: parsePkcs12(readFileSync(path), password) };
  } catch (error) {
    if (error instanceof Pkcs12Error) {
      return { error: error.code === 'BAD_PASSWORD' ? NOT_OPENING : `it is not a readable PKCS#12 file (${error.message})` };
    }
    throw error;
  }
}

interface ExpectedEntry { alias: string; cert: X509Certificate }

/**
 * Why an existing store must be rebuilt, or undefined when it is right. A keystore holds one key
 * whose certificate is the expected one; a truststore holds only Java-trusted certificates.
 */
export function storeRebuildReason(
  path: string, password: string, kind: 'keystore' | 'truststore', expected: readonly ExpectedEntry[], legacy: boolean,
): string | undefined {
  const read = readStore(path, password);
  if ('error' in read) return read.error;
  if (isLegacyEncrypted(readFileSync(path)) !== legacy) {
    return legacy ? 'PKCS12_LEGACY=1 asks for 3DES encryption and it uses AES' : 'it is 3DES-encrypted and PKCS12_LEGACY is off';
  }
  const { keys, certs } = read.contents;
  if (kind === 'keystore' && keys.length !== 1) return `it holds ${keys.length} private keys instead of 1`;
  if (kind === 'truststore' && (keys.length > 0 || certs.some((c) => !c.javaTrusted))) return 'it holds entries Java would not list as trustedCertEntry';
  const have = certs.map((c) => `${(c.friendlyName ?? '').toLowerCase()}=${c.x509.fingerprint256}`).sort();
  const want = expected.map((e) => `${e.alias.toLowerCase()}=${e.cert.fingerprint256}`).sort();
  if (have.join() !== want.join()) return 'its entries are not the current certificates';
  return undefined;
}
