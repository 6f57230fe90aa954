// Certificate inspection with node:crypto: what a certificate says, whether it chains to the CA,
// matches its key and covers the host names, and whether an existing one can be reused.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { KeyType } from '../../../core/config.ts';

const DAY_MS = 86_400_000;
export const EKU = { serverAuth: '1.3.6.1.5.5.7.3.1', clientAuth: '1.3.6.1.5.5.7.3.2' } as const;

export function readCert(path: string): X509Certificate | undefined {
  if (!existsSync(path)) return undefined;
  try {
    return new X509Certificate(readFileSync(path));
  } catch {
    return undefined;
  }
}


export function daysLeft(cert: X509Certificate, now = Date.now()): number {
  return Math.round((Date.parse(cert.validTo) - now) / DAY_MS);
}

export function expiry(cert: X509Certificate): string {
  return `expires ${new Date(cert.validTo).toISOString().slice(0, 10)} (${daysLeft(cert)} days)`;
}

export function isCurrentlyValid(cert: X509Certificate, now = Date.now()): boolean {
  return Date.parse(cert.validFrom) <= now && now < Date.parse(cert.validTo);
}

/** Issued by this CA: the issuer name matches and the CA's key verifies the signature. */
export function issuedBy(cert: X509Certificate, ca: X509Certificate): boolean {
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

export function keyMatches(cert: X509Certificate, keyPath: string): boolean {
  if (!existsSync(keyPath)) return false;
  try {
    return cert.checkPrivateKey(createPrivateKey(readFileSync(keyPath)));
  } catch {
    return false;
  }
}

/** The SAN entries as openssl prints them, e.g. ["IP Address:127.0.0.1", "DNS:localhost"]. */
export function sanEntries(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '').split(/,\s*/).filter(Boolean);
}

/** Host names (IP or DNS, wildcards literal) that the certificate's SANs do not cover. */
export function uncoveredHosts(cert: X509Certificate, hosts: readonly string[]): string[] {
  const dns = sanEntries(cert).filter((e) => e.startsWith('DNS:')).map((e) => e.slice(4).toLowerCase());
  return hosts.filter((host) => (isIP(host) ? cert.checkIP(host) === undefined : !dns.includes(host.toLowerCase())));
}

/** A subject attribute as written in the configuration: Node escapes , + " \ < > ; with "\" (RFC 2253). */
export function subjectAttribute(cert: X509Certificate, name: string): string | undefined {
  return new RegExp(`^${name}=(.*)$`, 'm').exec(cert.subject)?.[1]?.replace(/\\(.)/g, '$1');
}

export function commonName(cert: X509Certificate): string | undefined {
  return subjectAttribute(cert, 'CN');
}

/** The days a certificate was issued for (openssl's -days). */
export function lifetimeDays(cert: X509Certificate): number {
  return Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / DAY_MS);
}

/** Extended key usages by name (serverAuth, clientAuth) or OID for others. */
export function extendedKeyUsages(cert: X509Certificate): string[] {
  const names = Object.fromEntries(Object.entries(EKU).map(([k, v]) => [v, k]));
  return (cert.keyUsage ?? []).map((oid) => names[oid] ?? oid);
}

interface LeafExpectations {
  ca: X509Certificate;
  keyPath: string;
  /** KEY_TYPE: a key of the other type means a new key and certificate. */
  keyType?: KeyType;
  hosts?: readonly string[];
  commonName?: string;
}

/** "RSA" or "EC" (as KEY_TYPE names them, in capitals). */
export function keyTypeLabel(keyType: string | undefined): string {
  return (keyType ?? 'unknown').toUpperCase();
}

/** Why an existing leaf certificate cannot be reused, or undefined when it can. */
export function reissueReason(cert: X509Certificate | undefined, want: LeafExpectations): string | undefined {
  if (!cert) return 'it does not exist yet';
  if (!isCurrentlyValid(cert)) return `it is not valid now (valid ${cert.validFrom} to ${cert.validTo})`;
  if (!issuedBy(cert, want.ca)) return 'it was not issued by the current CA (ca-cert.pem changed)';
  if (!keyMatches(cert, want.keyPath)) return 'its private key is missing or does not match';
  const keyType = cert.publicKey.asymmetricKeyType;
  if (want.keyType !== undefined && keyType !== want.keyType) {
    return `its key is ${keyTypeLabel(keyType)}, KEY_TYPE=${want.keyType} asks for ${keyTypeLabel(want.keyType)}`;
  }
  if (want.commonName !== undefined && commonName(cert) !== want.commonName) {
    return `its CN is ${commonName(cert)}, the configuration asks for ${want.commonName}`;
  }
  const missing = want.hosts ? uncoveredHosts(cert, want.hosts) : [];
  if (missing.length > 0) return `it does not cover ${missing.join(', ')} (SERVER_HOST/EXTRA_SANS changed)`;
  return undefined;
}
