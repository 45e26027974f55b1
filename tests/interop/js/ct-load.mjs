#!/usr/bin/env node
// Fires N POST /api/v2/signingCert requests at once (N simultaneous TCP
// connections, no keep-alive, no client-side queueing) and reports how they
// ended. Test-only load generator for loopback.
//
// Usage: node ct-load.mjs URL BODY_FILE N [--timeout-ms MS] [--save FILE]
//   URL        the CA's base URL (http://127.0.0.1:PORT)
//   BODY_FILE  the JSON request body (same body for every request)
//   --save     write each 200 answer body as one line of FILE
// Prints one JSON line {"n","ok","codes","errors","wallMs","p50Ms","p99Ms",
// "maxMs"}; exit 0 when all N answered 200, else 1.
import http from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const timeoutMs = Number(opt('--timeout-ms', '60000'));
const save = opt('--save', null);
const [base, bodyFile, nArg] = args;
if (!base || !bodyFile || !nArg) {
  process.stderr.write('usage: ct-load.mjs URL BODY_FILE N [--timeout-ms MS] [--save FILE]\n');
  process.exit(2);
}
const n = Number(nArg);
const body = readFileSync(bodyFile);
const url = new URL('/api/v2/signingCert', base);
const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });

function one() {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const done = (r) => resolve({ ...r, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
    const req = http.request(url, {
      method: 'POST', agent,
      headers: { 'Content-Type': 'application/json', 'Content-Length': body.length },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => done({ code: res.statusCode, body: Buffer.concat(chunks).toString() }));
      res.on('error', (e) => done({ code: 0, err: e.code || e.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', (e) => done({ code: 0, err: e.code || e.message }));
    req.end(body);
  });
}

const t0 = Date.now();
const results = await Promise.all(Array.from({ length: n }, one));
const wallMs = Date.now() - t0;
const codes = {};
const errors = {};
for (const r of results) {
  codes[r.code] = (codes[r.code] || 0) + 1;
  if (r.err) errors[r.err] = (errors[r.err] || 0) + 1;
  else if (r.code !== 200) errors[r.body.slice(0, 200)] = (errors[r.body.slice(0, 200)] || 0) + 1;
}
const lat = results.map((r) => r.ms).sort((a, b) => a - b);
const pct = (p) => Math.round(lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]);
const ok = codes[200] || 0;
if (save) writeFileSync(save, results.filter((r) => r.code === 200).map((r) => r.body.replace(/\n/g, '')).join('\n') + '\n');
process.stdout.write(JSON.stringify({ n, ok, codes, errors, wallMs, p50Ms: pct(50), p99Ms: pct(99), maxMs: Math.round(lat[lat.length - 1]) }) + '\n');
process.exit(ok === n ? 0 : 1);
