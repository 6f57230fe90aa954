// A firewall rule that already exists (a rerun, or a rule kept from an earlier run) is compared
// with what this run needs: reused as it is it could still allow the old port or ranges after
// BACKEND_PORT or GCP_SOURCE_RANGES changed, and the backend would be unreachable with no word
// said until step 35 times out. A rule this kit made (its description says so) is brought up to
// date with `gcloud compute firewall-rules update`; anyone else's is not touched.
import type { Config } from '../../../core/config.ts';
import { StepError } from '../../../core/errors.ts';
import { log } from '../../../core/log.ts';
import { $ } from '../shell.ts';

/** Written into every rule the kit creates: how a later run knows the rule is its own. */
export const RULE_DESCRIPTION = 'mTLS demo backend (apigee-mtls-demo)';

/** The fields of a Compute Engine firewall resource this comparison reads (describe --format=json). */
interface DescribedRule {
  description?: string;
  network?: string;
  direction?: string;
  disabled?: boolean;
  allowed?: Array<{ IPProtocol?: string; ports?: string[] }>;
  denied?: unknown[];
  targetTags?: string[];
  sourceRanges?: string[];
}

const sameSet = (a: readonly string[] = [], b: readonly string[] = []) => a.length === b.length && a.every((x) => b.includes(x));
const allowedText = (r: DescribedRule) => (r.allowed ?? []).map((a) => `${a.IPProtocol}${a.ports?.length ? `:${a.ports.join(',')}` : ''}`).join(',') || 'nothing';

/** What differs between the rule and this run's settings, as "field: now → wanted"; empty when none. */
function differences(rule: DescribedRule, port: number, tag: string, ranges: readonly string[]): string[] {
  const found: string[] = [];
  const wantAllowed = `tcp:${port}`;
  if (allowedText(rule) !== wantAllowed) found.push(`allow ${allowedText(rule)} → ${wantAllowed}`);
  if (!sameSet(rule.targetTags, [tag])) found.push(`target tags ${(rule.targetTags ?? []).join(',') || 'none'} → ${tag}`);
  if (!sameSet(rule.sourceRanges, ranges)) found.push(`source ranges ${(rule.sourceRanges ?? []).join(',') || 'none'} → ${ranges.join(',')}`);
  if (rule.disabled) found.push('disabled → enabled');
  return found;
}

/** Describes the existing rule and updates it when this kit made it and it differs from the settings. */
export async function matchExistingRule(config: Config, project: string): Promise<void> {
  const { firewallRule: name, network, networkTag: tag, sourceRanges: ranges } = config.gcp;
  const port = config.backend.port;
  const described = await $`gcloud compute firewall-rules describe ${name} --project=${project} --format=json`;
  const rule = JSON.parse(described.stdout) as DescribedRule;
  if (rule.direction !== 'INGRESS' || rule.denied?.length || !rule.network?.endsWith(`/networks/${network}`)) {
    throw new StepError(`firewall rule ${name} exists but is not an ingress allow rule on network ${network}: set GCP_FIREWALL_RULE in ${config.localEnv} to another name`);
  }
  const changes = differences(rule, port, tag, ranges);
  if (changes.length === 0) {
    log.explain(`It already allows tcp:${port} to tag ${tag} from ${ranges.join(', ')}.`);
    return;
  }
  if (rule.description !== RULE_DESCRIPTION) {
    throw new StepError(`firewall rule ${name} exists, was not made by this kit and differs (${changes.join('; ')}): set GCP_FIREWALL_RULE in ${config.localEnv} to another name, or change that rule yourself`);
  }
  await $`gcloud compute firewall-rules update ${name} --project=${project} --allow=tcp:${port} --target-tags=${tag} --source-ranges=${ranges.join(',')} --no-disabled`;
  log.created(`firewall rule ${name} updated: ${changes.join('; ')}`);
}
