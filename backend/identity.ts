// Who is on the other end of a TLS connection, worked out once per connection and, for what
// depends only on the certificate, once per certificate.
//
// Reading the client certificate through Node costs ~0.2 ms per connection (timed in the server
// on full handshakes, Node 20 with OpenSSL 3.0: the first getPeerX509Certificate() on a
// connection, like new X509Certificate(), decodes the certificate again), ~10 % of a full mTLS
// handshake. So the certificate's DER is taken from the connection's TLS session instead
// (OpenSSL's SSL_SESSION encoding carries the verified peer certificate as field [3]), found by
// reading only the fields' lengths, compared with the last certificate seen, else looked up by
// its bytes; only a certificate not seen before is decoded as an X509Certificate. A trusted,
// allowed connection then reuses its certificate's identity object (docs/backend.md, "Speed").
import { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { DerError, contextTag, findChild, readSpan } from '../lib/der.ts';
import type { Answer } from './routes.ts';
import type { ClientAuth } from './settings.ts';

export type Verdict =
  | { ok: true }
  | { ok: false; status: 401 | 403; error: string; reason?: string };

/** What depends only on the certificate, worked out once per certificate. */
interface KnownCert {
  /** The certificate's DER (a copy: never a view into the session it came from). */
  der: Buffer;
  cert: X509Certificate;
  cn: string;
  fingerprint: string;
  allowed: boolean;
  /** `,"client":…,"fingerprint":…` for log lines. */
  logFields: string;
  /** The /whoami body, built on first use. */
  whoami?: string;
  /** The identity of a trusted, allowed connection with this certificate: the same for all of them. */
  accepted?: ClientIdentity;
}

export interface ClientIdentity {
  /** Common name, or the whole subject when there is no CN; undefined without a certificate. */
  cn: string | undefined;
  fingerprint: string | undefined;
  verdict: Verdict;
  /** The JSON fields naming this client in log lines (`,"client":…`), possibly empty. */
  logFields: string;
  /** The 401/403 answer of a refused identity, built on first use. */
  refusal?: Answer;
  cert: X509Certificate | undefined;
  known?: KnownCert;
}

/**
 * The subject as Node prints it: one RDN a line, the attributes of a multi-valued RDN joined by
 * " + ", values escaped as in RFC 2253 (a "+" inside a value is "\+", a control character "\0A":
 * neither looks like a separator). Node gives undefined for an empty subject, which a certificate
 * with only SANs has (RFC 5280 §4.1.2.6).
 */
function subjectText(name: string | undefined): string {
  return name ?? '';
}

/** Subject attributes as "KEY=value" strings, also each one of a multi-valued RDN (O=x+CN=y). */
function subjectAttributes(cert: X509Certificate): string[] {
  return subjectText(cert.subject).split(/\n| \+ /).map((s) => s.trim()).filter(Boolean);
}

export function commonName(cert: X509Certificate): string {
  const cn = subjectAttributes(cert).find((a) => a.startsWith('CN='));
  return cn !== undefined ? cn.slice('CN='.length) : subjectText(cert.subject).replace(/\n/g, ', ');
}

/** True when any allow-list entry equals one of the subject's attributes (attribute names case-insensitive). */
function isAllowed(cert: X509Certificate, allowList: readonly string[]): boolean {
  if (allowList.length === 0) return true;
  const have = new Set(subjectAttributes(cert).map(normalize));
  return allowList.some((entry) => have.has(normalize(entry)));
}

function normalize(attribute: string): string {
  const eq = attribute.indexOf('=');
  return attribute.slice(0, eq).trim().toUpperCase() + '=' + attribute.slice(eq + 1).trim();
}

const PEER_CERTIFICATE = contextTag(3);

/** The client certificate's DER from the session (see the header); undefined when there is none or the session cannot be read. */
function peerCertificateDer(socket: TLSSocket): Buffer | undefined {
  const session = socket.getSession(); // it also holds the session's secret: read here, never kept
  if (!session) return undefined;
  try {
    const field = findChild(session, PEER_CERTIFICATE); // [3] EXPLICIT Certificate
    if (!field) return undefined;
    const cert = readSpan(session, field.start);
    if (cert.end !== field.end) throw new DerError('more than the certificate inside [3]');
    return session.subarray(field.start, cert.end);
  } catch (error) {
    if (!(error instanceof DerError)) throw error;
  }
  return undefined;
}

const KNOWN_MAX = 1024;

/**
 * Longest client name in a log line (then cut, with "…"). A CN has at most 64 characters (RFC 5280
 * ub-common-name), but a subject without one is logged whole, and in "want" mode a stranger with a
 * self-signed certificate chooses it: 10 KB of subject would be 10 KB in each of its request lines.
 */
const LOG_NAME_MAX = 256;

function logName(name: string): string {
  return name.length > LOG_NAME_MAX ? name.slice(0, LOG_NAME_MAX) + '…' : name;
}

/** Every client when no certificate is asked for. */
const ANYONE: ClientIdentity = { cn: undefined, fingerprint: undefined, verdict: { ok: true }, logFields: '', cert: undefined };

/**
 * Characters JSON.stringify leaves as they are that some readers take for a line break (Python's
 * str.splitlines(), a JavaScript /m regex): C1 controls (Node escapes only C0 ones and DEL in
 * names), U+2028, U+2029. A certificate's name may hold them, in "want" mode even a stranger's.
 */
const READER_LINE_BREAKS = /[\u0080-\u009f\u2028\u2029]/g;

/** Log fields as JSON members (`,"client":…`), built once per certificate or refusal. */
function logFieldsOf(fields: Record<string, string | undefined>): string {
  const json = JSON.stringify(fields).replace(READER_LINE_BREAKS, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return json === '{}' ? '' : ',' + json.slice(1, -1);
}

/**
 * Works out each connection's identity. What depends only on the certificate (CN, fingerprint,
 * allow-list answer, log fields, /whoami body) is kept per certificate: a gateway reconnecting
 * with the same certificate pays for decoding it once. Whether the certificate is trusted is asked
 * of each connection.
 */
export class Identifier {
  /** By the certificate's DER (as a latin1 string: an exact key). */
  private known = new Map<string, KnownCert>();
  /** The certificate seen last: most connections come from the same client (the gateway). */
  private last: KnownCert | undefined;

  constructor(private readonly clientAuth: ClientAuth, private readonly allowList: readonly string[]) {}

  identify(socket: TLSSocket): ClientIdentity {
    if (this.clientAuth === 'none') return ANYONE;
    // Node's own reader only when the session does not say (it costs more, see the header).
    const der = peerCertificateDer(socket) ?? socket.getPeerX509Certificate()?.raw;
    if (!der) {
      const verdict = { ok: false, status: 401, error: 'client certificate required' } as const;
      return { cn: undefined, fingerprint: undefined, verdict, logFields: logFieldsOf({ reason: verdict.error }), cert: undefined };
    }
    const known = this.knownCert(der);
    const base = { cn: known.cn, fingerprint: known.fingerprint, cert: known.cert, known };
    if (!socket.authorized) {
      const reason = String(socket.authorizationError);
      return { ...base, logFields: known.logFields + logFieldsOf({ reason }), verdict: { ok: false, status: 403, error: 'client certificate not trusted', reason } };
    }
    if (!known.allowed) {
      return { ...base, logFields: known.logFields + logFieldsOf({ reason: 'NOT_ALLOWED' }), verdict: { ok: false, status: 403, error: 'client not in the allow-list', reason: 'NOT_ALLOWED' } };
    }
    known.accepted ??= { ...base, logFields: known.logFields, verdict: { ok: true } };
    return known.accepted;
  }

  private knownCert(der: Buffer): KnownCert {
    // Comparing bytes with the last certificate costs less than hashing them into a Map key.
    if (this.last?.der.equals(der)) return this.last;
    const key = der.toString('latin1');
    let known = this.known.get(key);
    if (!known) {
      if (this.known.size >= KNOWN_MAX) this.known.clear();
      const cert = new X509Certificate(der);
      const cn = commonName(cert);
      const fingerprint = cert.fingerprint256;
      known = { der: Buffer.from(der), cert, cn, fingerprint, allowed: isAllowed(cert, this.allowList), logFields: logFieldsOf({ client: logName(cn), fingerprint }) };
      this.known.set(key, known);
    }
    this.last = known;
    return known;
  }

  /** The /whoami body for this identity, built once per certificate. */
  whoami(who: ClientIdentity): string {
    if (!who.known) return NO_CERTIFICATE;
    who.known.whoami ??= JSON.stringify(describeCertificate(who.known.cert));
    return who.known.whoami;
  }
}

const NO_CERTIFICATE = JSON.stringify({ clientCertificate: null });

export function describeCertificate(cert: X509Certificate): Record<string, unknown> {
  return {
    subject: subjectText(cert.subject).split('\n').join(', '),
    issuer: subjectText(cert.issuer).split('\n').join(', '),
    serialNumber: cert.serialNumber,
    fingerprintSha256: cert.fingerprint256,
    validFrom: new Date(cert.validFrom).toISOString(),
    validTo: new Date(cert.validTo).toISOString(),
    subjectAltNames: cert.subjectAltName ? cert.subjectAltName.split(', ') : [],
  };
}
