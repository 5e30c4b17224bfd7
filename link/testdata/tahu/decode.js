// Decodes Sparkplug B payloads with Eclipse Tahu's sparkplug-payload.
// Input (argv[2]): a JSON file [{topic, b64}]; output (stdout): a JSON array
// [{topic, payload}] where 64-bit integers are written as decimal strings.
'use strict';
const fs = require('fs');
const Long = require('long');
const sparkplug = require('sparkplug-payload').get('spBv1.0');

function plain(v) {
  if (Long.isLong(v)) return v.toString();
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v).toString('base64');
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    const o = {};
    for (const k of Object.keys(v)) o[k] = plain(v[k]);
    return o;
  }
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  return v;
}

const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const out = input.map(({ topic, b64 }) => ({ topic, payload: plain(sparkplug.decodePayload(Buffer.from(b64, 'base64'))) }));
process.stdout.write(JSON.stringify(out));
