// parsePkcs12Async keeps the caller's event loop free: while it parses a heavy but allowed file
// (a 3DES key bag whose derivation runs in JavaScript, just under PKCS12_LIMITS.work), a timer on
// the main thread keeps firing on time. The synchronous parser of the same file is the contrast:
// it holds the loop for the whole derivation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PKCS12_LIMITS, Pkcs12Error, keyEntry, parsePkcs12, parsePkcs12Async } from '../../lib/pkcs12.ts';
import { tempDir } from '../helpers/temp.ts';

const dir = tempDir('hostile-pkcs12-loop-');
const PASS = 'changeit';
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
const TICK_MS = 5;

let heavy: Buffer;
let light: Buffer;

test.before(() => {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-subj', '/CN=heavy.test', '-days', '2');
  // One 3DES key bag derives 3 hash blocks per iteration, with the PKCS#12 KDF written in JS.
  const iter = String(Math.floor(PKCS12_LIMITS.work / 3));
  const exportTo = (out: string, extra: string[]) =>
    openssl('pkcs12', '-export', '-in', 'cert.pem', '-inkey', 'key.pem', '-name', 'heavy', '-out', out, '-passout', `pass:${PASS}`, ...extra);
  exportTo('heavy.p12', ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'NONE', '-iter', iter, '-nomac']);
  exportTo('light.p12', []);
  heavy = readFileSync(join(dir, 'heavy.p12'));
  light = readFileSync(join(dir, 'light.p12'));
});

/** Runs `work` while a TICK_MS timer runs; returns the largest delay between ticks beyond TICK_MS. */
async function largestTimerLag(work: () => Promise<unknown> | unknown): Promise<{ lag: number; ms: number }> {
  let last = performance.now();
  let lag = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    lag = Math.max(lag, now - last - TICK_MS);
    last = now;
  }, TICK_MS);
  // Let the timer settle before the work starts.
  await new Promise((resolve) => setTimeout(resolve, 4 * TICK_MS));
  const started = performance.now();
  await work();
  const ms = performance.now() - started;
  await new Promise((resolve) => setTimeout(resolve, 2 * TICK_MS));
  clearInterval(timer);
  return { lag, ms };
}

// The machine is shared: other processes alone delay a timer by tens of milliseconds. So the
// bound is relative to a peer in the same run: the stall the synchronous parse causes.
let syncStall = 0;

test('the synchronous parse of the heavy store holds the event loop for the whole derivation', async () => {
  const sync = await largestTimerLag(() => parsePkcs12(heavy, PASS));
  syncStall = sync.lag;
  assert.ok(sync.lag > 200, `sync lag ${sync.lag.toFixed(0)} ms: the file should be heavy`);
});

test('while the worker parses the heavy store, the main event loop keeps its timer on time', async () => {
  // The worker's start-up (tsx compiles its entry) is a one-time cost, outside this measure.
  await parsePkcs12Async(light, PASS);
  let alias = '';
  const async = await largestTimerLag(async () => {
    alias = keyEntry(await parsePkcs12Async(heavy, PASS)).alias;
  });
  console.log(`heavy store: async parse ${async.ms.toFixed(0)} ms with a largest timer lag of ${async.lag.toFixed(1)} ms; the sync parse stalled the loop ${syncStall.toFixed(0)} ms`);
  assert.is(alias, 'heavy');
  assert.ok(async.lag * 5 < syncStall, `async lag ${async.lag.toFixed(1)} ms vs sync stall ${syncStall.toFixed(0)} ms`);
});

test('concurrent parses share the worker: each gets its own answer, the loop stays free', async () => {
  const { lag } = await largestTimerLag(async () => {
    const [heavyStore, lightStore, wrong] = await Promise.allSettled([
      parsePkcs12Async(heavy, PASS),
      parsePkcs12Async(light, PASS),
      parsePkcs12Async(light, 'wrong'),
    ]);
    assert.is(heavyStore.status === 'fulfilled' && keyEntry(heavyStore.value).alias, 'heavy');
    assert.is(lightStore.status === 'fulfilled' && lightStore.value.certs[0]?.x509.subject, 'CN=heavy.test');
    assert.ok(wrong.status === 'rejected' && wrong.reason instanceof Pkcs12Error, String(wrong.status === 'rejected' && wrong.reason));
    assert.is((wrong as PromiseRejectedResult).reason.code, 'BAD_PASSWORD');
  });
  assert.ok(lag * 5 < syncStall, `async lag ${lag.toFixed(1)} ms vs sync stall ${syncStall.toFixed(0)} ms`);
});

test.run();
