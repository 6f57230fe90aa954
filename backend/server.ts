// The mTLS backend: an HTTPS server that trusts exactly the truststore, answers the tutorial's
// greeting, logs one JSON line per request and per refused connection, reloads its stores when
// they change on disk and drains gracefully on close(). HTTP/1.1 itself is spoken by http1.ts.
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createServer, type SecureContextOptions, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { createHealthServer } from './health.ts';
import { commonName, Identifier, type ClientIdentity } from './identity.ts';
import { Http1Server } from './http1.ts';
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
  /** The TLS server, for tests and benchmarks that need its events. */
  server: TlsServer;
}

function contextOptions(m: TlsMaterial): SecureContextOptions {
  return { key: m.keyPem, cert: m.chainPem, ca: m.trustPem, minVersion: 'TLSv1.2' };
}

function listen(server: TlsServer | HttpServer, port: number, address: string | undefined): Promise<number> {
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
    noDelay: true,
  });
  // Every TCP connection, handshaking or not, so the drain deadline can close them all.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  // Per connection: who the client is and the constant part of its request log lines.
  const identifier = new Identifier(clientAuth, allowedClients);
  const identities = new WeakMap<TLSSocket, { who: ClientIdentity; logTail: string }>();
  const connection = (socket: TLSSocket) => {
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
    return conn;
  };
  const http = new Http1Server(
    {
      maxHeadBytes: 16 * 1024,
      maxBodyBytes: 1024 * 1024,
      headersTimeoutMs: Math.min(settings.headersTimeoutMs, settings.requestTimeoutMs),
      requestTimeoutMs: settings.requestTimeoutMs,
      idleTimeoutMs: settings.idleTimeoutMs,
    },
    {
      answer: (socket, request) => answer(request, connection(socket).who, identifier),
      answered: (socket, request, status, started) => {
        const ms = Math.round((performance.now() - started) * 1000) / 1000;
        logger.write(`{"time":"${logger.now()}","event":"request","method":${JSON.stringify(request.method)},"path":${JSON.stringify(request.target)},"status":${status},"ms":${ms}${connection(socket).logTail}`);
      },
      refused: (socket, status, reason) => {
        logger.write(`{"time":"${logger.now()}","event":"request-refused","status":${status},"reason":${JSON.stringify(reason)}${connection(socket).logTail}`);
      },
    },
  );
  server.on('secureConnection', (socket: TLSSocket) => http.accept(socket));

  // Handshakes that fail, and "need" connections Node drops after verifying the certificate (it
  // then reports a reset while authorizationError holds the verification result). A client that
  // hangs up or sends an alert itself (e.g. it does not trust our certificate) aborted; it was
  // not refused.
  server.on('tlsClientError', (error: NodeJS.ErrnoException, socket: TLSSocket) => {
    // tls.Server leaves the socket open to whoever listens here (node:https destroyed it).
    socket.destroy();
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
        http.stop();
        health.close();
        health.closeAllConnections();
        logger.log('stopped', { how });
        void (sink?.flush() ?? Promise.resolve()).then(() => resolve());
      };
      const deadline = setTimeout(() => {
        // Also covers sockets still in their TLS handshake, which the HTTP layer does not track.
        http.destroyAll();
        for (const socket of sockets) socket.destroy();
        finish('drain timeout: remaining connections closed');
      }, settings.shutdownTimeoutMs);
      // Responses sent from now on carry "connection: close"; idle keep-alive sockets go now.
      server.close(() => finish('drained'));
      http.drain();
    });
    return closing;
  }

  return { port, healthPort, material: () => material, reload, close, server };
}
