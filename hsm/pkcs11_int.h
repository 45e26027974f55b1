/*
 * Internals of the PKCS#11 backend, shared by hsm/pkcs11*.c and the unit
 * tests. The only place outside the module loader where CK_* types appear;
 * no other folder includes this header.
 *
 * The PKCS#11 declarations are p11-kit's freely licensed pkcs11.h (header
 * only: nothing of p11-kit is linked; modules are loaded with dlopen).
 */
#ifndef FULCRUM_HSM_PKCS11_INT_H
#define FULCRUM_HSM_PKCS11_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <p11-kit/pkcs11.h>

#include "hsm.h"

/* Sessions opened at start when neither MaxSessions nor the URI says. */
#define P11_DEFAULT_SESSIONS 8
/* At most this many sessions are opened, whatever MaxSessions says
 * (crypto11's default of 1024 is a ceiling it opens lazily; we open eagerly). */
#define P11_MAX_SESSIONS 256
/* While the token is unavailable, a new attempt to reach it is made at most
 * this often (signing requests in between fail at once). */
#define P11_RECOVER_INTERVAL_MS 500
/* A signature is tried this many times: once, and once more after a fault
 * (the token reconnected in between) or after finding the token broken. */
#define P11_SIGN_ATTEMPTS 2
/* ready() trusts a signature made this recently instead of probing. */
#define P11_READY_FRESH_MS 1000
/* Attribute values read from the token (labels, ids, EC points, moduli,
 * certificates) are capped. */
#define P11_MAX_ATTR_BYTES (64 * 1024)

/* One loaded module, shared by every token opened through it in this
 * process: C_Initialize is called once, C_Finalize when the last user
 * goes. */
struct p11_module {
	char *path;
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	unsigned refs;
	struct p11_module *next;
};

struct p11_key;

/* A token: module, slot, login, and the pool of sessions. */
struct hsm_p11 {
	struct p11_module *mod;
	CK_FUNCTION_LIST_PTR f;
	struct hsm_p11_config *cfg; /* deep copy without a literal PIN (pin_path kept) */
	char *pin;		    /* a literal PIN on an mlocked page (pin_keep), else NULL */
	size_t pin_len;
	/* The token refused the PIN at the last login (guarded like the
	 * sessions): it is not offered again until its file changes, so that
	 * reconnecting every P11_RECOVER_INTERVAL_MS cannot lock the PIN. */
	bool pin_refused;
	struct stat pin_refused_sb; /* the PIN file as it was when refused */
	char *desc;		    /* "pkcs11 token=..." for logs, no secret */
	atomic_uint refs;	    /* the opener plus one per signer */

	/* Readers use sessions (sign, find); the writer closes and reopens
	 * them (recovery). Writer-preferring so a recovery is not starved. */
	pthread_rwlock_t state_lock;
	CK_SLOT_ID slot;	     /* valid while !broken */
	CK_SESSION_HANDLE *sessions; /* every open session, n_sessions */
	size_t n_sessions;
	unsigned want_sessions;

	pthread_mutex_t pool_lock; /* guards free_sessions / n_free */
	pthread_cond_t pool_cond;
	CK_SESSION_HANDLE *free_sessions;
	size_t n_free;

	atomic_bool broken;		 /* sessions unusable; signing fails fast */
	atomic_uint generation;		 /* bumped by every successful recovery */
	_Atomic int64_t last_attempt_ms; /* of the last recovery attempt */
	pthread_mutex_t reason_lock;
	char reason[FC_ERR_MSG_MAX]; /* why the token is unavailable */

	struct p11_key *keys; /* signers' keys, re-found after recovery (writer) */

	/* statistics for logs and tests */
	atomic_ulong recoveries;
};

/* A signing key on the token (the impl of a struct hsm_signer). */
struct p11_key {
	struct hsm_p11 *p; /* holds a reference */
	char *label;	   /* as looked up (may be NULL) */
	uint8_t *id;
	size_t id_len;
	CK_OBJECT_HANDLE handle; /* valid for the current generation */
	CK_KEY_TYPE type;	 /* CKK_EC or CKK_RSA */
	size_t sig_max;		 /* raw signature size: 2*field or modulus bytes */
	enum hsm_rsa_padding padding;
	const EVP_MD *md;	    /* the signer's digest */
	_Atomic int64_t last_ok_ms; /* last successful signature */
	struct p11_key *next;
};

/*
 * The files of the backend, from the bottom up (each calls only those
 * above it in this list, and hsm.c):
 *   pkcs11_session.c  return-value names, fault classification, the
 *                     token's state and the pool of sessions
 *   pkcs11_uri.c      the configuration: RFC 7512 URIs, crypto11 JSON, PINs
 *   pkcs11_objects.c  objects on the token: keys, public keys, certificates
 *   pkcs11.c          the module, the token and login, recovery, the signer
 */

/* pkcs11_session.c */
const char *p11_rv_name(CK_RV rv);
bool p11_rv_is_fault(CK_RV rv);
/* Locks, condition variable and session arrays (want_sessions set). */
void p11_pool_init(struct hsm_p11 *p);
void p11_pool_destroy(struct hsm_p11 *p);
/* Record why the token is unavailable; true when the reason changed. */
bool p11_set_reason(struct hsm_p11 *p, const char *msg);
/* FC_EUNAVAIL with "<token> is unavailable: <reason>". */
enum fc_status p11_unavailable(struct hsm_p11 *p, struct fc_err *err);
/* Note that rv (a fault) was seen in generation gen. */
void p11_mark_broken(struct hsm_p11 *p, unsigned gen, CK_RV rv, const char *what);
/* Every open session free / every session closed (state_lock held for
 * writing, or p not shared). */
void p11_pool_fill_locked(struct hsm_p11 *p);
void p11_sessions_close_locked(struct hsm_p11 *p);
/* Take state_lock for reading and a session from the pool (waits up to the
 * pool timeout); *gen (if not NULL) the sessions' generation. FC_EUNAVAIL
 * when the token is broken or no session came in time (lock released). */
enum fc_status p11_session_begin(struct hsm_p11 *p, CK_SESSION_HANDLE *s, unsigned *gen,
				 struct fc_err *err);
/* Return the session and release state_lock. */
void p11_session_end(struct hsm_p11 *p, CK_SESSION_HANDLE s);

/* pkcs11.c */
/* Make the token usable again if it is broken. gen: the generation whose
 * sessions the caller saw fail (UINT_MAX: none in particular); force skips
 * the rate limit, for a fault in the current generation only. FC_OK when
 * it is usable, else FC_EUNAVAIL with the reason. Call without state_lock. */
enum fc_status p11_recover(struct hsm_p11 *p, unsigned gen, bool force, struct fc_err *err);

/* pkcs11_objects.c: object search and attributes (state_lock held for
 * reading, a session from p11_session_begin or any open session). */
enum fc_status p11_find_objects(struct hsm_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls,
				const char *label, const uint8_t *id, size_t id_len,
				CK_OBJECT_HANDLE **out, size_t *n, CK_RV *rv_out,
				struct fc_err *err);
/* Read one variable-length attribute; *out malloc'd (caller frees). */
CK_RV p11_get_attr(struct hsm_p11 *p, CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o,
		   CK_ATTRIBUTE_TYPE type, uint8_t **out, size_t *len);
/* Find the key's private-key handle (exactly one object must match).
 * FC_ENOTFOUND when none, FC_ECONFIG when several. */
enum fc_status p11_key_find(struct hsm_p11 *p, CK_SESSION_HANDLE s, struct p11_key *k,
			    CK_RV *rv_out, struct fc_err *err);
/* The key's public half from its public-key object (same id, else same
 * label). FC_ENOTFOUND when the token holds none. */
enum fc_status p11_key_public(struct hsm_p11 *p, CK_SESSION_HANDLE s, struct p11_key *k,
			      EVP_PKEY **out, struct fc_err *err);
/* "label \"X\" id 39 39" for messages. Caller frees. */
char *p11_key_name(const char *label, const uint8_t *id, size_t id_len);

/* pkcs11_uri.c */
/* A copy of c without its literal PIN and pin_source (free with
 * hsm_p11_config_free). */
struct hsm_p11_config *p11_config_copy(const struct hsm_p11_config *c);
/* Read the PIN again from its file (see hsm_p11_config_resolve_pin). *pin
 * malloc'd: wipe it with fc_free_secret right after C_Login. *sb: the
 * file's status when read. FC_ECONFIG naming the file, never the PIN. */
enum fc_status p11_pin_fetch(const struct hsm_p11_config *c, char **pin, struct stat *sb,
			     struct fc_err *err);
/* Decode RFC 3986 percent-encoding of in[0..len) (RFC 7512 2.3): *out
 * malloc'd and NUL-terminated (which binary values may also contain). */
bool p11_pct_decode(const char *in, size_t len, uint8_t **out, size_t *out_len);

#endif /* FULCRUM_HSM_PKCS11_INT_H */
