// gcloud and kubectl explain a failure over several lines (gcloud ends a missing sign-in with "to
// select an already authenticated account to use.", a crash with "gcloud info --run-diagnostics";
// kubectl without a cluster suggests --validate=false). The last line is then useless, so the
// failure of either program is read here into one line: what went wrong, and the command that
// fixes it when there is one.
import { lastLine } from '../../core/errors.ts';
import { followUp } from './follow-up.ts';

/** gcloud's "ERROR: (gcloud.group.command) message" plus its " - detail" lines, with a fix. */
export function gcloudReason(stderr: string): string {
  const lines = stderr.split('\n');
  const at = lines.findIndex((line) => line.startsWith('ERROR: '));
  if (at < 0) return lastLine(stderr);
  const details = [];
  for (const line of lines.slice(at + 1)) {
    if (!/^\s*- /.test(line)) break;
    details.push(line.replace(/^\s*- /, '').trim());
  }
  const head = lines[at]!.replace(/^ERROR: (\(gcloud[\w.-]*\) )?/, '').trim();
  const text = [head.replace(/:$/, ''), ...details].join(': ');
  const fix = gcloudFix(text);
  return fix ? `${fix.what}; ${fix.todo}` : text;
}

function gcloudFix(text: string): { what: string; todo: string } | undefined {
  const login = `run \`gcloud auth login\` (then ${followUp('./scripts/30-gcp-preflight.ts')} checks the rest)`;
  if (/do not currently have an active account/i.test(text)) return { what: 'gcloud has no signed-in account', todo: login };
  if (/Reauthentication|refreshing your current auth tokens|invalid_grant/i.test(text)) {
    return { what: 'gcloud\'s sign-in has expired', todo: login };
  }
  if (/invalid authentication credentials|UNAUTHENTICATED/i.test(text)) {
    return { what: `the API refused gcloud's credentials (${clip(text)})`, todo: login };
  }
  const service = /apis\/api\/([\w.-]+\.googleapis\.com)/.exec(text)?.[1] ?? (/SERVICE_DISABLED|has not been used in project|is disabled/i.test(text) ? 'compute.googleapis.com' : undefined);
  if (service) return { what: `the ${service} API is off in this project`, todo: `run \`gcloud services enable ${service}\`` };
  const permission = /Required '([\w.]+)' permission|Permission '([\w.]+)' denied/.exec(text);
  if (permission) {
    const name = permission[1] ?? permission[2]!;
    return { what: `your account lacks the permission ${name} (${clip(text)})`, todo: `ask a project owner for a role that holds it${name.startsWith('compute.') ? ' (e.g. roles/compute.admin)' : ''}` };
  }
  // A step run before the one that creates what it needs (33 before 31, 34 or 35 before 33).
  const missing = /The resource 'projects\/[^/]+\/(?:regions|zones)\/[^/]+\/(addresses|instances)\/([^'/]+)' was not found/.exec(text);
  if (missing) {
    const [what, step] = missing[1] === 'addresses' ? ['static address', '31-gcp-address'] : ['VM', '33-gcp-vm'];
    return { what: `the ${what} ${missing[2]} does not exist`, todo: `run ${followUp(`./scripts/${step}.ts`)} first (make vm and make k8s run the steps in order)` };
  }
  const crash = /gcloud crashed \((\w+)\)/.exec(text)?.[1];
  if (crash) {
    const host = /host='([^']+)', port=(\d+)/.exec(text);
    const where = host ? `${host[1]}:${host[2]}` : 'the Google API';
    if (/Timeout/i.test(crash)) {
      const seconds = /timeout=(\d+)/.exec(text)?.[1];
      return { what: `${where} did not answer${seconds ? ` within ${seconds} s` : ''}`, todo: 'check the network (or a proxy) and run the step again' };
    }
    if (/SSL/i.test(crash)) {
      return { what: `the TLS connection to ${where} failed (${crash})`, todo: 'a proxy that inspects TLS needs `gcloud config set core/custom_ca_certs_file FILE`' };
    }
    const errno = /\[Errno -?\d+\] ([^'")\]]+)/.exec(text)?.[1]?.trim();
    return { what: `cannot reach ${where}${errno ? ` (${errno})` : ''}`, todo: 'check the network, a proxy, or CLOUDSDK_API_ENDPOINT_OVERRIDES_* in your environment (`gcloud info --run-diagnostics`)' };
  }
  return undefined;
}

const KUBE_CONTEXT = 'check `kubectl config current-context` (for GKE: `gcloud container clusters get-credentials CLUSTER --zone ZONE`)';

/** kubectl's error line, or what its connection failure means, with a fix. */
export function kubectlReason(stderr: string): string {
  const text = stderr.split('\n').map((line) => line.trim()).filter(Boolean).find((line) => /^error: |^Error from server|^The connection to the server/.test(line)) ?? lastLine(stderr);
  const server = /(?:Get|Post|Patch|Put|Delete) "(https?:\/\/[^/"]+)|The connection to the server ([^\s]+) was refused|dial tcp ([^:\s]+:\d+)/.exec(text);
  const where = server?.[1] ?? server?.[2] ?? server?.[3];
  if (where && /localhost:8080|127\.0\.0\.1:8080/.test(where)) {
    return `kubectl has no cluster to talk to (no current context, so it tried ${where}); ${KUBE_CONTEXT}`;
  }
  if (where && /connection refused|no such host|i\/o timeout|deadline exceeded|no route to host|network is unreachable|TLS handshake timeout|was refused/i.test(text)) {
    const cause = /(connection refused|no such host|i\/o timeout|context deadline exceeded|no route to host|network is unreachable|TLS handshake timeout|was refused)/i.exec(text)![1];
    return `cannot reach the Kubernetes API at ${where} (${cause}); ${KUBE_CONTEXT}`;
  }
  if (/must be logged in|Unauthorized/i.test(text)) return `the cluster refused kubectl's credentials (${clip(text)}); ${KUBE_CONTEXT}`;
  return text;
}

function clip(text: string): string {
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}
