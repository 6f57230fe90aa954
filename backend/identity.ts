// Who is on the other end of a TLS connection, worked out once per connection (certificate
// parsing is too costly to repeat on every keep-alive request).
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { Answer } from './routes.ts';
import type { ClientAuth } from './settings.ts';

export type Verdict =
  | { ok: true }
  | { ok: false; status: 401 | 403; error: string; reason?: string };

export interface ClientIdentity {
  /** Common name, or the whole subject when there is no CN; undefined without a certificate. */
  cn: string | undefined;
  fingerprint: string | undefined;
  verdict: Verdict;
  /** The /whoami body, built on first use. */
  whoami?: Buffer;
  /** The 401/403 answer of a refused identity, built on first use. */
  refusal?: Answer;
  cert: X509Certificate | undefined;
}

/** Subject attributes as "KEY=value" strings (one per line in Node's X509Certificate.subject). */
function subjectAttributes(cert: X509Certificate): string[] {
  return cert.subject.split('\n').map((s) => s.trim()).filter(Boolean);
}

export function commonName(cert: X509Certificate): string {
  return /^CN=(.*)$/m.exec(cert.subject)?.[1] ?? cert.subject.replace(/\n/g, ', ');
}

/** True when any allow-list entry equals one of the subject's attributes (attribute names case-insensitive). */
export function isAllowed(cert: X509Certificate, allowList: readonly string[]): boolean {
  if (allowList.length === 0) return true;
  const have = new Set(subjectAttributes(cert).map(normalize));
  return allowList.some((entry) => have.has(normalize(entry)));
}

function normalize(attribute: string): string {
  const eq = attribute.indexOf('=');
  return attribute.slice(0, eq).trim().toUpperCase() + '=' + attribute.slice(eq + 1).trim();
}

interface KnownCert {
  cn: string;
  allowed: boolean;
  whoami?: Buffer;
}

const KNOWN_MAX = 1024;

/**
 * Works out each connection's identity. Reading a certificate's subject costs tens of µs, so what
 * depends only on the certificate (CN, allow-list answer, /whoami body) is kept per fingerprint:
 * a gateway reconnecting with the same certificate pays for it once.
 */
export class Identifier {
  private known = new Map<string, KnownCert>();

  constructor(private readonly clientAuth: ClientAuth, private readonly allowList: readonly string[]) {}

  identify(socket: TLSSocket): ClientIdentity {
    if (this.clientAuth === 'none') return { cn: undefined, fingerprint: undefined, verdict: { ok: true }, cert: undefined };
    const cert = socket.getPeerX509Certificate();
    if (!cert) return { cn: undefined, fingerprint: undefined, cert, verdict: { ok: false, status: 401, error: 'client certificate required' } };
    const fingerprint = cert.fingerprint256;
    let known = this.known.get(fingerprint);
    if (!known) {
      if (this.known.size >= KNOWN_MAX) this.known.clear();
      known = { cn: commonName(cert), allowed: isAllowed(cert, this.allowList) };
      this.known.set(fingerprint, known);
    }
    const base = { cn: known.cn, fingerprint, cert, whoami: known.whoami };
    if (!socket.authorized) {
      return { ...base, verdict: { ok: false, status: 403, error: 'client certificate not trusted', reason: String(socket.authorizationError) } };
    }
    if (!known.allowed) return { ...base, verdict: { ok: false, status: 403, error: 'client not in the allow-list', reason: 'NOT_ALLOWED' } };
    return { ...base, verdict: { ok: true } };
  }

  /** The /whoami body for this identity, built once per certificate. */
  whoami(who: ClientIdentity): Buffer {
    if (who.whoami) return who.whoami;
    const body = Buffer.from(JSON.stringify(who.cert ? describeCertificate(who.cert) : { clientCertificate: null }));
    const known = who.fingerprint ? this.known.get(who.fingerprint) : undefined;
    if (known) known.whoami = body;
    who.whoami = body;
    return body;
  }
}

export function describeCertificate(cert: X509Certificate): Record<string, unknown> {
  return {
    subject: cert.subject.split('\n').join(', '),
    issuer: cert.issuer.split('\n').join(', '),
    serialNumber: cert.serialNumber,
    fingerprintSha256: cert.fingerprint256,
    validFrom: new Date(cert.validFrom).toISOString(),
    validTo: new Date(cert.validTo).toISOString(),
    subjectAltNames: cert.subjectAltName ? cert.subjectAltName.split(', ') : [],
  };
}
