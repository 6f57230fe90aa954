// The gcloud command lines of the VM path, built in one place so the steps, their dry runs, the
// teardown and the tests all agree on names and flags. Pure functions: nothing here runs anything.
import type { Config } from '../../../core/config.ts';

/** Repository-relative paths of the files the VM receives. */
export const STARTUP_SCRIPT = 'infra/vm/startup.sh';
export const INSTALL_SCRIPT = 'infra/vm/install-bundle.sh';
/** Folder name of the upload in the VM user's home directory. */
export const BUNDLE_NAME = 'mtls-bundle';

type Gcp = Config['gcp'];

/** --project only when configured; otherwise gcloud's own `core/project` applies. */
function project(gcp: Gcp): string[] {
  return gcp.project ? [`--project=${gcp.project}`] : [];
}

function iap(gcp: Gcp): string[] {
  return gcp.sshIap ? ['--tunnel-through-iap'] : [];
}

export const address = {
  create: (gcp: Gcp) => ['gcloud', 'compute', 'addresses', 'create', gcp.addressName, `--region=${gcp.region}`, ...project(gcp)],
  describe: (gcp: Gcp) => ['gcloud', 'compute', 'addresses', 'describe', gcp.addressName, `--region=${gcp.region}`, ...project(gcp), '--format=value(address)'],
  delete: (gcp: Gcp) => ['gcloud', 'compute', 'addresses', 'delete', gcp.addressName, `--region=${gcp.region}`, ...project(gcp), '--quiet'],
};

export const firewall = {
  create: (gcp: Gcp, port: number) => [
    'gcloud', 'compute', 'firewall-rules', 'create', gcp.firewallRule, ...project(gcp),
    `--network=${gcp.network}`, '--direction=INGRESS', `--allow=tcp:${port}`,
    `--target-tags=${gcp.networkTag}`, `--source-ranges=${gcp.sourceRanges.join(',')}`,
    '--description=mTLS demo backend (apigee-mtls-demo)',
  ],
  delete: (gcp: Gcp) => ['gcloud', 'compute', 'firewall-rules', 'delete', gcp.firewallRule, ...project(gcp), '--quiet'],
};

/** Non-secret settings the startup script reads from the metadata server. */
export function vmMetadata(config: Config): Record<string, string> {
  return {
    'node-version': config.gcp.vmNodeVersion,
    'backend-port': String(config.backend.port),
    'health-port': String(config.backend.healthPort),
    'client-auth': config.backend.clientAuth,
  };
}

export const instance = {
  create: (config: Config) => {
    const gcp = config.gcp;
    const metadata = Object.entries(vmMetadata(config)).map(([k, v]) => `${k}=${v}`).join(',');
    return [
      'gcloud', 'compute', 'instances', 'create', gcp.vmName, `--zone=${gcp.zone}`, ...project(gcp),
      `--machine-type=${gcp.machineType}`, `--image-family=${gcp.imageFamily}`, `--image-project=${gcp.imageProject}`,
      `--network=${gcp.network}`, `--tags=${gcp.networkTag}`,
      // The reserved address by name: gcloud looks up its IP in the VM's region.
      `--address=${gcp.addressName}`,
      '--shielded-secure-boot',
      `--metadata-from-file=startup-script=${STARTUP_SCRIPT}`, `--metadata=${metadata}`,
    ];
  },
  delete: (gcp: Gcp) => ['gcloud', 'compute', 'instances', 'delete', gcp.vmName, `--zone=${gcp.zone}`, ...project(gcp), '--quiet'],
  scpBundle: (gcp: Gcp, localDir: string) => [
    'gcloud', 'compute', 'scp', '--recurse', `--zone=${gcp.zone}`, ...project(gcp), ...iap(gcp), localDir, `${gcp.vmName}:`,
  ],
  sshInstall: (gcp: Gcp) => [
    'gcloud', 'compute', 'ssh', gcp.vmName, `--zone=${gcp.zone}`, ...project(gcp), ...iap(gcp),
    `--command=sudo bash ${BUNDLE_NAME}/install-bundle.sh; status=$?; rm -rf ${BUNDLE_NAME}; exit $status`,
  ],
};

/** The shell form of "the reserved IP", for dry-run lines whose value only exists at run time. */
export function addressLookup(gcp: Gcp): string {
  return `$(gcloud compute addresses describe ${gcp.addressName} --region=${gcp.region}${gcp.project ? ` --project=${gcp.project}` : ''} --format='value(address)')`;
}

// One way to show a path, shared by every step (relative to the current folder when inside it).
export { displayPath } from '../../../core/log.ts';
