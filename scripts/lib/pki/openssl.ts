// openssl command lines for the certificate steps, as argv arrays a reader could type. Paths are
// relative: the steps run them inside the certificate folder (a staging copy of it, in fact).
import type { KeyType, Subject } from '../../../core/config.ts';

/** Name of the environment variable that carries the store password to openssl and keytool. */
export const PASSWORD_ENV = 'STORE_PASSWORD';

/** Step 1/4/9: a private key. RSA-2048 as the tutorial, or EC P-256 (much faster to make). */
export function genKey(keyType: KeyType, out: string): string[] {
  const algorithm = keyType === 'rsa'
    ? ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']
    : ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  return ['openssl', 'genpkey', ...algorithm, '-quiet', '-out', out];
}

/** "/C=CO/ST=…/CN=…" for -subj. Config validation already refused "/" and "=" in the fields. */
export function subjectLine(subject: Subject, cn: string): string {
  return `/C=${subject.C}/ST=${subject.ST}/L=${subject.L}/O=${subject.O}/OU=${subject.OU}/CN=${cn}`;
}

/** Step 2: the self-signed CA certificate, with the extensions that make it a real CA. */
export function caCert(o: { key: string; out: string; days: number; subject: string }): string[] {
  return [
    'openssl', 'req', '-x509', '-new', '-key', o.key, '-sha256', '-days', String(o.days), '-out', o.out,
    '-subj', o.subject,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ];
}

/** Key usage for a TLS leaf: RSA keys may also be used for RSA key exchange (TLS 1.2). */
export function leafKeyUsage(keyType: KeyType): string {
  return keyType === 'rsa' ? 'critical,digitalSignature,keyEncipherment' : 'critical,digitalSignature';
}

/** Step 5: the server's CSR, with subject and SANs from san.cnf. */
export function serverCsr(o: { key: string; out: string; config: string }): string[] {
  return ['openssl', 'req', '-new', '-key', o.key, '-out', o.out, '-config', o.config];
}

/** Step 6: the CA signs the server CSR; the extensions (SANs, serverAuth only) come from san.cnf. */
export function signServer(o: { csr: string; caCert: string; caKey: string; out: string; days: number; extfile: string; section: string }): string[] {
  return [
    'openssl', 'x509', '-req', '-in', o.csr, '-CA', o.caCert, '-CAkey', o.caKey, '-out', o.out,
    '-days', String(o.days), '-sha256', '-extfile', o.extfile, '-extensions', o.section,
  ];
}

/** Step 10: the client's CSR. It asks for clientAuth only; step 11 copies these extensions. */
export function clientCsr(o: { key: string; out: string; subject: string; keyType: KeyType }): string[] {
  return [
    'openssl', 'req', '-new', '-key', o.key, '-out', o.out, '-subj', o.subject,
    '-addext', 'basicConstraints=critical,CA:FALSE',
    '-addext', `keyUsage=${leafKeyUsage(o.keyType)}`,
    '-addext', 'extendedKeyUsage=clientAuth',
  ];
}

/** Step 11: the CA signs the client CSR, keeping the usages the CSR asked for. */
export function signClient(o: { csr: string; caCert: string; caKey: string; out: string; days: number }): string[] {
  return [
    'openssl', 'x509', '-req', '-in', o.csr, '-CA', o.caCert, '-CAkey', o.caKey, '-out', o.out,
    '-days', String(o.days), '-sha256', '-copy_extensions', 'copyall',
  ];
}

/**
 * Steps 7 and 12: a PKCS#12 keystore (key + certificate under one alias). `legacy` picks 3DES and a
 * SHA-1 MAC, which old readers need and which OpenSSL 3 still reads without its legacy provider.
 */
export function pkcs12Export(o: { cert: string; key: string; out: string; alias: string; legacy: boolean }): string[] {
  const legacy = o.legacy ? ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1'] : [];
  return [
    'openssl', 'pkcs12', '-export', '-in', o.cert, '-inkey', o.key, '-out', o.out, '-name', o.alias,
    ...legacy, '-password', `env:${PASSWORD_ENV}`,
  ];
}

/** Lists the certificates of a PKCS#12 file as PEM (used to check that a store opens and what it holds). */
export function pkcs12Certs(file: string): string[] {
  return ['openssl', 'pkcs12', '-in', file, '-nokeys', '-password', `env:${PASSWORD_ENV}`];
}

/**
 * Step 8 with keytool: adds one trusted certificate to a PKCS#12 truststore. For legacy stores the
 * certificates are 3DES-encrypted with a SHA-1 MAC (keytool's own "legacy" switch would pick RC2-40,
 * which OpenSSL 3 only reads with its legacy provider).
 */
export function keytoolImport(o: { file: string; store: string; alias: string; legacy: boolean }): string[] {
  const legacy = ['-J-Dkeystore.pkcs12.certProtectionAlgorithm=PBEWithSHA1AndDESede', '-J-Dkeystore.pkcs12.macAlgorithm=HmacPBESHA1'];
  return [
    'keytool', ...(o.legacy ? legacy : []),
    '-importcert', '-noprompt', '-alias', o.alias, '-file', o.file,
    '-keystore', o.store, '-storetype', 'PKCS12', `-storepass:env`, PASSWORD_ENV,
  ];
}

/**
 * JVM options that make a short keytool run start faster (client compiler only, serial GC): about
 * 40% less CPU per call. Passed in the environment so the printed command stays the plain one.
 */
export function fastJvmEnv(current = process.env.JAVA_TOOL_OPTIONS): Record<string, string> {
  return { JAVA_TOOL_OPTIONS: [current, '-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC'].filter(Boolean).join(' ') };
}

/** Chain check with openssl: the leaf verifies against the CA for the given purpose. */
export function verifyChain(o: { caCert: string; cert: string; purpose: 'sslserver' | 'sslclient' }): string[] {
  return ['openssl', 'verify', '-CAfile', o.caCert, '-purpose', o.purpose, o.cert];
}
