// 14-verify-certs refuses what it claims to check: certificates re-signed by the same CA with
// more usages than their role needs, a leaf that could act as a CA, a CA without CA extensions,
// and a truststore trusting one certificate too many. Each exits 1 and names what is wrong.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { copyFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { fixtureEnv, pkiFixture, runCertSteps } from './helpers/fixtures.ts';
import { tempDir } from './helpers/temp.ts';
import { buildTrustStore } from '../lib/pkcs12.ts';

const fx = await pkiFixture();

function copyPki(): string {
  const dir = tempDir('pki-verify-');
  for (const name of readdirSync(fx.pki)) copyFileSync(join(fx.pki, name), join(dir, name));
  return dir;
}

const openssl = (dir: string, args: string[]) => execa('openssl', args, { cwd: dir });

/** Signs `csr` again with the fixture CA and the given extensions, replacing `cert`. */
async function resign(dir: string, csr: string, cert: string, extensions: string[]): Promise<void> {
  writeFileSync(join(dir, 'resign.cnf'), extensions.join('\n') + '\n');
  await openssl(dir, ['x509', '-req', '-in', csr, '-CA', 'ca-cert.pem', '-CAkey', 'ca-key.pem', '-days', '30', '-sha256', '-extfile', 'resign.cnf', '-out', cert]);
}

const SERVER = ['subjectAltName = IP:127.0.0.1, DNS:localhost', 'basicConstraints = critical, CA:FALSE', 'keyUsage = critical, digitalSignature, keyEncipherment'];

async function verifyRefuses(dir: string, message: RegExp): Promise<void> {
  const run = await runCertSteps(['14-verify-certs'], { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...fixtureEnv(dir) });
  assert.is(run.exitCode, 1, run.stdout);
  assert.match(run.stderr, message);
  assert.match(run.stderr, /\d+ checks passed, [1-9]\d* problem\(s\)/);
}

test('server-cert.pem re-signed with serverAuth,clientAuth → exit 1 naming the extra usage', async () => {
  const dir = copyPki();
  await resign(dir, 'server.csr', 'server-cert.pem', [...SERVER, 'extendedKeyUsage = serverAuth, clientAuth']);
  await verifyRefuses(dir, /server-cert\.pem: extended key usage must be serverAuth only, it is serverAuth, clientAuth/);
});

test('apigee-client-cert.pem re-signed with clientAuth,serverAuth → exit 1 naming the extra usage', async () => {
  const dir = copyPki();
  await resign(dir, 'client.csr', 'apigee-client-cert.pem', ['basicConstraints = critical, CA:FALSE', 'keyUsage = critical, digitalSignature', 'extendedKeyUsage = clientAuth, serverAuth']);
  await verifyRefuses(dir, /apigee-client-cert\.pem: extended key usage must be clientAuth only, it is clientAuth, serverAuth/);
});

test('a server certificate that may act as a CA → exit 1 (basicConstraints)', async () => {
  const dir = copyPki();
  await resign(dir, 'server.csr', 'server-cert.pem', ['subjectAltName = IP:127.0.0.1, DNS:localhost', 'basicConstraints = critical, CA:TRUE', 'keyUsage = critical, digitalSignature', 'extendedKeyUsage = serverAuth']);
  await verifyRefuses(dir, /server-cert\.pem: basicConstraints must be CA:FALSE, it is CA:TRUE/);
});

test('a server certificate without digitalSignature → exit 1 (key usage)', async () => {
  const dir = copyPki();
  await resign(dir, 'server.csr', 'server-cert.pem', ['subjectAltName = IP:127.0.0.1, DNS:localhost', 'basicConstraints = critical, CA:FALSE', 'keyUsage = critical, keyEncipherment', 'extendedKeyUsage = serverAuth']);
  await verifyRefuses(dir, /server-cert\.pem: key usage must include digitalSignature, it is keyEncipherment/);
});

test('a CA certificate without critical CA:TRUE and cRLSign (same key and name) → exit 1', async () => {
  const dir = copyPki();
  writeFileSync(join(dir, 'weak-ca.cnf'), '[ req ]\nprompt = no\ndistinguished_name = dn\nx509_extensions = ext\n[ dn ]\nC = CO\nST = Bogota\nL = Bogota\nO = DemomTLSCompany\nOU = mTLS\nCN = Demo mTLS CA\n[ ext ]\nbasicConstraints = CA:TRUE\nkeyUsage = keyCertSign\n');
  await openssl(dir, ['req', '-x509', '-new', '-key', 'ca-key.pem', '-config', 'weak-ca.cnf', '-days', '30', '-out', 'ca-cert.pem']);
  await verifyRefuses(dir, /ca-cert\.pem: basicConstraints must be CA:TRUE, critical; it is CA:TRUE\n[\s\S]*ca-cert\.pem: key usage must include keyCertSign and cRLSign, it is keyCertSign/);
});

test('a truststore that trusts a third certificate → exit 1 (two entries)', async () => {
  const dir = copyPki();
  const pem = (file: string) => readFileSync(file, 'utf8');
  const trusted = [
    { alias: 'ca', pem: pem(join(dir, 'ca-cert.pem')) }, { alias: 'client', pem: pem(join(dir, 'apigee-client-cert.pem')) },
    { alias: 'other', pem: pem(join(fx.bad, 'other-client-cert.pem')) },
  ];
  writeFileSync(join(dir, 'server-truststore.p12'), buildTrustStore(trusted, fx.password));
  await verifyRefuses(dir, /server-truststore\.p12: must hold exactly two entries Java lists as trustedCertEntry, it holds 3 \(3 trusted\)/);
});

test.run();
