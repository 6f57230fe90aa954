// Unzipping an uploaded proxy bundle without trusting it. fflate's streaming `Unzip` (already the
// bundle writer's library) reads the archive entry by entry; the archive is fed in small slices so
// each inflate step produces a bounded amount, and every limit is checked on the bytes actually
// produced — never on the sizes the zip declares, which a hostile archive can set to anything.
// Between slices the event loop gets a turn, so other requests keep flowing during an upload.
import { Unzip, UnzipInflate, type UnzipFile } from 'fflate';
import { posix } from 'node:path';
import { invalid } from './errors.ts';

export interface ZipLimits {
  zipBytes: number;
  totalBytes: number;
  entryBytes: number;
  entries: number;
  ratio: number;
  ratioFloorBytes: number;
}

export const LIMITS: Readonly<ZipLimits> = {
  /** Apigee's documented bundle size limit. */
  zipBytes: 15 * 1024 * 1024,
  /** Everything the archive inflates to, all entries together. */
  totalBytes: 32 * 1024 * 1024,
  /** One entry, inflated. */
  entryBytes: 16 * 1024 * 1024,
  entries: 2000,
  /** Inflated ÷ compressed bytes read so far, checked once the output passes `ratioFloorBytes`. */
  ratio: 200,
  ratioFloorBytes: 1024 * 1024,
};

/** Compressed bytes handed to the inflater per step: deflate expands at most ~1032×, so ≤ ~1 MiB out (≤ ~30 ms). */
const SLICE = 1024;
/** Give other requests a turn after this many inflated bytes. */
const YIELD_EVERY = 1024 * 1024;

const MiB = (n: number) => `${n / 1024 / 1024} MiB`;

/** Unzips a bundle into its files (folders dropped); entry names must stay inside the archive. */
export async function unzipBundle(zip: Uint8Array, limits: Readonly<ZipLimits> = LIMITS): Promise<Map<string, Uint8Array>> {
  if (zip.byteLength > limits.zipBytes) throw invalid(`bundle is ${zip.byteLength} bytes; the limit is ${limits.zipBytes} bytes (15 MB)`);
  // A zip starts with a local file header ("PK\3\4"); the streaming reader needs one to find anything.
  if (zip.byteLength < 4 || zip[0] !== 0x50 || zip[1] !== 0x4b || zip[2] !== 0x03 || zip[3] !== 0x04) {
    throw invalid('bundle is not a valid zip archive (no local file header at the start)');
  }
  const files = new Map<string, Uint8Array>();
  const open = new Set<string>();
  let consumed = 0;
  let total = 0;
  let sinceYield = 0;
  let entries = 0;
  let failure: Error | undefined;
  const fail = (error: Error) => {
    failure ??= error;
  };

  const unzip = new Unzip((file: UnzipFile) => {
    if (failure) return;
    entries += 1;
    if (entries > limits.entries) return fail(invalid(`bundle has more than ${limits.entries} entries`));
    const problem = entryNameProblem(file.name);
    if (problem) return fail(invalid(problem));
    if (file.originalSize !== undefined && file.originalSize > limits.entryBytes) {
      return fail(invalid(`bundle entry "${file.name}" declares ${file.originalSize} bytes; the limit per entry is ${MiB(limits.entryBytes)}`));
    }
    const name = file.name;
    const isFolder = name.endsWith('/');
    const key = posix.normalize(name);
    if (!isFolder && (files.has(key) || open.has(key))) return fail(invalid(`bundle has two entries named "${name}"`));
    const chunks: Uint8Array[] = [];
    let produced = 0;
    open.add(key);
    file.ondata = (error, data, final) => {
      if (failure) return;
      if (error) return fail(invalid(`bundle entry "${name}" cannot be inflated: ${error.message}`));
      produced += data.length;
      total += data.length;
      sinceYield += data.length;
      if (produced > limits.entryBytes) return fail(invalid(`bundle entry "${name}" inflates to more than ${MiB(limits.entryBytes)} (the limit per entry); refused`));
      if (total > limits.totalBytes) return fail(invalid(`bundle inflates to more than ${MiB(limits.totalBytes)} (the limit for all entries); refused`));
      if (total > limits.ratioFloorBytes && total > limits.ratio * consumed) {
        return fail(invalid(`bundle inflates more than ${limits.ratio} times its compressed size (a zip bomb?); refused`));
      }
      if (!isFolder && data.length > 0) chunks.push(data);
      if (!final) return;
      if (file.originalSize !== undefined && produced !== file.originalSize) {
        return fail(invalid(`bundle entry "${name}" inflates to ${produced} bytes but declares ${file.originalSize}; refused`));
      }
      open.delete(key);
      if (!isFolder) files.set(key, concat(chunks, produced));
    };
    try {
      file.start();
    } catch (error) {
      fail(invalid(`bundle entry "${name}" cannot be read: ${(error as Error).message}`));
    }
  });
  unzip.register(UnzipInflate);

  for (let at = 0; at < zip.byteLength && !failure; at += SLICE) {
    const end = Math.min(at + SLICE, zip.byteLength);
    consumed = end;
    try {
      unzip.push(zip.subarray(at, end), end === zip.byteLength);
    } catch (error) {
      const cut = [...open][0];
      fail(invalid(cut !== undefined && end === zip.byteLength
        ? `bundle is truncated: entry "${cut}" ends before its data does`
        : `bundle is not a valid zip archive: ${(error as Error).message}`));
    }
    if (sinceYield >= YIELD_EVERY) {
      sinceYield = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  if (failure) throw failure;
  if (open.size > 0) throw invalid(`bundle is truncated: entry "${[...open][0]}" ends before its data does`);
  if (entries === 0) throw invalid('bundle is not a valid zip archive (no entries)');
  return files;
}

/** Why an entry name would escape the bundle folder (zip-slip), or undefined when it is fine. */
function entryNameProblem(name: string): string | undefined {
  const normal = posix.normalize(name.replace(/\\/g, '/'));
  if (name.includes('\\') || name.includes('\0') || posix.isAbsolute(normal) || /^[A-Za-z]:/.test(name) || normal === '..' || normal.startsWith('../')) {
    return `bundle entry "${name}" escapes the bundle folder (zip-slip); refused`;
  }
  return undefined;
}

function concat(chunks: Uint8Array[], length: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
