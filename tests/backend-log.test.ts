// The backend's log writer and its byte-encoded request lines (backend/request-log.ts): each
// request line is the JSON a template string would have given, whatever the path or client name
// holds; the latency prints as JavaScript prints it; a full queue drops and counts request lines
// like any other; a sink gets each line as it is logged.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { LogWriter, sinkOutput, type LogOutput } from '../backend/logger.ts';
import { RequestLog, writeMillis } from '../backend/request-log.ts';

test('latency digits are what JavaScript prints for the value rounded to 3 decimals', () => {
  const b = Buffer.alloc(32);
  const micros = [...Array.from({ length: 3001 }, (_, i) => i), 10_000, 10_010, 99_999, 123_456_789, 2 ** 36 + 7, 999_999_999_999]; // past ~11 days doubles lose the last decimal; the digits stay exact
  for (const us of micros) {
    const end = writeMillis(b, 0, us);
    assert.is(b.toString('latin1', 0, end), String(Math.round(us) / 1000), `${us} µs`);
  }
});

/** A monotonic reading the tests' requests end at: a request of `us` microseconds started at END - us / 1000. */
const END = 5_000.25;

/** Collects what a writer hands on, line by line, as soon as it is logged. */
function capture(maxQueuedBytes = 1 << 16) {
  const lines: string[] = [];
  const writer = new LogWriter(maxQueuedBytes, sinkOutput((line) => lines.push(line)), true);
  return { writer, lines, log: new RequestLog(writer, Date.now, () => END) };
}

test('request lines are the JSON of their fields for odd paths, methods and client names', () => {
  const { log, lines } = capture();
  // node:http gives the path as latin1 text of the raw bytes; JSON.stringify escapes what JSON needs.
  const paths = ['/', '/a"b\\c', '/caf\u00e9', '/\u0001\u001f', '/x?y=1&z=%20', '/' + 'p'.repeat(4000), '/__proto__'];
  const tail = `,"client":"Jos\u00e9 \u2603 \\"q\\"","fingerprint":"AB:CD","remote":"::1","tls":"TLSv1.3"}\n`;
  const cases = paths.flatMap((path, i) => [
    { method: 'GET', path, status: 200, us: 31.4 + i },
    { method: 'HEAD', path, status: 404, us: 1500 },
    { method: 'GET', path, status: 200, us: 0 }, // a repeat of an earlier line's method/path/status, after a change
  ]);
  const before = Date.now();
  for (const c of cases) log.write(c.method, c.path, c.status, END - c.us / 1000, Buffer.from(tail));
  assert.is(lines.length, cases.length);
  lines.forEach((line, i) => {
    const c = cases[i]!;
    assert.ok(line.endsWith('}\n'), 'one line each, newline-terminated');
    const parsed = JSON.parse(line);
    assert.equal(Object.keys(parsed), ['time', 'event', 'method', 'path', 'status', 'ms', 'client', 'fingerprint', 'remote', 'tls']);
    assert.is(parsed.event, 'request');
    assert.is(parsed.method, c.method);
    assert.is(parsed.path, c.path);
    assert.is(parsed.status, c.status);
    assert.is(parsed.ms, Math.round(c.us) / 1000);
    assert.is(parsed.client, 'Jos\u00e9 \u2603 "q"');
    assert.ok(Date.parse(parsed.time) >= before - 1 && Date.parse(parsed.time) <= Date.now(), parsed.time);
  });
});

test('the time of a request line is what toISOString() writes, across milliseconds, seconds and days', () => {
  const lines: string[] = [];
  const writer = new LogWriter(1 << 16, sinkOutput((line) => lines.push(line)), true);
  let clock = 0;
  const log = new RequestLog(writer, () => clock, () => clock);
  const day = Date.UTC(2026, 11, 31, 23, 59, 59);
  const times = [0, 1, 9, 10, 99, 100, 999, 1000, 1001].map((d) => day + d).concat([Date.UTC(2027, 0, 1, 0, 0, 0, 7), Date.UTC(2024, 1, 29, 12, 0, 0, 450), 1_000_000_000_123, day + 5]);
  for (const t of times) {
    clock = t;
    log.write('GET', '/', 200, clock - 0.012, Buffer.from('}\n'));
  }
  assert.equal(lines.map((l) => JSON.parse(l).time), times.map((t) => new Date(t).toISOString()));
  assert.ok(lines.every((l) => l.startsWith('{"time":"') && l.includes('Z","event":"request"')), 'the same JSON text as before');
});

test('the wall clock is read once per second of log time, and a change of the system time shows within a second', () => {
  const lines: string[] = [];
  const writer = new LogWriter(1 << 16, sinkOutput((line) => lines.push(line)), true);
  let mono = 100;
  let wall = Date.UTC(2026, 11, 2, 10, 0, 0, 400);
  let wallReads = 0;
  const log = new RequestLog(writer, () => (wallReads++, wall + (mono - 100)), () => mono);
  const at = (ms: number) => {
    mono = 100 + ms;
    log.write('GET', '/', 200, mono - 0.05, Buffer.from('}\n'));
    return JSON.parse(lines.at(-1)!).time as string;
  };
  assert.is(at(0), '2026-12-02T10:00:00.400Z');
  assert.is(at(300), '2026-12-02T10:00:00.700Z');
  assert.is(wallReads, 1, 'one read for the lines of one second');
  wall -= 3_600_000; // the system time is set back an hour
  assert.is(at(500), '2026-12-02T10:00:00.900Z', 'within the second, the offset read at its start holds');
  assert.is(at(700), '2026-12-02T09:00:01.100Z', 'the next second reads the wall clock again');
  assert.is(at(750), '2026-12-02T09:00:01.150Z');
  assert.is(wallReads, 2, 'read again once, by the first line past the old second');
  assert.is(JSON.parse(lines.at(-1)!).ms, 0.05);
});

test('a full queue drops request lines and string lines alike, counts them, and says so once it drains', () => {
  const held: Array<() => void> = [];
  const written: string[] = [];
  const stuck: LogOutput = (data, done) => {
    written.push(data.toString());
    held.push(done); // the reader takes nothing until released
  };
  const writer = new LogWriter(1024, stuck, true);
  const log = new RequestLog(writer);
  const tail = Buffer.from(',"client":"c"}\n');
  writer.push('{"event":"first"}\n'); // goes out at once, then the output is stuck
  for (let i = 0; i < 50; i++) log.write('GET', '/', 200, log.clock(), tail);
  const droppedRequests = writer.droppedLines;
  assert.ok(droppedRequests > 30 && droppedRequests < 50, `dropped ${droppedRequests} of 50 request lines`);
  writer.push(`{"event":"string line","pad":"${'x'.repeat(200)}"}\n`); // larger than any room left
  assert.is(writer.droppedLines, droppedRequests + 1);
  while (held.length > 0) held.shift()!();
  const all = written.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.is(all[0].event, 'first');
  assert.is(all.filter((l) => l.event === 'request').length, 50 - droppedRequests, 'the lines that fitted are written, in full');
  const reports = all.filter((l) => l.event === 'log-dropped');
  assert.is(reports.length, 1, 'one log-dropped line once the output takes lines again');
  assert.is(reports[0].lines, droppedRequests + 1);
});

test('a batching writer holds lines until flush, then writes them in order in one batch', async () => {
  const batches: string[] = [];
  const writer = new LogWriter(1 << 16, (data, done) => {
    batches.push(data.toString());
    done();
  });
  const log = new RequestLog(writer);
  writer.push('{"event":"a"}\n');
  log.write('GET', '/b', 200, log.clock(), Buffer.from('}\n'));
  writer.push('{"event":"c"}\n');
  assert.is(batches.length, 0, 'nothing is written per line');
  await writer.flush(1000);
  assert.is(batches.length, 1);
  assert.equal(batches[0]!.split('\n').filter(Boolean).map((l) => JSON.parse(l).event), ['a', 'request', 'c']);
});

test.run();
