// Certificates as the management API sees them: parse and validate uploads. Describing them the way
// Apigee's `certInfo` does (Go-style names such as "SHA256-RSA") is lib/x509-info.ts's job.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { describeCertificate } from '../lib/x509-info.ts';
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
      const cert = new X509Certificate(b[0]);
      describeCertificate(cert); // what cannot be described cannot be listed later either
      return cert;
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
      const { subject, notAfter } = describeCertificate(cert);
      if (notAfter < Date.now()) {
        throw invalid(`certificate "${subject}" expired on ${new Date(notAfter).toISOString()}; use ignoreExpiryValidation=true to upload it anyway`);
      }
    }
  }
  if (key && !leaf.checkPrivateKey(key)) throw invalid('private key does not match the certificate (public key mismatch)');
}

export const certPem = (cert: X509Certificate): string => cert.toString().trimEnd() + '\n';

