// The mTLS backend: an HTTPS server that trusts exactly the truststore, answers the tutorial's
// greeting, logs one JSON line per request and per refused connection, reloads its stores when
// they change on disk and drains gracefully on close().
import { createServer, type Server as HttpsServer } from 'node:https';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { createHealthServer } from './health.ts';
import { commonName, Identifier, type ClientIdentity } from './identity.ts';
import { FdSink, jsonTail, Logger, type LogSink } from './logger.ts';
import { answer } from './routes.ts';
import type { BackendSettings } from './settings.ts';
import { loadStores, StoreError, type TlsMaterial } from './stores.ts';
import { watchStores, type StoreWatcher } from './watch.ts';

export { settingsFromEnv, SettingsError, type BackendSettings } from './settings.ts';
export { StoreError } from './stores.ts';

export interface BackendOptions {
  /** Where JSON log lines go; default: stdout, written asynchronously in batches. */
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

function contextOptions(m: TlsMaterial): SecureContextOptions {
  return { key: m.keyPem, cert: m.chainPem, ca: m.trustPem, minVersion: 'TLSv1.2' };
}

function listen(server: HttpsServer | HttpServer, port: number, address: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const where = `${address ?? '*'}:${port}`;
      reject(new StoreError(error.code === 'EADDRINUSE' ? `port ${where} is already in use` : `cannot listen on ${where}: ${error.message}`));
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

/** Starts the backend; rejects with StoreError (one line) when the stores or ports are unusable. */
export async function startBackend(settings: BackendSettings, options: BackendOptions = {}): Promise<Backend> {
  const sink = options.log ? undefined : new FdSink(1);
  const logger = new Logger(options.log ?? sink!.push);
  let material = (await loadStores(settings))!;
  let draining = false;
  const { clientAuth, allowedClients } = settings;

  const server = createServer({
    ...contextOptions(material),
    requestCert: clientAuth !== 'none',
    // "need": OpenSSL aborts the handshake when no certificate comes, and Node drops a connection
    // whose certificate fails verification. "want": every handshake completes; HTTP says 401/403.
    rejectUnauthorized: clientAuth === 'need',
    handshakeTimeout: settings.handshakeTimeoutMs,
    headersTimeout: Math.min(settings.headersTimeoutMs, settings.requestTimeoutMs),
    requestTimeout: settings.requestTimeoutMs,
    keepAliveTimeout: settings.idleTimeoutMs,
    connectionsCheckingInterval: 1000,
    noDelay: true,
  });
  // headersTimeout only starts with the first request byte: a client that completes the handshake
  // and then says nothing is closed by this inactivity timeout instead.
  server.setTimeout(settings.idleTimeoutMs);

  // Per connection: who the client is and the constant part of its request log lines.
  const identifier = new Identifier(clientAuth, allowedClients);
  const identities = new WeakMap<TLSSocket, { who: ClientIdentity; logTail: string }>();
  server.on('request', (req, res) => {
    const started = performance.now();
    const socket = req.socket as TLSSocket;
    let conn = identities.get(socket);
    if (!conn) {
      const who = identifier.identify(socket);
      const logTail = jsonTail({
        client: who.cn,
        fingerprint: who.fingerprint,
        reason: who.verdict.ok ? undefined : who.verdict.reason ?? who.verdict.error,
        remote: socket.remoteAddress,
        tls: socket.getProtocol() ?? undefined,
      });
      conn = { who, logTail };
      identities.set(socket, conn);
    }
    const status = answer(req, res, conn.who, identifier, draining);
    const ms = Math.round((performance.now() - started) * 1000) / 1000;
    logger.write(`{"time":"${logger.now()}","event":"request","method":${JSON.stringify(req.method)},"path":${JSON.stringify(req.url)},"status":${status},"ms":${ms}${conn.logTail}`);
  });

  // Handshakes that fail, and "need" connections Node drops after verifying the certificate (it
  // then reports a reset while authorizationError holds the verification result). A client that
  // hangs up or sends an alert itself (e.g. it does not trust our certificate) aborted; it was
  // not refused.
  server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => {
    if (socket.authorizationError) {
      logger.log('connection-refused', { reason: String(socket.authorizationError), detail: 'client certificate not trusted' });
      return;
    }
    const reason = error.code ?? 'TLS_ERROR';
    const byClient = reason === 'ECONNRESET' || /^ERR_SSL_(SSLV3|TLSV1|TLSV13)_ALERT_/.test(reason);
    logger.log(byClient ? 'connection-aborted' : 'connection-refused', { reason, detail: shortTlsMessage(error.message), remote: socket.remoteAddress });
  });

  const health = createHealthServer(() => !draining);
  let port: number;
  let healthPort: number;
  try {
    port = await listen(server, settings.port, settings.address);
    healthPort = await listen(health, settings.healthPort, settings.address);
  } catch (error) {
    server.close();
    throw error;
  }

  let reloading: Promise<boolean> | undefined;
  async function reload(): Promise<boolean> {
    // One reload at a time; a change during a reload is picked up by the next watch event.
    reloading ??= (async () => {
      try {
        const next = await loadStores(settings, material.digest);
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

  logger.log('started', { port, healthPort, clientAuth, allowedClients: allowedClients.join(',') || undefined, ...describeMaterial(material) });

  let closing: Promise<void> | undefined;
  function close(): Promise<void> {
    closing ??= new Promise<void>((resolve) => {
      draining = true;
      watcher?.close();
      logger.log('draining', { timeoutMs: settings.shutdownTimeoutMs });
      let done = false;
      const finish = (how: string) => {
        if (done) return;
        done = true;
        clearTimeout(deadline);
        health.close();
        health.closeAllConnections();
        logger.log('stopped', { how });
        void (sink?.flush() ?? Promise.resolve()).then(() => resolve());
      };
      const deadline = setTimeout(() => {
        // Also covers sockets still in their TLS handshake, which the HTTP layer does not track.
        server.closeAllConnections();
        finish('drain timeout: remaining connections closed');
      }, settings.shutdownTimeoutMs);
      // Responses sent from now on carry "connection: close"; idle keep-alive sockets go now.
      server.close(() => finish('drained'));
      server.closeIdleConnections();
    });
    return closing;
  }

  return { port, healthPort, material: () => material, reload, close, server };
}
