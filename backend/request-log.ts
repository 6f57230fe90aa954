// The request log line, one per request, written as bytes straight into the log writer's buffer.
//
// Why not a string: building the line as a template string and encoding it cost about 0.3 µs and
// ~600 bytes of short-lived heap per request: ~4,900 instructions, some 2.7 % of a keep-alive
// request (docs/backend.md, "Speed"). Here every part that repeats is encoded once: the
// `{"time":"2026-12-01T02:10:11.` head once per second, the method/path/status part once per
// distinct request (most repeat the last one), the connection's client fields once per
// connection. A request adds only the milliseconds' and the latency's digits, so a line costs a
// few copies and no allocation. (Under full handshakes a request comes every millisecond or so:
// a head formatted with toISOString() and encoded per millisecond cost ~12 µs of a ~1 ms
// handshake there, timed in the server.) The line is the same JSON as before:
// {"time","event":"request","method","path","status","ms",…}, the time as toISOString() writes it.
//
// One clock reading per line: the request's end, on the monotonic clock its start came from. The
// time of day is that reading plus an offset, read again from the wall clock once per second of
// log time, so the log follows a change of the system time within a second. (Date.now() per line
// is a call into V8's runtime, ~0.3 µs of a keep-alive request at one connection; sampled with perf.)
import { performance } from 'node:perf_hooks';
import type { LogWriter } from './logger.ts';

/** Longest latency text: "9007199254740.991" (ms with 3 decimals of any safe whole number of µs). */
const MAX_MS_BYTES = 20;
const ZERO = 48;
const DOT = 46;
/** The milliseconds, the "Z" that ends the time and the quote after it. */
const TIME_END_BYTES = 5;
const Z = 90;
const QUOTE = 34;

/** Writes `n` (a whole number ≥ 0) as decimal digits at `at`; returns where they end. */
function writeWhole(b: Buffer, at: number, n: number): number {
  let digits = 1;
  for (let rest = n; rest >= 10; rest = Math.floor(rest / 10)) digits++;
  for (let i = at + digits - 1; i >= at; i--) {
    b[i] = ZERO + (n % 10);
    n = Math.floor(n / 10);
  }
  return at + digits;
}

/**
 * Writes `micros / 1000` as JavaScript prints a number rounded to 3 decimals (12.3, 0.031, 7):
 * the text `${Math.round(ms * 1000) / 1000}` gave before.
 */
export function writeMillis(b: Buffer, at: number, micros: number): number {
  at = writeWhole(b, at, Math.floor(micros / 1000));
  let rest = micros % 1000;
  if (rest === 0) return at;
  b[at++] = DOT;
  for (let unit = 100; rest > 0; unit /= 10) {
    b[at++] = ZERO + Math.floor(rest / unit);
    rest %= unit;
  }
  return at;
}

export class RequestLog {
  /** Wall-clock minus monotonic milliseconds, as of the second `head` holds. */
  private offset = NaN;
  private second = NaN;
  private head = Buffer.alloc(0);
  private lastMethod = '';
  private lastUrl = '';
  private lastStatus = 0;
  private middle = Buffer.alloc(0);

  /**
   * `wallClock` gives the time of day and `clock` a monotonic time, both in milliseconds (tests
   * pass their own); requests' start times are readings of `clock`.
   */
  constructor(
    private readonly writer: LogWriter,
    private readonly wallClock: () => number = Date.now,
    readonly clock: () => number = () => performance.now(),
  ) {}

  /** Logs one request that started at `started` (a reading of `clock`); `tail` is the connection's `,"client":…}\n` (Connection.logTailBytes). */
  write(method: string, url: string, status: number, started: number, tail: Buffer): void {
    const end = this.clock();
    let ms = Math.floor(end + this.offset);
    let second = Math.floor(ms / 1000);
    if (second !== this.second) {
      // The first line, or a new second: the offset is read again (NaN at first, so never equal).
      this.offset = this.wallClock() - end;
      ms = Math.floor(end + this.offset);
      second = Math.floor(ms / 1000);
      this.second = second;
      // "2026-12-01T02:10:11." of "2026-12-01T02:10:11.123Z"
      this.head = Buffer.from(`{"time":"${new Date(second * 1000).toISOString().slice(0, -4)}`);
    }
    if (url !== this.lastUrl || method !== this.lastMethod || status !== this.lastStatus) {
      this.lastUrl = url;
      this.lastMethod = method;
      this.lastStatus = status;
      // llhttp only lets token characters into a method: no escaping needed.
      this.middle = Buffer.from(`,"event":"request","method":"${method}","path":${JSON.stringify(url)},"status":${status},"ms":`);
    }
    const { head, middle } = this;
    const b = this.writer.room(head.length + TIME_END_BYTES + middle.length + MAX_MS_BYTES + tail.length);
    if (!b) return; // dropped and counted by the writer
    let at = this.writer.end;
    b.set(head, at);
    at += head.length;
    const millis = ms - second * 1000;
    b[at++] = ZERO + Math.floor(millis / 100);
    b[at++] = ZERO + (Math.floor(millis / 10) % 10);
    b[at++] = ZERO + (millis % 10);
    b[at++] = Z;
    b[at++] = QUOTE;
    b.set(middle, at);
    at = writeMillis(b, at + middle.length, Math.round((end - started) * 1000));
    b.set(tail, at);
    this.writer.commit(at + tail.length);
  }
}
