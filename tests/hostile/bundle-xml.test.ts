// Hostile XML inside proxy bundles (the cases the former hand-written parser was tested with, now
// against the stand-in's bundle parsing on fast-xml-parser): no DTD or entity ever expands, depth
// and size are capped, the markup of a whole bundle is budgeted (parsing runs on the event loop the
// gateway shares), malformed documents are refused with line and column, JavaScript built-in
// names are refused or kept as plain names; a refused bundle is a 400 and stores nothing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BundleXmlError, XML_LIMITS, attribute, child, children, parseBundleXml } from '../../apigee-local/bundle-xml.ts';
import { randomBytes } from 'node:crypto';
import { zipSync } from 'fflate';
import { assertError, deployAlive, startStandIn, whileCallingGateway, within, zip, type StandIn } from '../helpers/apigee-local.ts';

let s: StandIn;
let stopAlive: () => void;
test.before(async () => {
  s = await startStandIn();
  stopAlive = await deployAlive(s);
});
test.after(async () => {
  await s.close();
  stopAlive();
});

const PROXY = '<ProxyEndpoint name="default"><HTTPProxyConnection><BasePath>/x</BasePath></HTTPProxyConnection><RouteRule name="r"/></ProxyEndpoint>';
// The refusals are told apart by their messages (DOCTYPE refused before parsing, nesting capped);
// the time limit only stops a hang.
const importWith = (file: string, xml: string) =>
  within(60_000, `import with ${file}`, s.api('POST', '/apis?name=xml&action=import',
    zip({ 'apiproxy/x.xml': '<APIProxy name="x"/>', 'apiproxy/proxies/default.xml': PROXY, [file]: xml }), 'application/octet-stream'));

function refused(xml: string, reason: RegExp): void {
  try {
    parseBundleXml(xml);
  } catch (error) {
    assert.instance(error, BundleXmlError);
    assert.match((error as Error).message, reason);
    return;
  }
  assert.unreachable(`expected a refusal matching ${reason}`);
}

test('what bundles contain parses: declaration, comments, both quotes, entities, character references, CDATA', () => {
  const root = parseBundleXml(`\uFEFF<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!-- target endpoint with mutual TLS -->
<TargetEndpoint name='default'>
  <HTTPTargetConnection>
    <SSLInfo><Enabled>true</Enabled><KeyStore>ref://ks-ref</KeyStore></SSLInfo>
    <LoadBalancer><Server name="a"/><Server name="b" isFallback="true" /></LoadBalancer>
    <Path>/api?a=1&amp;b=2 &#65;&#x42; <![CDATA[<raw> & ]]></Path>
  </HTTPTargetConnection>
</TargetEndpoint>`);
  assert.is(root.name, 'TargetEndpoint');
  assert.is(attribute(root, 'name'), 'default');
  const conn = child(root, 'HTTPTargetConnection')!;
  assert.is(child(child(conn, 'SSLInfo')!, 'KeyStore')!.text, 'ref://ks-ref');
  assert.equal(children(child(conn, 'LoadBalancer')!, 'Server').map((e) => attribute(e, 'name')), ['a', 'b']);
  assert.is(child(conn, 'Path')!.text, '/api?a=1&b=2 AB <raw> & ');
});

test('DOCTYPE is refused before parsing: no billion laughs, no external entity', async () => {
  const laughs = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">' +
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>';
  refused(laughs, /DOCTYPE is not allowed/);
  refused('<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>', /DOCTYPE is not allowed/);
  refused('<!doctype a><a/>', /DOCTYPE is not allowed/);
  assertError(await importWith('apiproxy/policies/lol.xml', laughs), 400, 'INVALID_ARGUMENT', /policies\/lol.xml is not valid XML: DOCTYPE/);
});

test('undefined entities are not expanded: they stay as written', () => {
  assert.is(parseBundleXml('<a>&nbsp;&x;</a>').text, '&nbsp;&x;');
});

test(`nesting deeper than ${XML_LIMITS.depth} and files over ${XML_LIMITS.chars} characters are refused`, async () => {
  // One level over the limit: well-formed and far under fast-xml-parser's own default cap (100), so
  // only XML_LIMITS.depth can refuse it.
  const nested = (levels: number) => '<a>'.repeat(levels) + 'deep' + '</a>'.repeat(levels);
  refused(nested(XML_LIMITS.depth + 1), /Maximum nested tags exceeded/);
  assertError(await importWith('apiproxy/policies/deep.xml', nested(XML_LIMITS.depth + 1)), 400, 'INVALID_ARGUMENT', /deep.xml is not valid XML: Maximum nested tags/);
  assert.is(parseBundleXml(nested(XML_LIMITS.depth)).name, 'a');
  refused(nested(20_000), /Maximum nested tags exceeded/);
  refused(`<a>${'x'.repeat(XML_LIMITS.chars)}</a>`, /larger than/);
});

const malformed: Array<[string, string, RegExp]> = [
  ['mismatched tags', '<a>\n  <b></c>\n</a>', /closing tag 'b'.*instead of closing tag 'c'.*\(line 2, column 6\)/],
  ['unclosed element', '<a>\n<b>text</b>\n', /Unclosed tag 'a'/],
  ['unclosed start tag', '<a><b x="1"', /line 1/],
  ['duplicate attribute', '<a x="1" y="2" x="3"/>', /Attribute 'x' is repeated/],
  ['two roots', '<a/>\n<b/>', /more than one root element/],
  ['text after the root', '<a></a>tail', /Extra text at the end/],
  ['bare ampersand', '<a>fish & chips</a>', /char '&' is not expected/],
  ['unquoted attribute', '<a x=1/>', /without value/],
  ['no space between attributes', '<a x="1"y="2"/>', /no space/],
  ['unterminated comment', '<a><!-- no end</a>', /Unclosed tag 'a'/],
  ['unterminated CDATA', '<a><![CDATA[x</a>', /Unclosed tag 'a'/],
  ['declaration not at the start', '\n<?xml version="1.0"?><a/>', /only at the start/],
  ['empty document', '  \n ', /Start tag expected|no root element/],
  ['text before the root', 'hello <a/>', /char 'h' is not expected/],
  ['closing tag first', '</a>', /has not been opened/],
  ['bad element name', '<1a/>', /invalid name/],
  ['control character', '<a>\u0001</a>', /illegal character U\+0001/],
];
for (const [label, xml, reason] of malformed) {
  test(`refused: ${label}`, () => refused(xml, reason));
}

test('JavaScript built-in names as elements or attributes: a 400, never a 500 or a polluted prototype', async () => {
  for (const xml of ['<a __proto__="x"/>', '<__proto__/>', '<a><constructor>1</constructor></a>', '<a toString="1" hasOwnProperty="2"/>']) {
    let root;
    try {
      root = parseBundleXml(xml);
    } catch (error) {
      assert.instance(error, BundleXmlError, xml);
      continue;
    }
    // Accepted names are plain own keys of a prototype-less record.
    assert.is(Object.getPrototypeOf(root.attributes), null, xml);
  }
  assert.is(({} as Record<string, unknown>).x, undefined, 'Object.prototype untouched');
  const a = await importWith('apiproxy/policies/p.xml', '<AssignMessage __proto__="x" constructor="y"/>');
  assert.ok(a.status === 200 || a.status === 400, a.text);
  if (a.status === 400) assertError(a, 400, 'INVALID_ARGUMENT', /p.xml is not valid XML/);
  assert.is(({} as Record<string, unknown>).x, undefined);
});

test(`a bundle with more than ${XML_LIMITS.bundleMarkup} tags and attributes is refused before parsing; the gateway keeps answering`, async () => {
  // 30 policy files of 1 MB of empty elements each, within every zip and per-file limit (incompressible
  // padding keeps the ratio under 200): parsed one after another, they held the event loop for ~28 s.
  const heavy = '<AssignMessage>' + '<a/>'.repeat(249_990) + '</AssignMessage>';
  assert.ok(heavy.length < XML_LIMITS.chars);
  const files: Record<string, Uint8Array> = { 'apiproxy/pad.bin': randomBytes(300_000) };
  for (const [name, text] of Object.entries({ 'apiproxy/x.xml': '<APIProxy name="x"/>', 'apiproxy/proxies/default.xml': PROXY })) files[name] = Buffer.from(text);
  for (let i = 0; i < 30; i++) files[`apiproxy/policies/p${i}.xml`] = Buffer.from(heavy);
  const body = Buffer.from(zipSync(files, { level: 9 }));
  // The unit, timed in this run so that a loaded machine stretches it with the import: parsing one of
  // the 30 files. Refused before parsing, the import blocks the loop for a fraction of it (counting
  // the markup); parsed in one go, for 30 of it.
  const t0 = performance.now();
  parseBundleXml(heavy);
  const parseMs = performance.now() - t0;
  const m = await whileCallingGateway(s, () => within(60_000, 'heavy import', s.api('POST', '/apis?name=xml&action=import', body, 'application/octet-stream')));
  assertError(m.result, 400, 'INVALID_ARGUMENT', new RegExp(`holds \\d+ tags and attributes; the limit for one bundle is ${XML_LIMITS.bundleMarkup}`));
  assert.ok(m.loopBlockedMs < 3 * parseMs, `the event loop was blocked up to ${Math.round(m.loopBlockedMs)} ms (parsing one of the files: ${Math.round(parseMs)} ms)`);
  assert.ok(m.calls >= 1 && m.slowestCall < 3 * parseMs, `${m.calls} gateway calls during the upload, slowest ${Math.round(m.slowestCall)} ms (parsing one of the files: ${Math.round(parseMs)} ms)`);
  assertError(await s.api('GET', '/apis/xml'), 404, 'NOT_FOUND');
  // Just under the budget, spread over files, still imports.
  const policy = '<AssignMessage>' + '<a x="1"/>'.repeat(4_000) + '</AssignMessage>';
  const fine: Record<string, string> = { 'apiproxy/x.xml': '<APIProxy name="x"/>', 'apiproxy/proxies/default.xml': PROXY };
  for (let i = 0; i < 12; i++) fine[`apiproxy/policies/p${i}.xml`] = policy;
  const ok = await within(60_000, 'import under the budget', s.api('POST', '/apis?name=xml&action=import', zip(fine), 'application/octet-stream'));
  assert.is(ok.status, 200, ok.text);
  assert.is(ok.json.policies.length, 12);
  assert.ok((await s.api('DELETE', '/apis/xml')).status === 200);
});

test('a malformed policy file refuses the whole bundle and stores nothing', async () => {
  assertError(await importWith('apiproxy/policies/bad.xml', '<a><b></a>'), 400, 'INVALID_ARGUMENT', /policies\/bad.xml is not valid XML: .*line 1/);
  assertError(await s.api('GET', '/apis/xml'), 404, 'NOT_FOUND');
});

test.run();
