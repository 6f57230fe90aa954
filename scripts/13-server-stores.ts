#!/usr/bin/env -S node --import tsx
// Tutorial steps 7–8: the backend's keystore (its key and certificate, alias server) and its
// truststore (the CA and the Apigee client certificate, aliases ca and client). The tutorial builds
// the truststore before the client certificate exists; here it comes after step 12. The truststore
// must list as two trustedCertEntry entries in Java: keytool writes that, and so does
// lib/pkcs12.ts's buildTrustStore when Java is not installed (TRUSTSTORE_WRITER).
import { readFileSync, writeFileSync } from 'node:fs';
import { runStep } from './lib/main.ts';
import { log } from '../core/log.ts';
import { StepError, MissingToolError } from '../core/errors.ts';
import { ALIASES, FILES } from './lib/pki/names.ts';
import { fastJvmEnv, keytoolImport, pkcs12Export } from './lib/pki/openssl.ts';
import { keyMatches, readCert } from './lib/pki/inspect.ts';
import { storeRebuildReason } from './lib/pki/stores.ts';
import { CertWorkspace, display, requireNode, requireOpenssl } from './lib/pki/workspace.ts';
import { onPath } from './lib/run.ts';
import { buildTrustStore } from '../lib/pkcs12.ts';

await runStep(async (config) => {
  requireNode();
  requireOpenssl();
  log.banner('Server keystore and truststore: server-keystore.p12, server-truststore.p12', 'steps 7–8, "almacén de claves / almacén de confianza del servidor"');
  const ws = new CertWorkspace(config);
  const { pki } = config;
  const legacyNote = pki.legacyPkcs12 ? ', 3DES/SHA-1 (PKCS12_LEGACY=1)' : '';
  const ca = readCert(ws.path(FILES.caCert));
  const server = readCert(ws.path(FILES.serverCert));
  const client = readCert(ws.path(FILES.clientCert));
  if (!config.dryRun) {
    for (const [name, cert] of [[FILES.caCert, ca], [FILES.serverCert, server], [FILES.clientCert, client]] as const) {
      if (!cert) throw new StepError(`${display(ws.path(name))} is missing or unreadable; run the earlier certificate steps first (make certs)`);
    }
    if (server && !keyMatches(server, ws.path(FILES.serverKey))) {
      throw new StepError(`${FILES.serverKey} does not match ${FILES.serverCert}; re-run scripts/11-server-cert.ts`);
    }
  }

  const keystoreReason = config.force ? 'FORCE=1' : !server ? 'server-cert.pem is not made yet'
    : storeRebuildReason(ws.path(FILES.serverKeystore), pki.storePassword, 'keystore', [{ alias: ALIASES.server, cert: server }], pki.legacyPkcs12);
  const truststoreReason = config.force ? 'FORCE=1' : !ca || !client ? 'its certificates are not made yet'
    : storeRebuildReason(ws.path(FILES.serverTruststore), pki.storePassword, 'truststore', [{ alias: ALIASES.ca, cert: ca }, { alias: ALIASES.client, cert: client }], pki.legacyPkcs12);
  for (const [name, reason, detail] of [
    [FILES.serverKeystore, keystoreReason, `alias ${ALIASES.server}`],
    [FILES.serverTruststore, truststoreReason, `aliases ${ALIASES.ca}, ${ALIASES.client}`],
  ] as const) {
    if (!reason) log.reused(display(ws.path(name)), detail);
    else if (ws.exists(name)) log.info(`rebuilding ${name}: ${reason}`);
  }
  if (!keystoreReason && !truststoreReason) return;

  const writer = pki.truststoreWriter === 'auto' ? (onPath('keytool') ? 'keytool' : 'node') : pki.truststoreWriter;
  if (truststoreReason && writer === 'keytool' && !onPath('keytool')) {
    throw new MissingToolError('keytool', 'apt-get install openjdk-17-jre-headless (or TRUSTSTORE_WRITER=node)');
  }

  ws.begin(keystoreReason ? [FILES.serverCert, FILES.serverKey, FILES.caCert, FILES.clientCert] : [FILES.caCert, FILES.clientCert]);
  // The two stores do not depend on each other: openssl writes the keystore while the truststore is
  // being made (node's writer is CPU work in this process; keytool is its own process).
  const makeKeystore = async () => {
    if (!keystoreReason) return;
    await ws.run(
      pkcs12Export({ cert: FILES.serverCert, key: FILES.serverKey, out: FILES.serverKeystore, alias: ALIASES.server, legacy: pki.legacyPkcs12 }),
      'step 7: the server keystore; password from $STORE_PASSWORD',
    );
  };
  const makeTruststore = async () => {
    if (!truststoreReason) return;
    if (writer === 'keytool') {
      // The CA first (it is what actually anchors trust), then the pinned client certificate.
      await ws.run(keytoolImport({ file: FILES.caCert, store: FILES.serverTruststore, alias: ALIASES.ca, legacy: pki.legacyPkcs12 }), 'step 8: trust the CA', fastJvmEnv());
      await ws.run(keytoolImport({ file: FILES.clientCert, store: FILES.serverTruststore, alias: ALIASES.client, legacy: pki.legacyPkcs12 }), 'step 8: trust the Apigee client certificate', fastJvmEnv());
      return;
    }
    log.command(
      `buildTrustStore([{ alias: '${ALIASES.ca}', pem: ${FILES.caCert} }, { alias: '${ALIASES.client}', pem: ${FILES.clientCert} }])  > ${FILES.serverTruststore}`,
      'step 8 without Java: lib/pkcs12.ts writes the same trustedCertEntry bags keytool writes',
    );
    if (config.dryRun) return;
    const der = buildTrustStore(
      [{ alias: ALIASES.ca, pem: readFileSync(ws.path(FILES.caCert), 'utf8') }, { alias: ALIASES.client, pem: readFileSync(ws.path(FILES.clientCert), 'utf8') }],
      pki.storePassword,
      { legacy: pki.legacyPkcs12 },
    );
    writeFileSync(ws.staged(FILES.serverTruststore), der);
  };
  await Promise.all([makeKeystore(), makeTruststore()]);
  const outputs = [...(keystoreReason ? [FILES.serverKeystore] : []), ...(truststoreReason ? [FILES.serverTruststore] : [])];
  if (config.dryRun) {
    log.dryRun();
    return;
  }
  ws.commit(outputs);
  if (keystoreReason) log.created(display(ws.path(FILES.serverKeystore)), `alias ${ALIASES.server}${legacyNote}, mode 0600`);
  if (truststoreReason) log.created(display(ws.path(FILES.serverTruststore)), `aliases ${ALIASES.ca}, ${ALIASES.client} (trustedCertEntry, written by ${writer})${legacyNote}`);
});
