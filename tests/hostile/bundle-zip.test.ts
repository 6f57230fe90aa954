// Hostile proxy bundles: a zip whose headers lie about the sizes (10 GB of zeros declared as 100 B
// in a 10 MB upload), honest bombs, archives over the entry/total/ratio budgets, zip-slip names,
// truncated and duplicated entries. Each is a 400 in Google's envelope, quickly, stores nothing,
// and the gateway keeps answering while the stand-in reads it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync, zipSync } from 'fflate';
import { LIMITS, unzipBundle } from '../../apigee-local/bundle-zip.ts';
import { ApiError } from '../../apigee-local/errors.ts';
import { assertError, bundle, deployAlive, startStandIn, whileCallingGateway, within, type Answer, type StandIn } from '../helpers/apigee-local.ts';
import { craftZip, deflated, zerosDeflate } from '../helpers/zip-craft.ts';

let s: StandIn;
let stopAlive: () => void;
const MiB = 1024 * 1024;
const GOOD_FILES = {
  'apiproxy/p.xml': '<APIProxy name="p"/>',
  'apiproxy/proxies/default.xml': '<ProxyEndpoint name="default"><HTTPProxyConnection><BasePath>/bomb</BasePath></HTTPProxyConnection><RouteRule name="r"/></ProxyEndpoint>',
};
const goodEntries = () => Object.entries(GOOD_FILES).map(([name, text]) => deflated(name, text));

const upload = (zip: Buffer): Promise<Answer> =>
  within(60_000, 'bundle import', s.api('POST', '/apis?name=bomb&action=import', zip, 'application/octet-stream'));

test.before(async () => {
  s = await startStandIn();
  stopAlive = await deployAlive(s);
});

test.after(async () => {
  await s.close();
  stopAlive();
});

test('a lying zip (10 GiB of zeros declared as 100 B, 10 MB upload) is refused at once; the gateway keeps answering', async () => {
  const zip = craftZip([...goodEntries(), { name: 'apiproxy/resources/bomb.txt', data: zerosDeflate(10 * 1024), method: 8, declaredSize: 100 }]);
  assert.ok(zip.length > 10 * 1000 * 1000 && zip.length < LIMITS.zipBytes, `upload of ${zip.length} bytes`);
  // Reading this zip whole blocked the management API and the gateway for ~290 s. The bounds are
  // units timed in this run, so a loaded machine stretches them with the upload: an upload of the same
  // size refused from its first bytes, and inflating LIMITS.totalBytes of zeros in one go (the most
  // the stand-in inflates for one bundle; this zip's 10 GiB is 320 times that).
  const same = await whileCallingGateway(s, () => upload(Buffer.alloc(zip.length)));
  assertError(same.result, 400, 'INVALID_ARGUMENT', /no local file header/);
  const budget = zerosDeflate(LIMITS.totalBytes / MiB);
  const t0 = performance.now();
  inflateSync(budget);
  const inflateMs = performance.now() - t0;
  const m = await whileCallingGateway(s, () => upload(zip));
  assertError(m.result, 400, 'INVALID_ARGUMENT', /inflates (more than \d+ times|to more than)/);
  const units = `(same-size upload ${Math.round(same.ms)} ms, slowest call then ${Math.round(same.slowestCall)} ms; inflating the budget ${Math.round(inflateMs)} ms)`;
  assert.ok(m.ms < 4 * (same.ms + inflateMs), `refused after ${Math.round(m.ms)} ms ${units}`);
  assert.ok(m.calls >= 1 && m.slowestCall < 2 * (same.slowestCall + inflateMs), `${m.calls} gateway calls during the upload, slowest ${Math.round(m.slowestCall)} ms ${units}`);
  assert.ok(m.loopBlockedMs < 2 * inflateMs, `the event loop was blocked up to ${Math.round(m.loopBlockedMs)} ms ${units}`);
  assert.is((await s.api('GET', '/apis/bomb')).status, 404, 'nothing stored');
  assert.equal(readdirSync(join(s.options.dir, 'bundles')).length, 1, 'only the alive proxy\'s bundle');
});

test('an honest bomb (entry declaring 1 GiB) is refused from its header', async () => {
  const zip = craftZip([...goodEntries(), { name: 'apiproxy/resources/big.txt', data: zerosDeflate(1024), method: 8, declaredSize: 1024 * MiB }]);
  assertError(await upload(zip), 400, 'INVALID_ARGUMENT', /declares 1073741824 bytes; the limit per entry is 16 MiB/);
});

test('an entry that inflates to more than it declares (within the budgets) is refused', async () => {
  const zip = craftZip([...goodEntries(), { ...deflated('apiproxy/resources/small.txt', randomBytes(1000)), declaredSize: 100 }]);
  assertError(await upload(zip), 400, 'INVALID_ARGUMENT', /"apiproxy\/resources\/small.txt" inflates to 1000 bytes but declares 100/);
});

test('budgets on produced bytes: per entry, in total, ratio, entry count (unzipBundle with small limits)', async () => {
  const small = { ...LIMITS, entryBytes: 64 * 1024, totalBytes: 256 * 1024, ratio: 50, ratioFloorBytes: 32 * 1024, entries: 5 };
  const noise = (n: number) => randomBytes(n); // incompressible: ratio 1
  // Declared sizes say 1 byte: only what the entries really produce can trip the budgets.
  const lying = (files: Record<string, Uint8Array>) => craftZip(Object.entries(files).map(([name, data]) => ({ ...deflated(name, Buffer.from(data)), declaredSize: 1 })));
  const honest = (files: Record<string, Uint8Array>) => Buffer.from(zipSync(files));
  const refused = async (files: Record<string, Uint8Array>, message: RegExp, make = lying) => {
    try {
      await unzipBundle(make(files), small);
    } catch (error) {
      assert.instance(error, ApiError);
      assert.match((error as Error).message, message);
      return;
    }
    assert.unreachable(`expected a refusal matching ${message}`);
  };
  await refused({ a: noise(65 * 1024) }, /entry "a" inflates to more than 0.0625 MiB/);
  await refused({ a: noise(60 * 1024), b: noise(60 * 1024), c: noise(60 * 1024), d: noise(60 * 1024), e: noise(60 * 1024) }, /bundle inflates to more than 0.25 MiB/, honest);
  await refused({ a: new Uint8Array(60 * 1024) }, /more than 50 times its compressed size/);
  await refused(Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`f${i}`, noise(10)])), /more than 5 entries/, honest);
  const fine = await unzipBundle(zipSync({ a: noise(60 * 1024), 'dir/b': new TextEncoder().encode('hello') }), small);
  assert.equal([...fine.keys()].sort(), ['a', 'dir/b']);
  assert.is(Buffer.from(fine.get('dir/b')!).toString(), 'hello');
});

test('zip-slip names, NUL, backslashes and drive letters are refused', async () => {
  for (const name of ['../../evil.xml', 'apiproxy/../../evil.xml', '/etc/evil.xml', 'C:/evil.xml', 'apiproxy\\..\\evil.xml', 'apiproxy/a\0.xml']) {
    const zip = craftZip([...goodEntries(), deflated(name, '<x/>')]);
    assertError(await upload(zip), 400, 'INVALID_ARGUMENT', /escapes the bundle folder \(zip-slip\)/);
  }
});

test('truncated archives, duplicate entries, unknown compression, not a zip', async () => {
  const entries = [...goodEntries(), deflated('apiproxy/resources/r.txt', randomBytes(5000))];
  const headerAndName = (e: { name: string }) => 30 + Buffer.byteLength(e.name);
  const thirdData = entries.slice(0, 2).reduce((n, e) => n + headerAndName(e) + e.data.length, 0) + headerAndName(entries[2]!);
  assertError(await upload(craftZip(entries, { truncateAt: thirdData + 100 })), 400, 'INVALID_ARGUMENT', /truncated: entry "apiproxy\/resources\/r.txt"/);
  assertError(await upload(craftZip([...goodEntries(), deflated('apiproxy/p.xml', '<APIProxy/>')])), 400, 'INVALID_ARGUMENT', /two entries named "apiproxy\/p.xml"/);
  assertError(await upload(craftZip([...goodEntries(), { name: 'apiproxy/x.bin', data: Buffer.from('BZh9'), method: 12, declaredSize: 4 }])), 400, 'INVALID_ARGUMENT', /cannot be (inflated|read)/);
  assertError(await upload(Buffer.from('definitely not a zip file')), 400, 'INVALID_ARGUMENT', /not a valid zip/);
  assertError(await upload(Buffer.alloc(LIMITS.zipBytes + 1)), 400, 'INVALID_ARGUMENT', /limit/);
});

test('stored (uncompressed) entries and an honest bundle still import', async () => {
  const stored = craftZip([...goodEntries(), { name: 'apiproxy/resources/plain.txt', data: Buffer.from('plain'), method: 0, declaredSize: 5 }]);
  const a = await upload(stored);
  assert.is(a.status, 200, a.text);
  assert.equal(a.json.resources, ['plain.txt']);
  const b = await upload(bundle('/bomb2', '<URL>https://127.0.0.1:1</URL>'));
  assert.is(b.status, 200, b.text);
});

test.run();
