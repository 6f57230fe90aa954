// A minimal ASN.1 DER reader and writer: only the types PKCS#12 and X.509 extensions need.
// The reader checks every length against the bytes that are really there, so truncated or
// garbage input raises DerError instead of looping or reading past the end.
export class DerError extends Error {
  override name = 'DerError';
}

/** Universal tag numbers (first identifier octet, class universal). */
export const Tag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** One decoded TLV. `tag` is the whole identifier octet (class, constructed bit, number). */
export interface DerNode {
  tag: number;
  constructed: boolean;
  /** The value bytes (a view into the input, not a copy). */
  content: Buffer;
  /** The whole encoding: identifier, length and value. */
  raw: Buffer;
}

/** Identifier octet of a context-specific tag [n]; constructed unless said otherwise. */
export function contextTag(n: number, constructed = true): number {
  if (n < 0 || n > 30) throw new DerError(`context tag [${n}] out of range`);
  return 0x80 | (constructed ? 0x20 : 0) | n;
}

/** Where one TLV's value starts and where the TLV ends, as offsets into the input. */
export interface TlvSpan {
  tag: number;
  start: number;
  end: number;
}

/** Reads the identifier and length of the TLV at `offset` (no copies, no views); checks them against the input. */
export function readSpan(buf: Buffer, offset: number): TlvSpan {
  if (offset >= buf.length) throw new DerError(`expected a value at offset ${offset}, found end of data`);
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) throw new DerError(`high tag numbers are not supported (offset ${offset})`);
  if (offset + 1 >= buf.length) throw new DerError(`truncated length at offset ${offset + 1}`);
  let len = buf[offset + 1];
  let pos = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) throw new DerError(`indefinite length (BER) at offset ${offset} is not DER`);
    if (n > 4) throw new DerError(`length of ${n} octets at offset ${offset} is too large`);
    if (pos + n > buf.length) throw new DerError(`truncated length at offset ${pos}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos + i];
    pos += n;
  }
  const end = pos + len;
  if (end > buf.length) throw new DerError(`value at offset ${offset} claims ${len} bytes but only ${buf.length - pos} remain`);
  return { tag, start: pos, end };
}

/** Reads one TLV starting at `offset`; returns it and the offset just after it. */
function readTlv(buf: Buffer, offset = 0): { node: DerNode; next: number } {
  const { tag, start, end } = readSpan(buf, offset);
  return {
    node: { tag, constructed: (tag & 0x20) !== 0, content: buf.subarray(start, end), raw: buf.subarray(offset, end) },
    next: end,
  };
}

/**
 * The first child carrying `tag` inside the constructed TLV that fills `buf`, or undefined. For
 * hot paths: it reads only identifiers and lengths, and makes no views or copies.
 */
export function findChild(buf: Buffer, tag: number): TlvSpan | undefined {
  const outer = readSpan(buf, 0);
  if (!(outer.tag & 0x20)) throw new DerError(`tag 0x${hex(outer.tag)} is not constructed`);
  if (outer.end !== buf.length) throw new DerError(`${buf.length - outer.end} unexpected bytes after the value`);
  for (let at = outer.start; at < outer.end; ) {
    const child = readSpan(buf, at);
    if (child.tag === tag) return child;
    at = child.end;
  }
  return undefined;
}

/** Decodes exactly one TLV that must fill the whole buffer. */
export function parseDer(buf: Buffer): DerNode {
  const { node, next } = readTlv(buf, 0);
  if (next !== buf.length) throw new DerError(`${buf.length - next} unexpected bytes after the value`);
  return node;
}

/**
 * The TLVs inside a constructed value, read one at a time, so a caller that counts them (or stops
 * early) never decodes more of a hostile value than it wants.
 */
export function* eachChild(node: DerNode): Generator<DerNode> {
  if (!node.constructed) throw new DerError(`tag 0x${hex(node.tag)} is not constructed`);
  for (let pos = 0; pos < node.content.length; ) {
    const { node: child, next } = readTlv(node.content, pos);
    yield child;
    pos = next;
  }
}

/** The TLVs inside a constructed value, in order. */
export function childrenOf(node: DerNode): DerNode[] {
  return [...eachChild(node)];
}

const hex = (n: number) => n.toString(16).padStart(2, '0');

/** Throws unless `node` carries `tag`; `what` names the field for the message. */
export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node) throw new DerError(`${what}: missing`);
  if (node.tag !== tag) throw new DerError(`${what}: expected tag 0x${hex(tag)}, found 0x${hex(node.tag)}`);
  return node;
}

/**
 * Children of a SEQUENCE (or SET), checking the tag and the count: at least `min`, at most `max`
 * (reading stops at the first extra one, so a hostile element list costs nothing to refuse).
 */
export function sequence(node: DerNode | undefined, what: string, min = 0, tag: number = Tag.SEQUENCE, max = Infinity): DerNode[] {
  const items: DerNode[] = [];
  for (const child of eachChild(expectTag(node, tag, what))) {
    if (items.length === max) throw new DerError(`${what}: expected at most ${max} elements`);
    items.push(child);
  }
  if (items.length < min) throw new DerError(`${what}: expected at least ${min} elements, found ${items.length}`);
  return items;
}

/** The single value inside an EXPLICIT context tag [n]. */
export function explicit(node: DerNode | undefined, n: number, what: string): DerNode {
  const [value, extra] = eachChild(expectTag(node, contextTag(n), what));
  if (!value || extra) throw new DerError(`${what}: expected one value inside [${n}]`);
  return value;
}

export function readOid(node: DerNode | undefined, what = 'OID'): string {
  const c = expectTag(node, Tag.OID, what).content;
  if (c.length === 0) throw new DerError(`${what}: empty OID`);
  const arcs: number[] = [];
  let value = 0;
  for (let i = 0; i < c.length; i++) {
    if (value === 0 && c[i] === 0x80) throw new DerError(`${what}: non-minimal OID arc`);
    value = value * 128 + (c[i] & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) throw new DerError(`${what}: OID arc too large`);
    if (!(c[i] & 0x80)) {
      arcs.push(value);
      value = 0;
    } else if (i === c.length - 1) throw new DerError(`${what}: truncated OID`);
  }
  const first = arcs[0] < 40 ? 0 : arcs[0] < 80 ? 1 : 2;
  return [first, arcs[0] - first * 40, ...arcs.slice(1)].join('.');
}

/** INTEGER that must be a non-negative safe number (versions, iteration counts, lengths). */
export function readSmallInt(node: DerNode | undefined, what = 'INTEGER'): number {
  const c = expectTag(node, Tag.INTEGER, what).content;
  if (c.length === 0) throw new DerError(`${what}: empty INTEGER`);
  let v = BigInt('0x' + c.toString('hex'));
  if (c[0] & 0x80) v -= 1n << BigInt(c.length * 8); // two's complement
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) throw new DerError(`${what}: ${v} is out of range`);
  return Number(v);
}

export function readOctets(node: DerNode | undefined, what = 'OCTET STRING'): Buffer {
  return expectTag(node, Tag.OCTET_STRING, what).content;
}

export function readBmpString(node: DerNode | undefined, what = 'BMPString'): string {
  const c = expectTag(node, Tag.BMP_STRING, what).content;
  if (c.length % 2) throw new DerError(`${what}: odd length`);
  let s = '';
  for (let i = 0; i < c.length; i += 2) s += String.fromCharCode(c.readUInt16BE(i));
  return s;
}

/** BIT STRING value bytes; `unused` is the count of padding bits in the last byte. */
export function readBitString(node: DerNode | undefined, what = 'BIT STRING'): { bytes: Buffer; unused: number } {
  const c = expectTag(node, Tag.BIT_STRING, what).content;
  if (c.length === 0 || c[0] > 7 || (c.length === 1 && c[0] !== 0)) throw new DerError(`${what}: bad unused-bits octet`);
  return { bytes: c.subarray(1), unused: c[0] };
}

export function readBoolean(node: DerNode | undefined, what = 'BOOLEAN'): boolean {
  const c = expectTag(node, Tag.BOOLEAN, what).content;
  if (c.length !== 1) throw new DerError(`${what}: BOOLEAN must be one byte`);
  return c[0] !== 0;
}

// ---- writer -------------------------------------------------------------------------------

function encodeLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export const encodeSequence = (...items: Buffer[]) => tlv(Tag.SEQUENCE, Buffer.concat(items));

/** SET OF: DER wants the encodings sorted. */
export const encodeSet = (...items: Buffer[]) => tlv(Tag.SET, Buffer.concat([...items].sort(Buffer.compare)));

export const encodeOctets = (b: Buffer) => tlv(Tag.OCTET_STRING, b);
export const encodeNull = () => Buffer.from([Tag.NULL, 0]);
export const encodeExplicit = (n: number, inner: Buffer) => tlv(contextTag(n), inner);

export function encodeInteger(v: number | bigint): Buffer {
  let n = BigInt(v);
  if (n < 0n) throw new DerError('negative INTEGER encoding is not needed here');
  let h = n.toString(16);
  if (h.length % 2) h = '0' + h;
  let b = Buffer.from(h, 'hex');
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(Tag.INTEGER, b);
}

export function encodeOid(oid: string): Buffer {
  const arcs = oid.split('.').map((a) => {
    if (!/^\d+$/.test(a)) throw new DerError(`bad OID ${oid}`);
    return Number(a);
  });
  if (arcs.length < 2 || arcs[0] > 2) throw new DerError(`bad OID ${oid}`);
  const out: number[] = [];
  for (const arc of [arcs[0] * 40 + arcs[1], ...arcs.slice(2)]) {
    const chunk = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(Tag.OID, Buffer.from(out));
}

export function encodeBmpString(s: string): Buffer {
  const b = Buffer.alloc(s.length * 2);
  for (let i = 0; i < s.length; i++) b.writeUInt16BE(s.charCodeAt(i), i * 2);
  return tlv(Tag.BMP_STRING, b);
}
