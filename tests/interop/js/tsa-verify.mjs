#!/usr/bin/env node
// Time-stamps a signature with sigstore-js's own TSA client (@sigstore/sign's
// TSAClient: POST <url>/api/v1/timestamp with the JSON form
// {"artifactHash": b64(sha256(signature)), "hashAlgorithm": "sha256"}) and
// verifies the reply with sigstore-js's own code for a bundle's RFC 3161
// timestamps (@sigstore/verify's verifyRFC3161Timestamp over @sigstore/core's
// RFC3161Timestamp, the trusted root read by toTrustMaterial), as many times
// as asked, so that genTime precision problems (@sigstore/core accepts
// exactly three fractional digits or none) would show.
//
// Usage: node tsa-verify.mjs TSA_URL TRUSTED_ROOT_JSON [COUNT] [OTHER_ROOT_JSON]
// With OTHER_ROOT_JSON (a trusted root with another TSA), the first
// timestamp must NOT verify against it. Exit 0 and "verified ..." on stdout;
// exit 1 and the error on stderr.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

const require = createRequire(import.meta.url);
const { TSAClient } = require('@sigstore/sign/dist/witness/tsa/client');
const { RFC3161Timestamp } = require('@sigstore/core');
const { toTrustMaterial } = require('@sigstore/verify');
const { verifyRFC3161Timestamp } = require('@sigstore/verify/dist/timestamp/tsa');
const { TrustedRoot } = require('@sigstore/protobuf-specs');

const [url, rootPath, countArg, otherPath] = process.argv.slice(2);
if (!url || !rootPath) {
  process.stderr.write('usage: tsa-verify.mjs TSA_URL TRUSTED_ROOT_JSON [COUNT] [OTHER_ROOT_JSON]\n');
  process.exit(2);
}
const load = (p) => toTrustMaterial(TrustedRoot.fromJSON(JSON.parse(readFileSync(p, 'utf8'))));
const trust = load(rootPath);
const client = new TSAClient({ tsaBaseURL: url, retry: 0, timeout: 5000 });
const count = Number(countArg ?? 1);
const times = new Set();
try {
  for (let i = 0; i < count; i++) {
    const signature = randomBytes(71);
    const der = await client.createTimestamp(signature);
    const ts = RFC3161Timestamp.parse(der);
    if (ts.status !== 0n && ts.status !== 0) throw new Error(`status ${ts.status}`);
    verifyRFC3161Timestamp(ts, signature, trust.timestampAuthorities);
    times.add(ts.signingTime.toISOString());
    let refused = false;
    try {
      verifyRFC3161Timestamp(ts, Buffer.concat([signature, Buffer.from('x')]), trust.timestampAuthorities);
    } catch {
      refused = true;
    }
    if (!refused) throw new Error('a timestamp verified for another signature');
    if (i === 0 && otherPath) {
      let ok = false;
      try {
        verifyRFC3161Timestamp(ts, signature, load(otherPath).timestampAuthorities);
      } catch {
        ok = true;
      }
      if (!ok) throw new Error('a timestamp verified against another TSA');
    }
  }
} catch (err) {
  process.stderr.write(`${err.code ?? err.name}: ${err.message}${err.cause?.message ? ` (cause: ${err.cause.message})` : ''}\n`);
  process.exit(1);
}
process.stdout.write(`verified ${count} timestamp(s); genTimes e.g. ${[...times].slice(0, 3).join(', ')}\n`);
