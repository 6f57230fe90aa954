// Hostile key uploads: truncated and bit-flipped PKCS#12 files are 400s (never a 500, never a
// hang), a file asking for more key-derivation work than lib/pkcs12.ts allows is refused before any
// derivation with a message naming the limit, an expensive but allowed file is parsed off the
// event loop (gateway calls made meanwhile are not held up), and an encrypted PEM key whose own
// PBKDF2 cost is absurd is refused before any derivation.
// The machine may be shared and loaded: time bounds are relative to the same work done on this
// thread in this run (a parse, a derivation), never absolute.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { pbkdf2Sync } from 'node:crypto';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { E, assertError, deployAlive, form, pem, startStandIn, whileCallingGateway, within, type Answer, type StandIn } from '../helpers/apigee-local.ts';
import { PKCS12_LIMITS, parsePkcs12 } from '../../lib/pkcs12.ts';
import { parsePrivateKey } from '../../apigee-local/certs.ts';
import { tempDir } from '../helpers/temp.ts';

let s: StandIn;
let stopAlive: () => void;
let p12: Buffer;
const work = tempDir('hostile-p12-');

const upload = (alias: string, file: Buffer, password: string, limitMs = 15_000): Promise<Answer> =>
  within(limitMs, `upload of ${alias}`, s.api('POST', `${E}/keystores/ks/aliases?alias=${alias}&format=pkcs12`, form({ file, password })));

/** A PKCS#12 of the fixture client key made by openssl with `iterations` for the MAC and both encryptions. */
async function p12With(iterations: number): Promise<Buffer> {
  const out = join(work, `iter-${iterations}.p12`);
  await execa('openssl', ['pkcs12', '-export', '-inkey', join(s.fx.pki, 'apigee-client-key.pem'), '-in', join(s.fx.pki, 'apigee-client-cert.pem'),
    '-iter', String(iterations), '-passout', 'env:P12_PASSWORD', '-out', out], { env: { P12_PASSWORD: s.fx.password } });
  return readFileSync(out);
}

/** How long parsing `file` on this thread takes now: what it would stall the event loop for. */
function onThreadParseMs(file: Buffer): number {
  const started = performance.now();
  parsePkcs12(file, s.fx.password);
  return performance.now() - started;
}

const keyFiles = () => (existsSync(join(s.options.dir, 'keys')) ? readdirSync(join(s.options.dir, 'keys')).length : 0);

test.before(async () => {
  s = await startStandIn();
  p12 = readFileSync(join(s.fx.pki, 'client-apigee-keystore.p12'));
  await s.ok('POST', `${E}/keystores`, JSON.stringify({ name: 'ks' }));
  stopAlive = await deployAlive(s);
});

test.after(async () => {
  await s.close();
  stopAlive();
});

test('truncated files: every cut is a 400 INVALID_ARGUMENT, nothing stored', async () => {
  const before = keyFiles();
  for (const fraction of [0.05, 0.25, 0.5, 0.75, 0.95, 0.999]) {
    const cut = p12.subarray(0, Math.floor(p12.length * fraction));
    assertError(await upload(`cut${Math.round(fraction * 1000)}`, cut, s.fx.password), 400, 'INVALID_ARGUMENT', /PKCS#12|password/);
  }
  assert.is(keyFiles(), before);
});

test('bit flips anywhere: a 400 (or, where the flip hits nothing checked, a valid alias) — never a 500', async () => {
  let seed = 12345;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let i = 0; i < 40; i++) {
    const flipped = Buffer.from(p12);
    const at = next() % flipped.length;
    flipped[at] = flipped[at]! ^ (1 << (next() % 8));
    const a = await upload(`flip${i}`, flipped, s.fx.password);
    if (a.status === 200) continue;
    assertError(a, 400, 'INVALID_ARGUMENT');
  }
});

test('a file over the derivation budget is refused before any derivation, naming the limit', async () => {
  const bomb = await p12With(350_000);
  // Deriving the bomb would take a bit longer than parsing a file just under the limit.
  const parseMs = onThreadParseMs(await p12With(330_000));
  const started = performance.now();
  const a = await upload('bomb', bomb, s.fx.password);
  const ms = performance.now() - started;
  assertError(a, 400, 'INVALID_ARGUMENT', /PKCS#12 file refused: .*over the limit of 1000000 \(PKCS12_LIMITS\.work\)/);
  assert.ok(ms < parseMs / 2, `refused after ${Math.round(ms)} ms; parsing a file just under the limit takes ${Math.round(parseMs)} ms here`);
  assertError(await s.api('GET', `${E}/keystores/ks/aliases/bomb`), 404, 'NOT_FOUND');
});

test('expensive but allowed files are parsed off the event loop: the gateway answers meanwhile', async () => {
  const heavy = await p12With(330_000); // 990 000 derivation rounds: just under the limit
  // The yardstick, measured now under whatever load the machine has: one parse on this thread.
  const parseMs = onThreadParseMs(heavy);
  const aliases = ['heavy1', 'heavy2', 'heavy3'];
  // Three at once, parsed one after another by the worker: the hang guard grows with that work.
  const limitMs = 15_000 + 3 * aliases.length * parseMs;
  const m = await whileCallingGateway(s, () => Promise.all(aliases.map((alias) => upload(alias, heavy, s.fx.password, limitMs))));
  for (const a of m.result) assert.is(a.status, 200, a.text);
  const seen = `uploads ${Math.round(m.ms)} ms, one parse on this thread ${Math.round(parseMs)} ms, ${m.calls} gateway calls meanwhile, event loop blocked up to ${Math.round(m.loopBlockedMs)} ms`;
  console.log(`  ${seen}`);
  // Parsed on the loop, the three parses hold it back to back: the gateway answers only the call
  // already in flight, and the loop stalls for at least one parse.
  assert.ok(m.calls >= 3 * aliases.length, `the gateway kept answering: ${seen}`);
  assert.ok(m.loopBlockedMs < parseMs, `the event loop never stalled as long as one parse: ${seen}`);
});

test('an encrypted PEM key asking for 8 million PBKDF2 rounds is refused before any derivation', async () => {
  const made = await execa('openssl', ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-iter', '65536', '-in', join(s.fx.pki, 'apigee-client-key.pem'),
    '-outform', 'DER', '-passout', 'pass:secret'], { encoding: 'buffer' });
  const der = Buffer.from(made.stdout);
  const at = der.indexOf(Buffer.from([0x02, 0x03, 0x01, 0x00, 0x00])); // INTEGER 65536, the iteration count
  assert.ok(at > 0, 'iteration count found');
  der.set([0x7f, 0xff, 0xff], at + 2); // 8 388 607, same length
  // What the key derivation at the limit costs on this thread now; the bomb asks for 8 times it.
  const started = performance.now();
  pbkdf2Sync('secret', 'salt', PKCS12_LIMITS.work, 32, 'sha256');
  const limitMs = performance.now() - started;
  const bomb = `-----BEGIN ENCRYPTED PRIVATE KEY-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END ENCRYPTED PRIVATE KEY-----\n`;
  const m = await whileCallingGateway(s, () => s.api('POST', `${E}/keystores/ks/aliases?alias=slowkey&format=keycertfile`,
    form({ certFile: pem(s.fx.pki, 'apigee-client-cert.pem'), keyFile: bomb, password: 'secret' })));
  assertError(m.result, 400, 'INVALID_ARGUMENT', /asks for 8388607 PBKDF2 iterations, over the limit of 1000000/);
  assert.ok(m.ms < limitMs / 2, `answered after ${Math.round(m.ms)} ms; ${PKCS12_LIMITS.work} PBKDF2 rounds take ${Math.round(limitMs)} ms here`);
  // An ordinary encrypted key still goes through.
  const normal = await execa('openssl', ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', join(s.fx.pki, 'apigee-client-key.pem'), '-passout', 'pass:secret']);
  const ok = await s.api('POST', `${E}/keystores/ks/aliases?alias=enc&format=keycertfile`, form({ certFile: pem(s.fx.pki, 'apigee-client-cert.pem'), keyFile: normal.stdout, password: 'secret' }));
  assert.is(ok.status, 200, ok.text);
  assertError(await s.api('POST', `${E}/keystores/ks/aliases?alias=enc2&format=keycertfile`, form({ certFile: pem(s.fx.pki, 'apigee-client-cert.pem'), keyFile: normal.stdout, password: 'wrong' })),
    400, 'INVALID_ARGUMENT', /wrong password/);
});

test('an ordinary encrypted key is not "too costly" when this process got no CPU while its worker started', async () => {
  const normal = await execa('openssl', ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-in', join(s.fx.pki, 'apigee-client-key.pem'), '-passout', 'pass:secret']);
  const parsing = parsePrivateKey(normal.stdout, 'secret');
  // This thread stalls 2.5 s (a loaded machine), past the 2 s decryption budget, while the worker
  // starts and decrypts; that budget is the worker's time, not this thread's.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500);
  assert.is(await parsing.then((key) => key.type, (error: Error) => error.message), 'private');
});

test.run();
