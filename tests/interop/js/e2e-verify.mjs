#!/usr/bin/env node
// Verifies a Sigstore bundle with sigstore-js's own verifier
// (@sigstore/verify's Verifier) against a trusted root file, with its
// default thresholds: one SCT from a CT log of the trusted root, one
// transparency log entry (a Rekor v2 inclusion proof under a checkpoint
// signed by a log of the trusted root), one timestamp (RFC 3161, from a TSA
// of the trusted root; the certificate chain is checked at that time), and
// the identity policy (SAN and the 1.3.6.1.4.1.57264.1.8 issuer).
//
// Usage: node e2e-verify.mjs BUNDLE_JSON ARTIFACT TRUSTED_ROOT_JSON SAN ISSUER
// Exit 0 and "verified ..." on stdout; exit 1 and "CODE: message" on stderr.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');
const { bundleFromJSON } = require('@sigstore/bundle');
const { TrustedRoot } = require('@sigstore/protobuf-specs');

const [bundlePath, artifactPath, rootPath, san, issuer] = process.argv.slice(2);
if (!bundlePath || !artifactPath || !rootPath || !san || !issuer) {
  process.stderr.write('usage: e2e-verify.mjs BUNDLE_JSON ARTIFACT TRUSTED_ROOT_JSON SAN ISSUER\n');
  process.exit(2);
}
try {
  const bundle = bundleFromJSON(JSON.parse(readFileSync(bundlePath, 'utf8')));
  const root = TrustedRoot.fromJSON(JSON.parse(readFileSync(rootPath, 'utf8')));
  const verifier = new Verifier(toTrustMaterial(root));
  const policy = { subjectAlternativeName: san, extensions: { issuer } };
  const signer = verifier.verify(toSignedEntity(bundle, readFileSync(artifactPath)), policy);
  process.stdout.write(`verified: SAN ${signer.identity?.subjectAlternativeName ?? '?'}, issuer ${signer.identity?.extensions?.issuer ?? '?'}\n`);
} catch (err) {
  process.stderr.write(`${err.code ?? err.name}: ${err.message}${err.cause?.message ? ` (cause: ${err.cause.message})` : ''}\n`);
  process.exit(1);
}
