#!/usr/bin/env node
// Verifies a Sigstore bundle with sigstore-js's own verifier
// (@sigstore/verify's Verifier) against a trusted root given as a file, the
// way a client of a private Sigstore instance without Rekor would:
// ctlogThreshold 1 (the leaf must carry an SCT that verifies with a CT log
// key of the trusted root, valid at the SCT's time), tlogThreshold 0,
// timestampThreshold 1 (an RFC 3161 timestamp from a trusted TSA; the chain
// is checked at that time).
//
// Usage: node ct-verify.mjs BUNDLE_JSON ARTIFACT TRUSTED_ROOT_JSON [SAN ISSUER]
// With SAN and ISSUER the identity policy is checked too (subject alternative
// name and the 1.3.6.1.4.1.57264.1.8 issuer extension).
// Exit 0 and "verified ..." on stdout; exit 1 and "CODE: message" on stderr.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');
const { bundleFromJSON } = require('@sigstore/bundle');
// @sigstore/protobuf-specs is @sigstore/verify's own dependency (pinned by
// package-lock.json); its TrustedRoot.fromJSON parses the trusted root file.
const { TrustedRoot } = require('@sigstore/protobuf-specs');

const [bundlePath, artifactPath, rootPath, san, issuer] = process.argv.slice(2);
if (!bundlePath || !artifactPath || !rootPath) {
  process.stderr.write('usage: ct-verify.mjs BUNDLE_JSON ARTIFACT TRUSTED_ROOT_JSON [SAN ISSUER]\n');
  process.exit(2);
}
try {
  const bundle = bundleFromJSON(JSON.parse(readFileSync(bundlePath, 'utf8')));
  const root = TrustedRoot.fromJSON(JSON.parse(readFileSync(rootPath, 'utf8')));
  const verifier = new Verifier(toTrustMaterial(root), {
    ctlogThreshold: 1,
    tlogThreshold: 0,
    timestampThreshold: 1,
  });
  const policy = san ? { subjectAlternativeName: san, extensions: { issuer } } : undefined;
  const signer = verifier.verify(toSignedEntity(bundle, readFileSync(artifactPath)), policy);
  process.stdout.write(`verified: SAN ${signer.identity?.subjectAlternativeName ?? '?'}, issuer ${signer.identity?.extensions?.issuer ?? '?'}\n`);
} catch (err) {
  process.stderr.write(`${err.code ?? err.name}: ${err.message}${err.cause?.message ? ` (cause: ${err.cause.message})` : ''}\n`);
  process.exit(1);
}
