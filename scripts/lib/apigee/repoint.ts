// Switching the gateway to a new keystore version. Apigee cannot replace the key of an alias, and
// DELETE then POST on a keystore in use leaves the runtime without a key in between. The way
// Google documents (working-references): put the new key into a new keystore under the same alias
// and point the reference the target server uses at it. The runtime picks the change up as one
// configuration revision: old key before, new key after, never none.
import type { Config } from '../../../core/config.ts';
import { log } from '../../../core/log.ts';
import type { ApigeeClient } from './client.ts';
import { enc, storePointer, targetServer, targetServerCli, type StoreFamily } from './resources.ts';
import { followUp } from '../follow-up.ts';

/**
 * Points the gateway at store version `name`: PUT on the reference, or (APIGEE_USE_REFERENCES=0)
 * PUT on the target server with that store named directly. Returns false when there is nothing to
 * point yet (the reference or target server is made later, by step 44 or 45, with `name`).
 */
export async function pointGatewayAt(client: ApigeeClient, config: Config, store: StoreFamily, name: string): Promise<boolean> {
  const { reference, resourceType, field } = storePointer(config, store.role);
  if (config.apigee.useReferences) {
    const have = store.reference;
    if (!have && !client.dryRun) {
      log.info(`reference ${reference} does not exist yet: ${followUp('./scripts/44-references.ts')} makes it point at ${name}`);
      return false;
    }
    await client.call({
      method: 'PUT', path: `${client.envPath}/references/${enc(reference)}`, json: { name: reference, resourceType, refers: name },
      apigeecli: ['references', 'update', '-n', reference, '-s', resourceType, '--refers', name],
    });
    log.created(`reference ${reference}`, `now → ${name}${have ? ` (was ${have.refers})` : ''}`);
    return true;
  }
  const ts = await targetServer(client, config.apigee.targetServer);
  if (!ts && !client.dryRun) {
    log.info(`target server ${config.apigee.targetServer} does not exist yet: ${followUp('./scripts/45-target-server.ts')} names ${name} in it`);
    return false;
  }
  log.explain(`APIGEE_USE_REFERENCES=0: the target server names the ${store.role} itself, so the switch edits the target server (one configuration change too, but every rotation touches it, and a proxy that named the store in its own SSLInfo would need a new revision); references are the documented way`);
  if (ts) {
    const changed = { ...ts, sSLInfo: { ...ts.sSLInfo, [field]: name } };
    await client.call({ method: 'PUT', path: `${client.envPath}/targetservers/${enc(ts.name)}`, json: changed, apigeecli: targetServerCli('update', changed) });
    log.created(`target server ${ts.name}`, `sSLInfo.${field} now ${name} (was ${ts.sSLInfo[field]})`);
  }
  return true;
}
