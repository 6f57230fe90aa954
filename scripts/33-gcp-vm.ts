#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial: "se crea una VM con una imagen de Ubuntu" and then, by hand over SSH, apt update, a
// runtime install and running the service. Here the VM gets the network tag (so the firewall rule
// applies), the reserved address, and infra/vm/startup.sh, which installs Node, a service user and
// a hardened systemd unit on first boot. The metadata holds no secrets: the keystore, truststore and
// their passwords arrive over SSH in the next step.
import { runStep } from './lib/main.ts';
import { log } from '../core/log.ts';
import { instance, STARTUP_SCRIPT } from './lib/gcp/commands.ts';
import { createOrReuse } from './lib/gcp/idempotent.ts';

await runStep(async (config) => {
  const gcp = config.gcp;
  log.banner(`VM ${gcp.vmName} (${gcp.machineType}, ${gcp.imageFamily}, ${gcp.zone})`, 'Realizar la configuración de la infraestructura');
  log.explain(`${STARTUP_SCRIPT} runs as root on every boot: Node ${gcp.vmNodeVersion} from nodejs.org (checksum`);
  log.explain('verified), user mtls-backend, /etc/systemd/system/mtls-backend.service. No keys in the metadata.');
  await createOrReuse(instance.create(config), `VM ${gcp.vmName}`, config.dryRun, 'startup script installs the runtime');
  if (config.dryRun) log.dryRun();
});
