// k8s/base and scripts/22-k8s-secrets.ts, offline: kustomize renders, every object passes the
// Kubernetes schema (kubernetes-models), the Secrets the script makes carry exactly the keys the
// Deployment mounts and reads, and nothing uses subPath (which never sees a rotated Secret).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Secret, Service } from 'kubernetes-models/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { repoRoot } from '../core/config.ts';
import { settingsFromEnv } from '../backend/settings.ts';
import { tempDir } from './helpers/temp.ts';

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string }; [k: string]: any };


const kubectl = (args: string[], input?: string) =>
  execFileSync('kubectl', args, { cwd: repoRoot, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });

/**
 * YAML → objects without a YAML library: `kubectl label --local` parses the documents offline and
 * prints them as JSON (the label set here is already on every object, so nothing changes).
 */
function toObjects(yaml: string, noOpLabel = 'app.kubernetes.io/part-of=apigee-mtls-demo'): Obj[] {
  const json = kubectl(['label', '--local', '--overwrite', '-f', '-', '-o', 'json', noOpLabel], yaml);
  return json.split(/^(?=\{)/m).filter((s) => s.trim()).map((s) => JSON.parse(s) as Obj);
}

const rendered = kubectl(['kustomize', 'k8s/base']);
const objects = toObjects(rendered);
const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
const deployment = byKind('Deployment')[0]!;
const pod = deployment.spec.template.spec;
const container = pod.containers[0];

// The script only copies the store files, so any bytes do as stand-ins here.
function secretsFromScript(password = 'k8s-test-pw'): Obj[] {
  const certs = tempDir('k8s-certs-');
  writeFileSync(join(certs, 'server-keystore.p12'), 'keystore bytes');
  writeFileSync(join(certs, 'server-truststore.p12'), 'truststore bytes');
  const out = join(certs, 'secrets.yaml');
  const result = spawnSync(join(repoRoot, 'scripts', '22-k8s-secrets.ts'), ['--output', out], {
    cwd: repoRoot,
    env: { ...process.env, CERTS_DIR: certs, STORE_PASSWORD: password, K8S_NAMESPACE: 'demo', DRY_RUN: '0' },
    encoding: 'utf8',
  });
  assert.is(result.status, 0, result.stderr);
  assert.not.match(result.stdout + result.stderr, password);
  assert.is(statSync(out).mode & 0o777, 0o600, 'secrets YAML must be owner-only');
  // Secrets carry no part-of label, so set a label no object has.
  return toObjects(readFileSync(out, 'utf8'), 'k8s-test=1');
}

let madeSecrets: Obj[] | undefined;
/** The script's Secrets, made once for the tests that need them. */
const scriptSecrets = () => (madeSecrets ??= secretsFromScript());

test('kustomize renders a Deployment, a Service and a PodDisruptionBudget', () => {
  assert.equal(objects.map((o) => o.kind).sort(), ['Deployment', 'PodDisruptionBudget', 'Service']);
});

test('every rendered object validates against the Kubernetes schema', () => {
  const models: Record<string, new (o: any) => { validate(): void }> = { Deployment, Service, PodDisruptionBudget };
  for (const o of objects) {
    const Model = models[o.kind];
    assert.ok(Model, `no model for ${o.kind}`);
    new Model(o).validate();
  }
});

// Overlays (k8s/overlays/*, e.g. gcp) build on this base: they must render and stay valid too.
// Kinds without a built-in schema (custom resources) cannot be checked offline and are skipped.
const overlaysDir = join(repoRoot, 'k8s', 'overlays');
const overlays = (() => {
  try {
    return readdirSync(overlaysDir).filter((n) => statSync(join(overlaysDir, n, 'kustomization.yaml'), { throwIfNoEntry: false }));
  } catch {
    return [];
  }
})();
for (const overlay of overlays) {
  test(`overlay ${overlay} renders and its built-in objects validate`, () => {
    const models: Record<string, new (o: any) => { validate(): void }> = { Deployment, Service, PodDisruptionBudget, Secret };
    const rendered = toObjects(kubectl(['kustomize', join('k8s', 'overlays', overlay)]), 'k8s-test=1');
    assert.ok(rendered.some((o) => o.kind === 'Deployment'), 'keeps the Deployment');
    for (const o of rendered) models[o.kind] && new models[o.kind]!(o).validate();
  });
}

test('the schema check can fail (a string replica count is rejected)', () => {
  const broken = structuredClone(deployment);
  broken.spec.replicas = 'two';
  assert.throws(() => new Deployment(broken).validate(), /replicas/);
});

test('no subPath anywhere under k8s/', () => {
  const files = (dir: string): string[] =>
    readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : [join(dir, n)]));
  for (const file of files(join(repoRoot, 'k8s'))) {
    // Comments may explain why subPath is avoided; only keys count.
    assert.not.match(readFileSync(file, 'utf8'), /^\s*-?\s*subPath(Expr)?\s*:/m, file);
  }
  assert.not.match(rendered, /subPath/);
});

test('Deployment: replicas, probes on the health port, resources, hardened security context', () => {
  assert.ok(deployment.spec.replicas >= 2);
  const healthPort = container.ports.find((p: any) => p.name === 'health');
  assert.ok(healthPort, 'a named health port');
  const env = Object.fromEntries(container.env.map((e: any) => [e.name, e]));
  assert.is(Number(env.HEALTH_PORT.value), healthPort.containerPort);
  assert.is(Number(env.PORT.value), container.ports.find((p: any) => p.name === 'https').containerPort);
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    assert.ok(container[probe]?.httpGet, `${probe} uses HTTP`);
    assert.is(container[probe].httpGet.port, 'health', `${probe} on the health port`);
    assert.is(container[probe].httpGet.scheme ?? 'HTTP', 'HTTP');
  }
  for (const kind of ['requests', 'limits']) {
    assert.ok(container.resources[kind].cpu && container.resources[kind].memory, `resources.${kind}`);
  }
  assert.is(pod.securityContext.runAsNonRoot, true);
  assert.ok(pod.securityContext.runAsUser > 0);
  assert.is(container.securityContext.readOnlyRootFilesystem, true);
  assert.is(container.securityContext.allowPrivilegeEscalation, false);
  assert.equal(container.securityContext.capabilities.drop, ['ALL']);
  assert.is(env.SERVER_SSL_CLIENTAUTH.value, 'need');
  assert.is(env.SERVER_SSL_KEYSTORETYPE.value, 'PKCS12');
  assert.is(env.SERVER_SSL_KEYALIAS.value, 'server', 'the alias the tutorial gives the server key');
});

test('Service exposes 8443 to the https container port of the same pods', () => {
  const service = byKind('Service')[0]!;
  assert.equal(service.spec.selector, deployment.spec.selector.matchLabels);
  assert.is(service.spec.ports[0].port, 8443);
  assert.is(service.spec.ports[0].targetPort, 'https');
  const pdb = byKind('PodDisruptionBudget')[0]!;
  assert.equal(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
});

test('SERVER_SSL_* paths point at files inside the mounted secret directories', () => {
  const env = Object.fromEntries(container.env.map((e: any) => [e.name, e]));
  for (const variable of ['SERVER_SSL_KEYSTORE', 'SERVER_SSL_TRUSTSTORE']) {
    const path: string = env[variable].value;
    const mount = container.volumeMounts.find((m: any) => path.startsWith(m.mountPath + '/'));
    assert.ok(mount, `${variable}=${path} is under a mount`);
    assert.is(mount.readOnly, true);
    const volume = pod.volumes.find((v: any) => v.name === mount.name);
    assert.ok(volume?.secret, `${mount.name} is a secret volume`);
    const file = path.slice(mount.mountPath.length + 1);
    assert.ok(volume.secret.items.some((i: any) => i.path === file), `${file} is projected into ${mount.mountPath}`);
  }
});

test("the backend reads the Deployment's environment as intended (names it really uses)", () => {
  const secrets = Object.fromEntries(scriptSecrets().map((s) => [s.metadata.name, s.data]));
  const env: Record<string, string> = {};
  for (const e of container.env) {
    const ref = e.valueFrom?.secretKeyRef;
    env[e.name] = ref ? Buffer.from(secrets[ref.name][ref.key], 'base64').toString() : e.value;
  }
  const settings = settingsFromEnv(env);
  assert.is(settings.port, 8443);
  assert.is(settings.healthPort, 8081);
  assert.is(settings.keyStore, env.SERVER_SSL_KEYSTORE);
  assert.is(settings.trustStore, env.SERVER_SSL_TRUSTSTORE);
  assert.is(settings.keyStorePassword, 'k8s-test-pw');
  assert.is(settings.trustStorePassword, 'k8s-test-pw');
  assert.is(settings.keyAlias, 'server');
  assert.is(settings.clientAuth, 'need');
});

test('the Secrets made by the script match the volumes and secretKeyRefs of the Deployment', () => {
  const secrets = scriptSecrets();
  assert.is(secrets.length, 3);
  for (const s of secrets) {
    new Secret(s).validate();
    assert.is(s.metadata.namespace, 'demo');
  }
  const keysOf = (name: string) => Object.keys(secrets.find((s) => s.metadata.name === name)?.data ?? {});
  for (const volume of pod.volumes.filter((v: any) => v.secret)) {
    const keys = keysOf(volume.secret.secretName);
    assert.ok(keys.length > 0, `the script makes Secret ${volume.secret.secretName}`);
    for (const item of volume.secret.items) assert.ok(keys.includes(item.key), `${volume.secret.secretName} has key ${item.key}`);
  }
  const refs = container.env.filter((e: any) => e.valueFrom?.secretKeyRef).map((e: any) => e.valueFrom.secretKeyRef);
  assert.equal(refs.length, 2, 'both store passwords come from a Secret');
  for (const ref of refs) assert.ok(keysOf(ref.name).includes(ref.key), `${ref.name} has key ${ref.key}`);
  const passwords = secrets.find((s) => s.metadata.name === refs[0].name)!;
  assert.is(Buffer.from(passwords.data[refs[0].key], 'base64').toString(), 'k8s-test-pw');
  const keystore = secrets.find((s) => s.metadata.name === pod.volumes[0].secret.secretName)!;
  assert.is(Buffer.from(Object.values(keystore.data)[0] as string, 'base64').toString(), 'keystore bytes');
});

test('no password in the Deployment: only secretKeyRef', () => {
  assert.not.match(rendered, /changeit/);
  for (const e of container.env.filter((e: any) => /PASSWORD/.test(e.name))) {
    assert.is(e.value, undefined, `${e.name} has no literal value`);
  }
});

test('the script refuses a CERTS_DIR without stores and writes nothing', () => {
  const empty = tempDir('k8s-empty-');
  const out = join(empty, 'secrets.yaml');
  const result = spawnSync(join(repoRoot, 'scripts', '22-k8s-secrets.ts'), ['--output', out], {
    cwd: repoRoot,
    env: { ...process.env, CERTS_DIR: empty, DRY_RUN: '0' },
    encoding: 'utf8',
  });
  assert.is(result.status, 1);
  assert.match(result.stderr, /missing .*server-keystore\.p12.*make certs/);
  assert.equal(readdirSync(empty), []);
});

test('--dry-run prints the kubectl commands with the password masked and runs nothing', () => {
  const certs = tempDir('k8s-dry-');
  const result = spawnSync(join(repoRoot, 'scripts', '22-k8s-secrets.ts'), ['--dry-run'], {
    cwd: repoRoot,
    env: { ...process.env, CERTS_DIR: certs, STORE_PASSWORD: 'dry-run-pw' },
    encoding: 'utf8',
  });
  assert.is(result.status, 0, result.stderr);
  assert.is((result.stdout.match(/kubectl create secret generic .* --dry-run=client -o yaml \| kubectl apply -f -/g) ?? []).length, 3);
  assert.not.match(result.stdout, 'dry-run-pw');
  // The passwords are read from the environment by bash (no value, no **** in the command).
  assert.match(result.stdout, /--from-file=keystore-password=<\(printf %s "\$STORE_PASSWORD"\) --from-file=truststore-password=<\(printf %s "\$STORE_PASSWORD"\)/);
  assert.not.match(result.stdout, /\*\*\*\*/);
  assert.match(result.stdout, /printed only/);
  assert.equal(readdirSync(certs), []);
});

test.run();
