#!/usr/bin/env node
// Signs an artifact with sigstore-js the way a client of a private Sigstore
// stack does it: every service comes from the signing config
// (@sigstore/sign's own bundleBuilderFromSigningConfig: the CA of caUrls,
// the Rekor log of rekorTlogUrls, v1 or v2, and the TSA of tsaUrls), the
// identity token from the command line.
//
// Usage: node e2e-sign.mjs SIGNING_CONFIG_JSON TOKEN ARTIFACT OUT_BUNDLE [dsse]
// With "dsse" the artifact is signed as a DSSE envelope (payload type
// text/plain) instead of a message signature.
// Exit 0 and one JSON line {mediaType, tlogEntries, timestamps} on stdout;
// exit 1 with "CODE: message" on stderr.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const { bundleBuilderFromSigningConfig } = require('@sigstore/sign');
const { bundleToJSON } = require('@sigstore/bundle');
const { SigningConfig } = require('@sigstore/protobuf-specs');

const [configPath, token, artifactPath, outPath, mode] = process.argv.slice(2);
if (!configPath || !token || !artifactPath || !outPath) {
  process.stderr.write('usage: e2e-sign.mjs SIGNING_CONFIG_JSON TOKEN ARTIFACT OUT_BUNDLE [dsse]\n');
  process.exit(2);
}
try {
  const signingConfig = SigningConfig.fromJSON(JSON.parse(readFileSync(configPath, 'utf8')));
  const builder = bundleBuilderFromSigningConfig({
    signingConfig,
    identityProvider: { getToken: async () => token },
    bundleType: mode === 'dsse' ? 'dsseEnvelope' : 'messageSignature',
    fetchOptions: { timeout: 20000, retry: { retries: 1 } },
  });
  const artifact = { data: readFileSync(artifactPath) };
  if (mode === 'dsse') artifact.type = 'text/plain';
  const bundle = await builder.create(artifact);
  const json = bundleToJSON(bundle);
  writeFileSync(outPath, JSON.stringify(json, null, 2));
  process.stdout.write(JSON.stringify({
    mediaType: json.mediaType,
    tlogEntries: (json.verificationMaterial?.tlogEntries ?? []).map((e) => e.kindVersion),
    timestamps: json.verificationMaterial?.timestampVerificationData?.rfc3161Timestamps?.length ?? 0,
  }) + '\n');
} catch (err) {
  const parts = [err.code, err.message].filter(Boolean);
  if (err.cause?.message && !String(err.message).includes(err.cause.message)) parts.push(`cause: ${err.cause.message}`);
  process.stderr.write(`${parts.join(': ')}\n`);
  process.exit(1);
}
