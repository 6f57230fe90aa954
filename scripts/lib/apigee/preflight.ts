// Checks that catch, before any upload, what Apigee would only reject later (or what would only
// show up as a 503 at the gateway). Each problem is one line that says how to fix it.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Config } from '../../../core/config.ts';
import { StepError } from '../../../core/errors.ts';
import { displayPath, log } from '../../../core/log.ts';
import { followUp } from '../follow-up.ts';

export interface Finding {
  level: 'error' | 'warn';
  message: string;
}

const DAY = 86_400_000;
const SOON_DAYS = 30;

/** Loopback, private, link-local and local-only names that Apigee X's runtime cannot reach. */
export function isUnreachableFromCloud(host: string): boolean {
  if (isIP(host) === 4) {
    const [a, b] = host.split('.').map(Number) as [number, number];
    return a === 127 || a === 10 || a === 0 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254) || (a === 100 && b >= 64 && b <= 127);
  }
  if (isIP(host) === 6) return host === '::1' || /^f[cd]/i.test(host) || /^fe80:/i.test(host);
  return host === 'localhost' || /\.(localhost|local|internal|lan|home)$/i.test(host);
}

function load(file: string): X509Certificate | undefined {
  if (!existsSync(file)) return undefined;
  return new X509Certificate(readFileSync(file));
}

export function preflight(config: Config, now = new Date()): Finding[] {
  const findings: Finding[] = [];
  const error = (message: string) => findings.push({ level: 'error', message });
  const warn = (message: string) => findings.push({ level: 'warn', message });
  const dir = config.pki.certsDir;
  const host = config.pki.serverHost;
  const a = config.apigee;

  if (a.target === 'apigee-x' && isUnreachableFromCloud(host)) {
    error(`SERVER_HOST=${host} is not reachable from Apigee X (loopback/private address); fix: set SERVER_HOST to the backend's public IP or DNS name (${followUp('make vm')} writes it) and recreate the server certificate`);
  }
  if (a.keystore === a.truststore) {
    error(`APIGEE_KEYSTORE and APIGEE_TRUSTSTORE are both "${a.keystore}"; fix: give the truststore its own name so the CA alias does not mix with the client key`);
  }
  if (a.useReferences && a.keystoreRef === a.truststoreRef) {
    error(`APIGEE_KEYSTORE_REF and APIGEE_TRUSTSTORE_REF are both "${a.keystoreRef}"; fix: use two reference names`);
  }

  const files = { ca: join(dir, 'ca-cert.pem'), server: join(dir, 'server-cert.pem'), client: join(dir, 'apigee-client-cert.pem') };
  const certs = Object.fromEntries(Object.entries(files).map(([k, f]) => [k, load(f)])) as Record<keyof typeof files, X509Certificate | undefined>;
  for (const [name, file] of Object.entries(files)) {
    if (!certs[name as keyof typeof files]) error(`${displayPath(file)} is missing; fix: ${followUp('make certs')}`);
  }
  const p12 = join(dir, 'client-apigee-keystore.p12');
  if (a.aliasFormat === 'pkcs12' && !existsSync(p12)) error(`${displayPath(p12)} is missing; fix: ${followUp('make certs')}`);
  if (a.aliasFormat === 'keycertfile' && !existsSync(join(dir, 'apigee-client-key.pem'))) error(`${displayPath(join(dir, 'apigee-client-key.pem'))} is missing; fix: ${followUp('make certs')}`);

  const { ca, server, client } = certs;
  if (server) {
    const matches = isIP(host) ? server.checkIP(host) !== undefined : server.checkHost(host) !== undefined;
    if (!matches) {
      error(`server-cert.pem does not name SERVER_HOST=${host} (it has ${server.subjectAltName ?? 'no SAN'}); with enforce=true Apigee fails the handshake; fix: ${followUp('FORCE=1 ./scripts/11-server-cert.ts')}`);
    }
  }
  if (ca && server && !(server.checkIssued(ca) && server.verify(ca.publicKey))) {
    error(`ca-cert.pem (the truststore upload) did not sign server-cert.pem: Apigee would answer 503 SslHandshakeFailed (PKIX); fix: recreate the server certificate with this CA (${followUp('FORCE=1 ./scripts/11-server-cert.ts')})`);
  }
  if (ca && client && !(client.checkIssued(ca) && client.verify(ca.publicKey))) {
    error(`ca-cert.pem did not sign apigee-client-cert.pem: the backend would refuse Apigee's certificate; fix: ${followUp('FORCE=1 ./scripts/12-client-cert.ts')}`);
  }
  for (const [name, cert] of Object.entries(certs)) {
    if (!cert) continue;
    const end = new Date(cert.validTo);
    const start = new Date(cert.validFrom);
    // FORCE=1 re-issues the leaves from the kept CA; only NEW_CA=1 replaces the CA itself.
    const remake = followUp(name === 'ca' ? 'NEW_CA=1 make certs' : 'FORCE=1 make certs');
    if (end <= now) error(`${name} certificate expired on ${end.toISOString().slice(0, 10)}; fix: ${remake}`);
    else if (start > now) error(`${name} certificate is not valid before ${start.toISOString()}; fix: check the clock, or ${remake}`);
    else if (end.getTime() - now.getTime() < SOON_DAYS * DAY) warn(`${name} certificate expires on ${end.toISOString().slice(0, 10)} (< ${SOON_DAYS} days); plan: ${followUp('make rotate')} (new certificates while the gateway keeps answering)`);
  }
  return findings;
}

/** Prints the findings; throws when any is an error. */
export function runPreflight(config: Config): void {
  const findings = preflight(config);
  for (const f of findings) (f.level === 'error' ? log.error : log.warn)(f.message);
  const errors = findings.filter((f) => f.level === 'error').length;
  if (errors > 0 && config.dryRun) {
    log.dryRun(`DRY_RUN: pre-flight found ${errors} problem${errors > 1 ? 's' : ''}; a real run stops here`);
    return;
  }
  if (errors > 0) throw new StepError(`pre-flight: ${errors} problem${errors > 1 ? 's' : ''} above would make Apigee fail; nothing was sent`);
  log.info(`pre-flight: certificates, SAN ${config.pki.serverHost}, CA chain, expiry and names OK`);
}

/**
 * Stops a step before its first call when a file it uploads is missing, so that no keystore is
 * created without its alias. DRY_RUN only says so.
 */
export function requireFiles(config: Config, files: string[]): void {
  const missing = files.filter((file) => !existsSync(file)).map((file) => displayPath(file));
  if (missing.length === 0) return;
  const message = `${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} missing; fix: ${followUp('make certs')}`;
  if (config.dryRun) return log.dryRun(`DRY_RUN: ${message}; a real run stops here`);
  throw new StepError(`${message} (nothing was sent)`);
}
