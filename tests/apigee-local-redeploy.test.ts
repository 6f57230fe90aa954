// A redeploy keeps the proxy online, as on Apigee X: while a new deployment of a proxy (another
// revision with override=true, or the same revision again) is PROGRESSING, the gateway keeps
// serving the revision that was READY, with its own TargetEndpoint, and switches once the new one
// is READY. The management API says so in the new deployment's `instances[].deployedRevisions`.
// A first deployment is served only once READY; an undeploy stops serving at once.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { E, assertError, assertFault, bundle, startStandIn, startTextServer, waitFor, type StandIn } from './helpers/apigee-local.ts';

/** Long enough that the calls right after a deploy surely fall inside PROGRESSING. */
const SETTLE_MS = 1000;
let s: StandIn;
const closers: Array<() => void> = [];

const status = (api: string, rev: string) => `${E}/apis/${api}/revisions/${rev}/deployments`;

/** Imports a revision of `api` (default `swap` on /swap) whose TargetEndpoint uses target server `server`. */
async function importRevision(server: string, api = 'swap', basePath = '/swap'): Promise<string> {
  const connection = `<LoadBalancer><Server name="${server}"/></LoadBalancer>`;
  return (await s.ok('POST', `/apis?name=${api}&action=import`, bundle(basePath, connection), 'application/octet-stream')).revision;
}

/** Deploys a revision with override=true; returns its deployStartTime (ms). */
async function deploy(rev: string, api = 'swap'): Promise<number> {
  return Number((await s.ok('POST', `${status(api, rev)}?override=true`)).deployStartTime);
}

const waitReady = (rev: string, api = 'swap') =>
  waitFor(`${api} revision ${rev} READY`, async () => ((await s.ok('GET', status(api, rev))).state === 'READY' ? true : undefined));

interface Seen { started: number; ended: number; status: number; text: string }

/** Calls /swap one call after another while `work` runs, then `after` times more; every answer in order. */
async function callsDuring(work: () => Promise<void>, after = 3): Promise<Seen[]> {
  const seen: Seen[] = [];
  const one = async () => {
    const started = Date.now();
    const a = await s.call('/swap');
    seen.push({ started, ended: Date.now(), status: a.status, text: a.text });
  };
  let done = false;
  const caller = (async () => {
    while (!done) await one();
  })();
  try {
    await work();
  } finally {
    done = true;
    await caller;
  }
  for (let i = 0; i < after; i++) await one();
  return seen;
}

/** Every call answered 200; the texts, in order, are `before`… then `after`… (never back). */
function assertSwitch(seen: Seen[], before: string, after: string, start: number): void {
  for (const c of seen) assert.is(c.status, 200, `call at ${c.started - start} ms after the deploy started: ${c.status} ${c.text}`);
  const firstNew = seen.findIndex((c) => c.text === after);
  assert.ok(firstNew >= 0, `no call answered "${after}"`);
  assert.equal([...new Set(seen.slice(0, firstNew).map((c) => c.text))].filter((t) => t !== before), []);
  assert.equal([...new Set(seen.slice(firstNew).map((c) => c.text))], [after]);
}

/** The calls made after the deploy call returned and answered before the deployment could be READY. */
function whileProgressing(seen: Seen[], posted: number, start: number): Seen[] {
  const during = seen.filter((c) => c.started >= posted && c.ended < start + SETTLE_MS);
  assert.ok(posted < start + SETTLE_MS / 2, `the deploy call took ${posted - start} ms: no PROGRESSING window left to observe`);
  assert.ok(during.length > 0, 'no call was made while the deployment was PROGRESSING');
  return during;
}

test.before(async () => {
  s = await startStandIn({ deploySettleMs: SETTLE_MS });
  for (const name of ['one', 'two', 'three']) {
    const server = await startTextServer(s, name);
    closers.push(server.close);
    await s.ok('POST', `${E}/targetservers`, JSON.stringify({ name, host: '127.0.0.1', port: server.port, sSLInfo: { enabled: true } }));
  }
});

test.after(async () => {
  await s.close();
  for (const close of closers) close();
});

test('a first deployment answers 404 ApplicationNotFound until READY', async () => {
  const rev = await importRevision('one');
  const start = await deploy(rev);
  const early = await s.call('/swap');
  if (Date.now() < start + SETTLE_MS) assertFault(early, 404, 'messaging.adaptors.http.flow.ApplicationNotFound');
  assert.is((await s.ok('GET', status('swap', rev))).instances, undefined, 'nothing is served yet');
  await waitReady(rev);
  assert.is((await s.call('/swap')).text, 'one');
});

test('override with another revision: no call gets 404, revision 1 answers until revision 2 is READY', async () => {
  const rev = await importRevision('two');
  let start = 0;
  let posted = 0;
  let readyAt = 0;
  const seen = await callsDuring(async () => {
    start = await deploy(rev);
    posted = Date.now();
    await waitReady(rev);
    readyAt = Date.now();
  });
  assertSwitch(seen, 'one', 'two', start);
  for (const c of whileProgressing(seen, posted, start)) assert.is(c.text, 'one');
  const afterReady = seen.filter((c) => c.started >= readyAt);
  assert.ok(afterReady.length >= 3);
  for (const c of afterReady) assert.is(c.text, 'two');
});

test('the same revision deployed again: no call gets 404; its status shows it still deployed meanwhile', async () => {
  const rev = '2';
  let start = 0;
  let posted = 0;
  let progressing: any;
  const seen = await callsDuring(async () => {
    start = await deploy(rev);
    posted = Date.now();
    progressing = await s.ok('GET', status('swap', rev));
    await waitReady(rev);
  });
  for (const c of seen) assert.is(c.status, 200, `call at ${c.started - start} ms after the deploy started: ${c.status} ${c.text}`);
  assert.equal([...new Set(seen.map((c) => c.text))], ['two']);
  whileProgressing(seen, posted, start);
  assert.is(progressing.state, 'PROGRESSING');
  assert.equal(progressing.instances[0].deployedRevisions, [{ revision: rev, percentage: 100 }]);
});

test('while an override is PROGRESSING: one deployment listed, its status names the revision still served', async () => {
  const rev = await importRevision('one');
  await deploy(rev);
  const progressing = await s.ok('GET', status('swap', rev));
  assert.is(progressing.state, 'PROGRESSING');
  assert.equal(progressing.instances[0].deployedRevisions, [{ revision: '2', percentage: 100 }]);
  assert.equal(progressing.instances[0].deployedRoutes.map((r: any) => r.basepath), ['/swap']);
  // Only one revision per proxy per environment (reference §1.7): the list names the new one.
  const listed = (await s.ok('GET', `${E}/deployments`)).deployments.filter((d: any) => d.apiProxy === 'swap');
  assert.equal(listed.map((d: any) => d.revision), [rev]);
  assert.equal((await s.ok('GET', '/apis/swap/deployments')).deployments.map((d: any) => d.revision), [rev]);
  assertError(await s.api('GET', status('swap', '2')), 404, 'NOT_FOUND');
  assertError(await s.api('DELETE', status('swap', '2')), 400, 'FAILED_PRECONDITION', /not deployed/);
  // The revision being replaced still serves: it cannot be deleted yet.
  assertError(await s.api('DELETE', '/apis/swap/revisions/2'), 400, 'FAILED_PRECONDITION', /still serves traffic/);
  assert.is((await s.call('/swap')).text, 'two');

  await waitReady(rev);
  assert.equal((await s.ok('GET', status('swap', rev))).instances[0].deployedRevisions, [{ revision: rev, percentage: 100 }]);
  assert.is((await s.call('/swap')).text, 'one');
  assert.is((await s.ok('DELETE', '/apis/swap/revisions/2')).revision, '2');
});

test('an override made while another is PROGRESSING: the READY revision serves until the last one is READY', async () => {
  const skipped = await importRevision('two');
  const last = await importRevision('three');
  let start = 0;
  const seen = await callsDuring(async () => {
    const first = await deploy(skipped);
    start = await deploy(last);
    assert.ok(start < first + SETTLE_MS, `the second deploy came ${start - first} ms after the first: no longer during its PROGRESSING`);
    assert.equal((await s.ok('GET', status('swap', last))).instances[0].deployedRevisions, [{ revision: '3', percentage: 100 }]);
    await waitReady(last);
  });
  assertSwitch(seen, 'one', 'three', start);
});

test('an undeploy during an override stops serving at once; the next deployment is a first one', async () => {
  const rev = await importRevision('one');
  await deploy(rev);
  assert.equal(await s.ok('DELETE', status('swap', rev)), {});
  assertFault(await s.call('/swap'), 404, 'messaging.adaptors.http.flow.ApplicationNotFound');
  assert.equal((await s.ok('GET', '/apis/swap/deployments')).deployments ?? [], []);

  const start = await deploy(rev);
  const early = await s.call('/swap');
  if (Date.now() < start + SETTLE_MS) assertFault(early, 404, 'messaging.adaptors.http.flow.ApplicationNotFound');
  await waitReady(rev);
  assert.is((await s.call('/swap')).text, 'one');
});

test('an override that moves the base path: the old one serves and stays taken until READY', async () => {
  const before = await importRevision('two', 'moving', '/old-path');
  await deploy(before, 'moving');
  await waitReady(before, 'moving');
  const after = await importRevision('two', 'moving', '/new-path');
  await deploy(after, 'moving');
  const taker = await importRevision('three', 'taker', '/old-path');
  const clash = await s.api('POST', status('taker', taker));
  assertError(clash, 400, 'FAILED_PRECONDITION', /deployment validations failed/);
  assert.match(clash.json.error.details[0].violations[0].description, new RegExp(`apis/moving/revisions/${before}".*\\[/old-path\\]`));
  assert.is((await s.call('/old-path')).text, 'two');
  assertFault(await s.call('/new-path'), 404, 'messaging.adaptors.http.flow.ApplicationNotFound');

  await waitReady(after, 'moving');
  assertFault(await s.call('/old-path'), 404, 'messaging.adaptors.http.flow.ApplicationNotFound');
  assert.is((await s.call('/new-path')).text, 'two');
  await deploy(taker, 'taker');
  await waitReady(taker, 'taker');
  assert.is((await s.call('/old-path')).text, 'three');
});

test('an override that ends in ERROR: the old revision serves while PROGRESSING, nothing once ERROR', async () => {
  const rev = await importRevision('no-such-server');
  const start = await deploy(rev);
  const early = await s.call('/swap');
  if (Date.now() < start + SETTLE_MS) assert.is(early.text, 'one');
  const failed = await waitFor('state ERROR', async () => {
    const d = await s.ok('GET', status('swap', rev));
    return d.state === 'PROGRESSING' ? undefined : d;
  });
  assert.is(failed.state, 'ERROR');
  assert.match(failed.errors[0].message, /no-such-server/);
  assert.is(failed.instances, undefined);
  assertFault(await s.call('/swap'), 404, 'messaging.adaptors.http.flow.ApplicationNotFound');
});

test.run();
