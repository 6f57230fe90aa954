// A small, strict HTTP/1.1 server side for TLS sockets. The backend's API is three GET routes
// with bodies built at start, so node:http's general machinery (its parser callbacks,
// IncomingMessage/ServerResponse streams per request) costs more than the answers themselves.
// This module parses the request line and headers itself, with limits, and writes each answer
// as one buffer. Supported: keep-alive (HTTP/1.1 default, HTTP/1.0 on request), pipelining
// (answers in order), Content-Length bodies (skipped), "Connection: close". Refused: chunked
// or other transfer codings (411, then close), malformed input (400), too-large headers (431),
// too-large bodies (413), other HTTP versions (505).
import type { TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';

/** An answer ready to send: the status line and fixed headers (each ending CRLF), and the body. */
export interface Prepared {
  status: number;
  head: string;
  body: Buffer;
}

const REASONS: Record<number, string> = {
  200: 'OK', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  408: 'Request Timeout', 411: 'Length Required', 413: 'Content Too Large', 431: 'Request Header Fields Too Large',
  503: 'Service Unavailable', 505: 'HTTP Version Not Supported',
};

/** Builds a Prepared JSON answer; `extra` headers are written as given (lower-case names). */
export function prepareJson(status: number, value: unknown, extra: Record<string, string> = {}): Prepared {
  const body = Buffer.from(JSON.stringify(value));
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? 'Unknown'}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n`;
  for (const [name, value] of Object.entries(extra)) head += `${name}: ${value}\r\n`;
  return { status, head, body };
}

export interface Limits {
  /** Request line plus headers, in bytes (node:http's default is 16 KiB). */
  maxHeadBytes: number;
  /** Largest Content-Length accepted (the body is read and thrown away). */
  maxBodyBytes: number;
  /** From a request's first byte to the end of its headers. */
  headersTimeoutMs: number;
  /** From a request's first byte to the end of its body. */
  requestTimeoutMs: number;
  /** Between requests, and after the handshake before the first byte. */
  idleTimeoutMs: number;
}

export interface RequestInfo {
  method: string;
  target: string;
}

export interface Http1Hooks {
  /** Picks the answer for one well-formed request. */
  answer(socket: TLSSocket, request: RequestInfo): Prepared;
  /** Called after each answer is written (for the request log); `started` is performance.now() before answer(). */
  answered(socket: TLSSocket, request: RequestInfo, status: number, started: number): void;
  /** A request the parser refused (status 4xx/505), for the log. */
  refused(socket: TLSSocket, status: number, reason: string): void;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) ([\x21-\x7e\x80-\xff]+) HTTP\/(\d)\.(\d)$/;
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const CRLFCRLF = Buffer.from('\r\n\r\n');
/** Unread bytes a closing connection keeps discarding before it is destroyed (avoids an RST that would eat the answer). */
const LINGER_MS = 1000;

class Refusal {
  constructor(readonly status: number, readonly reason: string) {}
}

interface Head {
  method: string;
  target: string;
  keepAlive: boolean;
  bodyBytes: number;
}

/** Parses "request-line CRLF *(field-line CRLF)" (the blank line already removed). Throws Refusal. */
export function parseHead(text: string, maxBodyBytes: number): Head {
  const lines = text.split('\r\n');
  const m = REQUEST_LINE.exec(lines[0]!);
  if (!m) throw new Refusal(400, 'malformed request line');
  const [, method, target, major, minor] = m as unknown as [string, string, string, string, string];
  if (major !== '1' || (minor !== '0' && minor !== '1')) throw new Refusal(505, `HTTP/${major}.${minor} not supported`);
  let connection = '';
  let contentLength: string | undefined;
  let transferEncoding = false;
  let hosts = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    // No colon, an obsolete folded line (leading space), a space before the colon, or stray CR/LF.
    if (colon <= 0) throw new Refusal(400, 'malformed header line');
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new Refusal(400, 'malformed header name');
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!FIELD_VALUE.test(value)) throw new Refusal(400, 'invalid character in a header value');
    switch (name.toLowerCase()) {
      case 'connection':
        connection += `,${value.toLowerCase()}`;
        break;
      case 'content-length':
        if (!/^\d{1,15}$/.test(value) || (contentLength !== undefined && contentLength !== value)) throw new Refusal(400, 'invalid content-length');
        contentLength = value;
        break;
      case 'transfer-encoding':
        transferEncoding = true;
        break;
      case 'host':
        hosts++;
        break;
    }
  }
  if (transferEncoding) {
    if (contentLength !== undefined) throw new Refusal(400, 'both content-length and transfer-encoding');
    throw new Refusal(411, 'transfer-encoding not supported; send content-length');
  }
  if (minor === '1' ? hosts !== 1 : hosts > 1) throw new Refusal(400, hosts ? 'more than one host header' : 'missing host header');
  const bodyBytes = contentLength === undefined ? 0 : Number(contentLength);
  if (bodyBytes > maxBodyBytes) throw new Refusal(413, `body of ${bodyBytes} bytes exceeds ${maxBodyBytes}`);
  const tokens = connection.split(',').map((t) => t.trim());
  const keepAlive = minor === '1' ? !tokens.includes('close') : tokens.includes('keep-alive');
  return { method, target, keepAlive, bodyBytes };
}

// "date" changes once a second; building it per request would cost more than the rest of a head.
let dateSecond = 0;
let dateLine = '';
function currentDateLine(now: number): string {
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateLine = `date: ${new Date(second * 1000).toUTCString()}\r\n`;
  }
  return dateLine;
}

/** The per-connection parser state. */
class Connection {
  private pending: Buffer | undefined;
  private bodyLeft = 0;
  /** Date.now() of the current request's first byte; 0 between requests. */
  private requestStarted = 0;
  /** When the sweep closes this connection. */
  deadline: number;
  closing = false;

  constructor(readonly socket: TLSSocket, private readonly http: Http1Server) {
    this.deadline = Date.now() + http.limits.idleTimeoutMs;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  /** True when no request is partly received; such a connection can be closed at once when draining. */
  get idle(): boolean {
    return this.requestStarted === 0 && this.bodyLeft === 0 && this.pending === undefined;
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return; // lingering: read and drop until the client goes or the deadline hits
    const now = Date.now();
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = undefined;
    this.socket.cork();
    try {
      while (buf.length > 0 && !this.closing) {
        if (this.bodyLeft > 0) {
          const skip = Math.min(this.bodyLeft, buf.length);
          this.bodyLeft -= skip;
          buf = buf.subarray(skip);
          if (this.bodyLeft === 0) this.requestStarted = 0;
          continue;
        }
        if (this.requestStarted === 0) {
          // RFC 9112 §2.2: empty lines before a request line are ignored.
          let start = 0;
          while (start + 1 < buf.length && buf[start] === 13 && buf[start + 1] === 10) start += 2;
          buf = buf.subarray(start);
          if (buf.length === 0 || (buf.length === 1 && buf[0] === 13)) {
            if (buf.length === 1) this.pending = buf;
            buf = Buffer.alloc(0);
            break;
          }
          this.requestStarted = now;
        }
        const end = buf.indexOf(CRLFCRLF);
        const limit = this.http.limits.maxHeadBytes;
        if (end === -1 ? buf.length > limit : end + 4 > limit) {
          this.refuse(new Refusal(431, `request head over ${limit} bytes`));
          break;
        }
        if (end === -1) break;
        let head: Head;
        try {
          head = parseHead(buf.toString('latin1', 0, end), this.http.limits.maxBodyBytes);
        } catch (error) {
          if (!(error instanceof Refusal)) throw error;
          this.refuse(error);
          break;
        }
        buf = buf.subarray(end + 4);
        this.respond(head, now);
      }
    } finally {
      this.socket.uncork();
    }
    if (this.closing) return;
    if (buf.length > 0) this.pending = buf;
    if (this.requestStarted !== 0) {
      const { headersTimeoutMs, requestTimeoutMs } = this.http.limits;
      this.deadline = this.requestStarted + (this.bodyLeft > 0 ? requestTimeoutMs : headersTimeoutMs);
    } else {
      this.deadline = now + this.http.limits.idleTimeoutMs;
      if (this.http.draining) this.close();
    }
    // A client that pipelines without reading: stop reading until our answers have gone out.
    if (this.socket.writableNeedDrain) {
      this.socket.pause();
      this.socket.once('drain', () => this.socket.resume());
    }
  }

  private respond(head: Head, now: number): void {
    const request: RequestInfo = { method: head.method, target: head.target };
    const started = performance.now();
    const prepared = this.http.hooks.answer(this.socket, request);
    const keepAlive = head.keepAlive && !this.http.draining;
    this.write(prepared, keepAlive, head.method === 'HEAD', now);
    this.http.hooks.answered(this.socket, request, prepared.status, started);
    this.bodyLeft = head.bodyBytes;
    if (this.bodyLeft === 0) this.requestStarted = 0;
    if (!keepAlive) this.close();
  }

  private refuse(refusal: Refusal): void {
    this.http.hooks.refused(this.socket, refusal.status, refusal.reason);
    this.write(prepareJson(refusal.status, { error: refusal.reason }), false, false, Date.now());
    this.close();
  }

  /**
   * Closes a connection whose headers or body came too slowly, or that sat idle. No 408 is sent:
   * a client that is not reading would then never see the close behind the unread answer.
   */
  expire(): void {
    if (!this.closing && this.requestStarted !== 0) this.http.hooks.refused(this.socket, 408, 'request timeout');
    this.socket.destroy();
  }

  private write(p: Prepared, keepAlive: boolean, headOnly: boolean, now: number): void {
    const connection = keepAlive ? this.http.keepAliveLines : 'connection: close\r\n\r\n';
    const text = p.head + currentDateLine(now) + connection;
    if (headOnly || p.body.length === 0) {
      this.socket.write(text, 'latin1');
      return;
    }
    const headLength = Buffer.byteLength(text, 'latin1');
    const out = Buffer.allocUnsafe(headLength + p.body.length);
    out.write(text, 0, 'latin1');
    p.body.copy(out, headLength);
    this.socket.write(out);
  }

  /** Ends the connection after what was written; unread client bytes are drained for a moment. */
  close(): void {
    if (this.closing) return;
    this.closing = true;
    this.pending = undefined;
    this.deadline = Date.now() + LINGER_MS;
    this.socket.end();
  }
}

/** Serves HTTP/1.1 on the TLS sockets handed to it; sweeps timeouts; drains on request. */
export class Http1Server {
  readonly connections = new Set<Connection>();
  draining = false;
  readonly keepAliveLines: string;
  private sweeper: NodeJS.Timeout;

  constructor(readonly limits: Limits, readonly hooks: Http1Hooks) {
    this.keepAliveLines = `connection: keep-alive\r\nkeep-alive: timeout=${Math.max(1, Math.floor(limits.idleTimeoutMs / 1000))}\r\n\r\n`;
    // One timer for all connections instead of one per request: a deadline is at most
    // `interval` late.
    const interval = Math.max(50, Math.min(1000, Math.floor(Math.min(limits.headersTimeoutMs, limits.idleTimeoutMs) / 4)));
    this.sweeper = setInterval(() => this.sweep(), interval).unref();
  }

  /** Takes over a socket that completed its handshake. */
  accept(socket: TLSSocket): void {
    const connection = new Connection(socket, this);
    this.connections.add(connection);
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.connections.delete(connection));
    if (this.draining) connection.close();
  }

  private sweep(): void {
    const now = Date.now();
    for (const c of this.connections) {
      if (now < c.deadline) continue;
      if (c.closing) c.socket.destroy();
      else c.expire();
    }
  }

  /** From now on every answer says "connection: close"; idle connections close now. */
  drain(): void {
    this.draining = true;
    for (const c of this.connections) if (c.idle) c.close();
  }

  /** Destroys every connection (the drain deadline) and stops the sweep. */
  destroyAll(): void {
    for (const c of this.connections) c.socket.destroy();
    this.stop();
  }

  stop(): void {
    clearInterval(this.sweeper);
  }
}
