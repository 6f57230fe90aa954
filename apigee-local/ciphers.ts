// A target server's `ciphers` are Java/IANA suite names (Apigee's runtime is Java); Node takes
// OpenSSL's names, and OpenSSL keeps TLS 1.3 suites apart from the TLS 1.2 list. Only names that
// both Java's JSSE and Node's OpenSSL offer are known here (DSS suites are left out: Node does not
// list them); the mapping is `openssl ciphers -stdname`'s, and the test
// tests/apigee-local-southbound-rules.test.ts checks it against the openssl CLI and Node. A suite
// that cannot be tried here is refused at the management API rather than guessed at.
import type { SecureVersion } from 'node:tls';

/** TLS 1.3 suites: the same name in both, negotiated only in TLS 1.3. */
const TLS13 = ['TLS_AES_256_GCM_SHA384', 'TLS_AES_128_GCM_SHA256', 'TLS_CHACHA20_POLY1305_SHA256'];

/** TLS 1.2 suites, IANA name → OpenSSL name. */
const TLS12: Record<string, string> = {
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_DHE_RSA_WITH_AES_256_GCM_SHA384: 'DHE-RSA-AES256-GCM-SHA384',
  TLS_DHE_RSA_WITH_AES_128_GCM_SHA256: 'DHE-RSA-AES128-GCM-SHA256',
  TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'DHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384: 'ECDHE-ECDSA-AES256-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384: 'ECDHE-RSA-AES256-SHA384',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
  TLS_DHE_RSA_WITH_AES_256_CBC_SHA256: 'DHE-RSA-AES256-SHA256',
  TLS_DHE_RSA_WITH_AES_128_CBC_SHA256: 'DHE-RSA-AES128-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_DHE_RSA_WITH_AES_256_CBC_SHA: 'DHE-RSA-AES256-SHA',
  TLS_DHE_RSA_WITH_AES_128_CBC_SHA: 'DHE-RSA-AES128-SHA',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_CBC_SHA256: 'AES256-SHA256',
  TLS_RSA_WITH_AES_128_CBC_SHA256: 'AES128-SHA256',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
};

/** Every known suite, IANA name → OpenSSL name (for the test that checks the table). */
export const CIPHER_SUITES: Readonly<Record<string, string>> = { ...Object.fromEntries(TLS13.map((n) => [n, n])), ...TLS12 };

/**
 * Why one of `names` cannot be a suite of a target server (the first such), or undefined when all
 * can. An OpenSSL name is answered with the IANA name it stands for: Apigee's Java runtime would
 * not know it.
 */
export function unknownCipher(names: readonly string[]): string | undefined {
  for (const name of names) {
    if (Object.hasOwn(CIPHER_SUITES, name)) continue;
    const iana = Object.entries(TLS12).find(([, openssl]) => openssl === name)?.[0];
    if (iana) return `"${name}" is OpenSSL's name; Apigee X takes the Java/IANA name ${iana}`;
    return `unknown cipher suite "${name}" (Java/IANA names that OpenSSL also has, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or TLS_AES_128_GCM_SHA256)`;
  }
  return undefined;
}

/**
 * The suites as Node's `ciphers` option (one OpenSSL list; Node passes the TLS_ names to TLS 1.3)
 * and the versions they can be negotiated in. Node keeps its default TLS 1.3 suites when the list
 * names none, so a list without a TLS 1.3 suite must also take TLS 1.3 off (as in Java, where a
 * version no enabled suite belongs to is not offered), and one without a TLS 1.2 suite TLS 1.2.
 * Names must have passed unknownCipher.
 */
export function cipherSettings(names: readonly string[]): { ciphers: string; versions: SecureVersion[] } {
  const versions: SecureVersion[] = [];
  if (names.some((n) => Object.hasOwn(TLS12, n))) versions.push('TLSv1.2');
  if (names.some((n) => TLS13.includes(n))) versions.push('TLSv1.3');
  return { ciphers: names.map((n) => CIPHER_SUITES[n]).join(':'), versions };
}
