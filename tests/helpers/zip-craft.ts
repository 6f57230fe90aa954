// Zip archives as an attacker writes them: entries whose declared sizes lie, deflate streams that
// inflate to gigabytes, names that try to leave the folder. Written byte by byte here because no
// zip library will produce a dishonest archive (that is the point of a library).
import { constants, deflateRawSync } from 'node:zlib';

const MiB = 1024 * 1024;

/**
 * A raw deflate stream that inflates to `mebibytes` MiB of zeros (a multiple of 16), about 1 KiB
 * per MiB: one sync-flushed 16 MiB chunk repeated (it only refers back to zeros, so copies chain),
 * then an empty final block.
 */
export function zerosDeflate(mebibytes: number): Buffer {
  const chunk = deflateRawSync(Buffer.alloc(16 * MiB), { level: 9, finishFlush: constants.Z_SYNC_FLUSH });
  const copies = Math.ceil(mebibytes / 16);
  return Buffer.concat([...Array.from({ length: copies }, () => chunk), Buffer.from([0x03, 0x00])]);
}

export interface CraftedEntry {
  name: string;
  /** The entry's data as stored (already deflated when method is 8). */
  data: Buffer;
  /** 0 stored, 8 deflate, anything else to test refusals. */
  method: number;
  /** The uncompressed size the headers claim (honest or not). */
  declaredSize: number;
}

/** A zip with local headers, central directory and end record, exactly as the entries say. */
export function craftZip(entries: CraftedEntry[], options: { truncateAt?: number } = {}): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, 'utf8');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6); // UTF-8 names
    local.writeUInt16LE(e.method, 8);
    local.writeUInt32LE(0, 14); // CRC: not checked by the reader under test
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.declaredSize >>> 0, 22);
    local.writeUInt16LE(name.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(e.method, 10);
    central.writeUInt32LE(e.data.length, 20);
    central.writeUInt32LE(e.declaredSize >>> 0, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, name, e.data);
    centrals.push(central, name);
    offset += local.length + name.length + e.data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  const zip = Buffer.concat([...locals, directory, end]);
  return options.truncateAt === undefined ? zip : zip.subarray(0, options.truncateAt);
}

/** A deflated entry, honest about its size. */
export function deflated(name: string, content: string | Buffer): CraftedEntry {
  const raw = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return { name, data: deflateRawSync(raw), method: 8, declaredSize: raw.length };
}
