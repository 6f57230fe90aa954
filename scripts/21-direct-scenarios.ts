#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial "Realizar la configuración de la infraestructura…", the curl checks that close it (once
// the service listens on 8443), against the backend itself:
// (1) no CA: curl does not trust the server; (2) -k but no client certificate: the backend refuses
// the client; (3) client certificate, key and CA: 200 and the greeting. Runs the real curl in the
// certificate folder (so the tutorial's file names work) and exits non-zero when any outcome
// differs from the tutorial. Where the kit differs on purpose: `-sS` instead of `-v` (the verbose
// handshake log is long; the one-line error is what tells the cases apart), `-w ' HTTP %{http_code}'`
// to show the status, and `--tls-max` when asked to compare TLS 1.2 with 1.3.
//   scripts/21-direct-scenarios.ts [--tls-max 1.2]
import { urlHost } from '../core/config.ts';
import { $ } from './lib/shell.ts';
import { runStep } from './lib/main.ts';
import { log } from '../core/log.ts';
import { GREETING } from '../backend/routes.ts';
import { DirectScenarios, tlsMaxOption } from './lib/scenarios.ts';

await runStep(async (config, args) => {
  const tlsMax = tlsMaxOption(args['tls-max']);
  const host = config.pki.serverHost;
  const url = `https://${urlHost(host)}:${config.backend.port}/`;
  log.banner(`Direct mTLS checks against the backend at ${url}${tlsMax ? ` (TLS ≤ ${tlsMax})` : ''}`, '"Realizar la configuración de la infraestructura…", validación con curl');
  const scenarios = new DirectScenarios(config, tlsMax ? ` (TLS ≤ ${tlsMax})` : '');
  const tls = tlsMax ? ['--tls-max', tlsMax] : [];
  $.cwd = config.pki.certsDir;
  const curl = $({ nothrow: true });

  await scenarios.check('no CA', { codes: [60], tutorial: 'curl exits 60: "unable to get local issuer certificate", the server is not trusted' },
    () => curl`curl -sS ${url} ${tls}`);

  await scenarios.check('-k, no client certificate', { codes: [35, 52, 56], tutorial: 'the backend refuses the client: curl 56 "alert bad certificate" (35 or 52 depending on TLS version and server)' },
    () => curl`curl -sS -k ${url} ${tls}`);

  await scenarios.check('client certificate + key + CA', { codes: [0], body: GREETING, tutorial: `HTTP 200 and "${GREETING}"` },
    () => curl`curl -sS --cert apigee-client-cert.pem --key apigee-client-key.pem --cacert ca-cert.pem -w ' HTTP %{http_code}' ${url} ${tls}`);

  scenarios.finish();
}, { 'tls-max': { type: 'string' } });
