#!/usr/bin/env node
// Signs an artifact with sigstore-js's own signing code, without Rekor:
// @sigstore/sign's FulcioSigner (fresh P-256 key, certificate from a
// Fulcio-compatible CA) and a MessageSignatureBundleBuilder whose only
// witness is a TSAWitness pointed at the TSA under test (fulcrum tsa), so
// that the bundle's only verified time is that TSA's RFC 3161 timestamp.
//
// Usage: node tsa-sign.mjs FULCIO_URL TOKEN TSA_URL OUTDIR
// Writes OUTDIR/artifact.txt and OUTDIR/bundle.json (bundleToJSON). Prints
// one JSON line {"mediaType":...}; exit 1 with the client's error.
import { createRequire } from 'node:module';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { FulcioSigner, TSAWitness, MessageSignatureBundleBuilder } = require('@sigstore/sign');
const { bundleToJSON } = require('@sigstore/bundle');

function die(code, msg) {
  process.stderr.write(`tsa-sign: ${msg}\n`);
  process.exit(code);
}

const [url, token, tsaURL, outdir] = process.argv.slice(2);
if (!url || !token || !tsaURL || !outdir) die(2, 'usage: tsa-sign.mjs FULCIO_URL TOKEN TSA_URL OUTDIR');
mkdirSync(outdir, { recursive: true });

const signer = new FulcioSigner({
  fulcioBaseURL: url,
  identityProvider: { getToken: async () => token },
  retry: 0,
  timeout: 15000,
});
const builder = new MessageSignatureBundleBuilder({
  signer,
  witnesses: [new TSAWitness({ tsaBaseURL: tsaURL, retry: 0, timeout: 5000 })],
});
const artifact = Buffer.from(`fulcrum TSA interop artifact ${new Date().toISOString()}\n`);
let bundle;
try {
  bundle = await builder.create({ data: artifact });
} catch (err) {
  const parts = [err.code, err.message].filter(Boolean);
  if (err.cause?.message && !String(err.message).includes(err.cause.message)) parts.push(`cause: ${err.cause.message}`);
  die(1, parts.join(': '));
}
const json = bundleToJSON(bundle);
if (!json.verificationMaterial?.timestampVerificationData?.rfc3161Timestamps?.length) die(1, 'the bundle carries no RFC 3161 timestamp');
if (json.verificationMaterial?.tlogEntries?.length) die(1, 'the bundle carries transparency log entries (want none)');
writeFileSync(join(outdir, 'artifact.txt'), artifact);
writeFileSync(join(outdir, 'bundle.json'), JSON.stringify(json, null, 2));
process.stdout.write(JSON.stringify({ mediaType: json.mediaType }) + '\n');
