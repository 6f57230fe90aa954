// JSON log lines, one per event, written so that a slow or stuck reader of stdout can neither
// stall requests, nor grow memory, nor keep the process from exiting:
// - a pipe or socket is written through Node's non-blocking stream for it (process.stdout);
//   anything else (a file, a terminal, /dev/null) with one synchronous write per batch: a file
//   write only copies into the page cache, far cheaper than a round trip through libuv's thread
//   pool (which a blocked write would also pin, holding up process.exit, which joins it).
// - lines are encoded straight into a buffer of at most `maxQueuedBytes` and go out in batches,
//   every FLUSH_MS or as soon as BATCH_BYTES have gathered (one write system call per batch
//   instead of one per request); while one batch is in flight, lines fill a second buffer.
// - Policy when the buffer is full: DROP AND COUNT. A request is never held up by its log line;
//   the dropped lines are counted and one "log-dropped" line with the count is written as soon
//   as the output takes lines again.
// - flush(ms) gives up after `ms`: shutdown never waits on a stuck reader.
// - Request lines are not strings: request-log.ts writes their bytes into the buffer (room/commit).
// - A LogSink given instead of stdout (tests, the stand-in) gets each line as it is logged.
import { fstatSync, writeSync } from 'node:fs';

export type LogFields = Record<string, string | number | boolean | null | undefined>;
export type LogSink = (line: string) => void;

/**
 * Longest a line waits before it is written. Each batch costs a timer and a write system call,
 * tens of µs with the caches cold after a TLS handshake: at ~150 connections a second a 20 ms
 * batch held three lines, and the batch cost ~15 µs of each (timed in the server); at 100 ms
 * about 0.5 % more full handshakes per core, side by side. nginx's buffered access log waits seconds.
 */
const FLUSH_MS = 100;
/** A batch this large is written at once. */
const BATCH_BYTES = 64 * 1024;

/** Where batches go: `done` is called once the bytes are with the kernel (or lost); until then they are not touched. */
export type LogOutput = (data: Buffer, done: (error?: Error | null) => void) => void;

function streamOutput(stream: NodeJS.WriteStream): LogOutput {
  stream.on('error', () => undefined); // EPIPE when the reader went away: lines are lost, not fatal
  return (data, done) => {
    stream.write(data, done);
  };
}

function syncOutput(fd: number): LogOutput {
  return (data, done) => {
    let error: Error | null = null;
    try {
      for (let offset = 0; offset < data.length; ) offset += writeSync(fd, data, offset);
    } catch (e) {
      error = e as Error; // a full disk or a closed descriptor loses this batch
    }
    done(error);
  };
}

/** Hands each line to `sink` as soon as it is logged (the writer is made `immediate` for it). */
export function sinkOutput(sink: LogSink): LogOutput {
  return (data, done) => {
    try {
      const text = data.toString('utf8');
      for (let start = 0; start < text.length; ) {
        const end = text.indexOf('\n', start) + 1 || text.length;
        sink(text.slice(start, end));
        start = end;
      }
    } finally {
      done(); // a sink that throws loses its line, not the writer
    }
  };
}

/** The output for stdout: its non-blocking stream when it is a pipe or socket, synchronous writes otherwise. */
function stdoutOutput(): LogOutput {
  try {
    const stat = fstatSync(1);
    if (stat.isFIFO() || stat.isSocket()) return streamOutput(process.stdout);
  } catch {
    // no stdout at all: writes fail and the lines are lost
  }
  return syncOutput(1);
}

export class LogWriter {
  /** Lines waiting, encoded; `spare` is the buffer of the batch in flight. */
  private filling: Buffer;
  private spare: Buffer;
  private length = 0;
  private inFlight = false;
  /** One timer for the whole life of the writer, re-armed with refresh(): see armTimer(). */
  private timer: NodeJS.Timeout | undefined;
  private timerArmed = false;
  private dropped = 0;
  private lastDropReport = 0;
  private idleWaiters: Array<() => void> = [];

  /**
   * `output` defaults to stdout; `maxQueuedBytes` bounds the lines waiting to be written;
   * `immediate` writes each line as it comes instead of in batches.
   */
  constructor(maxQueuedBytes = 1 << 20, private readonly output: LogOutput = stdoutOutput(), private readonly immediate = false) {
    this.filling = Buffer.allocUnsafe(maxQueuedBytes);
    this.spare = Buffer.allocUnsafe(maxQueuedBytes);
  }

  /** Queues one line (ending in a newline), or drops and counts it when the buffer is full. */
  readonly push: LogSink = (line) => {
    // A UTF-8 character takes at most 3 bytes per UTF-16 unit: check before encoding.
    if (this.length + line.length * 3 > this.filling.length && !this.room(Buffer.byteLength(line))) return;
    this.commit(this.length + this.filling.write(line, this.length));
  };

  /**
   * For writers of bytes (request-log.ts): the buffer to write a line of at most `bytes` bytes
   * into, from `end` on — then call commit(). Undefined when it does not fit: the line is dropped
   * and counted.
   */
  room(bytes: number): Buffer | undefined {
    if (this.length + bytes <= this.filling.length) return this.filling;
    this.dropped++;
    return undefined;
  }

  /** Where the next line starts in room()'s buffer. */
  get end(): number {
    return this.length;
  }

  /** Queues what was written into room()'s buffer up to `end`. */
  commit(end: number): void {
    this.length = end;
    if (this.inFlight) return; // the batch in flight writes this buffer when it is done
    if (this.immediate || this.length >= BATCH_BYTES) this.writeBatch();
    else if (!this.timerArmed) this.armTimer();
  }

  /**
   * Writes what has gathered FLUSH_MS from now. refresh() of the same timer spares the new
   * Timeout and the two calls into libuv for ref/unref that a new unref'd setTimeout makes per
   * batch (timed under full handshakes: ~20 µs against 20–40, once per batch). A timer armed when
   * a batch went out early stays armed: it then writes whatever came since, or nothing.
   */
  private armTimer(): void {
    this.timerArmed = true;
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(() => this.onTimer(), FLUSH_MS).unref();
  }

  private onTimer(): void {
    this.timerArmed = false;
    if (!this.inFlight) this.writeBatch(); // else the batch in flight writes the rest when it is done
  }

  /** Lines dropped so far because the output did not keep up. */
  get droppedLines(): number {
    return this.dropped;
  }

  private writeBatch(): void {
    if (this.dropped > this.lastDropReport) {
      const line = `{"time":"${new Date().toISOString()}","event":"log-dropped","lines":${this.dropped - this.lastDropReport},"reason":"the log output did not keep up"}\n`;
      if (this.length + Buffer.byteLength(line) <= this.filling.length) {
        this.lastDropReport = this.dropped;
        this.length += this.filling.write(line, this.length);
      }
    }
    if (this.length === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
      return;
    }
    const batch = this.filling.subarray(0, this.length);
    [this.filling, this.spare] = [this.spare, this.filling];
    this.length = 0;
    this.inFlight = true;
    this.output(batch, () => {
      // A failed write (the reader went away) loses its lines; the writer carries on.
      this.inFlight = false;
      this.writeBatch();
    });
  }

  /** Resolves when every queued line is written, or after `ms` whatever the output is doing. */
  flush(ms: number): Promise<void> {
    if (!this.inFlight && this.length === 0) return Promise.resolve();
    if (!this.inFlight) this.writeBatch();
    if (!this.inFlight && this.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      this.idleWaiters.push(() => (clearTimeout(timer), resolve()));
    });
  }
}

export class Logger {
  private lastMs = 0;
  private lastIso = '';

  constructor(private readonly sink: LogSink) {}

  /** The current time as ISO 8601, formatted at most once per millisecond (busy servers log a lot). */
  now(): string {
    const ms = Date.now();
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastIso = new Date(ms).toISOString();
    }
    return this.lastIso;
  }

  /** Writes one line: {"time":…,"event":…, …fields}. Undefined fields are left out. */
  log(event: string, fields: LogFields = {}): void {
    this.sink(JSON.stringify({ time: this.now(), event, ...fields }) + '\n');
  }

  /** Writes a line the caller already built (must be one JSON object ending in a newline). */
  write(line: string): void {
    this.sink(line);
  }
}
