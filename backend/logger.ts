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
  constructor(private readonly sink: LogSink) {}

  /** Writes one line: {"time":…,"event":…, …fields}. Undefined fields are left out. */
  log(event: string, fields: LogFields = {}): void {
    this.sink(JSON.stringify({ time: new Date().toISOString(), event, ...fields }) + '\n');
  }
}
