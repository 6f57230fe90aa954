// The checks of the verify step (after tutorial step 12), done in-process with node:crypto and
// lib/pkcs12.ts. Each certificate and store becomes a section: what it says, then findings.
import { createSecureContext } from 'node:tls';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { X509Certificate } from 'node:crypto';
import type { Config } from '../../../core/config.ts';
import { keyEntry } from '../../../lib/pkcs12.ts';
import { describeCertificate } from '../../../lib/x509-info.ts';
import { ALIASES, ALL_FILES, FILES } from './names.ts';
import { commonName, daysLeft, extendedKeyUsages, isCurrentlyValid, issuedBy, keyMatches, readCert, sanEntries, uncoveredHosts } from './inspect.ts';
import { isLegacyEncrypted, readStore } from './stores.ts';

const WARN_DAYS = 30;

export interface Finding { ok: boolean; warn?: boolean; text: string }
interface Section { title: string; details: Array<[string, string]>; findings: Finding[] }

const oneLine = (dn: string) => dn.split('\n').filter(Boolean).join(', ');

type Role = 'ca' | 'server' | 'client';

function certSection(dir: string, name: string, keyName: string, role: Role, config: Config, ca: X509Certificate | undefined): Section {
  const section: Section = { title: name, details: [], findings: [] };
  const check = (ok: boolean, text: string) => section.findings.push({ ok, text });
  const cert = readCert(join(dir, name));
  if (!cert) {
    check(false, `${name} is missing or not a PEM certificate`);
    return section;
  }
  const ext = describeCertificate(cert);
  const ekus = extendedKeyUsages(cert);
  const days = daysLeft(cert);
  section.details.push(
    ['subject', oneLine(cert.subject)],
    ['issuer', role === 'ca' ? `${oneLine(cert.issuer)} (self-signed)` : oneLine(cert.issuer)],
    ['SANs', sanEntries(cert).join(', ') || '-'],
    ['key usage', ext.keyUsage ? `${ext.keyUsage.usages.join(', ')}${ext.keyUsage.critical ? ' (critical)' : ''}` : '-'],
    ['ext. key usage', ekus.join(', ') || '-'],
    ['basic constraints', ext.basicConstraints ? `CA:${ext.basicConstraints.ca ? 'TRUE' : 'FALSE'}${ext.basicConstraints.critical ? ' (critical)' : ''}` : '-'],
    ['SHA-256', cert.fingerprint256],
    ['valid', `${cert.validFrom} → ${cert.validTo} (${days} days left)`],
  );

  if (!isCurrentlyValid(cert)) check(false, `not valid now (${days < 0 ? 'expired' : 'not yet valid'})`);
  else if (days < WARN_DAYS) section.findings.push({ ok: true, warn: true, text: `expires in ${days} days (< ${WARN_DAYS}); re-run with ${role === 'ca' ? 'NEW_CA=1' : 'FORCE=1'}` });
  check(keyMatches(cert, join(dir, keyName)), `${keyName} is its private key`);
  const keyMode = statMode(join(dir, keyName));
  if (keyMode !== undefined) check((keyMode & 0o077) === 0, `${keyName} is private to its owner (mode ${keyMode.toString(8).padStart(4, '0')})`);

  if (role === 'ca') {
    check(cert.checkIssued(cert) && cert.verify(cert.publicKey), 'self-signed and its signature verifies');
    const bc = ext.basicConstraints ? `CA:${ext.basicConstraints.ca ? 'TRUE' : 'FALSE'}${ext.basicConstraints.critical ? ', critical' : ''}` : 'absent';
    check(bc === 'CA:TRUE, critical', bc === 'CA:TRUE, critical' ? 'basicConstraints CA:TRUE, critical' : `basicConstraints must be CA:TRUE, critical; it is ${bc}`);
    const signs = !!ext.keyUsage?.usages.includes('keyCertSign') && ext.keyUsage.usages.includes('cRLSign');
    check(signs, signs ? 'key usage keyCertSign and cRLSign' : `key usage must include keyCertSign and cRLSign, it is ${ext.keyUsage?.usages.join(', ') || 'absent'}`);
    return section;
  }
  check(!!ca && issuedBy(cert, ca), `issued by ${FILES.caCert} (node:crypto: issuer name and signature)`);
  // A failed check names what the certificate has, so the one error line says what is wrong.
  const leafCa = ext.basicConstraints ? `CA:${ext.basicConstraints.ca ? 'TRUE' : 'FALSE'}` : 'absent';
  check(ext.basicConstraints?.ca === false, leafCa === 'CA:FALSE' ? 'basicConstraints CA:FALSE' : `basicConstraints must be CA:FALSE, it is ${leafCa}`);
  const usages = ext.keyUsage?.usages.join(', ') || 'absent';
  check(!!ext.keyUsage?.usages.includes('digitalSignature'), ext.keyUsage?.usages.includes('digitalSignature') ? 'key usage includes digitalSignature' : `key usage must include digitalSignature, it is ${usages}`);
  const wantEku = role === 'server' ? 'serverAuth' : 'clientAuth';
  const ekuOk = ekus.length === 1 && ekus[0] === wantEku;
  check(ekuOk, ekuOk ? `extended key usage is ${wantEku} only` : `extended key usage must be ${wantEku} only, it is ${ekus.join(', ') || 'absent'}`);
  if (role === 'server') {
    const hosts = [config.pki.serverHost, ...config.pki.extraSans];
    const missing = uncoveredHosts(cert, hosts);
    check(missing.length === 0, missing.length === 0 ? `covers ${hosts.join(', ')}` : `does not cover ${missing.join(', ')} (SERVER_HOST/EXTRA_SANS); re-run scripts/11-server-cert.ts`);
  } else {
    check(commonName(cert) === config.pki.clientCn, `CN is ${config.pki.clientCn}`);
  }
  return section;
}

function statMode(path: string): number | undefined {
  try {
    return statSync(path).mode & 0o777;
  } catch {
    return undefined;
  }
}

/** The store's encryption matches PKCS12_LEGACY (3DES/SHA-1 when on, AES otherwise). */
function encryptionCheck(section: Section, path: string, legacy: boolean): void {
  const isLegacy = isLegacyEncrypted(readFileSync(path));
  section.details.push(['encryption', isLegacy ? '3DES + SHA-1 MAC (legacy)' : 'AES (PBES2)']);
  section.findings.push({ ok: isLegacy === legacy, text: legacy ? 'encrypted with 3DES as PKCS12_LEGACY=1 asks' : 'not legacy-encrypted (PKCS12_LEGACY=0)' });
}

function keystoreSection(dir: string, name: string, alias: string, certName: string, password: string, legacy: boolean): Section {
  const section: Section = { title: name, details: [], findings: [] };
  const check = (ok: boolean, text: string) => section.findings.push({ ok, text });
  const read = readStore(join(dir, name), password);
  if ('error' in read) {
    check(false, read.error);
    return section;
  }
  const cert = readCert(join(dir, certName));
  try {
    const entry = keyEntry(read.contents, alias);
    section.details.push(['entries', `${read.contents.keys.length} key, ${read.contents.certs.length} certificate(s)`], ['alias', entry.alias]);
    check(true, `opens with STORE_PASSWORD; PrivateKeyEntry "${alias}"`);
    check(!!cert && entry.cert.x509.fingerprint256 === cert.fingerprint256, `its certificate is ${certName}`);
    check(entry.cert.x509.checkPrivateKey(entry.key), 'its key matches its certificate');
    encryptionCheck(section, join(dir, name), legacy);
  } catch (error) {
    check(false, `no key entry "${alias}": ${(error as Error).message}`);
  }
  try {
    createSecureContext({ pfx: readFileSync(join(dir, name)), passphrase: password });
    check(true, 'Node loads it as a TLS pfx');
  } catch (error) {
    check(false, `Node cannot load it as a TLS pfx: ${(error as Error).message}`);
  }
  const mode = statMode(join(dir, name));
  if (mode !== undefined) check((mode & 0o077) === 0, `holds a private key: private to its owner (mode ${mode.toString(8).padStart(4, '0')})`);
  return section;
}

function truststoreSection(dir: string, config: Config, ca: X509Certificate | undefined, client: X509Certificate | undefined): Section {
  const name = FILES.serverTruststore;
  const section: Section = { title: name, details: [], findings: [] };
  const check = (ok: boolean, text: string) => section.findings.push({ ok, text });
  const read = readStore(join(dir, name), config.pki.storePassword);
  if ('error' in read) {
    check(false, read.error);
    return section;
  }
  const { keys, certs } = read.contents;
  section.details.push(['entries', certs.map((c) => `${c.friendlyName ?? '(no alias)'}=${commonName(c.x509) ?? '?'}`).join(', ')]);
  check(keys.length === 0, 'holds no private key');
  const trusted = certs.length === 2 && certs.every((c) => c.javaTrusted);
  check(trusted, trusted ? 'two entries Java lists as trustedCertEntry'
    : `must hold exactly two entries Java lists as trustedCertEntry, it holds ${certs.length} (${certs.filter((c) => c.javaTrusted).length} trusted)`);
  const byAlias = new Map(certs.map((c) => [(c.friendlyName ?? '').toLowerCase(), c.x509.fingerprint256]));
  check(!!ca && byAlias.get(ALIASES.ca) === ca.fingerprint256, `alias "${ALIASES.ca}" is ${FILES.caCert}`);
  check(!!client && byAlias.get(ALIASES.client) === client.fingerprint256, `alias "${ALIASES.client}" is ${FILES.clientCert}`);
  encryptionCheck(section, join(dir, name), config.pki.legacyPkcs12);
  return section;
}

/** Every in-process check of the PKI in CERTS_DIR. */
export function verifyPki(config: Config): Section[] {
  const dir = config.pki.certsDir;
  const ca = readCert(join(dir, FILES.caCert));
  const client = readCert(join(dir, FILES.clientCert));
  const password = config.pki.storePassword;
  const missing = ALL_FILES.filter((name) => !existsSync(join(dir, name)));
  const files: Section = {
    title: 'files',
    details: [],
    findings: [{ ok: missing.length === 0, text: missing.length === 0 ? `all ${ALL_FILES.length} tutorial files present` : `missing: ${missing.join(', ')}` }],
  };
  return [
    files,
    certSection(dir, FILES.caCert, FILES.caKey, 'ca', config, ca),
    certSection(dir, FILES.serverCert, FILES.serverKey, 'server', config, ca),
    certSection(dir, FILES.clientCert, FILES.clientKey, 'client', config, ca),
    keystoreSection(dir, FILES.serverKeystore, ALIASES.server, FILES.serverCert, password, config.pki.legacyPkcs12),
    keystoreSection(dir, FILES.clientKeystore, ALIASES.client, FILES.clientCert, password, config.pki.legacyPkcs12),
    truststoreSection(dir, config, ca, client),
  ];
}
