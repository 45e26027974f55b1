#!/usr/bin/env node
// Requests a signing certificate from a Fulcio-compatible CA through
// sigstore-js's own code path: @sigstore/sign's FulcioSigner (the signer that
// sigstore.sign()/attest() use), which reads the email-or-sub subject from the
// token, makes a fresh P-256 key (EphemeralSigner), signs the subject as proof
// of possession and calls CAClient -> Fulcio.createSigningCertificate
// (POST <url>/api/v2/signingCert, token in credentials.oidcIdentityToken).
//
// Usage: node request-cert.mjs FULCIO_URL [TOKEN]
//        (TOKEN may instead come from SIGSTORE_ID_TOKEN; "-" reads stdin)
// Options (env): INTEROP_RETRY (default 2, as sigstore.sign), INTEROP_TIMEOUT_MS (5000).
//
// On success prints one JSON line {"chain":[PEM...],"publicKey":PEM} on
// stdout: the chain exactly as the client received it (leaf first) and the
// client's public key. It also checks, with node's own X.509 parser, that the
// leaf certifies that key (the artifact signature made by the client verifies
// with the leaf's key). On failure prints the client's error (sigstore-js shows
// the server's JSON message as "(400) <message>") on stderr and exits 1;
// usage errors exit 2.
import { createRequire } from 'node:module';
import { X509Certificate, verify, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const { FulcioSigner } = require('@sigstore/sign');

function die(code, msg) {
  process.stderr.write(`request-cert: ${msg}\n`);
  process.exit(code);
}

const [url, tokArg] = process.argv.slice(2);
if (!url) die(2, 'usage: request-cert.mjs FULCIO_URL [TOKEN|-]');
let token = tokArg ?? process.env.SIGSTORE_ID_TOKEN;
if (token === '-') token = readFileSync(0, 'utf8');
token = (token ?? '').trim();
if (!token) die(2, 'no identity token (argument or SIGSTORE_ID_TOKEN)');

const signer = new FulcioSigner({
  fulcioBaseURL: url,
  identityProvider: { getToken: async () => token },
  retry: Number(process.env.INTEROP_RETRY ?? 2),
  timeout: Number(process.env.INTEROP_TIMEOUT_MS ?? 5000),
});

// Observe (not replace) the CA client call so the whole chain and the key the
// client sent can be printed; FulcioSigner itself keeps only chain[0].
let seen = null;
const orig = signer.ca.createSigningCertificate.bind(signer.ca);
signer.ca.createSigningCertificate = async (tok, publicKey, challenge) => {
  const chain = await orig(tok, publicKey, challenge);
  seen = { chain, publicKey };
  return chain;
};

const artifact = Buffer.from('fulcrum interop artifact\n');
let result;
try {
  result = await signer.sign(artifact);
} catch (err) {
  const parts = [err.code, err.message].filter(Boolean);
  if (err.cause?.message && !String(err.message).includes(err.cause.message)) {
    parts.push(`cause: ${err.cause.message}`);
  }
  die(1, parts.join(': '));
}

if (!seen || !Array.isArray(seen.chain) || seen.chain.length === 0) {
  die(1, 'the client returned no certificate chain');
}
let leaf;
try {
  leaf = new X509Certificate(result.key.certificate);
} catch (err) {
  die(1, `node cannot parse the leaf certificate: ${err.message}`);
}
const keyMatches = leaf.publicKey.equals(createPublicKey(seen.publicKey));
const sigOk = verify('sha256', artifact, leaf.publicKey, result.signature);
if (!keyMatches || !sigOk) {
  die(1, `the leaf does not certify the client's key (key match ${keyMatches}, signature ${sigOk})`);
}
process.stdout.write(JSON.stringify({ chain: seen.chain, publicKey: seen.publicKey }) + '\n');
