#!/usr/bin/env -S node --import tsx
// Tutorial steps 9–12: Apigee's client certificate (CN apigee-client) and its keystore (alias client),
// which is what gets uploaded to Apigee. The certificate may only authenticate a client.
import { runStep } from './lib/main.ts';
import { log } from '../core/log.ts';
import { StepError } from '../core/errors.ts';
import { ALIASES, FILES } from './lib/pki/names.ts';
import { clientCsr, genKey, pkcs12Export, signClient, subjectLine } from './lib/pki/openssl.ts';
import { daysLeft, expiry, readCert, reissueReason } from './lib/pki/inspect.ts';
import { storeRebuildReason } from './lib/pki/stores.ts';
import { CertWorkspace, display, requireNode, requireOpenssl } from './lib/pki/workspace.ts';

await runStep(async (config) => {
  requireNode();
  requireOpenssl();
  log.banner('Apigee client certificate and keystore: apigee-client-key.pem, client.csr, apigee-client-cert.pem, client-apigee-keystore.p12', 'steps 9–12, "Certificados Apigee (cliente)"');
  const ws = new CertWorkspace(config);
  const { pki } = config;
  const ca = readCert(ws.path(FILES.caCert));
  if (!ca && !config.dryRun) throw new StepError(`${display(ws.path(FILES.caCert))} is missing or unreadable; run scripts/10-ca.ts first`);

  const existing = readCert(ws.path(FILES.clientCert));
  const certReason = !existing ? 'it does not exist yet'
    : !ca ? 'there is no CA yet'
    : config.force ? 'FORCE=1'
    : reissueReason(existing, { ca, keyPath: ws.path(FILES.clientKey), commonName: pki.clientCn })
      ?? (ws.exists(FILES.clientCsr) ? undefined : `${FILES.clientCsr} is missing`);
  const keystoreReason = existing && !certReason
    ? storeRebuildReason(ws.path(FILES.clientKeystore), pki.storePassword, 'keystore', [{ alias: ALIASES.client, cert: existing }], pki.legacyPkcs12)
    : undefined;
  if (existing && !certReason) {
    log.reused(display(ws.path(FILES.clientCert)), expiry(existing));
    if (daysLeft(existing) < 30) log.warn(`expires in ${daysLeft(existing)} days; FORCE=1 re-issues it`);
    if (!keystoreReason) {
      log.reused(display(ws.path(FILES.clientKeystore)), `alias ${ALIASES.client}`);
      return;
    }
    log.info(`rebuilding ${FILES.clientKeystore}: ${keystoreReason}`);
  } else if (existing) {
    log.info(`re-issuing ${FILES.clientCert}: ${certReason}`);
  }
  const reissue = certReason !== undefined;

  ws.begin(reissue ? [FILES.caCert, FILES.caKey] : [FILES.clientCert, FILES.clientKey]);
  if (reissue) {
    await ws.run(genKey(pki.keyType, FILES.clientKey), 'step 9: the client private key');
    await ws.run(
      clientCsr({ key: FILES.clientKey, out: FILES.clientCsr, subject: subjectLine(pki.subject, pki.clientCn), keyType: pki.keyType }),
      'step 10: the signing request, asking for clientAuth only',
    );
    await ws.run(
      signClient({ csr: FILES.clientCsr, caCert: FILES.caCert, caKey: FILES.caKey, out: FILES.clientCert, days: pki.certDays }),
      'step 11: the CA signs it, keeping the requested usages',
    );
  }
  await ws.run(
    pkcs12Export({ cert: FILES.clientCert, key: FILES.clientKey, out: FILES.clientKeystore, alias: ALIASES.client, legacy: pki.legacyPkcs12 }),
    'step 12: the keystore Apigee receives; password from $STORE_PASSWORD',
  );
  if (config.dryRun) {
    log.dryRun();
    return;
  }
  ws.commit(reissue ? [FILES.clientKey, FILES.clientCsr, FILES.clientCert, FILES.clientKeystore] : [FILES.clientKeystore]);
  if (reissue) {
    const cert = readCert(ws.path(FILES.clientCert));
    log.created(display(ws.path(FILES.clientCert)), cert ? expiry(cert) : undefined);
    log.created(display(ws.path(FILES.clientKey)), '(private, mode 0600)');
    log.created(display(ws.path(FILES.clientCsr)));
  }
  log.created(display(ws.path(FILES.clientKeystore)), `alias ${ALIASES.client}${pki.legacyPkcs12 ? ', 3DES/SHA-1 (PKCS12_LEGACY=1)' : ''}, mode 0600`);
  if (existing && reissue) ws.reportStale([FILES.clientCert]);
});
