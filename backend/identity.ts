// Who is on the other end of a TLS connection, worked out once per connection and, for what
// depends only on the certificate, once per certificate.
//
// Reading the client certificate through Node costs about half a millisecond per connection
// (Node 20 with OpenSSL 3.0: the first getPeerX509Certificate() on a connection, like
// new X509Certificate(), decodes the certificate again) — some 15 % of a full mTLS handshake. So
// the certificate's DER is taken from the connection's TLS session instead (OpenSSL's SSL_SESSION
// encoding carries the verified peer certificate as field [3]); its SHA-256 is the fingerprint,
// and only a certificate not seen before is decoded as an X509Certificate.
import { X509Certificate, createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { DerError, contextTag, eachChild, parseDer } from '../lib/der.ts';
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
  cert: X509Certificate;
  whoami?: Buffer;
}

const PEER_CERTIFICATE = contextTag(3);

/** The client certificate's DER from the session (see the header); undefined when there is none or the session cannot be read. */
function peerCertificateDer(socket: TLSSocket): Buffer | undefined {
  const session = socket.getSession(); // it also holds the session's secret: read here, never kept
  if (!session) return undefined;
  try {
    for (const field of eachChild(parseDer(session))) {
      if (field.tag === PEER_CERTIFICATE) return parseDer(field.content).raw;
    }
  } catch (error) {
    if (!(error instanceof DerError)) throw error;
  }
  return undefined;
}

/** SHA-256 as X509Certificate.fingerprint256 writes it: upper-case hex pairs joined by colons. */
function fingerprint256(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex').toUpperCase().replace(/(..)(?!$)/g, '$1:');
}

const KNOWN_MAX = 1024;

/**
 * Works out each connection's identity. What depends only on the certificate (CN, allow-list
 * answer, /whoami body) is kept per fingerprint: a gateway reconnecting with the same certificate
 * pays for decoding it once. Whether the certificate is trusted is asked of each connection.
 */
export class Identifier {
  private known = new Map<string, KnownCert>();

  constructor(private readonly clientAuth: ClientAuth, private readonly allowList: readonly string[]) {}

  identify(socket: TLSSocket): ClientIdentity {
    if (this.clientAuth === 'none') return { cn: undefined, fingerprint: undefined, verdict: { ok: true }, cert: undefined };
    // Node's own reader only when the session does not say (it costs more, see the header).
    const der = peerCertificateDer(socket) ?? socket.getPeerX509Certificate()?.raw;
    if (!der) return { cn: undefined, fingerprint: undefined, cert: undefined, verdict: { ok: false, status: 401, error: 'client certificate required' } };
    const fingerprint = fingerprint256(der);
    let known = this.known.get(fingerprint);
    if (!known) {
      if (this.known.size >= KNOWN_MAX) this.known.clear();
      const cert = new X509Certificate(der);
      known = { cn: commonName(cert), allowed: isAllowed(cert, this.allowList), cert };
      this.known.set(fingerprint, known);
    }
    const base = { cn: known.cn, fingerprint, cert: known.cert, whoami: known.whoami };
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
