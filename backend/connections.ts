// The connections of the TLS port over their lifetime. Per TLS connection: who the client is
// (worked out on its first request: certificate parsing is too costly to repeat per keep-alive
// request), the constant tail of its request log lines, and when it last started a request.
//
// Idle connections are closed here, by one timer for all of them: node:http's keep-alive timer
// restarts on every byte received, and bytes that are not a request (empty lines between
// requests are allowed) would keep such a connection open forever. A connection is idle from the
// handshake or its last request until its next request; one that goes IDLE_TIMEOUT_MS without
// starting a request is closed, also when it never reads what it asked for.
//
// Closed connections leave the two collections at the next sweep, not through a 'close'
// listener each: under full handshakes a listener per socket and per connection, and their
// removal when they fire, cost ~4 µs per connection (timed in the server, ~0.4 % of a
// handshake). So a closed socket is held at most one sweep interval (≤ 1 s) longer.
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import type { ClientIdentity, Identifier } from './identity.ts';

export interface Connection {
  socket: TLSSocket;
  /** performance.now() of the handshake's end or of the last request. */
  lastRequest: number;
  /** Worked out on first use (see identify). */
  who: ClientIdentity | undefined;
  /** `,"client":…}` plus newline: the end of this connection's log lines. */
  logTail: string;
  /** logTail as UTF-8, for request lines (request-log.ts). */
  logTailBytes: Buffer;
  /** Pipelined requests answered since an answer last went straight to the socket. */
  waitingAnswers: number;
  /** A request on it was refused: the connection is closing, later parse errors are the same one. */
  refused: boolean;
}

const EMPTY = Buffer.alloc(0);

export class Connections {
  /** Every TCP connection, handshaking or not, so a drain deadline can close them all. */
  private readonly tcp = new Set<Socket>();
  private readonly tls = new Map<TLSSocket, Connection>();
  private readonly sweeper: NodeJS.Timeout;
  /** The last tail built, reused while connections come from the same client, address and protocol. */
  private lastTail = { fields: '', remote: undefined as string | undefined, tls: null as string | null, text: '', bytes: EMPTY };

  constructor(private readonly identifier: Identifier, private readonly idleTimeoutMs: number) {
    // A connection is closed at most a quarter of the timeout (and at most a second) late.
    const interval = Math.max(25, Math.min(1000, Math.floor(idleTimeoutMs / 4)));
    this.sweeper = setInterval(() => this.sweep(), interval).unref();
  }

  /** A new TCP connection (server 'connection' event). */
  accepted(socket: Socket): void {
    this.tcp.add(socket);
    // Read now, and so kept by Node on the socket: Node destroys a socket whose certificate fails
    // verification before it reports the failure, and the address cannot be asked for after that.
    void socket.remoteAddress;
  }

  /** A completed handshake (server 'secureConnection' event). */
  secured(socket: TLSSocket): void {
    this.tls.set(socket, { socket, lastRequest: performance.now(), who: undefined, logTail: '', logTailBytes: EMPTY, waitingAnswers: 0, refused: false });
  }

  /** The connection a request came on; undefined before the handshake completed. */
  of(socket: TLSSocket): Connection | undefined {
    return this.tls.get(socket);
  }

  /** Who the client is, worked out once per connection. */
  identify(c: Connection): ClientIdentity {
    if (c.who) return c.who;
    const who = this.identifier.identify(c.socket);
    c.who = who;
    const remote = this.remoteOf(c.socket);
    const tls = c.socket.getProtocol();
    let last = this.lastTail;
    if (who.logFields !== last.fields || remote !== last.remote || tls !== last.tls) {
      // Addresses and protocol names need no JSON escaping.
      const text = `${who.logFields}${remote ? `,"remote":"${remote}"` : ''}${tls ? `,"tls":"${tls}"` : ''}}\n`;
      last = this.lastTail = { fields: who.logFields, remote, tls, text, bytes: Buffer.from(text) };
    }
    c.logTail = last.text;
    c.logTailBytes = last.bytes; // shared, never written to
    return who;
  }

  /** The client's address as read on accept (no second getpeername), also after the socket is destroyed. */
  remoteOf(socket: TLSSocket): string | undefined {
    // A server-side TLSSocket wraps the accepted TCP socket (Node keeps it as _parent).
    return ((socket as TLSSocket & { _parent?: Socket })._parent ?? socket).remoteAddress;
  }

  /** Forgets closed connections and closes the idle ones. */
  private sweep(): void {
    for (const socket of this.tcp) if (socket.destroyed) this.tcp.delete(socket);
    const oldest = performance.now() - this.idleTimeoutMs;
    for (const [socket, c] of this.tls) {
      if (socket.destroyed) this.tls.delete(socket);
      else if (c.lastRequest < oldest) socket.destroy();
    }
  }

  /** How many TCP sockets and TLS connections are held right now (tests). */
  tracked(): { tcp: number; tls: number } {
    return { tcp: this.tcp.size, tls: this.tls.size };
  }

  /** Closes every connection at once (the drain deadline) and stops the timer. */
  destroyAll(): void {
    for (const socket of this.tcp) socket.destroy();
    for (const c of this.tls.values()) c.socket.destroy();
    this.stop();
  }

  stop(): void {
    clearInterval(this.sweeper);
  }
}
