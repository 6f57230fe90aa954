// Environment groups and a group's attachments come in pages, as on Apigee X (pageSize, default 25;
// nextPageToken, absent on the last page): the stand-in pages both, and the client that looks for
// the group attached to the environment (APIGEE_HOST unset) follows both to it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadConfig } from '../core/config.ts';
import { ApigeeClient } from '../scripts/lib/apigee/client.ts';
import { resolveGateway } from '../scripts/lib/apigee/target.ts';
import { isolated } from './helpers/isolation.ts';
import { assertError, startStandIn, type StandIn } from './helpers/apigee-local.ts';

/** 30 groups named before the environment's own ("eval-group"), attached to no environment. */
const OTHERS = Array.from({ length: 30 }, (_, i) => ({ name: `a-group-${String(i).padStart(2, '0')}`, hostnames: [`a${i}.example`] }));
/** 30 more environments attached to "eval-group", named before "eval": it is on the second page of attachments. */
const ATTACHED = Array.from({ length: 30 }, (_, i) => `dev-${String(i).padStart(2, '0')}`);
let s: StandIn;

test.before(async () => {
  s = await startStandIn({ otherEnvGroups: OTHERS, envGroupHostnames: ['api.example.com'], otherAttachedEnvironments: ATTACHED });
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

test('the stand-in pages GET /envgroups/{group}/attachments the same way: 25 by default, pageSize, nextPageToken; a bad token or size is 400', async () => {
  const first = await s.ok('GET', '/envgroups/eval-group/attachments');
  assert.is(first.environmentGroupAttachments.length, 25);
  assert.type(first.nextPageToken, 'string');
  const second = await s.ok('GET', `/envgroups/eval-group/attachments?pageToken=${encodeURIComponent(first.nextPageToken)}`);
  assert.equal(second.environmentGroupAttachments.map((a: { environment: string }) => a.environment), ['dev-25', 'dev-26', 'dev-27', 'dev-28', 'dev-29', 'eval']);
  assert.equal(second.environmentGroupAttachments[5], { name: 'eval-attachment', environment: 'eval', createdAt: second.environmentGroupAttachments[0].createdAt, environmentGroupId: 'eval-group' });
  assert.is(second.nextPageToken, undefined, 'the last page has no nextPageToken');
  const environments: string[] = [];
  let token = '';
  for (let pages = 0; pages < 10; pages++) {
    const page = await s.ok('GET', `/envgroups/eval-group/attachments?pageSize=8${token ? `&pageToken=${encodeURIComponent(token)}` : ''}`);
    assert.ok(page.environmentGroupAttachments.length <= 8);
    environments.push(...page.environmentGroupAttachments.map((a: { environment: string }) => a.environment));
    if (!page.nextPageToken) break;
    token = page.nextPageToken;
  }
  assert.equal(environments, [...ATTACHED, 'eval']);
  assertError(await s.api('GET', '/envgroups/eval-group/attachments?pageToken=bogus'), 400, 'INVALID_ARGUMENT');
  assertError(await s.api('GET', `/envgroups/a-group-03/attachments?pageToken=${encodeURIComponent(first.nextPageToken)}`), 400, 'INVALID_ARGUMENT');
  assertError(await s.api('GET', '/envgroups/eval-group/attachments?pageSize=x'), 400, 'INVALID_ARGUMENT');
  assertError(await s.api('GET', '/envgroups/nope/attachments'), 404, 'NOT_FOUND');
});

test('APIGEE_HOST unset: the client follows nextPageToken to the group attached to the environment on page 2, and through its attachments to page 2', async () => {
  const config = loadConfig({ env: isolated({ APIGEE_TARGET: 'apigee-x', APIGEE_ORG: 'demo-org', APIGEE_ENV: 'eval', APIGEE_HOST: '' }), argv: [] });
  const client = new ApigeeClient({ baseUrl: `http://127.0.0.1:${s.local.apiPort}/v1`, org: 'demo-org', env: 'eval', dryRun: false, token: async () => 't', quiet: true });
  const gateway = await resolveGateway(config, client);
  assert.is(gateway.host, 'api.example.com');
  const attachmentCalls = client.sent.filter((c) => c.url.includes('/envgroups/eval-group/attachments'));
  assert.is(attachmentCalls.length, 2, 'both pages of the group\'s attachments');
  assert.match(attachmentCalls[1]!.url, /\/attachments\?pageToken=/);
});

test.run();
