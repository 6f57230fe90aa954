// Re-runs of the certificate steps keep what still fits: each function here says whether an
// existing file can stay (and prints "using existing …") or why it must be made again.
import type { X509Certificate } from 'node:crypto';
import type { Config } from '../../../core/config.ts';
import { StepError } from '../../../core/errors.ts';
import { log } from '../../../core/log.ts';
import { ALIASES, FILES } from './names.ts';
import { daysLeft, expiry, isCurrentlyValid, keyMatches, keyTypeLabel, lifetimeDays, readCert, reissueReason, subjectAttribute } from './inspect.ts';
import { storeRebuildReason } from './stores.ts';
import type { CertWorkspace } from './workspace.ts';
import { followUp } from '../follow-up.ts';

/** `remake`: the setting that makes a new one (FORCE=1 for a leaf, NEW_CA=1 for the CA). */
function warnExpiry(cert: X509Certificate, remake = 'FORCE=1'): void {
  if (!isCurrentlyValid(cert)) log.warn(`not valid now (until ${cert.validTo}); ${remake} makes a new one`);
  else if (daysLeft(cert) < 30) log.warn(`expires in ${daysLeft(cert)} days; ${remake} makes a new one`);
}

/**
 * A kept certificate carries the settings it was made with. CERT_DAYS and the SUBJECT_* names (and
 * CA_CN for the CA) are no reason to replace a working one, so they only apply to a new one: say
 * which of them this certificate does not carry, and what makes a new one.
 */
function noteUnapplied(cert: X509Certificate, config: Config, remake: string, caCn?: string): void {
  const { subject, certDays } = config.pki;
  const wanted: Array<[string, string, string]> = Object.entries(subject).map(([attribute, value]) => [`SUBJECT_${attribute}`, attribute, value]);
  if (caCn !== undefined) wanted.push(['CA_CN', 'CN', caCn]);
  const differ = wanted.filter(([, attribute, value]) => subjectAttribute(cert, attribute) !== value).map(([setting]) => setting);
  const days = lifetimeDays(cert);
  if (days !== certDays) differ.unshift(`CERT_DAYS=${certDays} (it was issued for ${days} days)`);
  if (differ.length > 0) log.warn(`not applied to this certificate, only to a new one: ${differ.join(', ')}; ${remake} makes a new one`);
}

/**
 * A CA that is not valid now (expired, or not yet valid) signs nothing any client accepts: the
 * steps stop before issuing leaves from it, under FORCE=1 too. Replacing it is the user's call
 * (NEW_CA=1), because everything that trusts the old CA has to get the new one.
 */
function refuseInvalidCa(ws: CertWorkspace, ca: X509Certificate): void {
  if (isCurrentlyValid(ca)) return;
  const when = Date.parse(ca.validTo) <= Date.now() ? `expired on ${new Date(ca.validTo).toISOString().slice(0, 10)}` : `is not valid before ${new Date(ca.validFrom).toISOString().slice(0, 10)}`;
  throw new StepError(`${ws.shown(FILES.caCert)} ${when}: nothing it signs would be trusted; make a new CA with ${followUp('NEW_CA=1 make certs')} (then give the new ca-cert.pem to everyone who trusted the old one, e.g. Apigee's truststore)`);
}

/** Which CA (fingerprint start, expiry), so a reader can tell this one from another. */
function caIdentity(ca: X509Certificate | undefined): string {
  return ca ? ` (SHA-256 ${ca.fingerprint256.slice(0, 23)}…, ${expiry(ca)})` : '';
}

/**
 * True when the existing CA stays. Like mkcert, the kit never replaces a CA unless asked by name
 * (NEW_CA=1), not even under FORCE: everything issued so far, and everyone who trusts it, depends
 * on it. A half-present or mismatched pair is an error, not a reason to remake it.
 */
export function keepCa(ws: CertWorkspace, config: Config): boolean {
  const hadKey = ws.exists(FILES.caKey);
  const hadCert = ws.exists(FILES.caCert);
  if ((!hadKey && !hadCert) || config.pki.newCa) return false;
  if (!hadKey || !hadCert) {
    const [present, missing] = hadKey ? [FILES.caKey, FILES.caCert] : [FILES.caCert, FILES.caKey];
    throw new StepError(`${ws.shown(present)} exists but ${missing} is missing; restore it, or run with NEW_CA=1 to make a new CA`);
  }
  const ca = readCert(ws.path(FILES.caCert));
  if (!ca) throw new StepError(`${ws.shown(FILES.caCert)} is not a readable certificate; NEW_CA=1 makes a new CA`);
  if (!keyMatches(ca, ws.path(FILES.caKey))) throw new StepError(`${FILES.caKey} does not match ${FILES.caCert} in ${ws.shown('.')}; NEW_CA=1 makes a new CA`);
  refuseInvalidCa(ws, ca);
  log.reused(ws.shown(FILES.caCert), expiry(ca));
  log.reused(ws.shown(FILES.caKey));
  if (config.force) {
    log.info(`FORCE=1 keeps the CA ${ws.shown(FILES.caCert)}${caIdentity(ca)}: the next steps re-issue the certificates and stores from it; to replace the CA itself: ${followUp('NEW_CA=1 make certs')}`);
  }
  warnExpiry(ca, 'NEW_CA=1');
  noteUnapplied(ca, config, 'NEW_CA=1', config.pki.caCn);
  const { keyType } = config.pki;
  if (ca.publicKey.asymmetricKeyType !== keyType) {
    log.warn(`${FILES.caKey} is ${keyTypeLabel(ca.publicKey.asymmetricKeyType)}, not ${keyTypeLabel(keyType)} (KEY_TYPE=${keyType}): the CA stays (it signs either); ${followUp('NEW_CA=1 ./scripts/10-ca.ts')} makes a new one`);
  }
  return true;
}

/**
 * NEW_CA=1 on step 10 replaces the CA: said before it happens, with the fingerprint of the one that
 * goes, because whatever trusts it (the backend's truststore, Apigee's, a backend elsewhere) stops
 * trusting certificates from the new one until it gets the new ca-cert.pem.
 */
export function warnCaReplaced(ws: CertWorkspace): void {
  const which = caIdentity(readCert(ws.path(FILES.caCert)));
  log.warn(`NEW_CA=1 replaces the CA ${ws.shown(FILES.caCert)}${which} and its key, which cannot be recovered: every certificate it signed must be re-issued (${followUp('make certs')}) and everyone who trusts it needs the new ca-cert.pem (Apigee's truststore: ${followUp('make apigee')})`);
}

/** The CA for steps 11–12; under DRY_RUN it may not exist yet. */
export function requireCa(ws: CertWorkspace, config: Config): X509Certificate | undefined {
  const ca = readCert(ws.path(FILES.caCert));
  if (!ca && !config.dryRun) throw new StepError(`${ws.shown(FILES.caCert)} is missing or unreadable; run scripts/10-ca.ts first`);
  if (ca) refuseInvalidCa(ws, ca);
  return ca;
}

/**
 * Why the server certificate (and its files) must be issued, or undefined when the existing one
 * stays: it still chains to the CA, matches its key and covers SERVER_HOST and EXTRA_SANS.
 */
export function serverCertReason(ws: CertWorkspace, config: Config, ca: X509Certificate | undefined): string | undefined {
  const existing = readCert(ws.path(FILES.serverCert));
  if (!existing || !ca) return 'it does not exist yet';
  if (config.force) return 'FORCE=1';
  const hosts = [config.pki.serverHost, ...config.pki.extraSans];
  const reason = reissueReason(existing, { ca, keyPath: ws.path(FILES.serverKey), hosts, keyType: config.pki.keyType })
    ?? [FILES.sanCnf, FILES.serverCsr].filter((name) => !ws.exists(name)).map((name) => `${name} is missing`)[0];
  if (reason) {
    log.info(`re-issuing ${FILES.serverCert}: ${reason}`);
    return reason;
  }
  log.reused(ws.shown(FILES.serverCert), `${expiry(existing)}, covers ${hosts.join(', ')}`);
  warnExpiry(existing);
  noteUnapplied(existing, config, 'FORCE=1');
  return undefined;
}

/** Why Apigee's client certificate must be issued (undefined: it stays), as for the server's. */
export function clientCertReason(ws: CertWorkspace, config: Config, ca: X509Certificate | undefined): string | undefined {
  const existing = readCert(ws.path(FILES.clientCert));
  if (!existing || !ca) return 'it does not exist yet';
  const reason = config.force ? 'FORCE=1'
    : reissueReason(existing, { ca, keyPath: ws.path(FILES.clientKey), commonName: config.pki.clientCn, keyType: config.pki.keyType })
      ?? (ws.exists(FILES.clientCsr) ? undefined : `${FILES.clientCsr} is missing`);
  if (reason) {
    log.info(`re-issuing ${FILES.clientCert}: ${reason}`);
    return reason;
  }
  log.reused(ws.shown(FILES.clientCert), expiry(existing));
  warnExpiry(existing);
  noteUnapplied(existing, config, 'FORCE=1');
  return undefined;
}

/** Step 13's inputs: the three certificates, and the server key that matches its certificate. */
export function serverStoreInputs(ws: CertWorkspace, config: Config): void {
  if (config.dryRun) return;
  for (const name of [FILES.caCert, FILES.serverCert, FILES.clientCert]) {
    if (!readCert(ws.path(name))) throw new StepError(`${ws.shown(name)} is missing or unreadable; run the earlier certificate steps first (${followUp('make certs')})`);
  }
  if (!keyMatches(readCert(ws.path(FILES.serverCert))!, ws.path(FILES.serverKey))) {
    throw new StepError(`${FILES.serverKey} does not match ${FILES.serverCert}; re-run scripts/11-server-cert.ts`);
  }
}

type Store = typeof FILES.clientKeystore | typeof FILES.serverKeystore | typeof FILES.serverTruststore;
const STORE_ENTRIES: Record<Store, { kind: 'keystore' | 'truststore'; entries: Array<[alias: string, cert: string]> }> = {
  [FILES.clientKeystore]: { kind: 'keystore', entries: [[ALIASES.client, FILES.clientCert]] },
  [FILES.serverKeystore]: { kind: 'keystore', entries: [[ALIASES.server, FILES.serverCert]] },
  [FILES.serverTruststore]: { kind: 'truststore', entries: [[ALIASES.ca, FILES.caCert], [ALIASES.client, FILES.clientCert]] },
};

/**
 * Why a PKCS#12 store must be written, or undefined when it stays: it opens with STORE_PASSWORD,
 * holds exactly the current certificates under the tutorial's aliases, and is encrypted the way
 * PKCS12_LEGACY asks. `remade`: its certificates are being re-issued in this step.
 */
export function storeReason(ws: CertWorkspace, config: Config, store: Store, remade = false): string | undefined {
  if (remade) return 'its certificate is new';
  const { kind, entries } = STORE_ENTRIES[store];
  const expected = entries.map(([alias, file]) => ({ alias, cert: readCert(ws.path(file)) }));
  const reason = config.force ? 'FORCE=1'
    : expected.some((e) => !e.cert) ? 'its certificates are not made yet'
    : storeRebuildReason(ws.path(store), config.pki.storePassword, kind, expected as Array<{ alias: string; cert: X509Certificate }>, config.pki.legacyPkcs12);
  if (!reason) log.reused(ws.shown(store), `alias${entries.length > 1 ? 'es' : ''} ${entries.map(([alias]) => alias).join(', ')}`);
  else if (ws.exists(store)) log.info(`rebuilding ${store}: ${reason}`);
  return reason;
}
