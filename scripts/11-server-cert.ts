#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial steps 3–6, "Certificados Backend (Servidor)": the backend's certificate. Where the kit
// differs on purpose:
// - san.cnf is written from SERVER_HOST and EXTRA_SANS (an IP SAN for an address, a DNS SAN for a
//   name) and has the `[ req ]` section the tutorial's lacks: without `prompt = no` and
//   `distinguished_name`, step 5 stops with "No objects specified in config file" (and `utf8 = yes`
//   keeps accented names as written);
// - the certificate may only authenticate a server (extendedKeyUsage = serverAuth, CA:FALSE):
//   `-extensions server_ext` signs with san.cnf's [ server_ext ], not the CSR's [ req_ext ];
// - no `-CAcreateserial`: OpenSSL 3 picks a random serial without writing a ca-cert.srl file.
// An existing certificate is kept while it fits; when SERVER_HOST moved (e.g. to the VM's address)
// it is re-issued, because a client checking the name would refuse it.
import { $ } from './lib/shell.ts';
import { runStep } from './lib/main.ts';
import { log } from '../core/log.ts';
import { FILES } from './lib/pki/names.ts';
import { sanCnf } from './lib/pki/san-cnf.ts';
import { keyAlgorithm } from './lib/pki/values.ts';
import { requireCa, serverCertReason } from './lib/pki/reuse.ts';
import { CertWorkspace, requireTools } from './lib/pki/workspace.ts';

await runStep(async (config) => {
  requireTools();
  log.banner('Server certificate: san.cnf, server-key.pem, server.csr, server-cert.pem', 'steps 3–6, "Certificados Backend (Servidor)"');
  const { pki } = config;
  const ws = new CertWorkspace(config);
  const ca = requireCa(ws, config);
  const hadCert = ws.exists(FILES.serverCert);
  if (!serverCertReason(ws, config, ca)) return;

  $.cwd = ws.begin([FILES.caCert, FILES.caKey]);
  const key = keyAlgorithm(pki.keyType);
  const cnf = sanCnf(pki);

  log.comment(`3. san.cnf: subject CN=${pki.serverHost}, SANs ${[pki.serverHost, ...pki.extraSans].join(', ')}`);
  await $({ quote: (text: string) => text })`cat > san.cnf <<'EOF'
${cnf}EOF`;

  log.comment(`4. the server's private key (${key.label})`);
  await $`openssl genpkey -algorithm ${key.algorithm} -pkeyopt ${key.option} -quiet -out server-key.pem`;

  log.comment('5. the signing request: subject and SANs from san.cnf');
  await $`openssl req -new -key server-key.pem -out server.csr -config san.cnf`;

  log.comment("6. the CA signs it with san.cnf's [ server_ext ]: the SANs, serverAuth only");
  await $`openssl x509 -req -in server.csr -CA ca-cert.pem -CAkey ca-key.pem -out server-cert.pem -days ${pki.certDays} -sha256 -extfile san.cnf -extensions server_ext`;

  ws.finish([FILES.sanCnf, FILES.serverKey, FILES.serverCsr, FILES.serverCert], {}, hadCert ? [FILES.serverCert] : []);
});
