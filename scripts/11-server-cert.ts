#!/usr/bin/env -S node --import tsx
// Tutorial steps 3–6: the backend's certificate. san.cnf comes from SERVER_HOST and EXTRA_SANS (an IP
// SAN for an address, a DNS SAN for a name) and the certificate may only authenticate a server.
// An existing certificate is kept while it still fits; when SERVER_HOST moved (e.g. to the VM's
// address) it is re-issued, because a client checking the name would refuse it.
import { runStep } from './lib/main.ts';
import { log } from '../core/log.ts';
import { StepError } from '../core/errors.ts';
import { FILES } from './lib/pki/names.ts';
import { genKey, serverCsr, signServer } from './lib/pki/openssl.ts';
import { SERVER_EXT_SECTION, sanCnf } from './lib/pki/san-cnf.ts';
import { daysLeft, expiry, readCert, reissueReason } from './lib/pki/inspect.ts';
import { CertWorkspace, display, requireNode, requireOpenssl } from './lib/pki/workspace.ts';
import { writeFileSync } from 'node:fs';

await runStep(async (config) => {
  requireNode();
  requireOpenssl();
  log.banner('Server certificate: san.cnf, server-key.pem, server.csr, server-cert.pem', 'steps 3–6, "Certificados Backend (Servidor)"');
  const ws = new CertWorkspace(config);
  const { pki } = config;
  const ca = readCert(ws.path(FILES.caCert));
  if (!ca && !config.dryRun) throw new StepError(`${display(ws.path(FILES.caCert))} is missing or unreadable; run scripts/10-ca.ts first`);

  const hosts = [pki.serverHost, ...pki.extraSans];
  const existing = readCert(ws.path(FILES.serverCert));
  if (existing && ca && !config.force) {
    const reason = reissueReason(existing, { ca, keyPath: ws.path(FILES.serverKey), hosts })
      ?? [FILES.sanCnf, FILES.serverCsr].filter((name) => !ws.exists(name)).map((name) => `${name} is missing`)[0];
    if (!reason) {
      log.reused(display(ws.path(FILES.serverCert)), `${expiry(existing)}, covers ${hosts.join(', ')}`);
      if (daysLeft(existing) < 30) log.warn(`expires in ${daysLeft(existing)} days; FORCE=1 re-issues it`);
      return;
    }
    log.info(`re-issuing ${FILES.serverCert}: ${reason}`);
  }

  ws.begin([FILES.caCert, FILES.caKey]);
  const cnf = sanCnf({ subject: pki.subject, serverHost: pki.serverHost, extraSans: pki.extraSans, keyType: pki.keyType });
  log.command(`cat > ${FILES.sanCnf}`, `step 3: written from the configuration; subject CN=${pki.serverHost}, SANs ${hosts.join(', ')}`);
  if (!config.dryRun) writeFileSync(ws.staged(FILES.sanCnf), cnf);
  await ws.run(genKey(pki.keyType, FILES.serverKey), 'step 4: the server private key');
  await ws.run(serverCsr({ key: FILES.serverKey, out: FILES.serverCsr, config: FILES.sanCnf }), 'step 5: the signing request with the SANs');
  await ws.run(
    signServer({
      csr: FILES.serverCsr, caCert: FILES.caCert, caKey: FILES.caKey, out: FILES.serverCert,
      days: pki.certDays, extfile: FILES.sanCnf, section: SERVER_EXT_SECTION,
    }),
    'step 6: the CA signs it; EKU serverAuth only',
  );
  if (config.dryRun) {
    log.dryRun();
    return;
  }
  ws.commit([FILES.sanCnf, FILES.serverKey, FILES.serverCsr, FILES.serverCert]);
  const cert = readCert(ws.path(FILES.serverCert));
  log.created(display(ws.path(FILES.serverCert)), cert ? `${expiry(cert)}, SANs ${cert.subjectAltName}` : undefined);
  log.created(display(ws.path(FILES.serverKey)), '(private, mode 0600)');
  log.created(display(ws.path(FILES.serverCsr)));
  log.created(display(ws.path(FILES.sanCnf)));
  if (existing) ws.reportStale([FILES.serverCert]);
});
