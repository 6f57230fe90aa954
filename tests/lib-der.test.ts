// lib/der.ts: round trips for the types PKCS#12 needs, and strict rejection of bad lengths.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  DerError,
  Tag,
  childrenOf,
  eachChild,
  encodeBmpString,
  encodeInteger,
  encodeOctets,
  encodeOid,
  encodeSequence,
  encodeSet,
  findChild,
  parseDer,
  readBmpString,
  readOctets,
  readOid,
  readSmallInt,
  sequence,
  tlv,
} from '../lib/der.ts';

test('OIDs round-trip, including multi-byte arcs', () => {
  for (const oid of ['1.2.840.113549.1.12.10.1.2', '2.16.840.1.113894.746875.1.1', '2.5.29.37.0', '1.3.14.3.2.26', '2.999.3']) {
    assert.is(readOid(parseDer(encodeOid(oid))), oid);
  }
  // Known encoding of sha256WithRSAEncryption.
  assert.is(encodeOid('1.2.840.113549.1.1.11').toString('hex'), '06092a864886f70d01010b');
});

test('INTEGERs: sign byte, zero, large values', () => {
  assert.is(encodeInteger(0).toString('hex'), '020100');
  assert.is(encodeInteger(128).toString('hex'), '02020080');
  assert.is(encodeInteger(10000).toString('hex'), '02022710');
  assert.is(readSmallInt(parseDer(encodeInteger(10000))), 10000);
  const big = (1n << 100n) + 7n;
  assert.is(encodeInteger(big).toString('hex'), '020d10000000000000000000000007');
  assert.throws(() => readSmallInt(parseDer(encodeInteger(big))), (e: unknown) => e instanceof DerError && /1267650600228229401496703205383 is out of range/.test(e.message));
  assert.throws(() => readSmallInt(parseDer(Buffer.from('0201ff', 'hex'))), (e: unknown) => e instanceof DerError && /-1 is out of range/.test(e.message));
});

test('long lengths (one and two octets) and nested SEQUENCE/SET', () => {
  for (const size of [0, 127, 128, 255, 256, 70000]) {
    const data = Buffer.alloc(size, 0xab);
    const enc = encodeOctets(data);
    assert.ok(readOctets(parseDer(enc)).equals(data), `size ${size}`);
  }
  const seq = encodeSequence(encodeOid('2.5.29.37.0'), encodeSet(encodeInteger(2), encodeInteger(1)), encodeBmpString('Demo-CA'));
  const [oid, set, name] = sequence(parseDer(seq), 'test', 3);
  assert.is(readOid(oid), '2.5.29.37.0');
  // DER sorts SET OF by encoding.
  assert.equal(childrenOf(set).map((n) => readSmallInt(n)), [1, 2]);
  assert.is(readBmpString(name), 'Demo-CA');
});

const rejects = (hex: string, message: RegExp) => {
  assert.throws(() => {
    const node = parseDer(Buffer.from(hex, 'hex'));
    if (node.constructed) childrenOf(node);
  }, (e: unknown) => e instanceof DerError && message.test(e.message), hex);
};

test('malformed input raises DerError, never a crash or a loop', () => {
  rejects('', /end of data/);
  rejects('30', /truncated length/);
  rejects('3005020101', /claims 5 bytes/);
  rejects('3080020101 0000'.replace(' ', ''), /indefinite length/);
  rejects('04850000000001', /too large/);
  rejects('048201', /truncated length/);
  rejects('020101ff', /unexpected bytes after/);
  rejects('1f2100', /high tag/);
  rejects('3003020201', /claims 2 bytes/); // a child overruns its parent
  assert.throws(() => readOid(parseDer(Buffer.from('06022a86', 'hex'))), (e: unknown) => e instanceof DerError && /truncated OID/.test(e.message));
  assert.throws(() => readOctets(parseDer(encodeInteger(1)), 'salt'), (e: unknown) => e instanceof DerError && /salt: expected tag 0x04/.test(e.message));
  assert.throws(() => readBmpString(parseDer(tlv(Tag.BMP_STRING, Buffer.from([0, 65, 0])))), (e: unknown) => e instanceof DerError && /odd length/.test(e.message));
});

test('sequence and eachChild read no further than asked: a long hostile list costs nothing', () => {
  // 500 000 NULLs, then a value that claims more bytes than there are.
  const many = tlv(Tag.SEQUENCE, Buffer.concat([Buffer.alloc(1_000_000, Buffer.from([Tag.NULL, 0])), Buffer.from('0405', 'hex')]));
  const node = parseDer(many);
  // Neither meets the broken value at the end: each stops where it should.
  assert.throws(() => sequence(node, 'SafeBag', 2, Tag.SEQUENCE, 3), (e: unknown) => e instanceof DerError && /SafeBag: expected at most 3 elements/.test(e.message));
  const [first, second] = eachChild(node);
  assert.is(first?.tag, Tag.NULL);
  assert.is(second?.tag, Tag.NULL);
  // Read to the end, the broken last value is found.
  assert.throws(() => childrenOf(node), (e: unknown) => e instanceof DerError && /claims 5 bytes/.test(e.message));
});

test('findChild: the first child with a tag, by offsets; the same checks as parseDer', () => {
  const cert = encodeSequence(encodeInteger(7));
  const session = encodeSequence(encodeInteger(1), tlv(0xa2, encodeInteger(300)), tlv(0xa3, cert), tlv(0xa3, encodeInteger(9)));
  const found = findChild(session, 0xa3);
  assert.ok(found, 'the [3] field is found');
  assert.is(found!.tag, 0xa3);
  assert.ok(session.subarray(found!.start, found!.end).equals(cert), 'the first [3], not the second');
  assert.is(findChild(session, 0xa4), undefined);
  const fails = (buf: Buffer, message: RegExp) =>
    assert.throws(() => findChild(buf, 0xa3), (e: unknown) => e instanceof DerError && message.test(e.message), buf.toString('hex'));
  fails(encodeInteger(1), /not constructed/);
  fails(Buffer.concat([session, Buffer.from([0])]), /1 unexpected bytes after/);
  fails(Buffer.from('3003020201', 'hex'), /claims 2 bytes/); // a child overruns its parent
  fails(Buffer.from('3004a305a303', 'hex'), /claims 5 bytes/); // the wanted child itself overruns
  fails(Buffer.from('30', 'hex'), /truncated length/);
});

test('random bytes never escape as anything but DerError', () => {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 8) & 0xff;
  for (let i = 0; i < 2000; i++) {
    const buf = Buffer.from(Array.from({ length: 1 + (rand() % 24) }, rand));
    try {
      const walk = (n: ReturnType<typeof parseDer>): void => {
        if (n.constructed) childrenOf(n).forEach(walk);
      };
      walk(parseDer(buf));
    } catch (e) {
      assert.ok(e instanceof DerError, `${buf.toString('hex')}: ${e}`);
    }
  }
});

test.run();
