// A small strict XML parser for Apigee proxy bundles (policies, proxy and target endpoints).
// It keeps elements, attributes and text; comments and processing instructions are skipped.
// DOCTYPE is refused outright, so no entity can ever be expanded beyond the five predefined
// ones and numeric character references. Errors carry the 1-based line and column.
export class XmlError extends Error {
  override name = 'XmlError';
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${reason} (line ${line}, column ${column})`);
  }
}

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** The element's own text and CDATA, concatenated as written (child elements' text excluded). */
  text: string;
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', apos: "'", quot: '"' };
const NAME_START = /[A-Za-z_:\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF\u200C-\u200D\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD]/;
const NAME_CHAR = /[-.0-9\u00B7\u0300-\u036F\u203F-\u2040]/;
// Characters XML 1.0 allows in a document (besides the surrogate pairs JS strings hold).
const ILLEGAL_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;

class Cursor {
  pos = 0;
  constructor(readonly src: string) {}

  /** 1-based line and column of an offset (computed only when an error needs it). */
  position(at: number): { line: number; column: number } {
    let line = 1;
    let lineStart = 0;
    for (let i = 0; i < at && i < this.src.length; i++) {
      if (this.src[i] === '\n') {
        line++;
        lineStart = i + 1;
      }
    }
    return { line, column: at - lineStart + 1 };
  }

  fail(reason: string, at = this.pos): never {
    const { line, column } = this.position(at);
    throw new XmlError(reason, line, column);
  }

  get done(): boolean {
    return this.pos >= this.src.length;
  }

  startsWith(s: string): boolean {
    return this.src.startsWith(s, this.pos);
  }

  expect(s: string, what: string): void {
    if (!this.startsWith(s)) this.fail(`expected ${what}`);
    this.pos += s.length;
  }

  /** Skips whitespace; returns whether there was any. */
  space(): boolean {
    const start = this.pos;
    while (!this.done && ' \t\n'.includes(this.src[this.pos])) this.pos++;
    return this.pos > start;
  }

  /** Everything up to `end` (consumed); `what` names the construct left open for the error. */
  until(end: string, what: string, openedAt: number): string {
    const i = this.src.indexOf(end, this.pos);
    if (i < 0) this.fail(`unterminated ${what}`, openedAt);
    const body = this.src.slice(this.pos, i);
    this.pos = i + end.length;
    return body;
  }

  name(): string {
    const start = this.pos;
    if (this.done || !NAME_START.test(this.src[this.pos])) this.fail('expected a name');
    this.pos++;
    while (!this.done && (NAME_START.test(this.src[this.pos]) || NAME_CHAR.test(this.src[this.pos]))) this.pos++;
    return this.src.slice(start, this.pos);
  }
}

/** Replaces entity and character references in `raw`, which starts at `offset` in the source. */
function decode(cur: Cursor, raw: string, offset: number): string {
  if (!raw.includes('&')) return raw;
  return raw.replace(/&([^;&<\s]*);?/g, (match, ref: string, at: number) => {
    const where = offset + at;
    if (!match.endsWith(';')) cur.fail(`"&" must start a reference such as &amp;`, where);
    if (ref in PREDEFINED) return PREDEFINED[ref];
    const m = /^#(?:x([0-9a-fA-F]+)|([0-9]+))$/.exec(ref);
    if (!m) cur.fail(`unknown entity &${ref}; (only &lt; &gt; &amp; &apos; &quot; and &#…; are allowed)`, where);
    const code = m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2], 10);
    const legal = code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) || (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff);
    if (!legal) cur.fail(`character reference &${ref}; is not a legal XML character`, where);
    return String.fromCodePoint(code);
  });
}

function attributes(cur: Cursor): Record<string, string> {
  const attrs: Record<string, string> = Object.create(null);
  for (;;) {
    const hadSpace = cur.space();
    if (cur.done || cur.startsWith('>') || cur.startsWith('/>')) return { ...attrs };
    if (!hadSpace) cur.fail('expected whitespace before the attribute');
    const at = cur.pos;
    const name = cur.name();
    if (name in attrs) cur.fail(`duplicate attribute "${name}"`, at);
    cur.space();
    cur.expect('=', `"=" after attribute "${name}"`);
    cur.space();
    const quote = cur.src[cur.pos];
    if (quote !== '"' && quote !== "'") cur.fail(`attribute "${name}" value must be quoted`);
    const valueAt = cur.pos + 1;
    cur.pos++;
    const raw = cur.until(quote, `value of attribute "${name}"`, at);
    const lt = raw.indexOf('<');
    if (lt >= 0) cur.fail(`"<" is not allowed in attribute "${name}"`, valueAt + lt);
    // Attribute value normalisation: each whitespace character becomes a space.
    attrs[name] = decode(cur, raw, valueAt).replace(/[\t\n]/g, ' ');
  }
}

/** Comments, processing instructions and whitespace allowed before and after the root. */
function misc(cur: Cursor): void {
  for (;;) {
    cur.space();
    const at = cur.pos;
    if (cur.startsWith('<!--')) comment(cur);
    else if (cur.startsWith('<?')) {
      cur.pos += 2;
      if (/^xml[\s?]/i.test(cur.src.slice(cur.pos, cur.pos + 4))) cur.fail('the XML declaration is only allowed at the very start', at);
      cur.until('?>', 'processing instruction', at);
    } else if (cur.startsWith('<!DOCTYPE') || cur.startsWith('<!doctype')) {
      cur.fail('DOCTYPE is not allowed (no DTDs or custom entities in proxy bundles)');
    } else return;
  }
}

function comment(cur: Cursor): void {
  const at = cur.pos;
  cur.pos += 4;
  const body = cur.until('-->', 'comment', at);
  if (body.includes('--') || body.endsWith('-')) cur.fail('"--" is not allowed inside a comment', at);
}

function declaration(cur: Cursor): void {
  if (!/^<\?xml[\s?]/.test(cur.src.slice(0, 6))) return;
  const at = cur.pos;
  cur.pos += 5;
  const body = cur.until('?>', 'XML declaration', at);
  if (!/^\s+version\s*=\s*(["'])1\.\d+\1/.test(body)) cur.fail('the XML declaration must start with version="1.x"', at);
}

/** Parses a whole document and returns its root element. Throws XmlError on anything not well-formed. */
export function parseXml(input: string): XmlElement {
  const cur: Cursor = new Cursor(input.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n'));
  const bad = ILLEGAL_CHAR.exec(cur.src);
  if (bad) cur.fail(`illegal character U+${bad[0].charCodeAt(0).toString(16).padStart(4, '0').toUpperCase()}`, bad.index);
  declaration(cur);
  misc(cur);
  if (cur.done) cur.fail('no root element');
  if (!cur.startsWith('<')) cur.fail('text before the root element');

  // Explicit stack instead of recursion: deep nesting cannot overflow the call stack.
  const open: Array<{ el: XmlElement; at: number }> = [];
  let root: XmlElement | undefined;
  while (!root) {
    const at = cur.pos;
    if (cur.startsWith('</')) {
      cur.pos += 2;
      const name = cur.name();
      cur.space();
      cur.expect('>', `">" to end </${name}`);
      const top = open.pop();
      if (!top) cur.fail(`closing tag </${name}> without an open element`, at);
      if (top.el.name !== name) {
        const opened = cur.position(top.at);
        cur.fail(`</${name}> does not match <${top.el.name}> opened at line ${opened.line}, column ${opened.column}`, at);
      }
      if (open.length === 0) root = top.el;
    } else if (cur.startsWith('<!--')) {
      comment(cur);
    } else if (cur.startsWith('<![CDATA[')) {
      if (open.length === 0) cur.fail('CDATA outside the root element');
      cur.pos += 9;
      open[open.length - 1].el.text += cur.until(']]>', 'CDATA section', at);
    } else if (cur.startsWith('<!')) {
      cur.fail(cur.startsWith('<!DOCTYPE') ? 'DOCTYPE is not allowed (no DTDs or custom entities in proxy bundles)' : 'unexpected "<!"');
    } else if (cur.startsWith('<?')) {
      cur.pos += 2;
      if (/^xml[\s?]/i.test(cur.src.slice(cur.pos, cur.pos + 4))) cur.fail('the XML declaration is only allowed at the very start', at);
      cur.until('?>', 'processing instruction', at);
    } else if (cur.startsWith('<')) {
      cur.pos++;
      const el: XmlElement = { name: cur.name(), attributes: {}, children: [], text: '' };
      el.attributes = attributes(cur);
      if (open.length) open[open.length - 1].el.children.push(el);
      if (cur.startsWith('/>')) {
        cur.pos += 2;
        if (open.length === 0) root = el;
      } else if (cur.startsWith('>')) {
        cur.pos++;
        open.push({ el, at });
      } else {
        cur.fail(`unclosed start tag <${el.name}>`, at);
      }
    } else if (cur.done) {
      const top = open[open.length - 1];
      cur.fail(`unclosed element <${top.el.name}>`, top.at);
    } else {
      const end = cur.src.indexOf('<', cur.pos);
      const raw = cur.src.slice(cur.pos, end < 0 ? cur.src.length : end);
      const cdataEnd = raw.indexOf(']]>');
      if (cdataEnd >= 0) cur.fail('"]]>" is not allowed in text', at + cdataEnd);
      open[open.length - 1].el.text += decode(cur, raw, at);
      cur.pos += raw.length;
    }
  }
  misc(cur);
  if (!cur.done) cur.fail('unexpected content after the root element');
  return root;
}

/** The first child element called `name`, if any. */
export function child(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}

/** Every child element called `name` (or all children when `name` is omitted). */
export function children(el: XmlElement, name?: string): XmlElement[] {
  return name === undefined ? el.children : el.children.filter((c) => c.name === name);
}

/** The trimmed text of the first child called `name`, or undefined when there is no such child. */
export function textOf(el: XmlElement, name: string): string | undefined {
  return child(el, name)?.text.trim();
}
