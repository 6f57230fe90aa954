#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial steps 9–12, "Certificados Apigee (cliente)": Apigee's client certificate (CN
// apigee-client) and its keystore (alias client), which is what gets uploaded to Apigee. Where the
// kit differs on purpose:
// - the CSR asks for the usages of a TLS client (`-addext … extendedKeyUsage=clientAuth`) and the
//   CA copies them (`-copy_extensions copyall`): the certificate may only authenticate a client;
// - no `-CAcreateserial` (OpenSSL 3 picks a random serial) and no password on the command line:
//   `-password env:STORE_PASSWORD` reads it from the environment (ps would show `pass:…`);
// - `-utf8`, as in step 2, so a CLIENT_CN or subject with accents stays as written;
// - PKCS12_LEGACY=1 adds `-keypbe/-certpbe PBE-SHA1-3DES -macalg sha1` for older PKCS#12 readers.
import { $ } from './lib/shell.ts';
import { runStep } from './lib/main.ts';
import { log } from '../core/log.ts';
import { FILES } from './lib/pki/names.ts';
import { keyAlgorithm, leafKeyUsage, subjectLine } from './lib/pki/values.ts';
import { clientCertReason, requireCa, storeReason } from './lib/pki/reuse.ts';
import { CertWorkspace, requireTools } from './lib/pki/workspace.ts';

await runStep(async (config) => {
  requireTools();
  log.banner('Apigee client certificate and keystore: apigee-client-key.pem, client.csr, apigee-client-cert.pem, client-apigee-keystore.p12', 'steps 9–12, "Certificados Apigee (cliente)"');
  const { pki } = config;
  const ws = new CertWorkspace(config);
  const ca = requireCa(ws, config);
  const hadCert = ws.exists(FILES.clientCert);
  const reissue = clientCertReason(ws, config, ca) !== undefined;
  if (!storeReason(ws, config, FILES.clientKeystore, reissue)) return;

  $.cwd = ws.begin(reissue ? [FILES.caCert, FILES.caKey] : [FILES.clientCert, FILES.clientKey]);
  const key = keyAlgorithm(pki.keyType);
  const legacy = pki.legacyPkcs12 ? ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1'] : [];
  if (reissue) {
    log.comment(`9. the client's private key (${key.label})`);
    await $`openssl genpkey -algorithm ${key.algorithm} -pkeyopt ${key.option} -quiet -out apigee-client-key.pem`;

    log.comment('10. the signing request, asking for the usages of a TLS client only');
    await $`openssl req -new -key apigee-client-key.pem -out client.csr -utf8 -subj ${subjectLine(pki.subject, pki.clientCn)} -addext basicConstraints=critical,CA:FALSE -addext keyUsage=${leafKeyUsage(pki.keyType)} -addext extendedKeyUsage=clientAuth`;

    log.comment('11. the CA signs it, keeping the usages the request asked for');
    await $`openssl x509 -req -in client.csr -CA ca-cert.pem -CAkey ca-key.pem -out apigee-client-cert.pem -days ${pki.certDays} -sha256 -copy_extensions copyall`;
  }
  log.comment('12. the keystore Apigee receives: key and certificate under the alias client');
  await $`openssl pkcs12 -export -in apigee-client-cert.pem -inkey apigee-client-key.pem -out client-apigee-keystore.p12 -name client -password env:STORE_PASSWORD ${legacy}`;

  const outputs = reissue ? [FILES.clientKey, FILES.clientCsr, FILES.clientCert, FILES.clientKeystore] : [FILES.clientKeystore];
  const keystore = `alias client${pki.legacyPkcs12 ? ', 3DES/SHA-1 (PKCS12_LEGACY=1)' : ''}`;
  ws.finish(outputs, { [FILES.clientKeystore]: keystore }, hadCert && reissue ? [FILES.clientCert] : []);
});
