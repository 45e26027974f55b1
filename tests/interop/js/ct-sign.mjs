#!/usr/bin/env node
// Signs an artifact with sigstore-js's own signing code against a
// Fulcio-compatible CA, without Rekor: @sigstore/sign's FulcioSigner (fresh
// P-256 key, PoP over the token's email-or-sub, POST <url>/api/v2/signingCert)
// and a MessageSignatureBundleBuilder whose only witness is a TSAWitness
// (tlogUpload false), the timestamp coming from @sigstore/mock's RFC 3161 TSA
// served on a node:http server on 127.0.0.1 for the duration of the run.
//
// Usage: node ct-sign.mjs FULCIO_URL TOKEN OUTDIR
// Writes OUTDIR/artifact.txt, OUTDIR/bundle.json (bundleToJSON), and
// OUTDIR/tsa.json {"subject":{...},"certificates":[b64 DER signing cert,
// b64 DER root]} for the trusted root's timestampAuthorities. Prints one
// JSON line {"bundle":..., "leafPem":...}; exit 1 with the client's error.
//
// @sigstore/mock 0.12.1's TSA writes genTime with the milliseconds of the
// clock and drops trailing zeros (".19Z"), which @sigstore/core 3.2.1 refuses
// ("invalid time") about one time in ten; this TSA's clock is therefore
// truncated to whole seconds, which encodes without a fraction.
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';

const require = createRequire(import.meta.url);
const { FulcioSigner, TSAWitness, MessageSignatureBundleBuilder } = require('@sigstore/sign');
const { bundleToJSON } = require('@sigstore/bundle');
const { initializeTSA, tsaHandler } = require('@sigstore/mock');

function die(code, msg) {
  process.stderr.write(`ct-sign: ${msg}\n`);
  process.exit(code);
}

const [url, token, outdir] = process.argv.slice(2);
if (!url || !token || !outdir) die(2, 'usage: ct-sign.mjs FULCIO_URL TOKEN OUTDIR');
mkdirSync(outdir, { recursive: true });

// --- the TSA, on loopback ---
const keyPair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const tsa = await initializeTSA(keyPair);
tsa.getCurrentTime = () => {
  const d = new Date();
  d.setUTCMilliseconds(0);
  return d;
};
const handler = tsaHandler(tsa);
const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    if (req.method !== 'POST' || req.url !== handler.path) {
      res.writeHead(404).end();
      return;
    }
    const out = await handler.fn(Buffer.concat(chunks));
    res.writeHead(out.statusCode, { 'Content-Type': out.contentType || 'text/plain' });
    res.end(out.response);
  });
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const tsaURL = `http://127.0.0.1:${server.address().port}`;

// --- sign ---
const signer = new FulcioSigner({
  fulcioBaseURL: url,
  identityProvider: { getToken: async () => token },
  retry: Number(process.env.INTEROP_RETRY ?? 2),
  timeout: Number(process.env.INTEROP_TIMEOUT_MS ?? 15000),
});
const builder = new MessageSignatureBundleBuilder({
  signer,
  witnesses: [new TSAWitness({ tsaBaseURL: tsaURL, retry: 0, timeout: 5000 })],
});
const artifact = Buffer.from(`fulcrum CT interop artifact ${new Date().toISOString()}\n`);
let bundle;
try {
  bundle = await builder.create({ data: artifact });
} catch (err) {
  server.close();
  const parts = [err.code, err.message].filter(Boolean);
  if (err.cause?.message && !String(err.message).includes(err.cause.message)) parts.push(`cause: ${err.cause.message}`);
  die(1, parts.join(': '));
}
server.close();

const json = bundleToJSON(bundle);
const leafB64 = json.verificationMaterial?.x509CertificateChain?.certificates?.[0]?.rawBytes
  ?? json.verificationMaterial?.certificate?.rawBytes;
if (!leafB64) die(1, 'the bundle carries no certificate');
const leaf = new X509Certificate(Buffer.from(leafB64, 'base64'));
if (!json.verificationMaterial?.timestampVerificationData?.rfc3161Timestamps?.length) die(1, 'the bundle carries no RFC 3161 timestamp');
if (json.verificationMaterial?.tlogEntries?.length) die(1, 'the bundle carries transparency log entries (want none)');

writeFileSync(join(outdir, 'artifact.txt'), artifact);
writeFileSync(join(outdir, 'bundle.json'), JSON.stringify(json, null, 2));
writeFileSync(join(outdir, 'tsa.json'), JSON.stringify({
  uri: `${tsaURL}/api/v1/timestamp`,
  subject: { organization: 'sigstore.mock', commonName: 'tsa signing' },
  certificates: [Buffer.from(tsa.intCertificate).toString('base64'), Buffer.from(tsa.rootCertificate).toString('base64')],
}));
process.stdout.write(JSON.stringify({ mediaType: json.mediaType, leafPem: leaf.toString() }) + '\n');
