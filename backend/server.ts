// The mTLS backend: a node:https server that trusts exactly the truststore, answers the
// tutorial's greeting, logs one JSON line per request and per refused connection, reloads its
// stores when they change on disk and drains gracefully on close(). HTTP itself is node:http's
// (llhttp); this module adds the identity, the routes, the log and the timeouts Node lacks.
import { STATUS_CODES, type Server as HttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { constants } from 'node:crypto';
import { Server as TlsServer, type SecureContextOptions, type TLSSocket } from 'node:tls';
import { Connections, type Connection } from './connections.ts';
import { createHealthServer } from './health.ts';
import { commonName, Identifier } from './identity.ts';
import { Logger, LogWriter, sinkOutput, type LogSink } from './logger.ts';
import { RequestLog } from './request-log.ts';
import { answer, jsonAnswer, type Answer } from './routes.ts';
import type { BackendSettings } from './settings.ts';
import { loadStores, StoreError, type TlsMaterial } from './stores.ts';
import { watchStores, type StoreWatcher } from './watch.ts';

export { ignoredSpringVariables, settingsFromEnv, SettingsError, type BackendSettings } from './settings.ts';
export { StoreError } from './stores.ts';

export interface BackendOptions {
  /** Where JSON log lines go, each as it is logged; default: stdout, in batches, through a bounded non-blocking writer (logger.ts). */
  log?: LogSink;
}

export interface Backend {
  port: number;
  healthPort: number;
  /** The stores in use right now. */
  material(): TlsMaterial;
  /** Re-reads the stores; resolves true when new ones took effect, false when unchanged or bad. */
  reload(): Promise<boolean>;
  /** Stops accepting, lets in-flight requests finish (up to shutdownTimeoutMs), then resolves. */
  close(): Promise<void>;
  /** The HTTPS server, for tests and benchmarks that need its events. */
  server: HttpsServer;
}

/** Lines the stdout writer may hold while its reader is slow; beyond that lines are dropped and counted. */
const LOG_QUEUE_BYTES = 1 << 20;
/** How long a refused connection may take to read its answer before it is cut. */
const REFUSAL_LINGER_MS = 1000;
const MAX_HEADER_BYTES = 16 * 1024;
const MISSING_HOST = jsonAnswer(400, { error: 'missing host header' });
const SEVERAL_HOSTS = jsonAnswer(400, { error: 'more than one host header' });
const VERSION_NOT_SUPPORTED = jsonAnswer(505, { error: 'only HTTP/1.0 and HTTP/1.1 are spoken here' });
const EXPECTATION_FAILED = jsonAnswer(417, { error: 'the only expectation supported is "100-continue"' });

/**
 * How many Host lines the request has. node:http keeps the first and drops the others from
 * req.headers, so they are counted in rawHeaders (names as sent): a few string comparisons.
 */
function hostLines(raw: string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && (name === 'Host' || name === 'host' || name.toLowerCase() === 'host')) n++;
  }
  return n;
}
/** The answer for a request head the routes must not see; undefined for a sound one. */
function headRefusal(req: IncomingMessage): Answer | undefined {
  // llhttp also parses request lines that say HTTP/2.0 or HTTP/0.9 (RFC 9110 §15.6.6: 505).
  if (req.httpVersionMajor !== 1) return VERSION_NOT_SUPPORTED; // (llhttp itself refuses 1.2 and up)
  // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host (node:http's own check, with JSON)
  // and for any request with more than one (node:http would use the first: the gateway and
  // the backend could disagree about which host was meant).
  const hosts = hostLines(req.rawHeaders);
  if (hosts > 1) return SEVERAL_HOSTS;
  if (hosts === 0 && req.httpVersionMinor === 1) return MISSING_HOST;
  return undefined;
}

/**
 * KEEP_ALIVE: node:http's own keep-alive timer is off (keepAliveTimeout: 0). connections.ts closes
 * idle connections with one timer for all of them, and node:http's re-arms a timer per socket on
 * every answer (a Timeout and a bound function each time): 2-3 % of a keep-alive request here,
 * measured against the same backend with the timer on (docs/backend.md, "Speed"). node:http takes
 * the Keep-Alive header (`timeout=<s>`, which clients such as undici read) from the same setting,
 * copied onto each answer before its head is written: the answer's copy is set back to the idle
 * timeout in serve(), so the header stays. tests/backend-protocol checks both.
 */
type AnswerWithKeepAlive = ServerResponse & { _keepAliveTimeout: number };

/** Longest a drain leaves an idle keep-alive connection open for the client's next request (see close()). */
const DRAIN_IDLE_GRACE_MS = 1000;
/** Answers a connection may have waiting to be sent (pipelining) before it counts as not reading. */
const MAX_WAITING_ANSWERS = 64;

function contextOptions(m: TlsMaterial): SecureContextOptions {
  // No renegotiation (TLS 1.2; 1.3 has none): each one a client asks for is a full handshake the
  // server pays for, Node cuts the connection after the third without a word, and the identity
  // worked out on a connection's first request must stay the one of its certificate. OpenSSL
  // declines with a "no renegotiation" alert (nginx refuses it too; OpenSSL clients then hang up).
  return { key: m.keyPem, cert: m.chainPem, ca: m.trustPem, minVersion: 'TLSv1.2', secureOptions: constants.SSL_OP_NO_RENEGOTIATION };
}

/** `what` names the port and the variables that set it, for the one-line error. */
function listen(server: HttpsServer | HttpServer, port: number, address: string | undefined, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const where = `${address ?? '*'}:${port}`;
      reject(new StoreError(error.code === 'EADDRINUSE' ? `${what}: ${where} is already in use` : `${what}: cannot listen on ${where}: ${error.message}`));
    };
    server.once('error', onError);
    server.listen(port, address, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** "…:SSL routines:fn:peer did not return a certificate:…" → "peer did not return a certificate". */
function shortTlsMessage(message: string): string {
  return /SSL routines:[^:]*:([^:]+)/.exec(message)?.[1] ?? message.split('\n')[0] ?? message;
}

function describeMaterial(m: TlsMaterial) {
  return { alias: m.alias, serverCert: commonName(m.serverCert), notAfter: new Date(m.serverCert.validTo).toISOString(), trustedCerts: m.trusted.length };
}

/** The status node:http would answer a request it could not parse with; ours comes with a JSON body. */
function refusalStatus(code: string | undefined): number {
  if (code === 'HPE_HEADER_OVERFLOW') return 431;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  return 400;
}

/** A whole HTTP/1.1 answer that closes the connection, for writing straight to the socket. */
function withHead(a: Answer): Buffer {
  let head = `HTTP/1.1 ${a.status} ${STATUS_CODES[a.status]}\r\n`;
  for (const [name, value] of Object.entries(a.headers)) head += `${name}: ${value}\r\n`;
  return Buffer.concat([Buffer.from(`${head}connection: close\r\n\r\n`, 'latin1'), Buffer.from(a.body)]);
}

/** Starts the backend; rejects with StoreError (one line) when the stores or ports are unusable. */
export async function startBackend(settings: BackendSettings, options: BackendOptions = {}): Promise<Backend> {
  const writer = options.log ? new LogWriter(LOG_QUEUE_BYTES, sinkOutput(options.log), true) : new LogWriter(LOG_QUEUE_BYTES);
  const logger = new Logger(writer.push);
  const requestLog = new RequestLog(writer);
  let material = (await loadStores(settings))!;
  let draining = false;
  const { clientAuth, allowedClients, idleTimeoutMs } = settings;
  const identifier = new Identifier(clientAuth, allowedClients);
  const connections = new Connections(identifier, settings.idleTimeoutMs);

  // A request's answer, logged. `refusal` answers a head the routes never see (see headRefusal)
  // and closes the connection after it.
  const serve = (req: IncomingMessage, res: ServerResponse, refusal: Answer | undefined) => {
    const started = requestLog.clock();
    const c = connections.of(req.socket as TLSSocket)!;
    c.lastRequest = started;
    (res as AnswerWithKeepAlive)._keepAliveTimeout = idleTimeoutMs; // for the Keep-Alive header (see KEEP_ALIVE)
    // Pipelined requests wait (res.socket unset) until the answers before them are sent.
    // node:http stops reading a connection whose answers pile up, but only after parsing all it
    // has read — hundreds of small requests, kilobytes of objects each, held until the client
    // reads or the idle timeout. Past MAX_WAITING_ANSWERS the client is taken as not reading:
    // the connection is closed right after node:http pauses it (so no more is parsed).
    if (res.socket === null) {
      if (++c.waitingAnswers === MAX_WAITING_ANSWERS + 1) closeNonReader(c);
    } else {
      c.waitingAnswers = 0;
    }
    const method = req.method!;
    const url = req.url!;
    const who = c.who ?? connections.identify(c);
    const a = refusal ?? answer(method, url, who, identifier);
    // While draining, each answer closes its connection.
    res.writeHead(a.status, draining || refusal ? { ...a.headers, connection: 'close' } : a.headers);
    res.end(a.body);
    if (c.waitingAnswers > MAX_WAITING_ANSWERS) return; // closing: these answers are never sent
    requestLog.write(method, url, a.status, started, c.logTailBytes);
  };
  const onRequest = (req: IncomingMessage, res: ServerResponse) => serve(req, res, headRefusal(req));

  function closeNonReader(c: Connection): void {
    connections.identify(c);
    logger.write(`{"time":"${logger.now()}","event":"connection-closed","reason":"more than ${MAX_WAITING_ANSWERS} answers waiting: the client is not reading them"${c.logTail}`);
    // Not at once: the answers to what was already parsed make node:http pause the parser first.
    setImmediate(() => c.socket.destroy());
  }

  const headersTimeout = Math.min(settings.headersTimeoutMs, settings.requestTimeoutMs);
  const server = createServer(
    {
      ...contextOptions(material),
      requestCert: clientAuth !== 'none',
      // "need": OpenSSL aborts the handshake when no certificate comes, and Node drops a connection
      // whose certificate fails verification. "want": every handshake completes; HTTP says 401/403.
      rejectUnauthorized: clientAuth === 'need',
      handshakeTimeout: settings.handshakeTimeoutMs,
      // node:http counts the headers time of a connection's first request from the handshake, so
      // a client that completes it and says nothing is closed after headersTimeout.
      headersTimeout,
      requestTimeout: settings.requestTimeoutMs,
      keepAliveTimeout: 0, // see KEEP_ALIVE
      // How often node:http checks the two timeouts above (its default is every 30 s).
      connectionsCheckingInterval: Math.max(25, Math.min(1000, Math.floor(headersTimeout / 4))),
      maxHeaderSize: MAX_HEADER_BYTES,
      requireHostHeader: false, // checked in onRequest, to answer and log it like any request
      noDelay: true,
      // node:https offers only http/1.1, so a client offering only http/1.0 (curl --http1.0) would
      // get the alert "no application protocol". A client offering only h2 still gets it.
      ALPNProtocols: ['http/1.1', 'http/1.0'],
    },
    onRequest,
  );
  server.on('connection', (socket: Socket) => connections.accepted(socket));
  server.on('secureConnection', (socket: TLSSocket) => connections.secured(socket));

  // An Expect other than 100-continue: node:http would answer a bare 417 itself, unlogged.
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => serve(req, res, EXPECTATION_FAILED));

  // CONNECT (a tunnel request) never reaches onRequest: without this listener node:http drops
  // the connection without a word or a log line. Answered like a request for an unknown path
  // (401/403 first for a client "want" refuses), logged, then the connection closes.
  server.on('connect', (req: IncomingMessage, socket: TLSSocket) => {
    const started = requestLog.clock();
    const c = connections.of(socket)!;
    c.refused = true;
    const a = answer(req.method!, req.url!, c.who ?? connections.identify(c), identifier);
    answerAfterPending(socket, withHead(a));
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
    requestLog.write(req.method!, req.url!, a.status, started, c.logTailBytes);
  });

  // node:https reports failed handshakes here too (as 'tlsClientError' turned 'clientError').
  server.on('clientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => {
    const c = connections.of(socket);
    if (!c) refuseConnection(error, socket);
    // llhttp stays in its error state and reports it again for every later read: one refusal.
    else if (!c.refused) refuseRequest(error, c);
  });

  // Handshakes that fail, and "need" connections Node drops after verifying the certificate (it
  // then reports a reset while authorizationError holds the verification result). A client that
  // hangs up or sends an alert itself (e.g. it does not trust our certificate) aborted; it was
  // not refused.
  function refuseConnection(error: NodeJS.ErrnoException, socket: TLSSocket): void {
    socket.destroy();
    if (socket.authorizationError) {
      logger.log('connection-refused', { reason: String(socket.authorizationError), detail: 'client certificate not trusted', remote: connections.remoteOf(socket) });
      return;
    }
    const reason = error.code ?? 'TLS_ERROR';
    const byClient = reason === 'ECONNRESET' || /^ERR_SSL_(SSLV3|TLSV1|TLSV13)_ALERT_/.test(reason);
    logger.log(byClient ? 'connection-aborted' : 'connection-refused', { reason, detail: shortTlsMessage(error.message), remote: connections.remoteOf(socket) });
  }

  // A request llhttp refused (malformed, ambiguous length, head too large): answer with the
  // status node:http would use, as JSON, log it, and close. A request that came too slowly
  // (headersTimeout, requestTimeout) is logged as 408 and closed without an answer: a client that
  // is not reading would never see the close behind it. A connection that timed out without
  // sending a byte was idle, not refused. Resets and broken pipes on an established connection
  // are the client leaving: nothing to answer or log.
  function refuseRequest(error: NodeJS.ErrnoException & { reason?: string }, c: Connection): void {
    const { socket } = c;
    const code = error.code;
    const timedOut = code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (!code?.startsWith('HPE_') && !timedOut) {
      socket.destroy();
      return;
    }
    c.refused = true;
    const status = refusalStatus(code);
    const reason = timedOut ? 'request timeout' : error.reason ?? error.message;
    if (!timedOut || socket.bytesRead > 0) {
      connections.identify(c);
      logger.write(`{"time":"${logger.now()}","event":"request-refused","status":${status},"code":"${code}","reason":${JSON.stringify(reason)}${c.logTail}`);
    }
    if (timedOut) {
      socket.destroy();
      return;
    }
    // The answers to the requests parsed before this one go out first (node:http would cut them,
    // though they were logged as answered); the refusal follows them, then the connection closes.
    // Give the client a moment to read it all; then the connection goes, read or not.
    answerAfterPending(socket, withHead(jsonAnswer(status, { error: reason, code })));
    setTimeout(() => socket.destroy(), REFUSAL_LINGER_MS).unref();
  }

  /** Ends the connection with `last` once the answer going out (and each queued behind it) has been written. */
  function answerAfterPending(socket: TLSSocket, last: Buffer): void {
    // node:http keeps the answer being written in _httpMessage and, when it finishes, puts the
    // next queued one there before other 'finish' listeners run.
    const current = (socket as TLSSocket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (current && !current.writableFinished) current.once('finish', () => answerAfterPending(socket, last));
    else if (socket.writable) socket.end(last);
  }

  const health = createHealthServer(() => !draining);
  let port: number;
  let healthPort: number;
  try {
    port = await listen(server, settings.port, settings.address, 'TLS port (SERVER_PORT or PORT)');
    healthPort = await listen(health, settings.healthPort, settings.address, 'health port (HEALTH_PORT)');
  } catch (error) {
    server.close();
    connections.stop();
    throw error;
  }

  let reloading: Promise<boolean> | undefined;
  async function reload(): Promise<boolean> {
    // One reload at a time; a change during a reload is picked up by the next watch event.
    reloading ??= (async () => {
      try {
        const next = await loadStores(settings, material);
        if (!next) return false;
        server.setSecureContext(contextOptions(next));
        material = next;
        logger.log('stores-reloaded', describeMaterial(next));
        return true;
      } catch (error) {
        const reason = error instanceof StoreError ? error.message : `${(error as Error).name}: ${(error as Error).message}`;
        logger.log('reload-failed', { reason, keeping: commonName(material.serverCert) });
        return false;
      } finally {
        reloading = undefined;
      }
    })();
    return reloading;
  }

  const watcher: StoreWatcher | undefined = settings.reload
    ? watchStores([settings.keyStore, settings.trustStore], settings.reloadDebounceMs, () => void reload())
    : undefined;

  logger.log('started', {
    port, healthPort, clientAuth, allowedClients: allowedClients.join(',') || undefined, ...describeMaterial(material),
    // Spring settings given but not implemented here: said, not silently ignored.
    ignoredSettings: settings.ignored.join(',') || undefined,
  });

  let closing: Promise<void> | undefined;
  function close(): Promise<void> {
    closing ??= new Promise<void>((resolve) => {
      draining = true;
      watcher?.close();
      logger.log('draining', { timeoutMs: settings.shutdownTimeoutMs });
      const deadlineAt = Date.now() + settings.shutdownTimeoutMs;
      let done = false;
      const finish = (how: string) => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        clearTimeout(idleGrace);
        server.close(); // node:http's part of close(): stops its timeout checks (the listener is already closed)
        connections.stop();
        health.close();
        health.closeAllConnections();
        logger.log('stopped', { how });
        // The last lines get what is left of the drain time: a stuck stdout cannot hold the exit.
        void writer.flush(Math.max(50, deadlineAt - Date.now())).then(() => resolve());
      };
      const idleGrace = setTimeout(() => server.closeIdleConnections(), Math.min(DRAIN_IDLE_GRACE_MS, settings.shutdownTimeoutMs / 2));
      const deadline = setTimeout(() => {
        connections.destroyAll(); // also the sockets still in their handshake
        finish('drain timeout: remaining connections closed');
      }, settings.shutdownTimeoutMs);
      // Closes the listener only. Answers from now on say "connection: close", so a connection
      // closes after its next answer. node:https's own close() would also cut every keep-alive
      // connection that is idle right now, and a request a client is sending on one at that
      // moment fails with a reset (measured under load: about one per connection). Connections
      // still idle after a grace are closed then (a client quiet that long is not mid-request).
      TlsServer.prototype.close.call(server, () => finish('drained'));
    });
    return closing;
  }

  return { port, healthPort, material: () => material, reload, close, server };
}
