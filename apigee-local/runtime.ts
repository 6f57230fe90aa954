// The runtime (message processor): routes HTTPS requests by the base paths of the revisions it
// serves (a READY deployment's, or during a redeploy the one being replaced: apigee-local/deployments.ts),
// resolves the TargetEndpoint's HTTPTargetConnection (target server or URL + SSLInfo, `ref://`
// included), calls the backend with exactly the configured southbound TLS over a keep-alive
// pool, and passes the answer through, or answers with Apigee's fault JSON.
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { isIP, type Socket } from 'node:net';
import { Readable } from 'node:stream';
import { checkServerIdentity, type PeerCertificate, rootCertificates, type SecureVersion, type TLSSocket } from 'node:tls';
import { createHash } from 'node:crypto';
import { buildConnector, Pool, errors as undiciErrors } from 'undici';
import { cipherSettings, unknownCipher } from './ciphers.ts';
import { Fault, faults } from './errors.ts';
import { hostName } from './http-util.ts';
import type { ProxyEndpointModel, TargetEndpointModel } from './bundle.ts';
import type { DeployedConfig, EnvironmentConfig } from './deployed-config.ts';
import { deploymentState, servedRevision } from './deployments.ts';
import { revisionOf, type State, type Store, type TlsInfo } from './state.ts';

export interface RuntimeOptions {
  store: Store;
  /** Target servers, keystores and references as the runtime serves them (after propagation). */
  config: DeployedConfig;
  deploySettleMs: number;
  /** Default target read timeout (Apigee's io.timeout.millis is 55 s); a bundle Property overrides it. */
  targetTimeoutMs: number;
  /** Largest request or response body relayed (Apigee's limit for non-streamed proxies). */
  payloadLimit: number;
  /** How long the rest of a refused request body is read and thrown away (refuseBody). */
  drainMs: number;
  /** Gets one line per fault the runtime answers a proxied request with, saying why (server.ts). */
  faultLog?: (line: string) => void;
}

/** Longest request path a fault line repeats (the request line itself may be 7 KiB). */
const LOGGED_PATH_CHARS = 200;
const LOGGED_WHY_CHARS = 500;

interface RouteEntry {
  basePath: string;
  apiProxy: string;
  revision: string;
  proxy: ProxyEndpointModel;
  targets: Map<string, TargetEndpointModel>;
}

/** Everything needed to open connections to one backend the same way every time. */
interface Southbound {
  origin: string;
  basePath: string;
  hostHeader: string;
  tls?: {
    ca?: string[];
    cert?: string;
    key?: string;
    servername?: string;
    rejectUnauthorized: boolean;
    /** The name the backend's certificate must carry (checked on every TLS call: tlsSettings). */
    host: string;
    commonName?: { value: string; wildcardMatch: boolean };
    /** OpenSSL's names for sSLInfo.ciphers, TLS 1.2 and 1.3 suites in one list (Node splits it). */
    ciphers?: string;
    minVersion?: SecureVersion;
    maxVersion?: SecureVersion;
  };
  timeoutMs: number;
  /** The keep-alive pool, looked up once per resolved target. */
  pool?: Pool;
}

const SMALL_BODY = 64 * 1024;
/**
 * Apigee X documents 30 MB for non-streamed payloads (the streaming page), Edge and community
 * answers 10 MB; the lower one is the default, so what passes here is not refused there for size.
 */
export const DEFAULT_PAYLOAD_LIMIT = 10 * 1024 * 1024;
/**
 * After a 413 the rest of the body is read and thrown away (refuseBody), at most this many bytes
 * and DEFAULT_DRAIN_MS (nginx's lingering close waits 5 s too): enough for what is already in
 * flight while the client reads the answer (a Linux send buffer grows to 4 MiB).
 */
export const DRAIN_BYTES = 8 * 1024 * 1024;
export const DEFAULT_DRAIN_MS = 5_000;
/** How long a connection closed after a refusal stays open for the client to read the fault. */
const REFUSAL_LINGER_MS = 1000;
/**
 * Apigee's message processor refuses a request line over 7 KiB with 414 TooBigLine (Edge's
 * documented default; X's is not published). Node only limits line and headers together (16 KiB).
 */
const REQUEST_LINE_LIMIT = 7 * 1024;
/** The backend's response headers, as Node's own default; over it → 502 TooBigHeaders. */
const RESPONSE_HEADERS_LIMIT = 16 * 1024;
const MAX_POOLS = 32;
// Not forwarded: hop-by-hop headers, Host (set to the target), and Expect (the gateway itself already
// answered "100 Continue" to the client; the southbound request carries the body at once).
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate', 'host', 'expect']);

// Node/OpenSSL codes for "the backend's certificate is not acceptable": Node's certificate
// verification codes (without the CRL ones: no CRLs are configured). Names: nameMismatch.
const CERT_REJECTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED', 'INVALID_CA',
  // e.g. a certificate issued for clients only (extendedKeyUsage clientAuth): INVALID_PURPOSE.
  'INVALID_PURPOSE', 'CERT_CHAIN_TOO_LONG', 'PATH_LENGTH_EXCEEDED', 'CERT_REVOKED', 'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY', 'ERROR_IN_CERT_NOT_BEFORE_FIELD', 'ERROR_IN_CERT_NOT_AFTER_FIELD',
  // Node's code for every other verification error (X509ErrorCode), e.g. OpenSSL's security level
  // refusing a SHA-1 signature (CA_MD_TOO_WEAK) or a key too small (EE_KEY_TOO_SMALL).
  'UNSPECIFIED',
]);

export class Runtime {
  private routes: { state: State; entries: RouteEntry[]; validUntil: number } | undefined;
  private southbound = new WeakMap<EnvironmentConfig, Map<string, Southbound | Fault>>();
  private pools = new Map<string, Pool>();
  private rr = new Map<string, number>();

  constructor(private readonly options: RuntimeOptions) {}

  handler = (req: IncomingMessage, res: ServerResponse): void => {
    this.handle(req, res).catch((error: unknown) => {
      if (!(error instanceof Fault)) process.stderr.write(`apigee-local runtime: ${(error as Error).stack ?? String(error)}\n`);
      const fault = error instanceof Fault ? error : faults.internal((error as Error).message);
      this.logFault(req, fault);
      sendFault(res, fault);
    });
  };

  /**
   * A fault's faultstring rarely says why (ServiceUnavailable: "The Service is temporarily
   * unavailable"); Apigee shows the cause in a debug session. Here it is one line in the stand-in's
   * output: the path without its query (which may carry a client's secrets), and the cause.
   */
  private logFault(req: IncomingMessage, fault: Fault): void {
    if (!this.options.faultLog) return;
    const url = req.url ?? '';
    const query = url.indexOf('?');
    const path = (query === -1 ? url : url.slice(0, query)).slice(0, LOGGED_PATH_CHARS);
    // One line: OpenSSL's messages may carry newlines.
    const why = (fault.why ?? fault.faultstring).replace(/\s+/g, ' ').trim().slice(0, LOGGED_WHY_CHARS);
    this.options.faultLog(`apigee-local runtime: ${req.method} ${path} → ${fault.httpStatus} ${fault.errorcode}: ${why}`);
  }

  /**
   * A client that sent `Expect: 100-continue` waits before it uploads (curl does for bodies over
   * 1 MiB). Node would answer "100 Continue" before the handler runs, and the client would then
   * upload a body the handler refuses by its declared length: that refusal comes first here, so
   * the body is never sent. Anything else gets its "100 Continue" and the usual handling.
   */
  checkContinue = (req: IncomingMessage, res: ServerResponse): void => {
    if (Number(req.headers['content-length']) > this.options.payloadLimit) return refuseBody(req, res, this.options.drainMs);
    res.writeContinue();
    this.handler(req, res);
  };

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy()));
    this.pools.clear();
  }

  /** Route table for the current state: the revision each deployment serves now, longest base path first. */
  private table(): RouteEntry[] {
    const state = this.options.store.state;
    const now = Date.now();
    // A table stays valid until the state changes or a PROGRESSING deployment settles.
    if (this.routes && this.routes.state === state && now < this.routes.validUntil) return this.routes.entries;
    const entries: RouteEntry[] = [];
    let validUntil = Infinity;
    for (const d of Object.values(state.deployments)) {
      if (deploymentState(d, this.options.deploySettleMs, now) === 'PROGRESSING') validUntil = Math.min(validUntil, Number(d.deployStartTime) + this.options.deploySettleMs);
      const revision = servedRevision(d, this.options.deploySettleMs, now);
      if (revision === undefined) continue;
      const bundle = revisionOf(state, d.apiProxy, revision)?.bundle;
      if (!bundle) continue;
      const targets = new Map(bundle.targetEndpoints.map((t) => [t.name, t]));
      for (const proxy of bundle.proxyEndpoints) entries.push({ basePath: proxy.basePath, apiProxy: d.apiProxy, revision, proxy, targets });
    }
    entries.sort((a, b) => b.basePath.length - a.basePath.length);
    this.routes = { state, entries, validUntil };
    return entries;
  }

  private match(pathname: string): { entry: RouteEntry; suffix: string } | undefined {
    for (const entry of this.table()) {
      const bp = entry.basePath;
      if (bp === '/') return { entry, suffix: pathname };
      if (pathname === bp || pathname.startsWith(bp + '/')) return { entry, suffix: pathname.slice(bp.length) };
    }
    return undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // RFC 9112 §3.2: more than one Host is a 400 (Apigee: protocol.http.DuplicateHeader).
    if (req.rawHeaders.filter((_, i) => i % 2 === 0 && req.rawHeaders[i]!.toLowerCase() === 'host').length > 1) {
      req.resume();
      throw faults.duplicateHeader('Host');
    }
    // Node let it through (line and headers within its 16 KiB), but Apigee's line limit is lower.
    if (`${req.method} ${req.url} HTTP/${req.httpVersion}`.length > REQUEST_LINE_LIMIT) {
      req.resume();
      throw faults.requestLineTooBig(REQUEST_LINE_LIMIT);
    }
    // Dot segments (also percent-encoded ones) and backslashes are resolved before routing, so a
    // path can neither leave its base path nor reach the backend as "/../x".
    const url = requestUrl(req.url ?? '/');
    const pathname = url.pathname;
    const search = url.search;
    const found = this.match(pathname);
    if (!found) {
      req.resume();
      throw faults.noRoute(hostName(req.headers.host), pathname);
    }
    const { entry, suffix } = found;
    // Conditions are not evaluated: the first unconditional RouteRule (or else the first rule) wins.
    const rule = entry.proxy.routeRules.find((r) => !r.condition) ?? entry.proxy.routeRules[0];
    if (!rule?.targetEndpoint) {
      req.resume();
      res.writeHead(200, { 'content-length': 0 }).end(); // a null route answers an empty 200
      return;
    }
    const target = entry.targets.get(rule.targetEndpoint);
    if (!target) throw faults.internal(`TargetEndpoint ${rule.targetEndpoint} not found`);
    const southbound = this.resolve(entry, target);
    await this.forward(req, res, southbound, suffix + search);
  }

  /** Resolves a TargetEndpoint against the served configuration (cached per revision). */
  private resolve(entry: RouteEntry, target: TargetEndpointModel): Southbound {
    const config = this.options.config.current();
    let cache = this.southbound.get(config);
    if (!cache) {
      cache = new Map();
      this.southbound.set(config, cache);
    }
    let server: string | undefined;
    if (!target.url) {
      // LoadBalancer: round robin over enabled servers.
      const names = target.servers;
      // A server deleted after the deployment is as inactive as a disabled one.
      const enabled = names.filter((n) => config.targetServers.get(n)?.isEnabled === true);
      if (enabled.length === 0) throw faults.noActiveTargets(`no enabled target server among ${names.join(', ')}`);
      const key = `${entry.apiProxy}/${entry.revision}/${target.name}`;
      const turn = this.rr.get(key) ?? 0;
      this.rr.set(key, turn + 1);
      server = enabled[turn % enabled.length];
    }
    const cacheKey = `${entry.apiProxy}/${entry.revision}/${target.name}/${server ?? ''}`;
    let resolved = cache.get(cacheKey);
    if (!resolved) {
      try {
        resolved = this.buildSouthbound(config, target, server);
      } catch (error) {
        if (!(error instanceof Fault)) throw error;
        resolved = error;
      }
      cache.set(cacheKey, resolved);
    }
    if (resolved instanceof Fault) throw resolved;
    return resolved;
  }

  private buildSouthbound(config: EnvironmentConfig, target: TargetEndpointModel, serverName: string | undefined): Southbound {
    let host: string;
    let port: number;
    let https: boolean;
    let basePath: string;
    let ssl: TlsInfo | undefined;
    if (serverName !== undefined) {
      const ts = config.targetServers.get(serverName)!;
      ssl = ts.sSLInfo;
      https = ssl?.enabled === true;
      host = ts.host;
      port = ts.port;
      basePath = target.path ?? '';
    } else {
      const url = new URL(target.url!);
      https = url.protocol === 'https:';
      ssl = target.sslInfo;
      if (ssl?.enabled === false) https = false;
      if (ssl?.enabled === true) https = true;
      host = url.hostname.replace(/^\[|\]$/g, '');
      port = Number(url.port || (https ? 443 : 80));
      basePath = url.pathname === '/' ? '' : url.pathname.replace(/\/$/, '');
    }
    const timeout = Number(target.properties['io.timeout.millis'] ?? this.options.targetTimeoutMs);
    const hostPart = host.includes(':') ? `[${host}]` : host;
    const southbound: Southbound = {
      origin: `${https ? 'https' : 'http'}://${hostPart}:${port}`,
      basePath,
      hostHeader: `${hostPart}:${port}`,
      timeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : this.options.targetTimeoutMs,
    };
    if (https) southbound.tls = tlsSettings(config, ssl ?? {}, host);
    return southbound;
  }

  private pool(sb: Southbound): Pool {
    if (sb.pool && !sb.pool.closed && !sb.pool.destroyed) return sb.pool;
    // Same origin and TLS material → same pool, also across state changes that did not touch it.
    const key = createHash('sha256').update(JSON.stringify([sb.origin, sb.tls ?? null, sb.timeoutMs])).digest('hex');
    let pool = this.pools.get(key);
    if (pool) return (sb.pool = pool);
    const tls = sb.tls;
    pool = new Pool(sb.origin, {
      headersTimeout: sb.timeoutMs,
      maxHeaderSize: RESPONSE_HEADERS_LIMIT,
      bodyTimeout: sb.timeoutMs,
      keepAliveTimeout: 60_000,
      connect: tls ? namesChecked(tls) : undefined,
    });
    this.pools.set(key, pool);
    // Every change of TLS material makes a new pool; keep the most recent ones and let the oldest
    // finish their requests and close, so repeated reconfiguration cannot pile up connections.
    while (this.pools.size > MAX_POOLS) {
      const [oldestKey, oldest] = this.pools.entries().next().value as [string, Pool];
      this.pools.delete(oldestKey);
      void oldest.close();
    }
    return (sb.pool = pool);
  }

  private async forward(req: IncomingMessage, res: ServerResponse, sb: Southbound, pathAndQuery: string): Promise<void> {
    const headers = endToEnd(req.headers);
    headers.host = sb.hostHeader;
    const client = req.socket.remoteAddress ?? '';
    headers['x-forwarded-for'] = req.headers['x-forwarded-for'] ? `${String(req.headers['x-forwarded-for'])}, ${client}` : client;
    headers['x-forwarded-proto'] = 'https';
    const hasBody = req.headers['content-length'] !== undefined ? req.headers['content-length'] !== '0' : req.headers['transfer-encoding'] !== undefined;
    const limit = this.options.payloadLimit;
    // A declared length over the limit is refused before the backend is called. A chunked body is
    // counted while it goes south.
    if (Number(req.headers['content-length']) > limit) return refuseBody(req, res, this.options.drainMs);
    // A client that goes away while the backend thinks or mid-download ends the backend call too,
    // instead of holding a backend connection until the target timeout (55 s by default). Mid-upload
    // the request stream's failure ends it as well: undici drops a call whose body fails.
    const clientGone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) clientGone.abort();
    });
    let upstream;
    try {
      upstream = await this.pool(sb).request({
        path: targetPath(sb.basePath, pathAndQuery),
        method: req.method as 'GET',
        headers,
        body: !hasBody ? null : req.headers['content-length'] !== undefined ? req : Readable.from(limited(req, limit)),
        signal: clientGone.signal,
      });
    } catch (error) {
      req.resume();
      if (clientGone.signal.aborted) return; // nobody left to answer
      if (error instanceof Fault) return refuseBody(req, res, this.options.drainMs); // chunked body over the limit
      throw classify(error, sb);
    }
    const out = endToEnd(upstream.headers);
    // A backend may answer before the request body was fully sent (e.g. 405); the client pool then
    // stops reading it, so this connection cannot carry another request: say so and close it.
    if (!req.complete) out.connection = 'close';
    const declared = upstream.headers['content-length'];
    const length = declared === undefined ? NaN : Number(declared);
    const bodiless = req.method === 'HEAD' || upstream.statusCode === 204 || upstream.statusCode === 304;
    if (length > limit && !bodiless) {
      // Refused from the header, before any of the body is read.
      upstream.body.destroy();
      throw faults.tooBigBody(502);
    }
    if (!(length >= 0) || length <= SMALL_BODY) {
      // Small answers go out in one write (headers + body), which keeps per-request cost down.
      // An answer of unknown length is collected like Apigee's non-streamed proxies do, so one
      // over the limit can still be answered with the fault: at most limit + one chunk is held.
      let body: Buffer;
      try {
        body = await readUpTo(upstream.body, limit);
      } catch (error) {
        if (clientGone.signal.aborted) return;
        throw error instanceof Fault ? error : classify(error);
      }
      res.writeHead(upstream.statusCode, out);
      res.end(body);
      return;
    }
    res.writeHead(upstream.statusCode, out);
    upstream.body.on('error', () => res.destroy());
    upstream.body.pipe(res);
  }
}

/** Turns sSLInfo into Node TLS options: trust = the truststore's certificates only. */
function tlsSettings(config: EnvironmentConfig, ssl: TlsInfo, host: string): NonNullable<Southbound['tls']> {
  /** The aliases of a keystore named directly or through `ref://`; `missing` is the fault when it is not there. */
  const keystore = (value: string, missing: () => Fault) => {
    const ref = /^ref:\/\/(.+)$/.exec(value)?.[1];
    const name = ref === undefined ? value : config.references.get(ref)?.refers;
    const aliases = name === undefined ? undefined : config.keystores.get(name);
    if (!aliases) throw missing();
    return aliases;
  };
  const enforce = ssl.enforce === true;
  const tls: NonNullable<Southbound['tls']> = {
    // Without a truststore (and without enforce) Apigee does not validate the backend certificate's chain.
    rejectUnauthorized: enforce || (!ssl.ignoreValidationErrors && ssl.trustStore !== undefined),
    // The names, though, are checked on every TLS call (namesChecked). With ignoreValidationErrors
    // Apigee documents that a host name mismatch still fails (reference §3, TLS flag semantics);
    // with enforce unset, whether X checks the name is UNCONFIRMED (Edge did not): the stricter
    // choice, so a certificate that would fail on X fails here first rather than on a first real run.
    host,
  };
  if (!/^\d+\.\d+\.\d+\.\d+$|:/.test(host)) tls.servername = host; // SNI for names, never for IPs
  if (ssl.trustStore) {
    // No truststore to anchor the chain: nothing the backend presents can be trusted.
    const aliases = keystore(ssl.trustStore, () => faults.sslHandshakeFailed(`truststore ${ssl.trustStore} not found in the environment`));
    tls.ca = [...aliases.values()].flatMap((a) => a.certs);
  } else if (enforce) {
    tls.ca = [...rootCertificates];
  }
  // The key is presented only with clientAuthEnabled, whatever keyStore says.
  if (ssl.clientAuthEnabled) {
    // No key to present (keystore, reference or keyed alias missing): the handshake a backend that
    // needs a client certificate would refuse, the reference's "no client cert in keystore" case.
    const alias = keystore(ssl.keyStore ?? '', () => faults.serviceUnavailable(`keystore ${ssl.keyStore ?? '(none)'} not found in the environment: no client certificate to present`)).get(ssl.keyAlias ?? '');
    if (!alias?.keyPem) throw faults.serviceUnavailable(`keystore ${ssl.keyStore} has no key alias ${ssl.keyAlias ?? '(none)'}: no client certificate to present`);
    tls.cert = alias.certs.join('');
    tls.key = alias.keyPem;
  }
  if (ssl.commonName?.value) tls.commonName = { value: ssl.commonName.value, wildcardMatch: ssl.commonName.wildcardMatch === true };
  // Only TLS 1.2 and 1.3 can be spoken (reference §3: TLS 1.0/1.1 targets fail; OpenSSL 3 refuses
  // them at its default security level too). Node takes a range, not a set: a list such as
  // ["TLSv1", "TLSv1.3"] must not open the range to the TLS 1.2 it does not name.
  let versions: SecureVersion[] = ssl.protocols?.length ? ssl.protocols.filter((p): p is SecureVersion => ['TLSv1.2', 'TLSv1.3'].includes(p)).sort() : ['TLSv1.2', 'TLSv1.3'];
  // A list naming no version it can speak leaves the runtime nothing to offer (never "any version").
  if (versions.length === 0) {
    throw faults.sslHandshakeFailed(`no supported protocol among ${ssl.protocols!.join(', ')} (TLSv1.2, TLSv1.3)`);
  }
  if (ssl.ciphers?.length) {
    // Checked at the management API and at import; a state saved before that check was made may still hold one.
    const unknown = unknownCipher(ssl.ciphers);
    if (unknown) throw faults.sslHandshakeFailed(`sSLInfo.ciphers: ${unknown}`);
    const suites = cipherSettings(ssl.ciphers);
    tls.ciphers = suites.ciphers;
    // Suites of versions the protocols leave out: Java finds nothing to offer and says so.
    versions = versions.filter((v) => suites.versions.includes(v));
    if (versions.length === 0) {
      throw faults.sslHandshakeFailed('javax.net.ssl.SSLHandshakeException: No appropriate protocol (protocol is disabled or cipher suites are inappropriate)',
        `sSLInfo.ciphers ${ssl.ciphers.join(', ')} has no suite for ${(ssl.protocols ?? []).join(', ')}`);
    }
  }
  if (ssl.protocols?.length || ssl.ciphers?.length) {
    tls.minVersion = versions[0];
    tls.maxVersion = versions.at(-1);
  }
  return tls;
}

/** A backend certificate that does not carry the names sSLInfo asks for; `fault` is the answer. */
class CertificateNameError extends Error {
  constructor(readonly fault: Fault) {
    super(fault.why ?? fault.faultstring);
    this.name = 'CertificateNameError';
  }
}

/**
 * undici's connector for these settings, with the name checks after each handshake. Node's own
 * host check runs only where the chain is verified (and only rejects then), so it is off and this
 * one check holds for every call. Sessions are not resumed: a resumed session has no peer
 * certificate to check, and one made by a connection that failed the check would skip it.
 */
function namesChecked(tls: NonNullable<Southbound['tls']>): buildConnector.connector {
  const connect = buildConnector({
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    servername: tls.servername,
    rejectUnauthorized: tls.rejectUnauthorized,
    minVersion: tls.minVersion,
    maxVersion: tls.maxVersion,
    ciphers: tls.ciphers,
    checkServerIdentity: () => undefined,
    maxCachedSessions: 0,
  });
  return (options, callback) => connect(options, (error, socket) => {
    if (error) return callback(error, null);
    const fault = nameMismatch(tls, (socket as TLSSocket).getPeerCertificate());
    if (!fault) return callback(null, socket!);
    socket!.destroy();
    callback(new CertificateNameError(fault), null);
  });
}

/**
 * The fault for a backend certificate that does not name what the settings ask for, else undefined.
 * The host, by Java's HostnameChecker rules (an address needs an IP SAN; a name a DNS SAN, or the
 * CN when there is no DNS SAN; Node's checkServerIdentity applies the same) and with its message,
 * which an Apigee faultstring carries after the exception's class (reference §3; X's exact text
 * for this case is UNCONFIRMED). Then commonName.value, when set, against the certificate's CN (the
 * last, most specific one, as Java takes it): exactly, case included, or with wildcardMatch a
 * leading `*.` standing for one label (Edge's description; the reference gives only the fields,
 * so both are the stricter reading, and both are checked, the CN never replacing the host).
 */
function nameMismatch(tls: NonNullable<Southbound['tls']>, cert: PeerCertificate): Fault | undefined {
  const sans = (cert.subjectaltname ?? '').split(', ').filter(Boolean);
  const cn = [cert.subject?.CN ?? []].flat().at(-1);
  const names = `subjectAltName ${sans.join(', ') || 'none'}, CN ${cn ?? 'none'}`;
  if (checkServerIdentity(tls.host, cert)) {
    const java = isIP(tls.host)
      ? (sans.length ? `No subject alternative names matching IP address ${tls.host} found` : 'No subject alternative names present')
      : (sans.some((n) => n.startsWith('DNS:')) ? `No subject alternative DNS name matching ${tls.host} found.` : `No name matching ${tls.host} found`);
    return faults.sslHandshakeFailed(`java.security.cert.CertificateException: ${java}`, `the backend certificate does not name the target host ${tls.host} (${names})`);
  }
  const expected = tls.commonName;
  if (expected && !(cn !== undefined && commonNameMatches(expected.value, expected.wildcardMatch, cn))) {
    return faults.sslHandshakeFailed(`COMMON_NAME_MISMATCH: the certificate's CN ${cn === undefined ? 'is missing' : `"${cn}" is not`} "${expected.value}"${expected.wildcardMatch ? ' (wildcardMatch)' : ''}`, `commonName.value ${expected.value}${expected.wildcardMatch ? ' with wildcardMatch' : ''}; the backend certificate has ${names}`);
  }
  return undefined;
}

function commonNameMatches(value: string, wildcardMatch: boolean, cn: string): boolean {
  if (cn === value) return true;
  if (!wildcardMatch || !value.startsWith('*.')) return false;
  const dot = cn.indexOf('.');
  return dot > 0 && cn.slice(dot) === value.slice(1);
}

/**
 * The request target as a URL. Origin-form ("/path") stays a path even when it starts with "//",
 * which a URL parser would otherwise read as a host and drop from the path; absolute-form
 * ("https://host/path", RFC 9112 §3.2.2) is parsed as a URL and its path is used.
 */
function requestUrl(target: string): URL {
  return target.startsWith('/') ? new URL(`https://gateway.invalid${target}`) : new URL(target, 'https://gateway.invalid');
}

/**
 * The headers a proxy passes on: without hop-by-hop headers and without the ones the sender named
 * in its own Connection header (RFC 9110 §7.6.1), which only concern that one connection.
 */
function endToEnd(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const named = new Set([headers.connection ?? []].flat().join(',').toLowerCase().split(',').map((t) => t.trim()));
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && !named.has(name)) out[name] = value;
  }
  return out;
}

/**
 * The client's chunked body, passed on chunk by chunk until it goes over the limit (413 TooBigBody).
 * Leaving the loop must not destroy the request (and with it the socket): the rest is drained.
 */
async function* limited(req: IncomingMessage, limit: number): AsyncGenerator<Buffer> {
  let size = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw faults.tooBigBody(413);
    yield chunk;
  }
}

/** The backend's body, whole, unless it goes over the limit (502 TooBigBody): then it is dropped unread. */
async function readUpTo(body: Readable, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw faults.tooBigBody(502);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Answers 413 TooBigBody to a client that may still be uploading. Closing the connection right
 * after the answer would make the kernel answer the client's next bytes with a reset, and a client
 * that had not read the answer yet would lose it (curl: "Send failure: Broken pipe", exit 55). So,
 * like nginx's lingering close, the fault goes out with `Connection: close` and the rest of the body
 * is read and thrown away until the client stops sending (the body ends, or the client closes),
 * for at most DRAIN_BYTES and `drainMs`: past either bound the connection is cut.
 * The answer is written to the socket directly: Node destroys a `Connection: close` answer's
 * socket as soon as the answer is written, and that is the reset this avoids. It is written once
 * the answers to the requests pipelined before this one are (whenItsTurn); until then the body is
 * left unread.
 */
function refuseBody(req: IncomingMessage, res: ServerResponse, drainMs: number): void {
  whenItsTurn(res, () => {
    const socket = req.socket;
    socket.write(rawAnswer(faults.tooBigBody(413)));
    // The client sent it all (also while the answers before this one went out): a clean close, nothing left to reset.
    if (req.readableEnded) return void socket.end();
    const cut = setTimeout(() => socket.destroy(), drainMs);
    socket.once('close', () => clearTimeout(cut));
    let drained = 0;
    req.on('data', (chunk: Buffer) => {
      drained += chunk.length;
      if (drained > DRAIN_BYTES) socket.destroy();
    });
    req.on('end', () => socket.end());
    req.resume();
  });
}

/**
 * The answer node:http is writing on `socket`, other than `own`, while it is not finished.
 * node:http keeps it in _httpMessage and, when it finishes, puts the next queued one (pipelining)
 * there before other 'finish' listeners run: waiting for 'finish' until none is left waits for
 * every answer queued before.
 */
function answerInProgress(socket: Socket, own?: ServerResponse): ServerResponse | undefined {
  const current = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  return current && current !== own && !current.writableFinished ? current : undefined;
}

/** Runs `write` once the answers queued before `res` on its connection are written, for answers written to the socket directly. */
function whenItsTurn(res: ServerResponse, write: () => void): void {
  const pending = answerInProgress(res.req.socket as Socket, res);
  if (pending) pending.once('finish', () => whenItsTurn(res, write));
  else write();
}

/** Target path = the target's own path + what followed the base path + the query. */
function targetPath(base: string, suffixAndQuery: string): string {
  const path = base + suffixAndQuery;
  return path.startsWith('/') ? path : '/' + path;
}

function errorCode(error: unknown): string {
  const e = error as { code?: string; cause?: { code?: string } };
  return e.cause?.code ?? e.code ?? '';
}

/** Maps a southbound failure to the fault Apigee X returns (choices documented in docs/apigee-local.md). */
function classify(error: unknown, sb?: Southbound): Fault {
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) return faults.gatewayTimeout();
  // An HTTP answer, but with a head too big to take: Apigee documents 502 TooBigHeaders for it.
  if (error instanceof undiciErrors.HeadersOverflowError) return faults.responseHeadersTooBig(RESPONSE_HEADERS_LIMIT);
  if (error instanceof CertificateNameError) return error.fault;
  const code = errorCode(error);
  const message = (error as Error).message ?? String(error);
  if (CERT_REJECTED.has(code)) return faults.sslHandshakeFailed(`${code}: ${message}`);
  // Protocol mismatch (no common version, plain HTTP on the TLS port): the handshake itself failed.
  if (/^ERR_SSL_.*(VERSION|PROTOCOL)/.test(code) && !/ALERT_(CERTIFICATE|BAD_CERT|UNKNOWN_CA|HANDSHAKE)/.test(code)) {
    return faults.sslHandshakeFailed(`${code}: ${message}`);
  }
  // Refused client certificate, unreachable, reset, connect timeout: the service is unavailable.
  // Under TLS 1.3 a backend refuses the client certificate after the handshake: its alert
  // may come after the socket closed, so all that is seen is the hang-up.
  // A backend that shares no suite with sSLInfo.ciphers answers with the same alert as one that
  // refuses a missing client certificate under TLS 1.2: both are the reference's generic failure.
  const hint = code === 'UND_ERR_SOCKET' ? ' (the backend hung up: a refused or missing client certificate shows so under TLS 1.3; see the backend\'s log)'
    : code === 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' && sb?.tls?.ciphers ? ` (sSLInfo.ciphers offers only ${sb.tls.ciphers}: the backend may share none of them)` : '';
  return faults.serviceUnavailable(`${code ? `${code}: ` : ''}${message}${hint}`);
}

/** The status Node gives each request it cannot parse, and the errorcode the fault names (docs/apigee-local.md). */
const UNPARSED: Record<string, { status: number; errorcode: string; faultstring: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, errorcode: 'protocol.http.TooBigHeaders', faultstring: 'request headers size exceeding 16,384' },
  HPE_INVALID_HEADER_TOKEN: { status: 400, errorcode: 'protocol.http.HeaderWithInvalidChar', faultstring: 'Invalid character in a header' },
  HPE_INVALID_URL: { status: 400, errorcode: 'protocol.http.InvalidPath', faultstring: 'Invalid request path' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { status: 413, errorcode: 'protocol.http.TooBigBody', faultstring: 'Body buffer overflow' },
};
const BAD_REQUEST = { status: 400, errorcode: 'protocol.http.BadRequest', faultstring: 'Bad Request' };

/**
 * The runtime server's `clientError` handler: a request Node refuses before any handler runs
 * (a head over Node's 16 KiB, a malformed request line or header, Content-Length twice or with
 * Transfer-Encoding) is answered with the same fault body as every other runtime fault, with the
 * status Node itself would give, after the answers to the requests pipelined before it.
 * Timeouts and resets get no answer, as with Node's own handler.
 */
export function refuseUnparsed(error: NodeJS.ErrnoException, socket: Socket): void {
  const code = error.code ?? '';
  if (!code.startsWith('HPE_') || !socket.writable) {
    socket.destroy();
    return;
  }
  const answer = UNPARSED[code] ?? BAD_REQUEST;
  endAfterPending(socket, rawAnswer(new Fault(answer.status, answer.errorcode, answer.faultstring)));
}

/**
 * The runtime server's `connect` handler. CONNECT (a tunnel request, authority-form target such as
 * "host:443") never reaches the handler, and without this listener Node drops the connection
 * without a word. No base path can match such a target, so it gets the fault of a path no
 * deployment serves, after the answers still going out on the connection (pipelining), and the
 * connection closes.
 */
export function refuseConnect(req: IncomingMessage, socket: Socket): void {
  endAfterPending(socket, rawAnswer(faults.noRoute(hostName(req.headers.host), req.url ?? '')));
}

/**
 * Ends the connection with `last` once the answers to the requests parsed before it are written,
 * so a client that pipelined reads each answer in its place (written at once, `last` would be
 * read as the answer to the first request still being answered).
 */
function endAfterPending(socket: Socket, last: string): void {
  const end = () => {
    socket.end(last);
    // No HTTP timeout watches a refused connection: a client that never closes its side is cut.
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
  };
  const current = answerInProgress(socket);
  if (current) {
    // The refused bytes were inside this request's body: it can never complete, `last` is its
    // answer; nothing can be written into the middle of an answer already started.
    if (!current.req.complete) return current.headersSent ? void socket.destroy() : end();
    current.once('finish', () => endAfterPending(socket, last));
    return;
  }
  if (socket.writable) end();
}

/** A fault as the bytes of a whole HTTP answer that closes the connection, for writing to a socket directly. */
function rawAnswer(fault: Fault): string {
  const body = fault.body();
  return `HTTP/1.1 ${fault.httpStatus} ${STATUS_CODES[fault.httpStatus]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}

function sendFault(res: ServerResponse, fault: Fault): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = fault.body();
  res.writeHead(fault.httpStatus, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
