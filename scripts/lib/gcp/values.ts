// Values the cloud steps put into their gcloud, kubectl and curl commands (the commands themselves
// are written out in each step): optional flags, the VM's metadata, paths as a reader types them.
import { repoRoot, type Config } from '../../../core/config.ts';
import { displayPath } from '../../../core/log.ts';

/** Non-secret settings the VM's startup script reads from the metadata server, by attribute. */
export function vmSettings(config: Config): Record<string, string> {
  return {
    'node-version': config.gcp.vmNodeVersion,
    'backend-port': String(config.backend.port),
    'health-port': String(config.backend.healthPort),
    'client-auth': config.backend.clientAuth,
  };
}

/** The same settings as gcloud's --metadata value. */
export function vmMetadata(config: Config): string {
  return Object.entries(vmSettings(config)).map(([key, value]) => `${key}=${value}`).join(',');
}

/** An IPv4 address, as `gcloud compute addresses describe --format='value(address)'` prints one. */
export function isIPv4(text: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(text);
}

/** A path as typed in the repository root, where the cloud steps run their commands (`$.cwd`). */
export const repoPath = (path: string): string => displayPath(path, repoRoot);
