// Certificates as the management API sees them: parse and validate uploads (PEM and PKCS#12), and
// describe a certificate the way Apigee's `certInfo` does (Go-style names such as "SHA256-RSA").
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { invalid } from './errors.ts';

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[A-Za-z0-9+/=\r\n]+?-----END \1-----/g;

/** Splits a certFile into certificates; anything else in it (e.g. a key) is refused like Apigee does. */
export function parseCertificates(text: string): X509Certificate[] {
  const blocks = [...text.matchAll(PEM_BLOCK)];
  const rest = text.replace(PEM_BLOCK, '').trim();
  if (blocks.length === 0 || rest !== '' || blocks.some((b) => b[1] !== 'CERTIFICATE')) {
    throw invalid('failed to parse x509 certificate');
  }
  return blocks.map((b) => {
    try {
      return new X509Certificate(b[0]);
    } catch {
      throw invalid('failed to parse x509 certificate');
    }
  });
}

export function parsePrivateKey(text: string, password: string | undefined): KeyObject {
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw invalid('failed to parse private key: no PEM private key found');
  try {
    return createPrivateKey({ key: text, format: 'pem', passphrase: password ?? '' });
  } catch {
    throw invalid(password ? 'failed to decrypt private key: wrong password or malformed key' : 'failed to parse private key (encrypted keys need a password)');
  }
}

/** Refuses expired certificates and a key that does not belong to the leaf. */
export function validateEntry(certs: X509Certificate[], key: KeyObject | undefined, ignoreExpiry: boolean): void {
  const leaf = certs[0];
  if (!leaf) throw invalid('failed to parse x509 certificate');
  if (!ignoreExpiry) {
    for (const cert of certs) {
      if (Date.parse(cert.validTo) < Date.now()) {
        throw invalid(`certificate "${subjectString(cert.subject)}" expired on ${new Date(cert.validTo).toISOString()}; use ignoreExpiryValidation=true to upload it anyway`);
      }
    }
  }
  if (key && !leaf.checkPrivateKey(key)) throw invalid('private key does not match the certificate (public key mismatch)');
}

export const certPem = (cert: X509Certificate): string => cert.toString().trimEnd() + '\n';

/** Node prints "C=CO\nO=X\nCN=y"; Go (and so Apigee) prints "CN=y,O=X,C=CO". */
export function subjectString(nodeName: string): string {
  return nodeName.split('\n').filter(Boolean).reverse().join(',');
}

// Minimal DER walk: Certificate ::= SEQUENCE { tbs SEQUENCE { [0] version, … }, SEQUENCE { OID } , BIT STRING }
function derHeader(buf: Buffer, at: number): { tag: number; start: number; end: number } {
  const tag = buf[at] ?? 0;
  let len = buf[at + 1] ?? 0;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (buf[start + i] ?? 0);
    start += n;
  }
  return { tag, start, end: start + len };
}

function decodeOid(bytes: Buffer): string {
  const first = bytes[0] ?? 0;
  const parts = [Math.floor(first / 40), first % 40];
  let value = 0;
  for (const byte of bytes.subarray(1)) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

const SIG_ALGS: Record<string, string> = {
  '1.2.840.113549.1.1.5': 'SHA1-RSA',
  '1.2.840.113549.1.1.11': 'SHA256-RSA',
  '1.2.840.113549.1.1.12': 'SHA384-RSA',
  '1.2.840.113549.1.1.13': 'SHA512-RSA',
  '1.2.840.113549.1.1.10': 'SHA256-RSAPSS',
  '1.2.840.10045.4.3.2': 'ECDSA-SHA256',
  '1.2.840.10045.4.3.3': 'ECDSA-SHA384',
  '1.2.840.10045.4.3.4': 'ECDSA-SHA512',
  '1.3.101.112': 'Ed25519',
};

function versionAndSigAlg(raw: Buffer): { version: number; sigAlgName: string } {
  const cert = derHeader(raw, 0);
  const tbs = derHeader(raw, cert.start);
  const firstInTbs = derHeader(raw, tbs.start);
  let version = 1;
  if (firstInTbs.tag === 0xa0) version = (raw[derHeader(raw, firstInTbs.start).start] ?? 0) + 1;
  const algSeq = derHeader(raw, tbs.end);
  const oid = derHeader(raw, algSeq.start);
  const dotted = decodeOid(raw.subarray(oid.start, oid.end));
  return { version, sigAlgName: SIG_ALGS[dotted] ?? dotted };
}

const CURVE_BITS: Record<string, number> = { prime256v1: 256, secp384r1: 384, secp521r1: 521 };

function publicKeyText(cert: X509Certificate): string {
  const key = cert.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'rsa') return `RSA Public Key, ${details.modulusLength ?? 0} bits`;
  if (key.asymmetricKeyType === 'ec') return `EC Public Key, ${CURVE_BITS[details.namedCurve ?? ''] ?? 0} bits`;
  return `${String(key.asymmetricKeyType).toUpperCase()} Public Key`;
}

export function certInfo(cert: X509Certificate, now = Date.now()): Record<string, unknown> {
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  const sans = (cert.subjectAltName ?? '')
    .split(', ')
    .filter(Boolean)
    .map((s) => s.replace(/^(DNS|IP Address|URI|email):/, ''));
  const info: Record<string, unknown> = {
    ...versionAndSigAlg(cert.raw),
    subject: subjectString(cert.subject),
    issuer: subjectString(cert.issuer),
    expiryDate: String(to),
    validFrom: String(from),
    isValid: now < from ? 'Not yet' : now > to ? 'No' : 'Yes',
    publicKey: publicKeyText(cert),
    basicConstraints: cert.ca ? 'CA:TRUE' : 'CA:FALSE',
    serialNumber: (cert.serialNumber.match(/../g) ?? []).join(':').toLowerCase(),
  };
  if (sans.length > 0) info.subjectAlternativeNames = sans;
  return info;
}
