// The management API against what a careless or hostile client sends with curl: multipart bodies
// cut off inside a part, and the like. Each is answered in Google's error envelope, stores
// nothing, and leaves the stand-in serving.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { E, assertError, startStandIn, type StandIn } from './helpers/apigee-local.ts';

let s: StandIn;
const curl = (args: string[]) => execa('curl', ['-sS', '--max-time', '20', '-H', 'Authorization: Bearer t', ...args], { reject: false });
/** curl's answer made with -w '\n%{http_code}', in the helpers' Answer shape. */
async function curlApi(path: string, args: string[]) {
  const r = await curl([...args, '-w', '\n%{http_code}', s.local.apiUrl + path]);
  const cut = r.stdout.lastIndexOf('\n');
  const text = r.stdout.slice(0, cut);
  let json: any;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: Number(r.stdout.slice(cut + 1)), json, text, headers: {}, exitCode: r.exitCode, stderr: r.stderr };
}

test.before(async () => {
  s = await startStandIn();
  await s.ok('POST', `${E}/keystores`, JSON.stringify({ name: 'ks' }));
});

test.after(async () => {
  await s.close();
});

test('a multipart body cut off inside a file part → 400, nothing stored, and the stand-in still answers', async () => {
  const cert = readFileSync(join(s.fx.pki, 'apigee-client-cert.pem'), 'utf8');
  // The part starts but the body ends before its closing boundary (busboy: "Unexpected end of form").
  const cutOff = `--XX\r\nContent-Disposition: form-data; name="certFile"; filename="c.pem"\r\n\r\n${cert.slice(0, 200)}`;
  const type = ['-H', 'Content-Type: multipart/form-data; boundary=XX', '--data-binary', cutOff];
  assertError(await curlApi(`${E}/keystores/ks/aliases?alias=a&format=keycertfile`, type), 400, 'INVALID_ARGUMENT', /malformed multipart/);
  assertError(await curlApi('/apis?name=p&action=import', type), 400, 'INVALID_ARGUMENT', /malformed multipart/);
  assert.equal((await s.ok('GET', `${E}/keystores/ks`)).aliases, undefined);
  assertError(await s.api('GET', '/apis/p'), 404, 'NOT_FOUND');
});

test.run();
