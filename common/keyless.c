/*
 * A library context with no algorithms in it, for parsing certificates and
 * public keys without decoding the keys. OpenSSL 3.0 decodes the public key
 * of everything it parses by building a decoder, which costs more than the
 * rest of the parse (about 150 µs of the 170 µs a P-256 certificate or
 * SubjectPublicKeyInfo takes); parsed in this context the key is left
 * undecoded. Made once and kept for the life of the process.
 */
#include <openssl/err.h>
#include <openssl/provider.h>
#include <pthread.h>

#include "common.h"

static OSSL_LIB_CTX *keyless;
static pthread_once_t keyless_once = PTHREAD_ONCE_INIT;

static void keyless_make(void)
{
	OSSL_LIB_CTX *c = OSSL_LIB_CTX_new();

	/* Loading "null" keeps the context from falling back to the default
	 * provider, which would bring the key decoders back. */
	if (c != NULL && OSSL_PROVIDER_load(c, "null") == NULL) {
		OSSL_LIB_CTX_free(c);
		c = NULL;
	}
	ERR_clear_error();
	keyless = c;
}

OSSL_LIB_CTX *fc_keyless_libctx(void)
{
	pthread_once(&keyless_once, keyless_make);
	return keyless;
}
