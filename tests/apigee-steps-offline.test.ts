// The Apigee steps without a running Apigee: DRY_RUN output against an Apigee X configuration
// (nothing sent), the client's retries and error decoding against a small fake, pre-flight checks,
// environment-group discovery, and the bundle (render, hash, zip, lint).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, cpSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { unzipSync } from 'fflate';
import { execa } from 'execa';
import { loadConfig, repoRoot, type Config } from '../core/config.ts';
import { apigeeClient } from '../scripts/lib/apigee/target.ts';
import { StepError } from '../core/errors.ts';
import { ApigeeClient } from '../scripts/lib/apigee/client.ts';
import { ApigeeApiError, decodeError, hintFor } from '../scripts/lib/apigee/errors.ts';
import { bundleSource, contentHash, hashFromDescription, refuseLintFindings, renderBundle, writeBundle, zipBundle } from '../scripts/lib/apigee/bundle.ts';
import { isUnreachableFromCloud, preflight } from '../scripts/lib/apigee/preflight.ts';
import { resolveGateway } from '../scripts/lib/apigee/target.ts';
import { targetServerDiff, type TargetServer } from '../scripts/lib/apigee/resources.ts';
import { isolated } from './helpers/isolation.ts';
import { pkiFixture, type PkiFixture } from './helpers/fixtures.ts';
import { APIGEE_STEPS, runSteps } from './helpers/apigee-steps.ts';
import { tempDir } from './helpers/temp.ts';
import { GIVEN } from './helpers/printed.ts';

let fixture: PkiFixture;
test.before(async () => {
  fixture = await pkiFixture();
});

const cloudEnv = (extra: Record<string, string> = {}) => ({
  PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', FORCE_COLOR: '0',
  CERTS_DIR: fixture.pki, RUN_DIR: tempDir('apigee-dry-'), STORE_PASSWORD: 'changeit',
  APIGEE_TARGET: 'apigee-x', APIGEE_ORG: 'my-org', APIGEE_ENV: 'test', APIGEE_HOST: 'api.example.com',
  SERVER_HOST: '127.0.0.1', DRY_RUN: '1', ...extra,
});

test('DRY_RUN against Apigee X prints every call, sends nothing and masks secrets', async () => {
  // A token is set so a send would not fail on gcloud; it must never be printed either.
  const run = await runSteps([...APIGEE_STEPS, '48-gateway-failures', '49-rotate-certs', '99-cleanup'], cloudEnv({ APIGEE_TOKEN: 'ya29.secret-token-value' }));
  assert.is(run.exitCode, 0, run.output);
  const out = run.output;
  for (const expected of [
    '$ TOKEN=$(CLOUDSDK_CORE_DISABLE_FILE_LOGGING=1 gcloud auth print-access-token)',
    '→ POST https://apigee.googleapis.com/v1/organizations/my-org/environments/test/keystores',
    // Apigee X gets PEM key + certificate unless the reader chose pkcs12, and the output says why.
    'upload format keycertfile, the default for Apigee X',
    `curl -sS -X POST 'https://apigee.googleapis.com/v1/organizations/my-org/environments/test/keystores/ks-mtls-client/aliases?alias=client&format=keycertfile' -H "Authorization: Bearer $TOKEN" -F certFile=@`,
    '$ apigeecli keyaliases create -k ks-mtls-client -s client -f keycertfile --cert-filepath',
    '$ apigeecli keyaliases create -k ts-mtls-ca -s ca-server -f keycertfile --cert-filepath',
    '$ apigeecli references create -n ks-mtls-client-ref -s KeyStore --refers ks-mtls-client -o my-org -e test -t "$TOKEN"',
    '"sSLInfo":{"enabled":true,"clientAuthEnabled":true,"keyStore":"ref://ks-mtls-client-ref","keyAlias":"client","trustStore":"ref://ts-mtls-ca-ref","enforce":true,"ignoreValidationErrors":false}',
    '→ POST https://apigee.googleapis.com/v1/organizations/my-org/apis?name=api-mtls-test&action=import',
    '$ apigeecli apis deploy -n api-mtls-test -v 1 --ovr --wait -o my-org -e test -t "$TOKEN"',
    '$ curl -sS -v --max-time 60 https://api.example.com/api-mtls-test',
    // The rotation: a new client certificate in certs/next, a new keystore, the reference, the old keystore last.
    '$ openssl x509 -req -in next/client.csr -CA ca-cert.pem -CAkey ca-key.pem -out next/apigee-client-cert.pem',
    '→ PUT https://apigee.googleapis.com/v1/organizations/my-org/environments/test/references/ks-mtls-client-ref',
    '$ curl -sS -v --max-time 60 https://api.example.com/api-mtls-test/whoami',
    'DRY_RUN: printed only, nothing was run',
  ]) assert.ok(out.includes(expected), `missing: ${expected}`);
  assert.not.match(out, /format=pkcs12|"password=\$STORE_PASSWORD"/);
  // Pre-flight still speaks: a loopback backend cannot be reached from Apigee X.
  assert.match(out, /SERVER_HOST=127\.0\.0\.1 is not reachable from Apigee X.*fix: set SERVER_HOST/);
  assert.match(out, /DRY_RUN: pre-flight found 1 problem; a real run stops here/);
  assert.not.ok(out.includes('changeit'), 'store password printed');
  assert.not.ok(out.includes('ya29.secret-token-value'), 'token printed');
  assert.not.match(out, /✓ (keystore|alias|target server|proxy)/, 'a dry run reported a created resource');
  assert.is(out.split('$ TOKEN=').length - 1, 1, 'the TOKEN line is printed once per process');
});

test('DRY_RUN, pkcs12 chosen for Apigee X: a 3DES/SHA-1 copy made in a private temp folder is uploaded, then deleted', async () => {
  const run = await runSteps(['42-keystore'], cloudEnv({ APIGEE_TOKEN: 't0ken-value', APIGEE_ALIAS_FORMAT: 'pkcs12' }));
  assert.is(run.exitCode, 0, run.output);
  const out = run.output;
  assert.match(out, /upload format pkcs12 \(APIGEE_ALIAS_FORMAT=pkcs12\): the p12 on disk is AES-256/);
  const dir = /\$ mkdir -m 700 (\/\S+\/apigee-upload-[0-9a-f]{12})\n/.exec(out)?.[1];
  assert.ok(dir, out);
  assert.ok(out.includes(`-keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 -out ${dir}/client-apigee-keystore.p12 -password env:STORE_PASSWORD`), out);
  assert.ok(out.includes(`-F file=@${dir}/client-apigee-keystore.p12 --form-string "password=$STORE_PASSWORD"`), out);
  assert.ok(out.includes(`$ rm -r ${dir}`), out);
  assert.ok(out.indexOf('read -rs STORE_PASSWORD && export STORE_PASSWORD') < out.indexOf('"password=$STORE_PASSWORD"'), 'hint after the command');
  assert.not.ok(out.includes('changeit'));
});

test('an IPv6 SERVER_HOST goes in brackets in the URL the rotation checks the backend with', async () => {
  const run = await runSteps(['49-rotate-certs'], cloudEnv({ APIGEE_TARGET: 'local', SERVER_HOST: '::1', BACKEND_PORT: '8443' }));
  assert.is(run.exitCode, 0, run.output);
  assert.match(run.output, /\$ curl -sS [^\n]*-w '%\{certs\}' 'https:\/\/\[::1\]:8443\/' /);
  assert.not.match(run.output, /https:\/\/'?::1/);
});

test('APIGEE_API_BASE: every call, curl and apigeecli hint goes to the regional host', async () => {
  const run = await runSteps(['43-truststore'], cloudEnv({ APIGEE_TOKEN: 't0ken-value', APIGEE_API_BASE: 'https://eu-apigee.googleapis.com/v1/' }));
  assert.is(run.exitCode, 0, run.output);
  assert.ok(run.output.includes('target: Apigee X at https://eu-apigee.googleapis.com/v1,'), run.output);
  assert.ok(run.output.includes(`$ curl -sS -X POST 'https://eu-apigee.googleapis.com/v1/organizations/my-org/environments/test/keystores/ts-mtls-ca/aliases?alias=ca-server&format=keycertfile'`), run.output);
  assert.ok(run.output.includes('$ apigeecli keystores create -n ts-mtls-ca -o my-org -e test -t "$TOKEN" --region eu'), run.output);
  assert.not.ok(run.output.includes('https://apigee.googleapis.com'), 'the global host slipped through');
  // A host apigeecli cannot be pointed at: its line is shown for reference, not as a command.
  const custom = await runSteps(['43-truststore'], cloudEnv({ APIGEE_TOKEN: 't0ken-value', APIGEE_API_BASE: 'https://apigee.example.net/v1' }));
  assert.match(custom.output, /# the same on Apigee X: apigeecli keystores create/);
  assert.not.match(custom.output, /\$ apigeecli/);
});

test('APIGEE_API_BASE is validated: https, or http on loopback only; one line, exit 2', async () => {
  const base = (v: string) => loadConfig({ env: isolated({ APIGEE_API_BASE: v }), argv: [] }).apigee.apiBase;
  assert.is(base('https://eu-apigee.googleapis.com/v1/'), 'https://eu-apigee.googleapis.com/v1');
  assert.is(base('http://127.0.0.1:9080/v1'), 'http://127.0.0.1:9080/v1');
  assert.is(base('http://[::1]:9080/v1'), 'http://[::1]:9080/v1');
  for (const [bad, why] of [
    ['http://apigee.googleapis.com/v1', /https URL \(http only for a loopback address\)/],
    ['ftp://x/v1', /https URL/],
    ['apigee.googleapis.com', /must be a URL like/],
    ['https://user:pw@apigee.googleapis.com/v1', /credentials, a query or a fragment/],
    ['https://apigee.googleapis.com/v1?x=1', /credentials, a query or a fragment/],
  ] as const) {
    assert.throws(() => base(bad), (e: Error) => e.message.startsWith('APIGEE_API_BASE: ') && why.test(e.message), bad);
  }
  const run = await runSteps(['42-keystore'], cloudEnv({ APIGEE_API_BASE: 'http://apigee.example.com/v1' }));
  assert.is(run.exitCode, 2, run.output);
  assert.match(run.output, /✗ invalid setting APIGEE_API_BASE: must be an https URL/);
});

test('alias format and propagation timeout defaults follow the target', () => {
  const c = (env: Record<string, string>) => loadConfig({ env: isolated({ APIGEE_ALIAS_FORMAT: '', APIGEE_PROPAGATION_TIMEOUT: '', ...env }), argv: [] }).apigee;
  assert.equal([c({}).aliasFormat, c({}).aliasFormatChosen], ['pkcs12', false]);
  assert.equal([c({ APIGEE_TARGET: 'apigee-x' }).aliasFormat, c({ APIGEE_TARGET: 'apigee-x' }).aliasFormatChosen], ['keycertfile', false]);
  assert.equal([c({ APIGEE_TARGET: 'apigee-x', APIGEE_ALIAS_FORMAT: 'pkcs12' }).aliasFormat, c({ APIGEE_ALIAS_FORMAT: 'pkcs12' }).aliasFormatChosen], ['pkcs12', true]);
  assert.is(c({ APIGEE_TARGET: 'apigee-x' }).propagationTimeoutMs, 300_000);
  assert.is(c({ APIGEE_LOCAL_PROPAGATION_MS: '2500' }).propagationTimeoutMs, 13_000);
  assert.is(c({ APIGEE_PROPAGATION_TIMEOUT: '0' }).propagationTimeoutMs, 0);
  assert.throws(() => c({ APIGEE_PROPAGATION_TIMEOUT: '5m' }), /APIGEE_PROPAGATION_TIMEOUT: must be a whole number/);
});

test('without DRY_RUN the pre-flight stops a cloud run before anything is sent', async () => {
  const run = await runSteps(['45-target-server'], cloudEnv({ DRY_RUN: '0', APIGEE_TOKEN: 'unused' }));
  assert.is(run.exitCode, 1);
  assert.match(run.output, /pre-flight: 1 problem above would make Apigee fail; nothing was sent/);
  assert.not.match(run.output, /→ (GET|POST|PUT)/);
});

// --- a tiny fake of the management API ---------------------------------------------------------
type Handler = (req: IncomingMessage, res: ServerResponse) => void;
async function fake(handler: Handler): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/v1`, close: () => new Promise((r) => server.close(() => r())) };
}
const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
};
const client = (baseUrl: string, extra: Partial<ConstructorParameters<typeof ApigeeClient>[0]> = {}) =>
  new ApigeeClient({ baseUrl, org: 'o', env: 'e', dryRun: false, token: async () => 't', quiet: true, retry: { attempts: 3, baseMs: 5, maxMs: 20 }, ...extra });

test('429 and 5xx are retried with bounded backoff, then succeed', async () => {
  let calls = 0;
  const f = await fake((_req, res) => {
    calls++;
    if (calls === 1) return json(res, 429, { error: { code: 429, message: 'quota', status: 'RESOURCE_EXHAUSTED' } }, { 'retry-after': '0' });
    if (calls === 2) return json(res, 503, { error: { code: 503, message: 'busy', status: 'UNAVAILABLE' } });
    json(res, 200, ['ks']);
  });
  try {
    const started = Date.now();
    // The wait after the 503 is capped at maxMs 20 ms: uncapped, baseMs 60 s would be two minutes.
    assert.equal(await client(f.url, { retry: { attempts: 3, baseMs: 60_000, maxMs: 20 } }).lookup<string[]>('/x'), ['ks']);
    assert.is(calls, 3);
    assert.ok(Date.now() - started < 30_000, `backoff not bounded: ${Date.now() - started} ms`);
  } finally {
    await f.close();
  }
});

test('the printed multipart curl sends the password exactly as the step does, whatever it holds (;, a leading @ or <, quotes)', async () => {
  const received: string[] = [];
  const f = await fake(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const form = await new Response(Buffer.concat(chunks), { headers: { 'content-type': String(req.headers['content-type']) } }).formData();
    received.push(String(form.get('password')));
    json(res, 200, {});
  });
  const file = join(tempDir('form-'), 'client-apigee-keystore.p12');
  writeFileSync(file, 'p12 bytes');
  try {
    const line = client(f.url).curl({ method: 'POST', path: '/x', form: [{ name: 'file', file }, { name: 'password', value: 'unused', variable: 'STORE_PASSWORD' }] }, `${f.url}/x`);
    for (const password of ['a;type=text/html', '@/etc/hostname', '<secret', '"quoted" rest', "it's $HOME \\x"]) {
      const run = await execa('bash', ['-c', line], { env: { STORE_PASSWORD: password, TOKEN: 't', PATH: process.env.PATH ?? '' }, extendEnv: false, reject: false });
      assert.is(run.exitCode, 0, `${line}\n${run.stderr}`);
      assert.is(received.at(-1), password, line);
    }
  } finally {
    await f.close();
  }
});

test('a POST without a body: the printed curl sends Content-Length: 0 like the client (Google\'s front end answers 411 Length Required without it)', async () => {
  const received: Array<{ length?: string; type?: string }> = [];
  const f = await fake((req, res) => {
    received.push({ length: req.headers['content-length'], type: req.headers['content-type'] });
    json(res, 200, { state: 'PROGRESSING' });
  });
  try {
    const req = { method: 'POST', path: '/organizations/o/environments/e/apis/p/revisions/1/deployments', query: { override: true } } as const;
    await client(f.url).call(req);
    const line = client(f.url).curl(req, client(f.url).url(req.path, req.query));
    const run = await execa('bash', ['-c', line], { env: { TOKEN: 't', PATH: process.env.PATH ?? '' }, extendEnv: false, reject: false });
    assert.is(run.exitCode, 0, `${line}\n${run.stderr}`);
    assert.equal(received, [{ length: '0', type: undefined }, { length: '0', type: undefined }], line);
  } finally {
    await f.close();
  }
});

test('retries stop after the last attempt with a one-line error; 4xx are not retried', async () => {
  let calls = 0;
  const f = await fake((req, res) => {
    calls++;
    if (req.url?.endsWith('/bad')) return json(res, 400, { error: { code: 400, message: 'deployment validations failed', status: 'FAILED_PRECONDITION',
      details: [{ '@type': 'type.googleapis.com/google.rpc.PreconditionFailure', violations: [{ type: 'CONFLICTING_DEPLOYMENT', description: 'conflicting base paths: [/x]' }] }] } });
    json(res, 500, { error: { code: 500, message: 'internal', status: 'INTERNAL' } });
  });
  try {
    await client(f.url).call({ method: 'GET', path: '/always-500' }).then(() => assert.unreachable('500 accepted'), (e: unknown) => {
      assert.instance(e, ApigeeApiError);
      assert.match((e as Error).message, /^GET \/always-500 → 500 INTERNAL: internal \(hint: Apigee had a server error/);
    });
    assert.is(calls, 3);
    calls = 0;
    await client(f.url).call({ method: 'POST', path: '/bad' }).then(() => assert.unreachable('400 accepted'), (e: unknown) => {
      assert.instance(e, ApigeeApiError);
      assert.is((e as ApigeeApiError).status, 'FAILED_PRECONDITION');
      assert.match((e as Error).message, /deployment validations failed: conflicting base paths: \[\/x\] \(hint: resolve the conflict/);
    });
    assert.is(calls, 1);
  } finally {
    await f.close();
  }
});

test('an unreachable management API is one line with the hint of its target (not of its address)', async () => {
  const f = await fake(() => undefined);
  await f.close();
  for (const [target, hint] of [['local', /ECONNREFUSED \(hint: is the local Apigee stand-in running/], ['apigee-x', /ECONNREFUSED \(hint: check the network and the Apigee base URL \(APIGEE_API_BASE\)\)/]] as const) {
    const config = loadConfig({ env: isolated({ APIGEE_TARGET: target, APIGEE_ORG: 'o', APIGEE_ENV: 'e', APIGEE_API_BASE: f.url, APIGEE_TOKEN: 't' }), argv: [] });
    await apigeeClient(config, { quiet: true, retry: { attempts: 2, baseMs: 5, maxMs: 20 } }).call({ method: 'GET', path: '/x' }).then(() => assert.unreachable('no server, no error'), (e: unknown) => {
      assert.instance(e, StepError);
      assert.match((e as Error).message, hint, target);
    });
  }
});

test('DRY_RUN client sends nothing, not even for the token', async () => {
  let asked = false;
  const c = client('http://127.0.0.1:9/v1', { dryRun: true, token: async () => { asked = true; return 't'; } });
  assert.is(await c.call({ method: 'POST', path: '/x', json: { a: 1 } }), undefined);
  assert.is(await c.lookup('/y'), undefined);
  assert.equal(c.sent, []);
  assert.not.ok(asked, 'token resolved in DRY_RUN');
});

test('error hints: 401, 403 with the permission, 404, 409; envelopes and plain bodies', () => {
  assert.match(hintFor(401, 'UNAUTHENTICATED', ''), /gcloud auth login/);
  assert.match(hintFor(403, 'PERMISSION_DENIED', "Permission 'apigee.keystores.create' denied on resource"), /lacks apigee\.keystores\.create/);
  assert.match(hintFor(404, 'NOT_FOUND', ''), /APIGEE_ORG/);
  assert.match(hintFor(409, 'ALREADY_EXISTS', ''), /already exists/);
  assert.equal(decodeError(404, '{"error":{"code":404,"message":"alias not organizations/o/environments/e/keystores/k/aliases/a found","status":"NOT_FOUND"}}'),
    { status: 'NOT_FOUND', message: 'alias not organizations/o/environments/e/keystores/k/aliases/a found' });
  assert.equal(decodeError(502, '<html>\n<body>Bad gateway</body></html>'), { status: 'HTTP_502', message: '<html> <body>Bad gateway</body></html>' });
});

test('Apigee X host: the environment group attached to the environment', async () => {
  const f = await fake((req, res) => {
    if (req.url === '/v1/organizations/o/envgroups') return json(res, 200, { environmentGroups: [{ name: 'other', hostnames: ['other.example'] }, { name: 'main', hostnames: ['api.example.com'] }] });
    if (req.url === '/v1/organizations/o/envgroups/other/attachments') return json(res, 200, { environmentGroupAttachments: [{ environment: 'prod' }] });
    if (req.url === '/v1/organizations/o/envgroups/main/attachments') return json(res, 200, { environmentGroupAttachments: [{ environment: 'e' }] });
    json(res, 404, { error: { code: 404, message: 'no', status: 'NOT_FOUND' } });
  });
  try {
    const config = loadConfig({ env: isolated({ APIGEE_TARGET: 'apigee-x', APIGEE_ORG: 'o', APIGEE_ENV: 'e', APIGEE_HOST: '' }), argv: [] });
    const gateway = await resolveGateway(config, client(f.url));
    assert.equal(gateway, { host: 'api.example.com', port: 443, caFile: undefined, connectAddress: undefined, resolve: undefined, timeoutMs: 60_000 });
    const none = loadConfig({ env: isolated({ APIGEE_TARGET: 'apigee-x', APIGEE_ORG: 'o', APIGEE_ENV: 'nowhere', APIGEE_HOST: '' }), argv: [] });
    await resolveGateway(none, client(f.url)).then(() => assert.unreachable('no group, no error'), (e: unknown) => {
      assert.instance(e, StepError);
      assert.match((e as Error).message, /no environment group .* attached to environment nowhere .*APIGEE_HOST/);
    });
  } finally {
    await f.close();
  }
});

test('Apigee X host: the environment group list is followed page by page (pageToken = the previous nextPageToken), at most 20 pages', async () => {
  const asked: string[] = [];
  const f = await fake((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/v1/organizations/o/envgroups') {
      asked.push(url.searchParams.get('pageToken') ?? '');
      const page = Number(url.searchParams.get('pageToken')?.slice(1) ?? 1);
      // Pages of 'g<n>' groups attached elsewhere; with the env `e`, group `main` comes on page 3.
      const groups = [{ name: `g${page}`, hostnames: [`g${page}.example`] }, ...(page === 3 ? [{ name: 'main', hostnames: ['api.example.com'] }] : [])];
      return json(res, 200, { environmentGroups: groups, nextPageToken: `p${page + 1}` });
    }
    if (url.pathname === '/v1/organizations/o/envgroups/main/attachments') return json(res, 200, { environmentGroupAttachments: [{ environment: 'e' }] });
    if (url.pathname.endsWith('/attachments')) return json(res, 200, {});
    json(res, 404, { error: { code: 404, message: 'no', status: 'NOT_FOUND' } });
  });
  try {
    const config = loadConfig({ env: isolated({ APIGEE_TARGET: 'apigee-x', APIGEE_ORG: 'o', APIGEE_ENV: 'e', APIGEE_HOST: '' }), argv: [] });
    assert.is((await resolveGateway(config, client(f.url))).host, 'api.example.com');
    assert.equal(asked, ['', 'p2', 'p3'], 'stops at the page with the group');
    asked.length = 0;
    const none = loadConfig({ env: isolated({ APIGEE_TARGET: 'apigee-x', APIGEE_ORG: 'o', APIGEE_ENV: 'nowhere', APIGEE_HOST: '' }), argv: [] });
    await resolveGateway(none, client(f.url)).then(() => assert.unreachable('endless pages, no error'), (e: unknown) => {
      assert.instance(e, StepError);
      assert.match((e as Error).message, /no environment group attached to environment nowhere in the first 20 pages of environment groups \(hint: set APIGEE_HOST in /);
    });
    assert.is(asked.length, 20, 'bounded number of pages');
  } finally {
    await f.close();
  }
});

test('Apigee X host: a group\'s attachments are followed page by page too, at most 20 pages', async () => {
  const asked: string[] = [];
  const f = await fake((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/v1/organizations/o/envgroups') return json(res, 200, { environmentGroups: [{ name: 'main', hostnames: ['api.example.com'] }] });
    if (url.pathname === '/v1/organizations/o/envgroups/main/attachments') {
      asked.push(url.searchParams.get('pageToken') ?? '');
      const page = Number(url.searchParams.get('pageToken')?.slice(1) ?? 1);
      // One environment a page; `e` on page 3, then pages without end.
      return json(res, 200, { environmentGroupAttachments: [{ environment: page === 3 ? 'e' : `env${page}` }], nextPageToken: `p${page + 1}` });
    }
    json(res, 404, { error: { code: 404, message: 'no', status: 'NOT_FOUND' } });
  });
  try {
    const config = loadConfig({ env: isolated({ APIGEE_TARGET: 'apigee-x', APIGEE_ORG: 'o', APIGEE_ENV: 'e', APIGEE_HOST: '' }), argv: [] });
    assert.is((await resolveGateway(config, client(f.url))).host, 'api.example.com');
    assert.equal(asked, ['', 'p2', 'p3'], 'stops at the page with the environment');
    asked.length = 0;
    const none = loadConfig({ env: isolated({ APIGEE_TARGET: 'apigee-x', APIGEE_ORG: 'o', APIGEE_ENV: 'nowhere', APIGEE_HOST: '' }), argv: [] });
    await resolveGateway(none, client(f.url)).then(() => assert.unreachable('endless pages, no error'), (e: unknown) => {
      assert.instance(e, StepError);
      assert.match((e as Error).message, /environment nowhere is not among the first 20 pages of attachments of environment group main \(hint: set APIGEE_HOST in /);
    });
    assert.is(asked.length, 20, 'bounded number of pages');
  } finally {
    await f.close();
  }
});

// --- pre-flight ----------------------------------------------------------------------------------
function certsWith(replacements: Record<string, string>): string {
  const dir = tempDir('preflight-');
  cpSync(fixture.pki, dir, { recursive: true });
  for (const [target, source] of Object.entries(replacements)) copyFileSync(source, join(dir, target));
  return dir;
}
const cfg = (env: Record<string, string>): Config => loadConfig({ env: isolated({ CERTS_DIR: fixture.pki, SERVER_HOST: '127.0.0.1', APIGEE_TARGET: 'local', ...env }), argv: [] });
const errors = (config: Config) => preflight(config).filter((f) => f.level === 'error').map((f) => f.message);

test('pre-flight passes on the fixture PKI for the local target', () => {
  assert.equal(preflight(cfg({})), []);
});

test('pre-flight names each problem with its fix', () => {
  assert.match(errors(cfg({ APIGEE_TARGET: 'apigee-x' })).join('\n'), /SERVER_HOST=127\.0\.0\.1 is not reachable from Apigee X/);
  assert.match(errors(cfg({ SERVER_HOST: '10.9.9.9' })).join('\n'), new RegExp(String.raw`server-cert\.pem does not name SERVER_HOST=10\.9\.9\.9 .*fix: ${GIVEN}FORCE=1 \./scripts/11-server-cert\.ts$`, 'm'));
  const otherCa = certsWith({ 'server-cert.pem': join(fixture.bad, 'other-ca-server-cert.pem') });
  assert.match(errors(cfg({ CERTS_DIR: otherCa })).join('\n'), /ca-cert\.pem \(the truststore upload\) did not sign server-cert\.pem.*SslHandshakeFailed/);
  const expired = certsWith({ 'server-cert.pem': join(fixture.bad, 'expired-server-cert.pem') });
  assert.match(errors(cfg({ CERTS_DIR: expired })).join('\n'), /server certificate expired on \d{4}-\d\d-\d\d/);
  assert.match(errors(cfg({ APIGEE_TRUSTSTORE: 'ks-mtls-client' })).join('\n'), /APIGEE_KEYSTORE and APIGEE_TRUSTSTORE are both/);
  const empty = tempDir('preflight-empty-');
  assert.match(errors(cfg({ CERTS_DIR: empty })).join('\n'), new RegExp(String.raw`ca-cert\.pem is missing; fix: ${GIVEN}make certs$`, 'm'));
  const soon = preflight(cfg({}), new Date(Date.now() + 350 * 86_400_000));
  assert.ok(soon.some((f) => f.level === 'warn' && /expires on .*< 30 days/.test(f.message)), 'no expiry warning');
  for (const f of [...errors(cfg({ APIGEE_TARGET: 'apigee-x', SERVER_HOST: '10.9.9.9' }))]) assert.not.match(f, /\n/);
});

test('cloud reachability of addresses and names', () => {
  for (const host of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '::1', 'localhost', 'db.internal']) assert.ok(isUnreachableFromCloud(host), host);
  for (const host of ['34.1.2.3', '172.32.0.1', 'backend.example.com', '34-1-2-3.nip.io']) assert.not.ok(isUnreachableFromCloud(host), host);
});

test('target server: field-by-field drift', () => {
  const want: TargetServer = { name: 'ts', host: '127.0.0.1', port: 8443, isEnabled: true, protocol: 'HTTP',
    sSLInfo: { enabled: true, clientAuthEnabled: true, keyStore: 'ks', keyAlias: 'client', trustStore: 'ts', ignoreValidationErrors: false, enforce: true } };
  assert.equal(targetServerDiff(JSON.parse(JSON.stringify(want)), want), []);
  // Apigee omits false booleans; that is not drift.
  assert.equal(targetServerDiff({ ...want, sSLInfo: { ...want.sSLInfo, ignoreValidationErrors: undefined as unknown as boolean } }, want), []);
  assert.equal(targetServerDiff({ ...want, port: 443, sSLInfo: { ...want.sSLInfo, enforce: false } }, want), ['port: 443 → 8443', 'sSLInfo.enforce: false → true']);
  assert.equal(targetServerDiff({ ...want, isEnabled: false }, want), ['isEnabled: false → true']);
});

// --- bundle --------------------------------------------------------------------------------------
test('bundle: configured names, a stamped content hash, a zip with apiproxy/ at the top', () => {
  const bundle = renderBundle('my-proxy', 'my-ts');
  const main = bundle.files.get('apiproxy/my-proxy.xml')!;
  assert.match(main, /<APIProxy name="my-proxy">/);
  assert.is(hashFromDescription(/<Description>(.*)<\/Description>/.exec(main)?.[1]), bundle.hash.slice(0, 16));
  assert.match(bundle.files.get('apiproxy/targets/default.xml')!, /<Server name="my-ts"\/>/);
  assert.match(bundle.files.get('apiproxy/proxies/default.xml')!, /<BasePath>\/api-mtls-test<\/BasePath>/);
  assert.is(renderBundle('my-proxy', 'my-ts').hash, bundle.hash, 'hash not stable');
  assert.is.not(renderBundle('my-proxy', 'other-ts').hash, bundle.hash, 'hash ignores content');
  const zip = unzipSync(zipBundle(bundle));
  assert.equal(Object.keys(zip).sort(), ['apiproxy/my-proxy.xml', 'apiproxy/proxies/default.xml', 'apiproxy/targets/default.xml']);
  assert.equal(zipBundle(bundle), zipBundle(bundle), 'zip not reproducible');
  assert.is(contentHash(new Map([['a', '1']])), contentHash(new Map([['a', '1']])));
});

test('apigeelint: the rendered bundle passes; a bundle with a warning is refused', async () => {
  // The command step 41 runs (tests/steps-dryrun.test.ts checks it is the step's own).
  const lintBundle = async (dir: string) => refuseLintFindings(await execa('npx', ['apigeelint', '-s', dir, '--profile', 'apigeex', '--maxWarnings', '0', '-f', 'table.js', '--norc'], { cwd: repoRoot, reject: false }));
  const good = writeBundle(renderBundle('api-mtls-test', 'ts-backend-mtls'), tempDir('lint-good-'));
  await lintBundle(good);
  const broken = tempDir('lint-bad-');
  cpSync(bundleSource, join(broken, 'apiproxy'), { recursive: true });
  const target = join(broken, 'apiproxy', 'targets', 'default.xml');
  // A hard-coded URL instead of a target server is a lint warning (TD002).
  writeFileSync(target, readFileSync(target, 'utf8').replace(/<LoadBalancer>[\s\S]*<\/LoadBalancer>/, '<URL>https://127.0.0.1:8443</URL>'));
  await lintBundle(join(broken, 'apiproxy')).then(() => assert.unreachable('broken bundle passed lint'), (e: unknown) => {
    assert.instance(e, StepError);
    assert.match((e as Error).message, /apigeelint found problems/);
  });
});

test('apigeelint that does not run (npx in a shell whose PATH is not exported, as in env -i bash): one line with its exit and why, not "problems (table above)"', async () => {
  // bash sets a PATH for itself but exports none; npm then never adds node_modules/.bin (exit 127).
  const lint = await execa('bash', ['--norc', '-c', 'npx apigeelint -s apigee-bundle/apiproxy --profile apigeex --maxWarnings 0 -f table.js --norc'], { cwd: repoRoot, env: {}, extendEnv: false, reject: false });
  assert.is(lint.exitCode, 127, lint.stdout + lint.stderr);
  try {
    refuseLintFindings(lint);
    assert.unreachable('a lint that never ran passed');
  } catch (e) {
    assert.instance(e, StepError);
    assert.match((e as Error).message, /^apigeelint did not check the bundle \(exit 127: sh: .*apigeelint: .*not found\); nothing was imported \(hint: make deps installs it\)$/);
  }
});

test.run();
