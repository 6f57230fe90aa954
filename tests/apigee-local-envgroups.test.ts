// Environment groups come in pages, as on Apigee X (pageSize, default 25; nextPageToken, absent on
// the last page): the stand-in pages them, and the client that looks for the group attached to
// the environment (APIGEE_HOST unset) follows the pages to it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../core/config.ts';
import { ApigeeClient } from '../scripts/lib/apigee/client.ts';
import { resolveGateway } from '../scripts/lib/apigee/target.ts';
import { assertError, startStandIn, type StandIn } from './helpers/apigee-local.ts';

/** 30 groups named before the environment's own ("eval-group"), attached to no environment. */
const OTHERS = Array.from({ length: 30 }, (_, i) => ({ name: `a-group-${String(i).padStart(2, '0')}`, hostnames: [`a${i}.example`] }));
let s: StandIn;

test.before(async () => {
  s = await startStandIn({ otherEnvGroups: OTHERS, envGroupHostnames: ['api.example.com'] });
});
test.after(async () => {
  await s.close();
});

test('the stand-in pages GET /envgroups: 25 by default, pageSize, nextPageToken until the last page; a bad token or size is 400 INVALID_ARGUMENT', async () => {
  const first = await s.ok('GET', '/envgroups');
  assert.is(first.environmentGroups.length, 25);
  assert.type(first.nextPageToken, 'string');
  const second = await s.ok('GET', `/envgroups?pageToken=${encodeURIComponent(first.nextPageToken)}`);
  assert.equal(second.environmentGroups.map((g: { name: string }) => g.name), ['a-group-25', 'a-group-26', 'a-group-27', 'a-group-28', 'a-group-29', 'eval-group']);
  assert.is(second.nextPageToken, undefined, 'the last page has no nextPageToken');
  // pageSize pages by that many; the pages cover every group once, in order.
  const names: string[] = [];
  let token = '';
  for (let pages = 0; pages < 10; pages++) {
    const page = await s.ok('GET', `/envgroups?pageSize=7${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`);
    assert.ok(page.environmentGroups.length <= 7);
    names.push(...page.environmentGroups.map((g: { name: string }) => g.name));
    if (!page.nextPageToken) break;
    token = page.nextPageToken;
  }
  assert.equal(names, [...OTHERS.map((g) => g.name), 'eval-group']);
  assert.is((await s.ok('GET', '/envgroups?pageSize=5000')).environmentGroups.length, 31);
  assertError(await s.api('GET', '/envgroups?pageToken=bogus'), 400, 'INVALID_ARGUMENT');
  assertError(await s.api('GET', '/envgroups?pageSize=-1'), 400, 'INVALID_ARGUMENT');
  assert.equal(await s.ok('GET', '/envgroups/a-group-03/attachments'), {}, 'a group attached to nothing');
});

test('APIGEE_HOST unset: the client follows nextPageToken to the group attached to the environment on page 2', async () => {
  const config = loadConfig({ env: { APIGEE_TARGET: 'apigee-x', APIGEE_ORG: 'demo-org', APIGEE_ENV: 'eval', APIGEE_HOST: '' }, argv: [] });
  const client = new ApigeeClient({ baseUrl: `http://127.0.0.1:${s.local.apiPort}/v1`, org: 'demo-org', env: 'eval', dryRun: false, token: async () => 't', quiet: true });
  const gateway = await resolveGateway(config, client);
  assert.is(gateway.host, 'api.example.com');
});

test.run();
