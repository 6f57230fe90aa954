// JSON log lines, one per event, written so that a slow or stuck reader of stdout can neither
// stall requests, nor grow memory, nor keep the process from exiting:
// - a pipe or socket is written through Node's non-blocking stream for it (process.stdout);
//   a file or terminal through fs.write on libuv's thread pool. (A blocking write stuck on a
//   full pipe in the thread pool would also hold up process.exit, which joins those threads.)
// - one batch is in flight at a time; lines wait in a queue of at most `maxQueuedBytes`.
// - Policy when the queue is full: DROP AND COUNT. A request is never held up by its log line;
//   the dropped lines are counted and one "log-dropped" line with the count is written as soon
//   as the output takes lines again.
// - flush(ms) gives up after `ms`: shutdown never waits on a stuck reader.
import { fstatSync, write } from 'node:fs';

export type LogFields = Record<string, string | number | boolean | null | undefined>;
export type LogSink = (line: string) => void;

/** Where batches go: `done` is called once the bytes are with the kernel (or lost). */
type Output = (data: Buffer, done: (error?: Error | null) => void) => void;

function streamOutput(stream: NodeJS.WriteStream): Output {
  stream.on('error', () => undefined); // EPIPE when the reader went away: lines are lost, not fatal
  return (data, done) => {
    stream.write(data, done);
  };
}

function fdOutput(fd: number): Output {
  const writeAll = (data: Buffer, offset: number, done: (error?: Error | null) => void): void => {
    write(fd, data, offset, data.length - offset, null, (error, written) => {
      // EAGAIN: a non-blocking descriptor opened by someone else is full; try again shortly.
      if (error && (error as NodeJS.ErrnoException).code === 'EAGAIN') setTimeout(() => writeAll(data, offset, done), 10).unref();
      else if (!error && offset + written < data.length) writeAll(data, offset + written, done);
      else done(error);
    });
  };
  return (data, done) => writeAll(data, 0, done);
}

/** The output for stdout: its non-blocking stream when it is a pipe or socket, fs.write otherwise. */
function stdoutOutput(): Output {
  let kind: 'stream' | 'fd' = 'fd';
  try {
    const stat = fstatSync(1);
    if (stat.isFIFO() || stat.isSocket()) kind = 'stream';
  } catch {
    // no stdout at all: writes fail and count as dropped
  }
  return kind === 'stream' ? streamOutput(process.stdout) : fdOutput(1);
}

export class LogWriter {
  private queue: string[] = [];
  private queuedBytes = 0;
  private inFlight = false;
  private scheduled = false;
  private dropped = 0;
  private lastDropReport = 0;
  private idleWaiters: Array<() => void> = [];

  /** `output` defaults to stdout; `maxQueuedBytes` bounds the lines waiting to be written. */
  constructor(private readonly maxQueuedBytes = 1 << 20, private readonly output: Output = stdoutOutput()) {}

  /** Queues one line (ending in a newline), or drops and counts it when the queue is full. */
  readonly push: LogSink = (line) => {
    if (this.queuedBytes + line.length > this.maxQueuedBytes) {
      this.dropped++;
      return;
    }
    this.queue.push(line);
    this.queuedBytes += line.length;
    this.schedule();
  };

  /** Lines dropped so far because the output did not keep up. */
  get droppedLines(): number {
    return this.dropped;
  }

  private schedule(): void {
    if (this.inFlight || this.scheduled) return;
    this.scheduled = true;
    // Lines logged in the same turn of the event loop go out in one write.
    setImmediate(() => {
      this.scheduled = false;
      this.writeBatch();
    });
  }

  private writeBatch(): void {
    if (this.dropped > this.lastDropReport) {
      const count = this.dropped - this.lastDropReport;
      this.lastDropReport = this.dropped;
      const line = `{"time":"${new Date().toISOString()}","event":"log-dropped","lines":${count},"reason":"the log output did not keep up"}\n`;
      this.queue.push(line);
      this.queuedBytes += line.length;
    }
    if (this.queue.length === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
      return;
    }
    const data = Buffer.from(this.queue.join(''));
    this.queue = [];
    this.queuedBytes = 0;
    this.inFlight = true;
    this.output(data, () => {
      // A failed write (the reader went away) loses its lines; the writer carries on.
      this.inFlight = false;
      this.writeBatch();
    });
  }

  /** Resolves when every queued line is written, or after `ms` whatever the output is doing. */
  flush(ms: number): Promise<void> {
    if (!this.inFlight && !this.scheduled && this.queue.length === 0) return Promise.resolve();
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

/**
 * The end of a log line — `,"a":1,"b":"x"}` plus newline — for fields that stay the same on every
 * request of a connection, so each request only formats what changes.
 */
export function jsonTail(fields: LogFields): string {
  const json = JSON.stringify(fields);
  return (json === '{}' ? '}' : ',' + json.slice(1)) + '\n';
}
