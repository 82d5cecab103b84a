'use strict';
/*
 * node_app.js: a small node.js service's work, for the malloc benchmark.
 *
 * Models: a node application that keeps records in Maps, serialises them to JSON and
 * back, carries payloads in Buffers (64 B to 64 KiB) and compresses them with zlib.
 * Buffers of more than 64 bytes live outside V8's heap, in memory node takes from
 * malloc and calloc, and V8 frees them from its own helper threads after a garbage
 * collection; zlib's streams allocate their windows and state with malloc, and the
 * asynchronous calls run on libuv's thread pool. So the allocator sees medium blocks
 * made on one thread and freed on another, as in a real node server.
 *
 * Usage: node node_app.js [rounds=12]
 * Each round: 4,000 new records (id, name, tags, a score and a payload Buffer of
 * log-uniform size, half text cut from 128 KiB of words, half a byte pattern) replace
 * a third of a Map of about 12,000; batches of 200 records go through JSON.stringify
 * and JSON.parse; every 4th new payload is deflated (level 1) and inflated with the
 * synchronous zlib calls (a stream of its own each, so zlib's state of about 300 KiB
 * is allocated and freed each time), and 64 payloads of the Map per round with the
 * asynchronous ones (thread pool, default level), 16 at a time.
 *
 * Checks: every parsed record equals its source (fields and payload digest), every
 * inflated buffer equals what was deflated, the Map holds exactly the records
 * expected; exits 1 with a FAIL line otherwise.
 * Prints: ok name=node-app rounds=N records=N json_mib=X deflated_mib=X digest=HEX
 */
const zlib = require('zlib');
const { promisify } = require('util');

const deflateAsync = promisify(zlib.deflate);
const inflateAsync = promisify(zlib.inflate);

const PER_ROUND = 4000;
const MAP_TARGET = 12000;
const BATCH = 200;
const ASYNC_PER_ROUND = 64;
const ASYNC_AT_ONCE = 16;
const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india',
  'juliet', 'kilo', 'lima', 'mike', 'november', 'oscar', 'papa', 'quebec', 'romeo', 'sierra', 'tango'];

function fail(msg) {
  process.stderr.write(`FAIL: node-app: ${msg}\n`);
  process.exit(1);
}

/* mulberry32: a seeded 32-bit generator, so every run makes the same data. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/* Log-uniform between lo and hi: as many payloads of 64..128 B as of 32..64 KiB. */
function logUniform(next, lo, hi) {
  return Math.floor(Math.exp(Math.log(lo) + next() * (Math.log(hi) - Math.log(lo))));
}

/* FNV-1a over a buffer, as an unsigned 32-bit number. */
function fnv(buf, h = 0x811c9dc5) {
  for (let i = 0; i < buf.length; i += 7) {
    h ^= buf[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/* 128 KiB of words, from which text payloads are cut at random places. */
function makeText(next) {
  const words = [];
  for (let len = 0; len < 128 * 1024; len += words[words.length - 1].length + 1) {
    words.push(WORDS[Math.floor(next() * WORDS.length)]);
  }
  return words.join(' ');
}

function makePayload(next, id, text) {
  const size = logUniform(next, 64, 64 * 1024);
  if (id % 2 === 0) {
    const at = Math.floor(next() * (text.length - size));
    return Buffer.from(text.slice(at, at + size));
  }
  const buf = Buffer.alloc(size);
  buf.fill(id & 0xff);
  buf.writeUInt32LE(id >>> 0, 0);
  return buf;
}

function makeRecord(next, id, text) {
  const tags = [];
  for (let i = 0, n = 1 + Math.floor(next() * 5); i < n; i++) tags.push(WORDS[Math.floor(next() * WORDS.length)]);
  const payload = makePayload(next, id, text);
  return { id, name: `user-${id}-${tags[0]}`, tags, score: Math.round(next() * 1e6) / 100, payload,
           digest: fnv(payload) };
}

/* The JSON form: small payloads inline as base64, big ones by length and digest. */
function toWire(r) {
  const wire = { id: r.id, name: r.name, tags: r.tags, score: r.score, size: r.payload.length, digest: r.digest };
  if (r.payload.length <= 1024) wire.data = r.payload.toString('base64');
  return wire;
}

function checkWire(w, r) {
  if (w.id !== r.id || w.name !== r.name || w.score !== r.score || w.size !== r.payload.length ||
      w.digest !== r.digest || w.tags.join(',') !== r.tags.join(',')) fail(`record ${r.id} changed in JSON`);
  if (w.data !== undefined && fnv(Buffer.from(w.data, 'base64')) !== r.digest) fail(`payload of ${r.id} changed`);
}

function jsonRoundTrip(batch, stats) {
  const text = JSON.stringify(batch.map(toWire));
  stats.jsonBytes += text.length;
  const back = JSON.parse(text);
  if (back.length !== batch.length) fail('a JSON batch lost records');
  for (let i = 0; i < batch.length; i++) checkWire(back[i], batch[i]);
}

/* Every 4th payload of a batch, each in a stream of its own (each zlib stream
 * mallocs about 300 KiB of window and tables and frees them at its end). */
function zlibRoundTrip(batch, stats) {
  for (let i = 0; i < batch.length; i += 4) {
    const plain = batch[i].payload;
    const packed = zlib.deflateSync(plain, { level: 1 });
    stats.deflatedBytes += packed.length;
    if (!zlib.inflateSync(packed).equals(plain)) fail('inflate(deflate(x)) != x');
    stats.digest = fnv(packed, stats.digest);
  }
}

async function asyncZlib(records, next, stats) {
  for (let done = 0; done < ASYNC_PER_ROUND; done += ASYNC_AT_ONCE) {
    const picks = [];
    for (let i = 0; i < ASYNC_AT_ONCE; i++) picks.push(records[Math.floor(next() * records.length)].payload);
    const packed = await Promise.all(picks.map((p) => deflateAsync(p)));
    const plain = await Promise.all(packed.map((p) => inflateAsync(p)));
    for (let i = 0; i < picks.length; i++) {
      if (!plain[i].equals(picks[i])) fail('async inflate(deflate(x)) != x');
      stats.deflatedBytes += packed[i].length;
    }
  }
}

/* Removes a third of the Map's records (oldest ids first, then random ones). */
function evict(map, next) {
  const drop = Math.max(0, map.size - (MAP_TARGET - PER_ROUND));
  const keys = [...map.keys()];
  let removed = 0;
  for (let i = 0; removed < drop && i < keys.length; i++) {
    if (i < drop / 2 || next() < 0.5) {
      map.delete(keys[i]);
      removed++;
    }
  }
  return removed;
}

async function round(r, map, next, stats) {
  stats.evicted += evict(map, next);
  const fresh = [];
  for (let i = 0; i < PER_ROUND; i++) {
    const rec = makeRecord(next, stats.nextId++, stats.text);
    map.set(`user:${rec.id}`, rec);
    fresh.push(rec);
  }
  for (let i = 0; i < fresh.length; i += BATCH) {
    const batch = fresh.slice(i, i + BATCH);
    jsonRoundTrip(batch, stats);
    zlibRoundTrip(batch, stats);
  }
  await asyncZlib([...map.values()], next, stats);
  if (map.size !== stats.nextId - stats.evicted) fail(`round ${r}: the Map holds ${map.size} records`);
}

async function main() {
  const rounds = Number(process.argv[2] || 12);
  if (!(rounds >= 1)) fail('bad arguments');
  const next = rng(20241);
  const map = new Map();
  const stats = { nextId: 0, evicted: 0, jsonBytes: 0, deflatedBytes: 0, digest: 0x811c9dc5, text: makeText(next) };
  for (let r = 0; r < rounds; r++) await round(r, map, next, stats);
  let total = 0;
  for (const rec of map.values()) {
    if (fnv(rec.payload) !== rec.digest) fail(`payload of ${rec.id} changed in the Map`);
    total++;
  }
  console.log(`ok name=node-app rounds=${rounds} records=${stats.nextId} live=${total}` +
    ` json_mib=${(stats.jsonBytes / 1048576).toFixed(1)} deflated_mib=${(stats.deflatedBytes / 1048576).toFixed(1)}` +
    ` digest=${stats.digest.toString(16)}`);
}

main().catch((e) => fail(e && e.stack ? e.stack : String(e)));
