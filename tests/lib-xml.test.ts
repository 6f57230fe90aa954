// lib/xml.ts: what Apigee bundles contain parses; every kind of malformed document is an
// XmlError at the right line and column.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { XmlError, child, children, parseXml, textOf } from '../lib/xml.ts';

const targetEndpoint = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!-- target endpoint with mutual TLS -->
<TargetEndpoint name='default'>
  <Description/>
  <HTTPTargetConnection>
    <SSLInfo>
      <Enabled>true</Enabled>
      <ClientAuthEnabled>true</ClientAuthEnabled>
      <KeyStore>ref://mtls-keystore-ref</KeyStore>
      <KeyAlias>apigee-client</KeyAlias>
      <TrustStore>ref://mtls-truststore-ref</TrustStore>
    </SSLInfo>
    <LoadBalancer>
      <Server name="mtls-backend"/>
      <Server name="spare" isFallback="true" />
    </LoadBalancer>
    <Path>/api?a=1&amp;b=2</Path>
  </HTTPTargetConnection>
</TargetEndpoint>
`;

test('a target endpoint: declaration, comment, attributes in both quotes, self-closing tags', () => {
  const root = parseXml(targetEndpoint);
  assert.is(root.name, 'TargetEndpoint');
  assert.equal(root.attributes, { name: 'default' });
  const conn = child(root, 'HTTPTargetConnection')!;
  const ssl = child(conn, 'SSLInfo')!;
  assert.is(textOf(ssl, 'KeyStore'), 'ref://mtls-keystore-ref');
  assert.is(textOf(ssl, 'ClientAuthEnabled'), 'true');
  assert.is(textOf(ssl, 'Missing'), undefined);
  assert.equal(children(child(conn, 'LoadBalancer')!, 'Server').map((s) => s.attributes), [{ name: 'mtls-backend' }, { name: 'spare', isFallback: 'true' }]);
  assert.is(textOf(conn, 'Path'), '/api?a=1&b=2');
  assert.equal(child(root, 'Description'), { name: 'Description', attributes: {}, children: [], text: '' });
  assert.is(children(root).length, 2);
});

test('entities, character references, CDATA and mixed content', () => {
  const root = parseXml(`<a t="&lt;&gt;&amp;&apos;&quot; &#65;&#x42;">x &#x1F600; <![CDATA[<raw> & ]]]>y<b/>z</a>`);
  assert.is(root.attributes.t, `<>&'" AB`);
  assert.is(root.text, 'x \u{1F600} <raw> & ]y' + 'z');
  assert.is(root.children[0].name, 'b');
});

test('comments and processing instructions are skipped; BOM and CRLF accepted', () => {
  const root = parseXml('\uFEFF<?xml version="1.0"?>\r\n<!-- a --><?pi data?>\r\n<r><!-- b --><?x y?><c>1</c></r>\r\n<!-- after -->\r\n');
  assert.is(root.name, 'r');
  assert.is(textOf(root, 'c'), '1');
});

test('attribute whitespace is normalised; names with dots, dashes, colons', () => {
  const root = parseXml('<ns:a x-y.z="1\n2\t3" _b = "v" />');
  assert.is(root.name, 'ns:a');
  assert.equal(root.attributes, { 'x-y.z': '1 2 3', _b: 'v' });
});

test('deep nesting does not overflow the stack', () => {
  const depth = 20000;
  const root = parseXml('<a>'.repeat(depth) + 'deep' + '</a>'.repeat(depth));
  let el = root;
  for (let i = 1; i < depth; i++) el = el.children[0];
  assert.is(el.text, 'deep');
});

const bad: Array<[string, string, RegExp, number, number]> = [
  ['mismatched tags', '<a>\n  <b></c>\n</a>', /<\/c> does not match <b> opened at line 2, column 3/, 2, 6],
  ['unclosed element', '<a>\n<b>text</b>\n', /unclosed element <a>/, 1, 1],
  ['unclosed start tag', '<a><b x="1"', /unclosed start tag <b>/, 1, 4],
  ['duplicate attribute', '<a x="1" y="2" x="3"/>', /duplicate attribute "x"/, 1, 16],
  ['junk after the root', '<a/>\n<b/>', /unexpected content after the root/, 2, 1],
  ['text after the root', '<a></a>tail', /unexpected content after the root/, 1, 8],
  ['two roots in a row', '<a/><a/>', /unexpected content after the root/, 1, 5],
  ['DOCTYPE with an entity', '<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY x "boom">]>\n<a>&x;</a>', /DOCTYPE is not allowed/, 2, 1],
  ['unknown entity', '<a>&nbsp;</a>', /unknown entity &nbsp;/, 1, 4],
  ['bare ampersand', '<a>fish & chips</a>', /"&" must start a reference/, 1, 9],
  ['illegal character reference', '<a>&#0;</a>', /not a legal XML character/, 1, 4],
  ['surrogate character reference', '<a>&#xD800;</a>', /not a legal XML character/, 1, 4],
  ['"<" in an attribute', '<a x="1<2"/>', /"<" is not allowed in attribute "x"/, 1, 8],
  ['unquoted attribute', '<a x=1/>', /must be quoted/, 1, 6],
  ['no space between attributes', '<a x="1"y="2"/>', /expected whitespace/, 1, 9],
  ['unterminated comment', '<a><!-- no end</a>', /unterminated comment/, 1, 4],
  ['double dash in comment', '<a><!-- a -- b --></a>', /"--" is not allowed/, 1, 4],
  ['unterminated CDATA', '<a><![CDATA[x</a>', /unterminated CDATA/, 1, 4],
  ['"]]>" in text', '<a>x ]]> y</a>', /"]]>" is not allowed/, 1, 6],
  ['declaration not at the start', '\n<?xml version="1.0"?><a/>', /only allowed at the very start/, 2, 1],
  ['declaration without version', '<?xml encoding="UTF-8"?><a/>', /version="1.x"/, 1, 1],
  ['empty document', '  \n ', /no root element/, 2, 2],
  ['text before the root', 'hello <a/>', /text before the root/, 1, 1],
  ['closing tag first', '</a>', /without an open element/, 1, 1],
  ['bad element name', '<1a/>', /expected a name/, 1, 2],
  ['control character', '<a>\u0001</a>', /illegal character U\+0001/, 1, 4],
];

for (const [label, text, reason, line, column] of bad) {
  test(`rejects: ${label}`, () => {
    try {
      parseXml(text);
    } catch (e) {
      assert.instance(e, XmlError);
      const err = e as XmlError;
      assert.match(err.message, reason);
      assert.equal([err.line, err.column], [line, column], `${label}: ${err.message}`);
      return;
    }
    assert.unreachable('expected XmlError');
  });
}

test.run();
