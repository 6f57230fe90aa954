// Fixtures made once per test run and shared by every test file through the environment.
// tests/run.ts calls prepareFixtures() before starting the files; a file run alone
// (node --import tsx tests/x.test.ts) makes its own on first use.
//
// MTLS_FIXTURES/pki: the tutorial's 12 files, made by the real certificate scripts with defaults
// (SERVER_HOST=127.0.0.1, EXTRA_SANS=localhost, RSA, password "changeit").
// MTLS_FIXTURES/bad: <name>-cert.pem + <name>-key.pem pairs (EC P-256, fast) that must be refused.
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { repoRoot } from '../../core/config.ts';
import { isolated } from './isolation.ts';

export const FIXTURE_PASSWORD = 'changeit';

/** The names of the PEM pairs in the `bad` folder. */
export const BAD_NAMES = [
  'other-ca', 'other-client', 'self-signed-client', 'expired-client', 'future-client', 'server-eku-client',
  'second-client', 'expired-server', 'wrong-host-server', 'other-ca-server',
] as const;
export type BadName = (typeof BAD_NAMES)[number];

export interface PkiFixture {
  /** Folder with the 12 tutorial files. */
  pki: string;
  /** Folder with the `<name>-cert.pem` / `<name>-key.pem` pairs of BAD_NAMES. */
  bad: string;
  password: string;
}

const READY = '.ready';
const STEPS = ['10-ca', '11-server-cert', '12-client-cert', '13-server-stores'];

/** Settings the fixture PKI is made with, whatever the caller's environment or env/local.env say. */
export function fixtureEnv(certsDir: string): Record<string, string> {
  return {
    CERTS_DIR: certsDir, SERVER_HOST: '127.0.0.1', EXTRA_SANS: 'localhost', STORE_PASSWORD: FIXTURE_PASSWORD,
    KEY_TYPE: 'rsa', CERT_DAYS: '365', PKCS12_LEGACY: '0', TRUSTSTORE_WRITER: 'auto', FORCE: '0', DRY_RUN: '0',
    CLIENT_CN: 'apigee-client', FORCE_COLOR: '0',
  };
}

export interface StepRun { exitCode: number; stdout: string; stderr: string }

/**
 * Runs certificate scripts (e.g. ['10-ca', '11-server-cert']) in order in one Node process, as
 * `make certs` would; a failing step stops the rest. One step may take command-line flags.
 */
export async function runCertSteps(steps: readonly string[], env: Record<string, string>, flags: string[] = []): Promise<StepRun> {
  const file = (s: string) => join(repoRoot, 'scripts', `${s}.ts`);
  const argv = steps.length === 1
    ? ['--import', 'tsx', file(steps[0]!), ...flags]
    : ['--import', 'tsx', '--input-type=module', '-e', steps.map((s) => `await import(${JSON.stringify(file(s))});`).join('\n')];
  const result = await execa(process.execPath, argv, { cwd: repoRoot, env: isolated(env), extendEnv: false, reject: false });
  return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** Runs the real certificate scripts (10–13) with the fixture settings. */
async function makePki(dir: string): Promise<void> {
  const result = await runCertSteps(STEPS, { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...fixtureEnv(dir) });
  if (result.exitCode !== 0) throw new Error(`fixture PKI failed (exit ${result.exitCode}): ${result.stderr.trim()}`);
}

const openssl = (args: string[], cwd: string) => execa('openssl', args, { cwd });

interface Signer { cert: string; key: string }
interface BadSpec {
  cn: string;
  /** -addext values */
  ext: string[];
  /** undefined = self-signed */
  signer?: Signer;
  /** openssl ca dates (YYYYMMDDHHMMSSZ) for expired / not-yet-valid certificates */
  dates?: { start: string; end: string };
}

const CLIENT_EXT = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=clientAuth'];
const SERVER_EXT = (san: string) => ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature', 'extendedKeyUsage=serverAuth', `subjectAltName=${san}`];
const LOCAL_SAN = 'IP:127.0.0.1,DNS:localhost';

function opensslDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
}

/** A throwaway `openssl ca` setup: the only CLI way in OpenSSL 3.0 to choose notBefore/notAfter. */
function caConfig(dir: string): string {
  writeFileSync(join(dir, 'index.txt'), '');
  const file = join(dir, 'ca.cnf');
  writeFileSync(file, [
    '[ ca ]', 'default_ca = fixture_ca', '[ fixture_ca ]', `database = ${join(dir, 'index.txt')}`, `new_certs_dir = ${dir}`,
    'rand_serial = yes', 'default_md = sha256', 'policy = any', 'copy_extensions = copyall', 'unique_subject = no',
    '[ any ]', 'organizationName = optional', 'commonName = supplied', '',
  ].join('\n'));
  return file;
}

async function makeBadPair(dir: string, name: string, spec: BadSpec): Promise<void> {
  const key = `${name}-key.pem`;
  const cert = `${name}-cert.pem`;
  await openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key], dir);
  const ext = spec.ext.flatMap((e) => ['-addext', e]);
  const subj = `/O=Fixture/CN=${spec.cn}`;
  if (!spec.signer) {
    await openssl(['req', '-x509', '-new', '-key', key, '-subj', subj, '-days', '30', ...ext, '-out', cert], dir);
    return;
  }
  const work = mkdtempSync(join(dir, `.${name}-`));
  const csr = join(work, 'req.csr');
  await openssl(['req', '-new', '-key', key, '-subj', subj, ...ext, '-out', csr], dir);
  if (spec.dates) {
    await openssl(['ca', '-batch', '-notext', '-config', caConfig(work), '-cert', spec.signer.cert, '-keyfile', spec.signer.key,
      '-startdate', spec.dates.start, '-enddate', spec.dates.end, '-in', csr, '-out', cert], dir);
  } else {
    await openssl(['x509', '-req', '-in', csr, '-CA', spec.signer.cert, '-CAkey', spec.signer.key, '-days', '30', '-sha256',
      '-copy_extensions', 'copyall', '-out', cert], dir);
  }
  rmSync(work, { recursive: true, force: true });
}

async function makeBad(dir: string, pkiDir: string): Promise<void> {
  const ours: Signer = { cert: join(pkiDir, 'ca-cert.pem'), key: join(pkiDir, 'ca-key.pem') };
  const other: Signer = { cert: join(dir, 'other-ca-cert.pem'), key: join(dir, 'other-ca-key.pem') };
  const day = 86_400_000;
  const now = Date.now();
  const expired = { start: opensslDate(now - 400 * day), end: opensslDate(now - 35 * day) };
  const future = { start: opensslDate(now + 365 * day), end: opensslDate(now + 730 * day) };
  await makeBadPair(dir, 'other-ca', { cn: 'Other CA', ext: ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign,cRLSign'] });
  const specs: Record<Exclude<BadName, 'other-ca'>, BadSpec> = {
    'other-client': { cn: 'other-client', ext: CLIENT_EXT, signer: other },
    'self-signed-client': { cn: 'self-signed-client', ext: CLIENT_EXT },
    'expired-client': { cn: 'expired-client', ext: CLIENT_EXT, signer: ours, dates: expired },
    'future-client': { cn: 'future-client', ext: CLIENT_EXT, signer: ours, dates: future },
    'server-eku-client': { cn: 'server-eku-client', ext: SERVER_EXT(LOCAL_SAN).filter((e) => !e.startsWith('subjectAltName')), signer: ours },
    'second-client': { cn: 'second-client', ext: CLIENT_EXT, signer: ours },
    'expired-server': { cn: '127.0.0.1', ext: SERVER_EXT(LOCAL_SAN), signer: ours, dates: expired },
    'wrong-host-server': { cn: 'wrong.example', ext: SERVER_EXT('DNS:wrong.example'), signer: ours },
    'other-ca-server': { cn: '127.0.0.1', ext: SERVER_EXT(LOCAL_SAN), signer: other },
  };
  await Promise.all(Object.entries(specs).map(([name, spec]) => makeBadPair(dir, name, spec)));
}

/** Makes root/pki and root/bad unless an earlier call finished them (marked by root/.ready). */
async function ensureFixtures(root: string): Promise<void> {
  if (existsSync(join(root, READY))) return;
  mkdirSync(root, { recursive: true });
  const work = mkdtempSync(join(root, '.making-'));
  try {
    const pki = join(work, 'pki');
    const bad = join(work, 'bad');
    mkdirSync(bad, { recursive: true });
    await makePki(pki);
    await makeBad(bad, pki);
    for (const name of ['pki', 'bad']) {
      rmSync(join(root, name), { recursive: true, force: true });
      renameSync(join(work, name), join(root, name));
    }
    writeFileSync(join(root, READY), new Date().toISOString());
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Environment variables that point the test files at the shared fixtures. */
export async function prepareFixtures(): Promise<Record<string, string>> {
  const root = process.env.MTLS_FIXTURES ?? temporaryRoot();
  await ensureFixtures(root);
  return { MTLS_FIXTURES: root };
}

/** A temp folder for fixtures this process made itself, removed when the process exits. */
function temporaryRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'mtls-fixtures-'));
  process.once('exit', () => rmSync(root, { recursive: true, force: true }));
  return root;
}

let ownRoot: string | undefined;

/** The shared PKI fixtures; a test file run alone makes its own in a temp folder. */
/** The environment of a test backend on the fixture's stores: loopback, ephemeral ports, no store watching; `extra` wins. */
export function backendEnv(fx: PkiFixture, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CERTS_DIR: fx.pki, SERVER_SSL_KEYSTOREPASSWORD: fx.password, SERVER_SSL_TRUSTSTOREPASSWORD: fx.password,
    SERVER_ADDRESS: '127.0.0.1', PORT: '0', HEALTH_PORT: '0', RELOAD_STORES: 'false', ...extra,
  };
}

export async function pkiFixture(): Promise<PkiFixture> {
  const root = process.env.MTLS_FIXTURES ?? (ownRoot ??= temporaryRoot());
  await ensureFixtures(root);
  return { pki: join(root, 'pki'), bad: join(root, 'bad'), password: FIXTURE_PASSWORD };
}
