#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial: "regla de firewall sobre la etiqueta de red ... para permitir el tráfico por el puerto
// 8443". The rule applies only to VMs carrying the network tag and only to GCP_SOURCE_RANGES. A
// rule kept from an earlier run is compared with these settings (lib/gcp/firewall.ts).
import { runStep } from './lib/main.ts';
import { $ } from './lib/shell.ts';
import { log } from '../core/log.ts';
import { projectOf } from './lib/gcp/project.ts';
import { createOrReuse, onCloudInterrupt } from './lib/gcp/idempotent.ts';
import { matchExistingRule, RULE_DESCRIPTION } from './lib/gcp/firewall.ts';

await runStep(async (config) => {
  const gcp = config.gcp;
  const port = config.backend.port;
  log.banner(`Firewall rule ${gcp.firewallRule}: tcp:${port} to tag ${gcp.networkTag}`, 'Realizar la configuración de la infraestructura');
  onCloudInterrupt('32-gcp-firewall');
  const project = await projectOf(config);
  if (gcp.sourceRanges.includes('0.0.0.0/0')) {
    log.warn('GCP_SOURCE_RANGES=0.0.0.0/0 opens the backend port to the whole internet.');
    log.warn('mTLS still refuses callers without a client certificate, but anyone can reach the handshake.');
    log.warn('Restrict it to Apigee X\'s egress NAT addresses (docs/cloud.md), listed by:');
    log.warn('  curl -H "Authorization: Bearer $(CLOUDSDK_CORE_DISABLE_FILE_LOGGING=1 gcloud auth print-access-token)" \\');
    log.warn(`    https://apigee.googleapis.com/v1/organizations/${config.apigee.org}/instances/INSTANCE/natAddresses`);
    log.warn(`then set GCP_SOURCE_RANGES=IP1/32,IP2/32 in ${config.localEnv}.`);
  } else {
    log.explain(`Only ${gcp.sourceRanges.join(', ')} may connect.`);
  }
  const outcome = await createOrReuse($`gcloud compute firewall-rules create ${gcp.firewallRule} --project=${project} --network=${gcp.network} --direction=INGRESS \\
      --allow=tcp:${port} --target-tags=${gcp.networkTag} --source-ranges=${gcp.sourceRanges.join(',')} \\
      --description=${RULE_DESCRIPTION}`, `firewall rule ${gcp.firewallRule}`, config.dryRun, '(compared with these settings next)');
  if (outcome === 'exists') await matchExistingRule(config, project);
  if (config.dryRun) log.dryRun();
});
