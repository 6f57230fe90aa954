// The container image without a Docker engine: backend/Dockerfile is checked statically
// (multi-stage, non-root, nothing installed in the runtime stage), and the build step it runs —
// tsc with backend/tsconfig.build.json — is repeated into a temp folder whose main.js must serve
// the tutorial's greeting over mTLS under plain `node`, with no tsx and no node_modules in reach.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../core/config.ts';
import { pkiFixture } from './helpers/fixtures.ts';
import { tempDir } from './helpers/temp.ts';

const { pki, password } = await pkiFixture();
const dockerfile = readFileSync(join(repoRoot, 'backend', 'Dockerfile'), 'utf8');

// Dockerfile instructions with line continuations joined and comments dropped.
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => ({ op: l.split(/\s+/)[0]!.toUpperCase(), args: l.slice(l.split(/\s+/)[0]!.length).trim() }));
const stages: Array<typeof instructions> = [];
for (const i of instructions) {
  if (i.op === 'FROM') stages.push([]);
  stages.at(-1)?.push(i);
}
const runtime = stages.at(-1)!;

test('Dockerfile is multi-stage and the runtime stage starts from a small node image', () => {
  assert.ok(stages.length >= 2, 'at least a build and a runtime stage');
  const base = runtime[0]!.args;
  assert.match(base, /^(gcr\.io\/distroless\/nodejs20|node:20[\w.-]*-slim)/, base);
  assert.ok(stages[0]!.some((i) => i.op === 'RUN' && /tsc -p backend\/tsconfig\.build\.json/.test(i.args)), 'build stage compiles with tsconfig.build.json');
});

test('runtime stage: non-root USER, no package installs, no node_modules, no HEALTHCHECK', () => {
  const users = runtime.filter((i) => i.op === 'USER');
  assert.ok(users.length > 0, 'USER is set');
  const user = users.at(-1)!.args.split(':')[0]!;
  assert.ok(user !== 'root' && user !== '0', `USER ${user} is not root`);
  for (const i of runtime) {
    assert.not.match(i.args, /\b(npm|npx|yarn|pnpm)\b|apt-get|apk /, `${i.op} ${i.args}`);
    if (i.op === 'COPY' || i.op === 'ADD') assert.not.match(i.args, /node_modules/);
  }
  assert.ok(runtime.some((i) => i.op === 'COPY' && /--from=/.test(i.args)), 'copies the build output from the build stage');
  assert.not.ok(instructions.some((i) => i.op === 'HEALTHCHECK'), 'Kubernetes probes the health port instead');
  const start = runtime.find((i) => i.op === 'ENTRYPOINT' || i.op === 'CMD');
  assert.match(start?.args ?? '', /backend\/main\.js/);
});

test('image defaults match the Kubernetes Deployment (store paths, ports, alias)', () => {
  const deployment = readFileSync(join(repoRoot, 'k8s', 'base', 'deployment.yaml'), 'utf8');
  const env = runtime.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
  for (const name of ['SERVER_SSL_KEYSTORE', 'SERVER_SSL_TRUSTSTORE', 'SERVER_SSL_KEYALIAS', 'PORT', 'HEALTH_PORT']) {
    const image = new RegExp(`\\b${name}=(\\S+)`).exec(env)?.[1];
    const k8s = new RegExp(`name: ${name}\\n\\s+value: "?([^"\\n]+)"?`).exec(deployment)?.[1];
    assert.ok(image, `image sets ${name}`);
    assert.is(image, k8s, `${name}: image and Deployment agree`);
  }
});

test('.dockerignore keeps keys and stores out of the build context', () => {
  const ignore = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  assert.ok(ignore.includes('*'), 'everything is excluded unless listed');
  for (const secret of ['**/*.pem', '**/*.p12', '**/*.key']) assert.ok(ignore.includes(secret), secret);
  assert.not.ok(ignore.some((l) => /^!.*(certs|node_modules)/.test(l)));
});

// --- the build output runs on its own ---

const out = tempDir('backend-build-');
await execa(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['-p', 'backend/tsconfig.build.json', '--outDir', out], { cwd: repoRoot });
// What the Dockerfile writes next to the output so node treats the .js files as ES modules.
writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));

test('the compiled output is plain JavaScript importing only node: built-ins and itself', () => {
  const js = files(out).filter((f) => f.endsWith('.js'));
  assert.ok(js.some((f) => relative(out, f) === join('backend', 'main.js')));
  for (const f of js) {
    assert.ok(/^(backend|lib)\//.test(relative(out, f)), `only backend/ and lib/ are compiled: ${relative(out, f)}`);
    const source = readFileSync(f, 'utf8');
    const specifiers = [...source.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)].map((m) => m[1]!);
    for (const s of specifiers) assert.ok(s.startsWith('node:') || (s.startsWith('.') && s.endsWith('.js')), `${relative(out, f)} imports ${s}`);
  }
});

let backend: ChildProcess | undefined;
let port = 0;
let healthPort = 0;

test.before(async () => {
  // A bare environment: no NODE_OPTIONS (which could preload tsx), no node_modules beside the output.
  backend = spawn(process.execPath, [join('backend', 'main.js')], {
    cwd: out,
    env: {
      PATH: process.env.PATH,
      PORT: '0',
      HEALTH_PORT: '0',
      SERVER_SSL_KEYSTORE: join(pki, 'server-keystore.p12'),
      SERVER_SSL_KEYSTOREPASSWORD: password,
      SERVER_SSL_KEYALIAS: 'server',
      SERVER_SSL_TRUSTSTORE: join(pki, 'server-truststore.p12'),
      SERVER_SSL_TRUSTSTOREPASSWORD: password,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const started = await new Promise<Record<string, unknown>>((resolve, reject) => {
    backend!.stdout!.on('data', (chunk) => {
      output += chunk;
      const line = output.split('\n').find((l) => l.includes('"started"'));
      if (line) resolve(JSON.parse(line));
    });
    backend!.stderr!.on('data', (chunk) => (output += chunk));
    backend!.once('exit', (code) => reject(new Error(`compiled backend exited with ${code}: ${output}`)));
  });
  port = started.port as number;
  healthPort = started.healthPort as number;
});

test.after(async () => {
  if (backend && backend.exitCode === null) {
    backend.kill('SIGKILL');
    await once(backend, 'exit');
  }
  rmSync(out, { recursive: true, force: true });
});

const curl = (args: string[]) => execa('curl', ['-sS', '--max-time', '10', ...args], { reject: false });

test('compiled main.js under plain node serves / over mTLS to the tutorial client', async () => {
  const r = await curl(['--cert', join(pki, 'apigee-client-cert.pem'), '--key', join(pki, 'apigee-client-key.pem'), '--cacert', join(pki, 'ca-cert.pem'), `https://127.0.0.1:${port}/`]);
  assert.is(r.exitCode, 0, r.stderr);
  assert.match(r.stdout, 'Hello, secure world with mTLS!');
  const refused = await curl(['--cacert', join(pki, 'ca-cert.pem'), `https://127.0.0.1:${port}/`]);
  assert.ok([35, 52, 56].includes(refused.exitCode ?? -1), `no client certificate → handshake refused, got curl ${refused.exitCode}`);
});

test("the Deployment's probe paths answer 200 on the plain-HTTP health port", async () => {
  const deployment = readFileSync(join(repoRoot, 'k8s', 'base', 'deployment.yaml'), 'utf8');
  const paths = [...new Set([...deployment.matchAll(/^\s+path: (\/\S*)$/gm)].map((m) => m[1]!))];
  assert.ok(paths.length >= 2, `probe paths found: ${paths.join(', ')}`);
  for (const path of paths) {
    const res = await fetch(`http://127.0.0.1:${healthPort}${path}`);
    assert.is(res.status, 200, path);
  }
});

test('SIGTERM stops the compiled backend with exit code 0', async () => {
  const exited = once(backend!, 'exit');
  backend!.kill('SIGTERM');
  const [code] = await exited;
  assert.is(code, 0);
});

test.run();
