#!/usr/bin/env -S sh -c 'exec "${0%/*}/lib/node-tsx" "$0" "$@"'
// Tutorial: "se crea una VM con una imagen de Ubuntu" and then, by hand over SSH, apt update, a
// runtime install and running the service. Here the VM gets the network tag (so the firewall rule
// applies), the reserved address, and infra/vm/startup.sh, which installs Node, a service user and
// a hardened systemd unit on first boot. The metadata holds no secrets: the keystore, truststore and
// their password arrive over SSH in the next step.
import { runStep } from './lib/main.ts';
import { $ } from './lib/shell.ts';
import { log } from '../core/log.ts';
import { repoRoot } from '../core/config.ts';
import { vmMetadata } from './lib/gcp/values.ts';
import { matchExistingVm } from './lib/gcp/vm.ts';
import { projectOf } from './lib/gcp/project.ts';
import { createOrReuse, onCloudInterrupt } from './lib/gcp/idempotent.ts';

await runStep(async (config) => {
  const gcp = config.gcp;
  $.cwd = repoRoot; // --metadata-from-file names infra/vm/startup.sh
  log.banner(`VM ${gcp.vmName} (${gcp.machineType}, ${gcp.imageFamily}, ${gcp.zone})`, 'Realizar la configuración de la infraestructura');
  onCloudInterrupt('33-gcp-vm');
  const project = await projectOf(config);
  log.explain(`infra/vm/startup.sh runs as root on every boot: Node ${gcp.vmNodeVersion} from nodejs.org (checksum`);
  log.explain('verified), user mtls-backend, /etc/systemd/system/mtls-backend.service. No keys in the metadata.');
  // --address names the reserved address: gcloud looks up its IP in the VM's region.
  const metadata = vmMetadata(config);
  const outcome = await createOrReuse($`gcloud compute instances create ${gcp.vmName} --zone=${gcp.zone} --project=${project} \\
      --machine-type=${gcp.machineType} --image-family=${gcp.imageFamily} --image-project=${gcp.imageProject} \\
      --network=${gcp.network} --tags=${gcp.networkTag} --address=${gcp.addressName} --shielded-secure-boot \\
      --metadata-from-file=startup-script=infra/vm/startup.sh --metadata=${metadata}`, `VM ${gcp.vmName}`, config.dryRun,
    '(its settings compared next; machine type and image stay as created)');
  // Reused, its port and tag must still be this run's (lib/gcp/vm.ts).
  if (outcome === 'exists') await matchExistingVm(config, project, metadata);
  if (config.dryRun) log.dryRun();
});
