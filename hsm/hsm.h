/*
 * hsm: the signer interface and its backends. A signer holds one private
 * key (in memory, in a PEM file, or inside a PKCS#11 token) and signs
 * messages with it; nothing outside this module ever sees key material or
 * a PKCS#11 type. Each backend fills in a struct hsm_ops.
 *
 * A signer is safe to use from many threads at once.
 */
#ifndef FULCRUM_HSM_H
#define FULCRUM_HSM_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

enum hsm_key_kind {
	HSM_KEY_EC_P256 = 1,
	HSM_KEY_EC_P384,
	HSM_KEY_EC_P521,
	HSM_KEY_RSA,
	HSM_KEY_ED25519,
};

/* How an RSA key signs: PKCS#1 v1.5 (the default) or PSS (salt = hash). */
enum hsm_rsa_padding {
	HSM_RSA_PKCS1 = 0,
	HSM_RSA_PSS = 1,
};

/*
 * What a signature is for. A signer process (signer/) checks the message
 * against its kind before it signs, and journals certificates; in-process
 * backends ignore the context.
 */
enum hsm_sign_kind {
	HSM_SIGN_ANY = 0,	 /* no context: what hsm_sign passes */
	HSM_SIGN_PRECERT = 1,	 /* a TBSCertificate with the CT poison (RFC 6962 3.1) */
	HSM_SIGN_CERT = 2,	 /* a final TBSCertificate (SCT list, or no CT log) */
	HSM_SIGN_SCT = 3,	 /* an SCT's signed data (RFC 6962 3.2) */
	HSM_SIGN_CHECKPOINT = 4, /* a checkpoint's tree head (RFC 6962 3.5) */
};

/* The longest token id and checkpoint note body a context may carry. */
#define HSM_SIGN_MAX_TOKEN_ID 64
#define HSM_SIGN_MAX_NOTE 1024

struct hsm_sign_ctx {
	enum hsm_sign_kind kind;
	const char *token_id; /* certificates: the identity token's id (oidc's token_id:
			       * its jti or a hash prefix, never the token), journaled */
	const char *note;     /* checkpoints: the note body "<origin>\n<size>\n<root>\n"
			       * whose tree head msg is */
};

/* The end of an asynchronous signature (hsm_sign_async): st FC_OK with
 * sig (malloc'd; the callee takes it) and sig_len, else the failure in err
 * and sig NULL. */
typedef void (*hsm_sign_done_fn)(void *arg, enum fc_status st, uint8_t *sig, size_t sig_len,
				 const struct fc_err *err);

struct hsm_ops {
	/* Sign msg (the whole message, not a digest) with the key's algorithm
	 * (see hsm_sign). *sig is malloc'd by the backend. */
	enum fc_status (*sign)(void *impl, const uint8_t *msg, size_t len, uint8_t **sig,
			       size_t *sig_len, struct fc_err *err);
	/* True when the backend can sign now (readiness). NULL = always. */
	bool (*ready)(void *impl);
	/* Release impl; wipe whatever secret it holds. */
	void (*close)(void *impl);
	/* The same as sign with what the signature is for (ctx may be NULL);
	 * NULL = the backend has no use for it and sign is called. */
	enum fc_status (*sign_ctx)(void *impl, const uint8_t *msg, size_t len,
				   const struct hsm_sign_ctx *ctx, uint8_t **sig, size_t *sig_len,
				   struct fc_err *err);
	/* The key is in this process's memory: a signature costs some
	 * microseconds of CPU and never waits (a caller may sign inline). */
	bool in_process;
	/* The signature comes from a device fulcrum does not control (a
	 * PKCS#11 token): hsm_sign_ctx verifies each with the public half
	 * before returning it, as Go's x509.CreateCertificate does, so that a
	 * faulty token never yields a bad certificate, SCT or timestamp. */
	bool verify_output;
	/* Start signing and return; done is called once, from any thread
	 * (perhaps before this returns). NULL = sign_ctx, then done. */
	void (*sign_async)(void *impl, const uint8_t *msg, size_t len,
			   const struct hsm_sign_ctx *ctx, hsm_sign_done_fn done, void *arg);
};

struct hsm_signer;

/*
 * Wrap a backend. pub is the key's public half (the signer takes a
 * reference of its own). description names the key for logs, never a
 * secret (e.g. "file /etc/fulcrum/ca.key", "pkcs11 token=fulcio
 * object=PKCS11CA"). On failure ops->close(impl) has been called.
 */
enum fc_status hsm_signer_new(const struct hsm_ops *ops, void *impl, EVP_PKEY *pub,
			      enum hsm_rsa_padding padding, const char *description,
			      struct hsm_signer **out, struct fc_err *err);
void hsm_signer_free(struct hsm_signer *s);

/*
 * Sign msg. The algorithm follows the key, as Go's x509 does for a CA key:
 * ECDSA P-256/P-384/P-521 with SHA-256/384/512 (DER ECDSA-Sig-Value), RSA
 * with SHA-256 and PKCS#1 v1.5 (or PSS), Ed25519 pure. *sig is malloc'd;
 * caller frees. FC_EHSM (or FC_EUNAVAIL when the device is temporarily
 * gone) with the reason in err.
 */
enum fc_status hsm_sign(struct hsm_signer *s, const uint8_t *msg, size_t len, uint8_t **sig,
			size_t *sig_len, struct fc_err *err);
/* The same, saying what the signature is for (ctx may be NULL: as
 * hsm_sign). A remote signer refuses what does not match ctx: FC_EHSM. */
enum fc_status hsm_sign_ctx(struct hsm_signer *s, const uint8_t *msg, size_t len,
			    const struct hsm_sign_ctx *ctx, uint8_t **sig, size_t *sig_len,
			    struct fc_err *err);
/*
 * The same without waiting: done(arg, ...) is called exactly once, with
 * the signature or the failure, on this thread before the return (a key in
 * this process) or later on another (a remote signer, whose thread must
 * not be held long). msg and ctx are not used after the return. The
 * caller must keep s alive until done.
 */
void hsm_sign_async(struct hsm_signer *s, const uint8_t *msg, size_t len,
		    const struct hsm_sign_ctx *ctx, hsm_sign_done_fn done, void *arg);

EVP_PKEY *hsm_signer_public_key(const struct hsm_signer *s); /* borrowed */
enum hsm_key_kind hsm_signer_kind(const struct hsm_signer *s);
const char *hsm_signer_description(const struct hsm_signer *s);
bool hsm_signer_ready(struct hsm_signer *s);
/* True when the key is in this process's memory (hsm_ops.in_process). */
bool hsm_signer_in_process(const struct hsm_signer *s);
/* The X.509 signature algorithm NID hsm_sign produces:
 * NID_ecdsa_with_SHA256/384/512, NID_sha256WithRSAEncryption,
 * NID_rsassaPss (with SHA-256, MGF1-SHA-256, salt 32) or NID_ED25519. */
int hsm_signer_signature_nid(const struct hsm_signer *s);
/* The digest hsm_sign uses (NULL for Ed25519). */
const EVP_MD *hsm_signer_digest(const struct hsm_signer *s);
/*
 * Sign a fixed message and verify it with the signer's public key, as a
 * backend does once when it makes a signer. FC_OK, the signing status, or
 * FC_ECONFIG when the key and its public half do not match.
 */
enum fc_status hsm_signer_self_test(struct hsm_signer *s, struct fc_err *err);

/* --- softkey.c: keys held in this process ------------------------------- */

/* A fresh in-memory key of the given kind (RSA: 3072 bits). */
enum fc_status hsm_softkey_generate(enum hsm_key_kind kind, struct hsm_signer **out,
				    struct fc_err *err);

/*
 * Load a PEM private key: PKCS#8 (plain or ENCRYPTED PRIVATE KEY), SEC1 "EC
 * PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY", legacy RFC 1423 encrypted PEM.
 * passphrase may be NULL for an unencrypted key; it is not kept. Allowed
 * keys: EC P-256/P-384/P-521, RSA 2048-8192, Ed25519. FC_ECONFIG with the
 * reason (never the passphrase) in err.
 */
enum fc_status hsm_softkey_load_pem(const char *path, const char *passphrase,
				    enum hsm_rsa_padding padding, struct hsm_signer **out,
				    struct fc_err *err);

/* Wrap an EVP_PKEY holding a private key (takes ownership of key). */
enum fc_status hsm_softkey_from_pkey(EVP_PKEY *key, enum hsm_rsa_padding padding,
				     const char *description, struct hsm_signer **out,
				     struct fc_err *err);

/* --- remote.c: a key held by another process ----------------------------- */

/*
 * How a remote signer reaches the process that holds its key (signer/'s
 * link implements it): link and key_id are passed back unchanged. sign
 * follows hsm_ops.sign_ctx; ready may block for a round trip; release
 * says the signer is gone (the key may be dropped); both may be NULL.
 */
struct hsm_remote_transport {
	enum fc_status (*sign)(void *link, uint32_t key_id, const uint8_t *msg, size_t len,
			       const struct hsm_sign_ctx *ctx, uint8_t **sig, size_t *sig_len,
			       struct fc_err *err);
	/* As hsm_ops.sign_async; NULL = sign, then done. */
	void (*sign_async)(void *link, uint32_t key_id, const uint8_t *msg, size_t len,
			   const struct hsm_sign_ctx *ctx, hsm_sign_done_fn done, void *arg);
	bool (*ready)(void *link, uint32_t key_id);
	void (*release)(void *link, uint32_t key_id);
};

/*
 * A signer whose key lives in another process: pub is its public half (the
 * signer takes a reference), padding its RSA padding; every signature is
 * forwarded through t with key_id and the context. No self-test is made
 * here (the process holding the key made one). FC_OK with *out (free with
 * hsm_signer_free, which calls t->release), else as hsm_signer_new.
 */
enum fc_status hsm_remote_signer_new(const struct hsm_remote_transport *t, void *link,
				     uint32_t key_id, EVP_PKEY *pub, enum hsm_rsa_padding padding,
				     const char *description, struct hsm_signer **out,
				     struct fc_err *err);
/* The RSA padding a signer signs with. */
enum hsm_rsa_padding hsm_signer_padding(const struct hsm_signer *s);

/* --- pkcs11*.c: keys inside a PKCS#11 token ----------------------------- */

/* Hard limits, checked before parsing. */
#define HSM_P11_MAX_URI_LEN 4096	     /* a PKCS#11 URI */
#define HSM_P11_MAX_CONFIG_BYTES (64 * 1024) /* a crypto11 JSON file */
#define HSM_P11_MAX_PIN_LEN 255		     /* a PIN (file, env, URI, JSON) */
#define HSM_P11_MAX_ATTR_LEN 255	     /* a label, id, serial, ... */

/* Fulcio's default --hsm-key-label. */
#define HSM_P11_DEFAULT_KEY_LABEL "PKCS11CA"
/* The environment variable a PIN may come from (it wins over the other
 * sources, and is unset once read). */
#define HSM_P11_PIN_ENV "FULCRUM_PKCS11_PIN"

/*
 * Where the PIN is fetched from at each C_Login. A file (a PIN file, or
 * the crypto11 JSON whose Pin field holds it) is read again at every login
 * into a buffer wiped right after C_Login, so that no copy stays in memory
 * between logins. A literal (pin-value=, FULCRUM_PKCS11_PIN, or a crypto11
 * JSON parsed from memory) cannot be fetched again: it is kept on a locked
 * page excluded from core dumps (see docs/hsm.md).
 */
enum hsm_p11_pin_from {
	HSM_P11_PIN_NONE = 0, /* no PIN known (fine with LoginNotSupported) */
	HSM_P11_PIN_VALUE,    /* pin: a literal */
	HSM_P11_PIN_FILE,     /* pin_path: a file whose first line is the PIN */
	HSM_P11_PIN_CRYPTO11, /* pin_path: a crypto11 JSON file whose Pin is the PIN */
};

/*
 * Where the key is: the module, the token (exactly one of token_label,
 * token_serial, has_slot, or the RFC 7512 token attributes), how to log in,
 * and optionally which object (from a PKCS#11 URI). Filled by
 * hsm_p11_config_parse_uri or hsm_p11_config_load_crypto11; every string is
 * owned (free with hsm_p11_config_free, which wipes the PIN).
 */
struct hsm_p11_config {
	char *module_path; /* crypto11 Path, URI module-path */
	char *module_name; /* URI module-name (informational) */
	/* token selection (RFC 7512 4 attribute names) */
	char *token_label;	  /* token= / TokenLabel */
	char *token_serial;	  /* serial= / TokenSerial */
	char *token_manufacturer; /* manufacturer= */
	char *token_model;	  /* model= */
	bool has_slot;
	unsigned long slot;	    /* slot-id= / SlotNumber */
	char *slot_description;	    /* slot-description= */
	char *slot_manufacturer;    /* slot-manufacturer= */
	char *library_manufacturer; /* library-manufacturer= */
	char *library_description;  /* library-description= */
	char *library_version;	    /* library-version= ("M" or "M.m") */
	/* object */
	char *object_label; /* object= */
	uint8_t *object_id; /* id= (raw bytes) */
	size_t object_id_len;
	char *object_type; /* type= (private, public, cert, ...) */
	/* login */
	enum hsm_p11_pin_from pin_from;
	char *pin;		  /* secret (HSM_P11_PIN_VALUE only): never logged, wiped */
	char *pin_path;		  /* HSM_P11_PIN_FILE / _CRYPTO11: read again at each login */
	char *pin_source;	  /* pin-source= as written (a file), see resolve_pin */
	bool login_not_supported; /* LoginNotSupported */
	unsigned long user_type;  /* UserType: 1 = CKU_USER (default), 0 = SO, 2 = context */
	/* pool */
	unsigned max_sessions; /* MaxSessions; 0 = the default (8) */
	int64_t pool_wait_ms;  /* PoolWaitTimeout; 0 = wait as long as it takes */
	bool read_write;       /* open read-write sessions (to create objects) */
};

/*
 * Parse an RFC 7512 PKCS#11 URI ("pkcs11:token=...;object=...;id=%01?
 * module-path=...&pin-source=file:/path"). Percent-encoding is decoded
 * (id is raw bytes), attribute names are checked: duplicates, attributes
 * in the wrong part and unknown path attributes (vendor "x-" ones too) are
 * refused, unknown query attributes ignored (RFC 7512 2.3). FC_ECONFIG
 * with the reason (never a pin-value) in err; *out freed with
 * hsm_p11_config_free.
 */
enum fc_status hsm_p11_config_parse_uri(const char *uri, struct hsm_p11_config **out,
					struct fc_err *err);

/*
 * Parse crypto11's JSON configuration (Fulcio's --pkcs11-config-path):
 * Path, TokenLabel, TokenSerial, SlotNumber, Pin, MaxSessions, UserType,
 * PoolWaitTimeout (Go nanoseconds), LoginNotSupported; exactly one of
 * TokenLabel, TokenSerial, SlotNumber. name is used in messages. A Pin is
 * kept as a literal (HSM_P11_PIN_VALUE).
 */
enum fc_status hsm_p11_config_parse_crypto11(const char *json, size_t len, const char *name,
					     struct hsm_p11_config **out, struct fc_err *err);
/* The same from a file; a Pin is not kept but read again from the file at
 * each login (HSM_P11_PIN_CRYPTO11, pin_path = path). */
enum fc_status hsm_p11_config_load_crypto11(const char *path, struct hsm_p11_config **out,
					    struct fc_err *err);
void hsm_p11_config_free(struct hsm_p11_config *c);

/*
 * Settle where the PIN comes from: FULCRUM_PKCS11_PIN if set (copied as a
 * literal, wiped and unset), else the file pin_file if not NULL, else the
 * URI's pin-source file, else what the configuration holds (a pin-value
 * literal or the crypto11 file's Pin). A file is only checked here (read
 * and wiped): its first line (without the line ending) is read again at
 * each login. FC_ECONFIG naming the file, never the PIN.
 */
enum fc_status hsm_p11_config_resolve_pin(struct hsm_p11_config *c, const char *pin_file,
					  struct fc_err *err);

/* A logged-in token with its pool of sessions. */
struct hsm_p11;

/*
 * Load the module (once per process: dlopen, C_GetFunctionList,
 * C_Initialize with CKF_OS_LOCKING_OK), find the token, log in once and
 * open the pool of sessions. A PIN from a file is read at each login (here
 * and after a fault) and wiped right after C_Login; only a literal PIN is
 * copied, to a locked page kept for logging in again after a fault.
 * FC_ECONFIG with a message naming what is wrong (module, token, PIN
 * file, PIN), FC_EUNAVAIL when the token is absent.
 */
enum fc_status hsm_p11_open(const struct hsm_p11_config *cfg, struct hsm_p11 **out,
			    struct fc_err *err);
/* Drop the opener's reference; signers made from p keep it alive. */
void hsm_p11_free(struct hsm_p11 *p);
const char *hsm_p11_description(const struct hsm_p11 *p);

/*
 * A signer for the private key with CKA_LABEL label and/or CKA_ID id on
 * the token (at least one; exactly one key must match). The public key is
 * read from the token's public-key object, else fallback_pub is used
 * (e.g. the certificate's key); a self-test signature must verify with it.
 * EC P-256/P-384 (CKM_ECDSA over a software digest) and RSA 2048-8192
 * (CKM_SHA256_RSA_PKCS, or CKM_SHA256_RSA_PKCS_PSS with HSM_RSA_PSS).
 * FC_ENOTFOUND when no key matches, FC_ECONFIG otherwise, reason in err.
 */
enum fc_status hsm_p11_signer_new(struct hsm_p11 *p, const char *label, const uint8_t *id,
				  size_t id_len, enum hsm_rsa_padding padding,
				  EVP_PKEY *fallback_pub, struct hsm_signer **out,
				  struct fc_err *err);

/*
 * A signer for the token's private key whose public half is pub (the key
 * of a certificate): found through the public-key object that holds pub
 * (its CKA_ID, else its CKA_LABEL), so that a new key is picked up by its
 * certificate alone, whatever its label. FC_ENOTFOUND when no public-key
 * object on the token is pub; otherwise as hsm_p11_signer_new.
 */
enum fc_status hsm_p11_signer_for_key(struct hsm_p11 *p, EVP_PKEY *pub,
				      enum hsm_rsa_padding padding, struct hsm_signer **out,
				      struct fc_err *err);

/*
 * Generate a key pair on the token (CKA_TOKEN, private key CKA_SENSITIVE,
 * not extractable, CKA_SIGN) with label and id on both halves. kind:
 * HSM_KEY_EC_P256, HSM_KEY_EC_P384 or HSM_KEY_RSA (3072 bits).
 */
enum fc_status hsm_p11_generate_key(struct hsm_p11 *p, const char *label, const uint8_t *id,
				    size_t id_len, enum hsm_key_kind kind, struct fc_err *err);

/* True if a private key with that label (and id, if given) exists. */
enum fc_status hsm_p11_has_key(struct hsm_p11 *p, const char *label, const uint8_t *id,
			       size_t id_len, bool *found, struct fc_err *err);

/*
 * The certificates (CKO_CERTIFICATE, X.509) with that label and/or id;
 * both NULL = every certificate on the token. *out is an array of n
 * certificates (free each with X509_free and the array with free).
 */
enum fc_status hsm_p11_find_certs(struct hsm_p11 *p, const char *label, const uint8_t *id,
				  size_t id_len, X509 ***out, size_t *n, struct fc_err *err);

/* Store cert on the token (CKO_CERTIFICATE with CKA_ID, CKA_LABEL,
 * CKA_VALUE, CKA_SUBJECT, CKA_ISSUER, CKA_SERIAL_NUMBER, CKA_TOKEN). */
enum fc_status hsm_p11_store_cert(struct hsm_p11 *p, const char *label, const uint8_t *id,
				  size_t id_len, X509 *cert, struct fc_err *err);

/* Destroy the certificates with that id (for createca --force); *n says
 * how many. */
enum fc_status hsm_p11_delete_certs(struct hsm_p11 *p, const uint8_t *id, size_t id_len, size_t *n,
				    struct fc_err *err);

#endif /* FULCRUM_HSM_H */
