#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Not in the tutorial: rotating both certificates while the gateway keeps answering (make rotate).
// Backend: a new server certificate from the same CA; the running backend reloads its stores, and
// Apigee's truststore (the CA) accepts it unchanged. Apigee: a new client certificate goes into a
// new keystore version under the same alias, the reference is pointed at it, and only when the
// backend's /whoami through the proxy shows the new serial is the old keystore deleted. The new
// client files are made in certs/next/ and replace the tutorial's files only after that check.
// Meanwhile a bounded load calls the proxy; the step reports calls made and failed (target: 0).
// Longer than the other steps on purpose: the whole rotation (two certificates, an upload, the
// reference switch, the checks between them) reads top to bottom here, not spread over helpers.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { moveFiles } from '../core/files.ts';
import { displayPath, log } from '../core/log.ts';
import { StepError } from '../core/errors.ts';
import { repoRoot, urlHost } from '../core/config.ts';
import { onInterrupt } from './lib/interrupt.ts';
import { runStep } from './lib/main.ts';
import { $, printCommand } from './lib/shell.ts';
import { followUp, givenSettings } from './lib/follow-up.ts';
import { recordScenario } from './lib/scenarios.ts';
import { requireConfiguredDeployment } from './lib/apigee/deployed.ts';
import { BASE_PATH, curlAnswer, describeAnswer, isGreeting, startLoad, whoamiSerial } from './lib/apigee/gateway.ts';
import { untilRuntime, type Shell } from './lib/apigee/propagation.ts';
import { pointGatewayAt } from './lib/apigee/repoint.ts';
import { aliasPlan, enc } from './lib/apigee/resources.ts';
import { CLIENT_FILES, NEXT_DIR, loadSettings, serialOf, servedSerial, usableNext } from './lib/apigee/rotation.ts';
import { apigeeClient, explainTarget, gatewayUrl, resolveGateway } from './lib/apigee/target.ts';
import { clientKeyUpload } from './lib/apigee/upload.ts';
import { keyAlgorithm, leafKeyUsage, subjectLine } from './lib/pki/values.ts';
import { backendCheckAtFirst503 } from './lib/tcp.ts';

const SCENARIO = 'rotation: gateway calls while rotating';

await runStep(async (config) => {
  const { pki, apigee: a } = config;
  const certs = $({ cwd: pki.certsDir });
  log.banner('Rotate the certificates while the gateway keeps answering (make rotate; the tutorial has no such step)');
  explainTarget(config);
  const client = apigeeClient(config);
  const gateway = await resolveGateway(config, client);
  // As in step 47: --max-time (APIGEE_GATEWAY_TIMEOUT); the stand-in's certificate comes from the kit's CA; --resolve for a host other than localhost.
  const cacert = gateway.caFile ? ['--cacert', displayPath(gateway.caFile)] : [];
  const resolve = gateway.resolve ? ['--resolve', gateway.resolve] : [];
  const callProxy = (path: string) => async (sh: Shell) => {
    const url = gatewayUrl(gateway, path);
    return curlAnswer(await sh`curl -sS -v --max-time ${gateway.timeoutMs / 1000} ${[...cacert, ...resolve, url]}`, gateway, url);
  };
  const waits: string[] = [];
  // Ctrl-C or SIGTERM part way: one line on what is kept; a re-run picks up from there (the files in
  // certs/ stay a matching set: the move in 6. is never cut in half).
  onInterrupt(() => `rotation interrupted; what it made is kept (certs/${NEXT_DIR}/, new keystore versions) and the gateway keeps answering; re-run ${followUp('make rotate')} to finish`);

  // Before anything is rotated: without the configured deployment the calls below would prove the
  // new client certificate through another proxy or target server (or wait the propagation timeout
  // for a proxy never deployed).
  await requireConfiguredDeployment(client, config, [SCENARIO]);
  // Locally a 503 is usually a stopped backend (make all stops the one it started).
  const backendStopped = backendCheckAtFirst503(config);
  const callWorking = async (sh: Shell) => {
    const answer = await callProxy(BASE_PATH)(sh);
    const stopped = await backendStopped(answer.status);
    if (stopped) throw new StepError(`the proxy answers ${describeAnswer(answer)}: ${stopped} (${followUp('make rotate')} starts it for you)`);
    return answer;
  };
  const working = await untilRuntime(config, 'HTTP 200 with the greeting', callWorking, isGreeting, describeAnswer);
  if (!working.ok) throw new StepError(`the proxy answers ${describeAnswer(working.answer)}, not 200: rotate a working setup (${followUp('make all')}, or the Apigee steps, first)`);
  const settings = loadSettings(config);
  log.explain(`load while rotating: ${settings.connections} connections each calling ${gatewayUrl(gateway, BASE_PATH)} every ${settings.pauseMs} ms (Node's undici, not a shell command)`);
  const load = config.dryRun ? undefined : startLoad(gateway, BASE_PATH, settings);
  try {
    // 1. Backend: the tutorial's server-certificate steps again; the backend reloads the new stores.
    log.info('');
    log.info('▸ backend: a new server certificate from the same CA');
    if (a.target === 'local') {
      const before = serialOf(join(pki.certsDir, 'server-cert.pem'));
      // Printed with the settings this step got from its environment (CERTS_DIR…), as a reader's shell needs them.
      process.stdout.write((await $({ cwd: repoRoot })`${givenSettings()} FORCE=1 ./scripts/11-server-cert.ts`).stdout);
      process.stdout.write((await $({ cwd: repoRoot })`${givenSettings()} ./scripts/13-server-stores.ts`).stdout);
      const serial = serialOf(join(pki.certsDir, 'server-cert.pem'));
      const backendUrl = `https://${urlHost(pki.serverHost)}:${config.backend.port}/`;
      // --max-time: the local backend answers in milliseconds; a hung one must not hang the step.
      const served = await untilRuntime(config, `the backend presenting serial ${serial}`,
        async (sh) => servedSerial((await sh({ cwd: pki.certsDir })`curl -sS --max-time 10 --cacert ca-cert.pem --cert apigee-client-cert.pem --key apigee-client-key.pem -o /dev/null -w ${'%{certs}'} ${backendUrl}`).stdout),
        (s) => config.dryRun || s === serial, (s) => `serial ${s ?? 'none'}${s === before ? ' (the old certificate)' : ''}`);
      if (!served.ok) throw new StepError(`the backend still presents its old certificate; is it running with RELOAD_STORES on?`);
      waits.push(`backend reload ${(served.waitedMs / 1000).toFixed(1)} s`);
    } else {
      log.info(`the backend runs at ${pki.serverHost}: re-issue with ${followUp('FORCE=1 ./scripts/11-server-cert.ts')} && ${followUp('./scripts/13-server-stores.ts')}, copy the stores to it (${followUp('make vm')}), and it reloads them; Apigee needs no change (its truststore holds the CA)`);
    }

    // 2. A new Apigee client certificate from the CA, in certs/next/ (or the one an interrupted rotation made).
    log.info('');
    log.info('▸ Apigee: a new client certificate in a new keystore version, then the reference');
    const nextDir = join(pki.certsDir, NEXT_DIR);
    const nextCert = join(nextDir, 'apigee-client-cert.pem');
    if (usableNext(pki.certsDir)) log.reused(`${NEXT_DIR}/apigee-client-cert.pem`, '(issued by an interrupted rotation)');
    else {
      if (existsSync(nextDir)) await certs`rm -r ${NEXT_DIR}`;
      await certs`mkdir -m 700 ${NEXT_DIR}`;
      // Step 12's commands, into next/.
      const key = keyAlgorithm(pki.keyType);
      await certs`openssl genpkey -algorithm ${key.algorithm} -pkeyopt ${key.option} -quiet -out next/apigee-client-key.pem`;
      await certs`openssl req -new -key next/apigee-client-key.pem -out next/client.csr -utf8 -subj ${subjectLine(pki.subject, pki.clientCn)} -addext basicConstraints=critical,CA:FALSE -addext keyUsage=${leafKeyUsage(pki.keyType)} -addext extendedKeyUsage=clientAuth`;
      await certs`openssl x509 -req -in next/client.csr -CA ca-cert.pem -CAkey ca-key.pem -out next/apigee-client-cert.pem -days ${pki.certDays} -sha256 -copy_extensions copyall`;
      const legacy = pki.legacyPkcs12 ? ['-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1'] : [];
      await certs`openssl pkcs12 -export -in next/apigee-client-cert.pem -inkey next/apigee-client-key.pem -out next/client-apigee-keystore.p12 -name ${a.keyAlias} -password env:STORE_PASSWORD ${legacy}`;
    }
    const serial = serialOf(nextCert);

    // 3. Into a new keystore version under the same alias (unless a previous run got that far).
    const plan = await aliasPlan(client, config, 'keystore', a.keyAlias, nextCert);
    // DRY_RUN reads nothing from Apigee: it shows the rotation from version 1 to version 2.
    const { store } = plan;
    const keystore = config.dryRun ? store.next : plan.keystore;
    if (!plan.unchanged) {
      if (plan.create || config.dryRun) await client.call({ method: 'POST', path: `${client.envPath}/keystores`, json: { name: keystore }, apigeecli: ['keystores', 'create', '-n', keystore] });
      // (Skipped when an interrupted run already put this certificate into that version.)
      if (plan.upload || config.dryRun) {
        const upload = await clientKeyUpload(config, { certFile: nextCert, keyFile: join(nextDir, 'apigee-client-key.pem'), p12File: join(nextDir, 'client-apigee-keystore.p12') });
        try {
          if (upload.legacyCopy) await certs`openssl pkcs12 -export -in next/apigee-client-cert.pem -inkey next/apigee-client-key.pem -name ${a.keyAlias} -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1 -out ${upload.p12File} -password env:STORE_PASSWORD`;
          await client.call({
            method: 'POST', path: `${client.envPath}/keystores/${enc(keystore)}/aliases`, query: { alias: a.keyAlias, format: upload.format },
            form: upload.format === 'pkcs12'
              ? [{ name: 'file', file: upload.p12File }, { name: 'password', value: pki.storePassword, variable: 'STORE_PASSWORD' }]
              : [{ name: 'certFile', file: nextCert }, { name: 'keyFile', file: join(nextDir, 'apigee-client-key.pem') }],
            apigeecli: upload.format === 'pkcs12'
              ? ['keyaliases', 'create', '-k', keystore, '-s', a.keyAlias, '-f', 'pkcs12', '--pfx-filepath', displayPath(upload.p12File), '-p', '$STORE_PASSWORD']
              : ['keyaliases', 'create', '-k', keystore, '-s', a.keyAlias, '-f', 'keycertfile', '--cert-filepath', displayPath(nextCert), '--key-filepath', displayPath(join(nextDir, 'apigee-client-key.pem'))],
          });
        } finally {
          await upload.cleanup();
        }
      }
      // 4. Point the reference at the new keystore: one configuration change for the runtime.
      //    (No reference yet, or APIGEE_USE_REFERENCES=0: pointGatewayAt says so or edits the target server.)
      const repoint = plan.replacing || config.dryRun;
      if (repoint && a.useReferences && (store.reference || config.dryRun)) {
        await client.call({
          method: 'PUT', path: `${client.envPath}/references/${enc(a.keystoreRef)}`, json: { name: a.keystoreRef, resourceType: 'KeyStore', refers: keystore },
          apigeecli: ['references', 'update', '-n', a.keystoreRef, '-s', 'KeyStore', '--refers', keystore],
        });
        log.created(`reference ${a.keystoreRef}`, `now → ${keystore}${store.reference ? ` (was ${store.reference.refers})` : ''}`);
      } else if (repoint) await pointGatewayAt(client, config, store, keystore);
    }

    // 5. Wait until the backend sees the new client certificate through the proxy.
    const seen = await untilRuntime(config, `/whoami showing serial ${serial}`, callProxy(`${BASE_PATH}/whoami`),
      (w) => config.dryRun || whoamiSerial(w) === serial, (w) => (whoamiSerial(w) ? `serial ${whoamiSerial(w)} (not yet the new one)` : describeAnswer(w)));
    if (!seen.ok) throw new StepError(`the gateway still presents the old client certificate after ${(seen.waitedMs / 1000).toFixed(1)} s; the old keystore ${store.current} is kept (rerun ${followUp('make rotate')} to finish)`);
    waits.push(`Apigee runtime on the new keystore ${(seen.waitedMs / 1000).toFixed(1)} s`);

    // 6. The new files become the tutorial's files; the backend's truststore pins the new client certificate.
    //    Moved by this process, not by `mv`: a Ctrl-C in the middle of mv would leave the new key
    //    beside the old certificate; moveFiles finishes the four renames before any signal acts.
    printCommand(`mv ${CLIENT_FILES.map((f) => `${NEXT_DIR}/${f}`).join(' ')} .`, pki.certsDir, 'Node does this move as four renames that a Ctrl-C cannot split; by hand:');
    if (!config.dryRun) moveFiles(nextDir, pki.certsDir, CLIENT_FILES);
    await certs`rmdir ${NEXT_DIR}`;
    process.stdout.write((await $({ cwd: repoRoot })`${givenSettings()} ./scripts/13-server-stores.ts`).stdout);

    // 7. Only now: delete the keystore versions nothing uses any more.
    for (const old of store.versions.filter((v) => v !== keystore)) {
      await client.call({ method: 'DELETE', path: `${client.envPath}/keystores/${enc(old)}`, allowNotFound: true, apigeecli: ['keystores', 'delete', '-n', old] });
      if (!config.dryRun) log.created(`deleted keystore ${old}`, '(the gateway no longer uses it)');
    }
  } finally {
    const report = await load?.stop();
    if (report) {
      const ok = report.made > 0 && report.failed === 0;
      log.info('');
      (ok ? log.created : log.warn)(`gateway calls while rotating: ${report.made} made, ${report.failed} failed in ${(report.durationMs / 1000).toFixed(1)} s${waits.length ? ` (waits: ${waits.join(', ')})` : ''}`);
      for (const f of report.failures) log.warn(`  failed call at ${f}`);
      recordScenario(config.runDir, { scenario: SCENARIO, expected: '0 failed', got: `${report.made} calls, ${report.failed} failed`, ok });
      if (!ok) process.exitCode = 1;
    }
  }
  if (config.dryRun) log.dryRun();
});
