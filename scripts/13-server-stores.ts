#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial steps 7–8, "almacén de claves / almacén de confianza del servidor": the backend's
// keystore (its key and certificate, alias server) and truststore (the CA and Apigee's client
// certificate, aliases ca and client). Where the kit differs on purpose:
// - it runs after step 12: the tutorial builds the truststore before the client certificate exists;
// - the CA is imported first (it is what anchors trust), with -importcert -noprompt for both;
// - passwords come from the environment (`env:STORE_PASSWORD`, `-storepass:env STORE_PASSWORD`);
// - without Java (or TRUSTSTORE_WRITER=node) Node writes the truststore itself with lib/pkcs12.ts:
//   the same two trustedCertEntry entries keytool writes;
// - PKCS12_LEGACY=1 encrypts with 3DES and a SHA-1 MAC (keytool's own legacy switch picks RC2-40,
//   which OpenSSL 3 cannot read without its legacy provider).
import { readFileSync, writeFileSync } from 'node:fs';
import { $ } from './lib/shell.ts';
import { runStep } from './lib/main.ts';
import { log } from '../core/log.ts';
import { onPath, requireTool } from '../core/tools.ts';
import { FILES } from './lib/pki/names.ts';
import { fastJvmEnv } from './lib/pki/values.ts';
import { serverStoreInputs, storeReason } from './lib/pki/reuse.ts';
import { CertWorkspace, requireTools } from './lib/pki/workspace.ts';
import { buildTrustStore } from '../lib/pkcs12.ts';

await runStep(async (config) => {
  requireTools();
  log.banner('Server keystore and truststore: server-keystore.p12, server-truststore.p12', 'steps 7–8, "almacén de claves / almacén de confianza del servidor"');
  const { pki } = config;
  const ws = new CertWorkspace(config);
  serverStoreInputs(ws, config);
  const keystore = storeReason(ws, config, FILES.serverKeystore) !== undefined;
  const truststore = storeReason(ws, config, FILES.serverTruststore) !== undefined;
  if (!keystore && !truststore) return;
  const writer = pki.truststoreWriter === 'auto' ? (onPath('keytool') ? 'keytool' : 'node') : pki.truststoreWriter;
  if (truststore && writer === 'keytool') requireTool('keytool', 'apt-get install openjdk-17-jre-headless (or TRUSTSTORE_WRITER=node)');

  $.cwd = ws.begin([FILES.serverCert, FILES.serverKey, FILES.caCert, FILES.clientCert]);
  const legacy = pki.legacyPkcs12 ? ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1'] : [];
  const legacyJava = pki.legacyPkcs12 ? ['-J-Dkeystore.pkcs12.certProtectionAlgorithm=PBEWithSHA1AndDESede', '-J-Dkeystore.pkcs12.macAlgorithm=HmacPBESHA1'] : [];
  const keytool$ = $({ env: { ...$.env, ...fastJvmEnv() } });
  // The two stores do not depend on each other: openssl writes one while the other is made.
  const makeKeystore = async () => {
    log.comment('7. the server keystore: key and certificate under the alias server');
    await $`openssl pkcs12 -export -in server-cert.pem -inkey server-key.pem -out server-keystore.p12 -name server -password env:STORE_PASSWORD ${legacy}`;
  };
  const makeTruststore = async () => {
    if (writer === 'keytool') {
      log.comment('8. the truststore: trust the CA, then pin the Apigee client certificate');
      // keytool adds to a store that exists ("alias <ca> already exists"): a reader rebuilding it in
      // CERTS_DIR removes the old one first. Here it runs in the staging folder, where there is none.
      if (ws.exists(FILES.serverTruststore)) await $`rm -f server-truststore.p12`;
      await keytool$`keytool -importcert -noprompt -alias ca -file ca-cert.pem -keystore server-truststore.p12 -storetype PKCS12 -storepass:env STORE_PASSWORD ${legacyJava}`;
      await keytool$`keytool -importcert -noprompt -alias client -file apigee-client-cert.pem -keystore server-truststore.p12 -storetype PKCS12 -storepass:env STORE_PASSWORD ${legacyJava}`;
      return;
    }
    log.comment('8. the truststore: no keytool, so Node writes server-truststore.p12 (lib/pkcs12.ts) with the same two trustedCertEntry entries: ca = ca-cert.pem, client = apigee-client-cert.pem');
    if (config.dryRun) return;
    const trusted = [{ alias: 'ca', pem: readFileSync(ws.path(FILES.caCert), 'utf8') }, { alias: 'client', pem: readFileSync(ws.path(FILES.clientCert), 'utf8') }];
    writeFileSync(ws.staged(FILES.serverTruststore), buildTrustStore(trusted, pki.storePassword, { legacy: pki.legacyPkcs12 }));
  };
  await Promise.all([keystore && makeKeystore(), truststore && makeTruststore()]);

  const note = pki.legacyPkcs12 ? ', 3DES/SHA-1 (PKCS12_LEGACY=1)' : '';
  ws.finish([...(keystore ? [FILES.serverKeystore] : []), ...(truststore ? [FILES.serverTruststore] : [])], {
    [FILES.serverKeystore]: `alias server${note}`,
    [FILES.serverTruststore]: `aliases ca, client (trustedCertEntry, written by ${writer})${note}`,
  });
});
