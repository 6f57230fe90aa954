// A VM that already exists (a rerun, or one kept from an earlier run) is compared with what this
// run would create: its startup script reads the port, health port, client-auth mode and Node
// version from the metadata at boot, and the firewall rule reaches it only through the network
// tag. Reused with old values, the backend would listen where nothing lets the gateway in, and
// nothing would say so until step 35 gave up. Changing them means a reboot of the VM, so the step
// does not do it on its own: it names what differs and the two ways to apply it.
import type { Config } from '../../../core/config.ts';
import { StepError } from '../../../core/errors.ts';
import { log } from '../../../core/log.ts';
import { $ } from '../shell.ts';
import { vmSettings } from './values.ts';
import { followUp } from '../follow-up.ts';

/** The fields of a Compute Engine instance this comparison reads (describe --format=json). */
interface DescribedVm {
  tags?: { items?: string[] };
  metadata?: { items?: Array<{ key?: string; value?: string }> };
}

/** Describes the existing VM; stops with one line when its settings or tag are not this run's. */
export async function matchExistingVm(config: Config, project: string, metadata: string): Promise<void> {
  const { vmName: name, zone, networkTag: tag } = config.gcp;
  const described = await $`gcloud compute instances describe ${name} --zone=${zone} --project=${project} --format=json`;
  const vm = JSON.parse(described.stdout) as DescribedVm;
  const items = new Map((vm.metadata?.items ?? []).map((i) => [i.key, i.value]));
  const changes = Object.entries(vmSettings(config))
    .filter(([key, value]) => items.get(key) !== value)
    .map(([key, value]) => `${key} ${items.get(key) ?? 'unset'} → ${value}`);
  const tagMissing = !(vm.tags?.items ?? []).includes(tag);
  if (tagMissing) changes.push(`network tag ${tag} missing`);
  if (changes.length === 0) {
    log.explain('Its metadata and network tag match these settings.');
    return;
  }
  const at = `--zone=${zone} --project=${project}`;
  const fix = [
    `gcloud compute instances add-metadata ${name} ${at} --metadata=${metadata}`,
    ...(tagMissing ? [`gcloud compute instances add-tags ${name} ${at} --tags=${tag}`] : []),
    `gcloud compute instances reset ${name} ${at}`,
  ].join(' && ');
  throw new StepError(`VM ${name} exists with other settings (${changes.join('; ')}); its startup script applies them at boot: run \`${fix}\`, then ${followUp('make vm')} again, or \`${followUp('make teardown')}\` and ${followUp('make vm')}`);
}
