#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial steps 1–2, "Certificado Entidad Certificadora (CA)": the certificate authority that
// signs the backend's and Apigee's certificates. Where the kit differs on purpose:
// - `-addext basicConstraints=critical,CA:TRUE` and `keyUsage=critical,keyCertSign,cRLSign` make
//   the certificate a CA that strict verifiers (Java, Apigee) accept as an issuer;
// - no `-nodes`: it only matters when `req` makes the key itself, and here genpkey made it;
// - `-pkeyopt` states the key size (RSA 2048, the default) or picks EC P-256 (KEY_TYPE=ec);
//   `-quiet` drops genpkey's progress dots;
// - `-utf8`: a name such as Bogotá is read as UTF-8 (without it openssl takes each byte for a
//   character and writes BogotÃ¡).
// An existing CA is kept, as mkcert keeps its own: everything issued depends on it. FORCE=1 keeps it
// too (the later steps re-issue from it); only NEW_CA=1 replaces it, after saying which CA goes.
import { $ } from './lib/shell.ts';
import { runStep } from './lib/main.ts';
import { existsSync } from 'node:fs';
import { displayPath, log } from '../core/log.ts';
import { FILES } from './lib/pki/names.ts';
import { keyAlgorithm, subjectLine } from './lib/pki/values.ts';
import { keepCa, warnCaReplaced } from './lib/pki/reuse.ts';
import { CertWorkspace, requireTools } from './lib/pki/workspace.ts';

await runStep(async (config) => {
  requireTools();
  log.banner('Certificate authority: ca-key.pem, ca-cert.pem', 'steps 1–2, "Certificado Entidad Certificadora (CA)"');
  const { pki } = config;
  const ws = new CertWorkspace(config);
  const hadCa = ws.exists(FILES.caCert);
  if (keepCa(ws, config)) return;
  if (hadCa) warnCaReplaced(ws);

  // The commands below run inside CERTS_DIR (`# in certs/`), which a fresh clone does not have.
  if (!existsSync(ws.dir)) await $`mkdir -p ${displayPath(ws.dir)}`;
  $.cwd = ws.begin();
  const key = keyAlgorithm(pki.keyType);
  const subject = subjectLine(pki.subject, pki.caCn);

  log.comment(`1. the CA's private key (${key.label})`);
  await $`openssl genpkey -algorithm ${key.algorithm} -pkeyopt ${key.option} -quiet -out ca-key.pem`;

  log.comment('2. the CA certificate: self-signed, marked as a CA that may sign certificates');
  await $`openssl req -x509 -new -key ca-key.pem -utf8 -sha256 -days ${pki.certDays} -out ca-cert.pem -subj ${subject} -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign`;

  ws.finish([FILES.caKey, FILES.caCert], {}, hadCa ? [FILES.caCert] : []);
});
