// JSON log lines, one per event. Writing to stdout with process.stdout is synchronous on Linux for
// files and pipes, which would stall the request path; lines are queued instead and written in
// batches by one asynchronous fs.write at a time.
import { write } from 'node:fs';

export type LogFields = Record<string, string | number | boolean | null | undefined>;
export type LogSink = (line: string) => void;

/** A sink that batches lines onto a file descriptor (default: stdout) without blocking. */
export class FdSink {
  private queue: string[] = [];
  private writing = false;
  private waiters: Array<() => void> = [];

  constructor(private readonly fd = 1) {}

  readonly push: LogSink = (line) => {
    this.queue.push(line);
    if (!this.writing) this.flushSoon();
  };

  private flushSoon(): void {
    this.writing = true;
    setImmediate(() => this.writeBatch());
  }

  private writeBatch(): void {
    if (this.queue.length === 0) {
      this.writing = false;
      for (const done of this.waiters.splice(0)) done();
      return;
    }
    const data = Buffer.from(this.queue.join(''));
    this.queue = [];
    this.writeAll(data, 0);
  }

  private writeAll(data: Buffer, offset: number): void {
    write(this.fd, data, offset, data.length - offset, null, (error, written) => {
      if (error && (error as NodeJS.ErrnoException).code === 'EAGAIN') {
        setTimeout(() => this.writeAll(data, offset), 5); // non-blocking pipe is full: retry shortly
      } else if (!error && offset + written < data.length) {
        this.writeAll(data, offset + written);
      } else {
        this.writeBatch(); // a lost log batch (closed stdout) must not take the server down
      }
    });
  }

  /** Resolves once every queued line is written. */
  flush(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
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
