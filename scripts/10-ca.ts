#!/usr/bin/env -S node --import tsx
// Tutorial steps 1–2: the certificate authority that signs the server and the Apigee client.
// Unlike the tutorial's plain `req -x509`, the CA gets basicConstraints CA:TRUE and keyCertSign.
import { runStep } from './lib/main.ts';
import { log } from '../core/log.ts';
import { StepError } from '../core/errors.ts';
import { FILES } from './lib/pki/names.ts';
import { caCert, genKey, subjectLine } from './lib/pki/openssl.ts';
import { daysLeft, expiry, isCurrentlyValid, keyMatches, readCert } from './lib/pki/inspect.ts';
import { CertWorkspace, display, requireNode, requireOpenssl } from './lib/pki/workspace.ts';

await runStep(async (config) => {
  requireNode();
  requireOpenssl();
  log.banner('Certificate authority: ca-key.pem, ca-cert.pem', 'steps 1–2, "Certificado Entidad Certificadora (CA)"');
  const ws = new CertWorkspace(config);
  const { pki } = config;
  const hadKey = ws.exists(FILES.caKey);
  const hadCert = ws.exists(FILES.caCert);

  if ((hadKey || hadCert) && !config.force) {
    // The CA is never replaced silently: everything issued so far depends on it.
    if (!hadKey || !hadCert) {
      const [present, missing] = hadKey ? [FILES.caKey, FILES.caCert] : [FILES.caCert, FILES.caKey];
      throw new StepError(`${display(ws.path(present))} exists but ${missing} is missing; restore it, or run with FORCE=1 to make a new CA`);
    }
    const ca = readCert(ws.path(FILES.caCert));
    if (!ca) throw new StepError(`${display(ws.path(FILES.caCert))} is not a readable certificate; FORCE=1 makes a new CA`);
    if (!keyMatches(ca, ws.path(FILES.caKey))) {
      throw new StepError(`${FILES.caKey} does not match ${FILES.caCert} in ${display(ws.dir)}; FORCE=1 makes a new CA`);
    }
    log.reused(display(ws.path(FILES.caCert)), expiry(ca));
    log.reused(display(ws.path(FILES.caKey)));
    if (!isCurrentlyValid(ca)) log.warn(`the CA is not valid now (until ${ca.validTo}); FORCE=1 makes a new one`);
    else if (daysLeft(ca) < 30) log.warn(`the CA expires in ${daysLeft(ca)} days; FORCE=1 makes a new one`);
    return;
  }

  ws.begin();
  await ws.run(genKey(pki.keyType, FILES.caKey), `step 1: the CA's private key (${pki.keyType === 'rsa' ? 'RSA 2048' : 'EC P-256'})`);
  await ws.run(
    caCert({ key: FILES.caKey, out: FILES.caCert, days: pki.certDays, subject: subjectLine(pki.subject, pki.caCn) }),
    'step 2: self-signed, marked as a CA that may sign certificates',
  );
  if (config.dryRun) {
    log.dryRun();
    return;
  }
  ws.commit([FILES.caKey, FILES.caCert]);
  const ca = readCert(ws.path(FILES.caCert));
  log.created(display(ws.path(FILES.caCert)), ca ? expiry(ca) : undefined);
  log.created(display(ws.path(FILES.caKey)), '(private, mode 0600)');
  if (hadCert) ws.reportStale([FILES.caCert]);
});
