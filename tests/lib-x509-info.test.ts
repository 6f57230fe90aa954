// lib/x509-info.ts against certificates made by openssl, cross-checked with openssl's own output.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DerError } from '../lib/der.ts';
import { apigeeCertInfo, describeCertificate } from '../lib/x509-info.ts';
import { tempDir } from './helpers/temp.ts';

const dir = tempDir('lib-x509-');
const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const pem = (name: string) => readFileSync(join(dir, name), 'utf8');

test.before(() => {
  writeFileSync(
    join(dir, 'ext.cnf'),
    [
      '[leaf]',
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      'subjectAltName=IP:127.0.0.1,IP:::1,IP:2001:db8:0:0:1:0:0:1,DNS:localhost,email:ops@example.test,URI:https://example.test/p',
      '[odd]',
      'basicConstraints=CA:TRUE',
      'subjectAltName=@odd_names',
      '[odd_names]',
      'DNS.1=a,b.test',
      'IP.1=FE80:0:0:0:0:0:1:2',
      'RID.1=1.2.3.4',
      '',
    ].join('\n'),
  );
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '30', '-set_serial', '0x9AC1B396',
    '-subj', '/C=CO/ST=Bogota/L=Bogota/O=Demo, Inc/OU=mTLS/CN=Demo CA',
    '-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'leaf-key.pem', '-out', 'leaf.csr', '-subj', '/O=Demo/CN=backend.test');
  openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-set_serial', '1', '-days', '7', '-out', 'leaf.pem', '-extfile', 'ext.cnf', '-extensions', 'leaf');
  openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-set_serial', '2', '-days', '7', '-out', 'odd.pem', '-extfile', 'ext.cnf', '-extensions', 'odd');
  // No extensions at all: openssl writes a version 1 certificate.
  openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-set_serial', '255', '-days', '7', '-out', 'v1.pem');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));

const opensslField = (file: string, flag: string) => openssl('x509', '-in', file, '-noout', flag, '-nameopt', 'RFC2253').trim().replace(/^[a-zA-Z]+=/, '');

test('names, serial and validity agree with openssl', () => {
  for (const file of ['ca.pem', 'leaf.pem', 'v1.pem']) {
    const d = describeCertificate(pem(file));
    assert.is(d.subject, opensslField(file, '-subject'), file);
    assert.is(d.issuer, opensslField(file, '-issuer'), file);
    assert.is(d.serialNumber.replace(/:/g, ''), opensslField(file, '-serial').toLowerCase().replace(/^0+(?=.)/, '').padStart(2, '0'), file);
    assert.is(d.notBefore, Date.parse(opensslField(file, '-startdate')), file);
    assert.is(d.notAfter, Date.parse(opensslField(file, '-enddate')), file);
  }
  const ca = describeCertificate(pem('ca.pem'));
  assert.is(ca.subject, 'CN=Demo CA,OU=mTLS,O=Demo\\, Inc,L=Bogota,ST=Bogota,C=CO');
  assert.is(ca.serialNumber, '9a:c1:b3:96');
});

test('the CA: basicConstraints, key usage, self-signed, RSA key', () => {
  const d = describeCertificate(new X509Certificate(pem('ca.pem')));
  assert.is(d.version, 3);
  assert.equal(d.basicConstraints, { ca: true, pathLength: 0, critical: true });
  assert.equal(d.keyUsage, { usages: ['keyCertSign', 'cRLSign'], critical: true });
  assert.equal(d.extendedKeyUsage, []);
  assert.ok(d.selfSigned);
  assert.is(d.publicKey, 'RSA Public Key, 2048 bits');
  assert.is(d.sigAlgName, 'SHA256-RSA');
});

test('the leaf: SANs of every kind, EKU names, EC key', () => {
  const d = describeCertificate(readFileSync(join(dir, 'leaf.pem')));
  assert.equal(d.subjectAltNames, ['IP:127.0.0.1', 'IP:::1', 'IP:2001:db8::1:0:0:1', 'DNS:localhost', 'email:ops@example.test', 'URI:https://example.test/p']);
  assert.equal(d.extendedKeyUsage, ['serverAuth', 'clientAuth']);
  assert.equal(d.keyUsage, { usages: ['digitalSignature', 'keyEncipherment'], critical: true });
  assert.equal(d.basicConstraints, { ca: false, critical: false });
  assert.not.ok(d.selfSigned);
  assert.is(d.publicKey, 'EC Public Key, 256 bits');
  assert.is(d.sigAlgName, 'SHA256-RSA');
  assert.is(d.fingerprint256, new X509Certificate(pem('leaf.pem')).fingerprint256);
});

test('critical flags of basicConstraints and keyUsage agree with openssl -text', () => {
  for (const file of ['ca.pem', 'leaf.pem', 'odd.pem']) {
    const text = openssl('x509', '-in', file, '-noout', '-text');
    const flag = (name: string) => {
      const m = new RegExp(`X509v3 ${name}:( critical)?`).exec(text);
      return m ? m[1] === ' critical' : undefined;
    };
    const d = describeCertificate(pem(file));
    assert.is(d.basicConstraints?.critical, flag('Basic Constraints'), `${file} basicConstraints`);
    assert.is(d.keyUsage?.critical, flag('Key Usage'), `${file} keyUsage`);
  }
  assert.equal(describeCertificate(pem('odd.pem')).basicConstraints, { ca: true, critical: false });
});

test('SANs node:crypto quotes or spells differently: a comma in a name, IPv6 in capitals, a registered ID', () => {
  assert.equal(describeCertificate(pem('odd.pem')).subjectAltNames, ['DNS:a,b.test', 'IP:fe80::1:2', 'RID:1.2.3.4']);
});

test('a version 1 certificate has no extensions and no basicConstraints', () => {
  const d = describeCertificate(pem('v1.pem'));
  assert.is(d.version, 1);
  assert.is(d.basicConstraints, undefined);
  assert.is(d.keyUsage, undefined);
  assert.equal(d.extendedKeyUsage, []);
  assert.equal(d.subjectAltNames, []);
  assert.is(d.serialNumber, 'ff');
  assert.is(apigeeCertInfo(pem('v1.pem')).basicConstraints, 'CA:FALSE');
});

test('Apigee CertInfo shape and isValid over time', () => {
  const d = describeCertificate(pem('leaf.pem'));
  const info = apigeeCertInfo(pem('leaf.pem'), d.notBefore + 1000);
  assert.equal(info, {
    version: 3,
    subject: 'CN=backend.test,O=Demo',
    issuer: d.issuer,
    expiryDate: String(d.notAfter),
    validFrom: String(d.notBefore),
    isValid: 'Yes',
    subjectAlternativeNames: ['127.0.0.1', '::1', '2001:db8::1:0:0:1', 'localhost', 'ops@example.test', 'https://example.test/p'],
    sigAlgName: 'SHA256-RSA',
    publicKey: 'EC Public Key, 256 bits',
    basicConstraints: 'CA:FALSE',
    serialNumber: '01',
  });
  assert.is(apigeeCertInfo(pem('leaf.pem'), d.notBefore - 1).isValid, 'Not yet');
  assert.is(apigeeCertInfo(pem('leaf.pem'), d.notAfter + 1).isValid, 'No');
  assert.is(apigeeCertInfo(pem('ca.pem')).basicConstraints, 'CA:TRUE');
  assert.not.ok('subjectAlternativeNames' in apigeeCertInfo(pem('ca.pem')));
});

test('not a certificate: DerError naming the problem', () => {
  const isNotCert = (e: unknown) => e instanceof DerError && /^not an X\.509 certificate: /.test(e.message);
  assert.throws(() => describeCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), isNotCert);
  assert.throws(() => describeCertificate(Buffer.from('garbage')), isNotCert);
  assert.throws(() => apigeeCertInfo(pem('leaf-key.pem')), isNotCert);
});

test.run();
