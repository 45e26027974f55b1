/*
 * pkcs11: a signer whose key lives in a PKCS#11 token (PKCS#11 v2.40).
 *
 * The module is loaded once per process (dlopen, C_GetFunctionList,
 * C_Initialize with CKF_OS_LOCKING_OK); the token is logged in once, and a
 * pool of sessions is opened at start, so a request never opens a session
 * or logs in (a login per signature divides SoftHSM2's ECDSA rate by ~15).
 * Signing: ECDSA hashes in software and signs the digest with CKM_ECDSA
 * (raw r||s, converted to DER); RSA uses CKM_SHA256_RSA_PKCS or
 * CKM_SHA256_RSA_PKCS_PSS.
 *
 * Faults: when the module reports that a session, the login, the key
 * handle or the device went away (p11_rv_is_fault), the sessions are
 * closed, the token is found again, logged in again, the key handles are
 * found again, and the signature is retried once. While the token stays
 * unreachable, signing fails fast with FC_EUNAVAIL and ready() is false; a
 * new attempt to reach it is made at most every P11_RECOVER_INTERVAL_MS,
 * so service resumes on its own when the token returns.
 *
 * Locking: state_lock is held for reading while a session is in use and
 * for writing while the sessions are replaced (pkcs11_session.c, the
 * bottom of the backend, keeps the pool and the token's state).
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/ec.h>

#include "pkcs11_int.h"

static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11_module *modules;

/* --- the module ----------------------------------------------------------------- */

static CK_RV module_initialize(CK_FUNCTION_LIST_PTR f)
{
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;

	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = f->C_Initialize(&args);
	if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
		rv = CKR_OK; /* someone else in this process did; share it */
	return rv;
}

/* Load (or share) the module at path. */
static enum fc_status module_get(const char *path, struct p11_module **out, struct fc_err *err)
{
	struct p11_module *m;
	CK_C_GetFunctionList getfl;
	CK_FUNCTION_LIST_PTR f = NULL;
	void *dl = NULL;
	CK_RV rv;
	enum fc_status st = FC_ECONFIG;

	pthread_mutex_lock(&modules_lock);
	for (m = modules; m != NULL; m = m->next) {
		if (strcmp(m->path, path) == 0) {
			m->refs++;
			*out = m;
			pthread_mutex_unlock(&modules_lock);
			return FC_OK;
		}
	}
	if (access(path, R_OK) != 0) {
		fc_err_set(err, FC_ECONFIG, "pkcs11: module %s: %s", path, strerror(errno));
		goto out;
	}
	if ((dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		const char *why = dlerror();
		fc_err_set(err, FC_ECONFIG, "pkcs11: module %s: cannot be loaded: %s", path,
			   why != NULL ? why : "?");
		goto out;
	}
	*(void **)&getfl = dlsym(dl, "C_GetFunctionList");
	if (getfl == NULL) {
		fc_err_set(err, FC_ECONFIG,
			   "pkcs11: module %s is not a PKCS#11 module (no C_GetFunctionList)",
			   path);
		goto out;
	}
	if ((rv = getfl(&f)) != CKR_OK || f == NULL) {
		fc_err_set(err, FC_ECONFIG, "pkcs11: module %s: C_GetFunctionList: %s", path,
			   p11_rv_name(rv));
		goto out;
	}
	if (f->version.major != 2 && f->version.major != 3) {
		fc_err_set(err, FC_ECONFIG, "pkcs11: module %s: unsupported Cryptoki version %u.%u",
			   path, f->version.major, f->version.minor);
		goto out;
	}
	if ((rv = module_initialize(f)) != CKR_OK) {
		fc_err_set(err, FC_ECONFIG, "pkcs11: module %s: C_Initialize: %s", path,
			   p11_rv_name(rv));
		goto out;
	}
	m = fc_xcalloc(1, sizeof(*m));
	m->path = fc_xstrdup(path);
	m->dl = dl;
	dl = NULL;
	m->f = f;
	m->refs = 1;
	m->next = modules;
	modules = m;
	*out = m;
	st = FC_OK;
out:
	/* A module that failed to load is not unloaded either: see module_put. */
	(void)dl;
	pthread_mutex_unlock(&modules_lock);
	return st;
}

/* Drop a reference; the last one finalizes the module. The library stays
 * mapped: modules commonly leave threads or atexit handlers behind, and
 * unloading one that links its own OpenSSL is a known source of crashes. */
static void module_put(struct p11_module *m)
{
	struct p11_module **pp;

	if (m == NULL)
		return;
	pthread_mutex_lock(&modules_lock);
	if (--m->refs == 0) {
		for (pp = &modules; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == m) {
				*pp = m->next;
				break;
			}
		}
		m->f->C_Finalize(NULL);
		free(m->path);
		free(m);
	}
	pthread_mutex_unlock(&modules_lock);
}

/* Finalize and initialize the module again, so that it looks for its
 * tokens afresh; only when nobody else in the process uses it. */
static CK_RV module_reinitialize(struct p11_module *m)
{
	CK_RV rv = CKR_OK;

	pthread_mutex_lock(&modules_lock);
	if (m->refs == 1) {
		m->f->C_Finalize(NULL);
		rv = module_initialize(m->f);
	}
	pthread_mutex_unlock(&modules_lock);
	return rv;
}

/* --- the token ------------------------------------------------------------------- */

/* A fixed-width, space-padded PKCS#11 string equals want. */
static bool padded_eq(const CK_UTF8CHAR *field, size_t width, const char *want)
{
	size_t n = strlen(want), len = width;

	while (len > 0 && (field[len - 1] == ' ' || field[len - 1] == '\0'))
		len--;
	return n == len && memcmp(field, want, n) == 0;
}

/* The token label, trimmed, for messages. */
static void padded_str(const CK_UTF8CHAR *field, size_t width, char *buf, size_t size)
{
	size_t len = width;

	while (len > 0 && (field[len - 1] == ' ' || field[len - 1] == '\0'))
		len--;
	snprintf(buf, size, "%.*s", (int)len, (const char *)field);
}

static bool version_eq(CK_VERSION v, const char *want)
{
	char buf[16];

	if (strchr(want, '.') == NULL)
		return (unsigned)atoi(want) == v.major;
	snprintf(buf, sizeof(buf), "%u.%u", v.major, v.minor);
	return strcmp(buf, want) == 0;
}

/* What was asked for, for messages ("label \"fulcio\""). */
static void token_wanted(const struct hsm_p11_config *c, char *buf, size_t size)
{
	if (c->token_label != NULL)
		snprintf(buf, size, "label \"%s\"", c->token_label);
	else if (c->token_serial != NULL)
		snprintf(buf, size, "serial \"%s\"", c->token_serial);
	else if (c->has_slot)
		snprintf(buf, size, "slot %lu", c->slot);
	else
		snprintf(buf, size, "the URI's attributes");
}

/*
 * The module matches the URI's library-* attributes (RFC 7512 2.3), if
 * any. FC_EUNAVAIL (rv in *rv_out) when C_GetInfo fails, FC_ECONFIG when
 * the module is another one.
 */
static enum fc_status library_check(struct hsm_p11 *p, CK_RV *rv_out, struct fc_err *err)
{
	const struct hsm_p11_config *c = p->cfg;
	CK_INFO info;
	CK_RV rv;

	if (c->library_manufacturer == NULL && c->library_description == NULL &&
	    c->library_version == NULL)
		return FC_OK;
	if ((rv = p->f->C_GetInfo(&info)) != CKR_OK) {
		*rv_out = rv;
		return fc_err_set(err, FC_EUNAVAIL, "pkcs11: module %s: C_GetInfo: %s",
				  c->module_path, p11_rv_name(rv));
	}
	if ((c->library_manufacturer != NULL &&
	     !padded_eq(info.manufacturerID, sizeof(info.manufacturerID),
			c->library_manufacturer)) ||
	    (c->library_description != NULL &&
	     !padded_eq(info.libraryDescription, sizeof(info.libraryDescription),
			c->library_description)) ||
	    (c->library_version != NULL && !version_eq(info.libraryVersion, c->library_version)))
		return fc_err_set(err, FC_ECONFIG,
				  "pkcs11: module %s does not match the URI's library-* attributes",
				  c->module_path);
	return FC_OK;
}

/*
 * The slots with a token present: *slots malloc'd (caller frees, NULL
 * when *n is 0). FC_EUNAVAIL with the rv in *rv_out when the module fails.
 */
static enum fc_status slots_with_token(struct hsm_p11 *p, CK_SLOT_ID **slots, CK_ULONG *n,
				       CK_RV *rv_out, struct fc_err *err)
{
	CK_RV rv;

	*slots = NULL;
	*n = 0;
	if ((rv = p->f->C_GetSlotList(CK_TRUE, NULL, n)) == CKR_OK && *n > 0) {
		*slots = fc_xcalloc(*n, sizeof(**slots));
		if ((rv = p->f->C_GetSlotList(CK_TRUE, *slots, n)) != CKR_OK) {
			free(*slots);
			*slots = NULL;
		}
	}
	if (rv != CKR_OK) {
		*rv_out = rv;
		return fc_err_set(err, FC_EUNAVAIL, "pkcs11: module %s: C_GetSlotList: %s",
				  p->cfg->module_path, p11_rv_name(rv));
	}
	return FC_OK;
}

/* The initialized token ti in slot matches every token and slot attribute
 * of the configuration. */
static bool token_matches(struct hsm_p11 *p, CK_SLOT_ID slot, const CK_TOKEN_INFO *ti)
{
	const struct hsm_p11_config *c = p->cfg;
	CK_SLOT_INFO si;

	if ((ti->flags & CKF_TOKEN_INITIALIZED) == 0 ||
	    (c->token_label != NULL && !padded_eq(ti->label, sizeof(ti->label), c->token_label)) ||
	    (c->token_serial != NULL &&
	     !padded_eq(ti->serialNumber, sizeof(ti->serialNumber), c->token_serial)) ||
	    (c->token_manufacturer != NULL &&
	     !padded_eq(ti->manufacturerID, sizeof(ti->manufacturerID), c->token_manufacturer)) ||
	    (c->token_model != NULL && !padded_eq(ti->model, sizeof(ti->model), c->token_model)) ||
	    (c->has_slot && slot != c->slot))
		return false;
	if (c->slot_description == NULL && c->slot_manufacturer == NULL)
		return true;
	if (p->f->C_GetSlotInfo(slot, &si) != CKR_OK)
		return false;
	return (c->slot_description == NULL ||
		padded_eq(si.slotDescription, sizeof(si.slotDescription), c->slot_description)) &&
	       (c->slot_manufacturer == NULL ||
		padded_eq(si.manufacturerID, sizeof(si.manufacturerID), c->slot_manufacturer));
}

/*
 * Find the one token matching the configuration. FC_EUNAVAIL when no token
 * matches (it may come back), FC_ECONFIG when several do, with the labels
 * present in the message.
 */
static enum fc_status token_find(struct hsm_p11 *p, CK_SLOT_ID *out, CK_RV *rv_out,
				 struct fc_err *err)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0;
	char present[256] = "", wanted[128];
	size_t matches = 0, used = 0;
	enum fc_status st;

	*rv_out = CKR_OK;
	token_wanted(p->cfg, wanted, sizeof(wanted));
	if ((st = library_check(p, rv_out, err)) != FC_OK ||
	    (st = slots_with_token(p, &slots, &n, rv_out, err)) != FC_OK)
		return st;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;
		char label[40];

		if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		padded_str(ti.label, sizeof(ti.label), label, sizeof(label));
		if (used < sizeof(present) - 48) {
			int w = snprintf(present + used, sizeof(present) - used, "%s\"%s\"",
					 used ? ", " : "", label);
			if (w > 0)
				used += (size_t)w;
		}
		if (token_matches(p, slots[i], &ti) && matches++ == 0)
			*out = slots[i];
	}
	free(slots);
	if (matches == 1)
		return FC_OK;
	if (matches > 1)
		return fc_err_set(
			err, FC_ECONFIG,
			"pkcs11: module %s: %zu tokens match %s; name one by serial or slot",
			p->cfg->module_path, matches, wanted);
	if (n == 0)
		return fc_err_set(err, FC_EUNAVAIL,
				  "pkcs11: module %s: no token is present (for SoftHSM2: check "
				  "SOFTHSM2_CONF and its tokendir)",
				  p->cfg->module_path);
	return fc_err_set(err, FC_EUNAVAIL,
			  "pkcs11: module %s: no initialized token with %s (tokens present: %s)",
			  p->cfg->module_path, wanted, present);
}

/* Keep a literal PIN (one that cannot be read again from a file) on a
 * page of its own, locked in memory and left out of core dumps, for
 * logging in again after a fault. */
static enum fc_status pin_keep(struct hsm_p11 *p, const char *pin)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), n = strlen(pin);
	void *mem;

	if (n + 1 > page)
		return FC_ECONFIG;
	mem = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		abort(); /* out of memory: daemon policy */
	if (mlock(mem, page) != 0)
		fc_log(LOG_DEBUG, "pkcs11: cannot lock the PIN page in memory: %s",
		       strerror(errno));
#ifdef MADV_DONTDUMP
	(void)madvise(mem, page, MADV_DONTDUMP);
#endif
	memcpy(mem, pin, n + 1);
	p->pin = mem;
	p->pin_len = n;
	return FC_OK;
}

static void pin_wipe(struct hsm_p11 *p)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (p->pin == NULL)
		return;
	fc_memzero(p->pin, page);
	munlock(p->pin, page);
	munmap(p->pin, page);
	p->pin = NULL;
	p->pin_len = 0;
}

/* The PIN file is as it was when its PIN was refused: same inode, size,
 * modification and change times. */
static bool pin_file_unchanged(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/*
 * Log in on session s (state_lock held for writing, or p not yet shared).
 * The PIN is the literal on its locked page, or is read again from its
 * file (hsm_p11_config_resolve_pin) into a buffer wiped as soon as
 * C_Login returns. A PIN the token refused is not offered again until its
 * file changes (a literal never again): reconnecting after a fault would
 * otherwise retry a wrong PIN every P11_RECOVER_INTERVAL_MS until the
 * token locks it (PKCS#11 2.40 5.6 C_Login, CKR_PIN_LOCKED). FC_ECONFIG
 * for a wrong or locked PIN or an unreadable PIN file (naming the file;
 * the PIN never appears), FC_EUNAVAIL for a fault.
 */
static enum fc_status login(struct hsm_p11 *p, CK_SESSION_HANDLE s, CK_RV *rv_out,
			    struct fc_err *err)
{
	const char *tok = p->desc;
	const char *path = p->cfg->pin_path;
	char *fetched = NULL;
	const char *pin = NULL;
	size_t pin_len = 0;
	struct stat sb;
	char from[FC_ERR_MSG_MAX / 2] = "";
	CK_RV rv;
	enum fc_status st;

	*rv_out = CKR_OK;
	memset(&sb, 0, sizeof(sb));
	if (p->cfg->login_not_supported)
		return FC_OK;
	switch (p->cfg->pin_from) {
	case HSM_P11_PIN_VALUE:
		if (p->pin_refused)
			return fc_err_set(
				err, FC_ECONFIG,
				"%s: not logging in again: the token refused the PIN "
				"before (pin-value or %s cannot change without a restart)",
				tok, HSM_P11_PIN_ENV);
		pin = p->pin;
		pin_len = p->pin_len;
		break;
	case HSM_P11_PIN_FILE:
	case HSM_P11_PIN_CRYPTO11:
		if ((st = p11_pin_fetch(p->cfg, &fetched, &sb, err)) != FC_OK)
			return st;
		if (p->pin_refused && pin_file_unchanged(&sb, &p->pin_refused_sb)) {
			fc_free_secret(fetched);
			return fc_err_set(err, FC_ECONFIG,
					  "%s: not logging in again: the token refused the PIN in "
					  "%s, which has not changed since",
					  tok, path);
		}
		pin = fetched;
		pin_len = strlen(fetched);
		snprintf(from, sizeof(from), "; PIN read from %s", path);
		break;
	default: break;
	}
	if (pin == NULL)
		return fc_err_set(
			err, FC_ECONFIG,
			"%s: no PIN given (Pin in the config file, pin-source or pin-value "
			"in the URI, --pkcs11-pin-file, or %s)",
			tok, HSM_P11_PIN_ENV);
	rv = p->f->C_Login(s, p->cfg->user_type, (CK_UTF8CHAR_PTR)pin, pin_len);
	fc_free_secret(fetched); /* wiped whatever C_Login answered */
	fetched = NULL;
	pin = NULL;
	*rv_out = rv;
	switch (rv) {
	case CKR_OK:
	case CKR_USER_ALREADY_LOGGED_IN:
		*rv_out = CKR_OK;
		p->pin_refused = false;
		return FC_OK;
	case CKR_PIN_INCORRECT:
	case CKR_PIN_INVALID:
	case CKR_PIN_LEN_RANGE:
		st = fc_err_set(err, FC_ECONFIG,
				"%s: login refused: the PIN is wrong (C_Login: %s%s)", tok,
				p11_rv_name(rv), from);
		break;
	case CKR_PIN_LOCKED:
		st = fc_err_set(err, FC_ECONFIG,
				"%s: login refused: the PIN is locked after too many wrong "
				"attempts (C_Login: %s%s)",
				tok, p11_rv_name(rv), from);
		break;
	case CKR_PIN_EXPIRED:
	case CKR_USER_PIN_NOT_INITIALIZED:
	case CKR_USER_TYPE_INVALID:
		st = fc_err_set(err, FC_ECONFIG, "%s: login refused (C_Login: %s%s)", tok,
				p11_rv_name(rv), from);
		break;
	default:
		return fc_err_set(err, p11_rv_is_fault(rv) ? FC_EUNAVAIL : FC_EHSM,
				  "%s: C_Login: %s", tok, p11_rv_name(rv));
	}
	p->pin_refused = true;
	p->pin_refused_sb = sb;
	return st;
}

/*
 * Find the token, open the sessions and log in on the first one (state_lock
 * held for writing, or p not yet shared). On failure every session opened
 * here is closed.
 */
static enum fc_status connect_locked(struct hsm_p11 *p, struct fc_err *err)
{
	CK_FLAGS flags = CKF_SERIAL_SESSION;
	CK_SESSION_HANDLE s;
	CK_SLOT_ID slot = 0;
	CK_RV rv;
	enum fc_status st;

	if (p->cfg->read_write)
		flags |= CKF_RW_SESSION;
	if ((st = token_find(p, &slot, &rv, err)) != FC_OK)
		return st;
	p->slot = slot;
	for (unsigned i = 0; i < p->want_sessions; i++) {
		rv = p->f->C_OpenSession(slot, flags, NULL, NULL, &s);
		if (rv == CKR_SESSION_COUNT && i > 0) {
			fc_log(LOG_WARNING, "%s: the token allows only %u sessions; pooling those",
			       p->desc, i);
			break;
		}
		if (rv != CKR_OK) {
			st = fc_err_set(err,
					p11_rv_is_fault(rv) || rv == CKR_SESSION_COUNT ? FC_EUNAVAIL
										       : FC_ECONFIG,
					"%s: C_OpenSession: %s", p->desc, p11_rv_name(rv));
			goto fail;
		}
		p->sessions[p->n_sessions++] = s;
		/* PKCS#11 2.40 5.6: a login holds for every session of this
		 * application with the token, so one is enough. */
		if (i == 0 && (st = login(p, s, &rv, err)) != FC_OK)
			goto fail;
	}
	p11_pool_fill_locked(p);
	return FC_OK;
fail:
	p11_sessions_close_locked(p);
	return st;
}

/* Find every registered key again (state_lock held for writing). */
static enum fc_status keys_refind_locked(struct hsm_p11 *p, struct fc_err *err)
{
	CK_RV rv;
	enum fc_status st;

	if (p->keys == NULL || p->n_sessions == 0)
		return FC_OK;
	for (struct p11_key *k = p->keys; k != NULL; k = k->next) {
		st = p11_key_find(p, p->sessions[0], k, &rv, err);
		if (st != FC_OK)
			return fc_err_set(err, FC_EUNAVAIL, "%s: key not found after reconnecting",
					  p->desc);
	}
	return FC_OK;
}

/*
 * One attempt to reach the token again (state_lock held for writing):
 * close the sessions, find the token (initializing the module again if it
 * no longer shows the token), log in, reopen the pool and find the keys
 * again. On success the sessions are a new generation and the token is no
 * longer broken; else the reason is recorded. Returns FC_OK, else the
 * status of the step that failed.
 */
static enum fc_status reconnect_locked(struct hsm_p11 *p)
{
	struct fc_err e = {0};
	enum fc_status st;

	atomic_store(&p->last_attempt_ms, fc_mono_ms());
	p11_sessions_close_locked(p);
	st = connect_locked(p, &e);
	if (st == FC_EUNAVAIL && module_reinitialize(p->mod) == CKR_OK) {
		/* Some modules (SoftHSM2) only look for tokens at C_Initialize. */
		memset(&e, 0, sizeof(e));
		st = connect_locked(p, &e);
	}
	if (st == FC_OK && (st = keys_refind_locked(p, &e)) != FC_OK)
		p11_sessions_close_locked(p);
	if (st == FC_OK) {
		atomic_fetch_add(&p->generation, 1);
		atomic_fetch_add(&p->recoveries, 1);
		atomic_store(&p->broken, false);
		fc_log(LOG_NOTICE, "%s: reconnected, logged in again; signing resumes", p->desc);
		return FC_OK;
	}
	/* A new reason is worth a line; the same one again is not (an attempt
	 * is made every P11_RECOVER_INTERVAL_MS). A PIN or PIN file problem
	 * needs the operator. */
	fc_log(!p11_set_reason(p, e.msg) ? LOG_DEBUG
	       : st == FC_ECONFIG	 ? LOG_ERR
					 : LOG_WARNING,
	       "%s: still unavailable: %s", p->desc, e.msg);
	return st;
}

/*
 * Make the token usable again (see pkcs11_int.h). Nothing to do when it is
 * not broken. gen is the generation of the sessions on which the caller
 * saw its fault (UINT_MAX: none in particular). force skips the rate
 * limit, but only for a fault in the current generation: a caller whose
 * sessions were replaced since (another thread reconnected, then the token
 * broke again) does not force one more attempt. No attempt is made either
 * when another one started after this call began, or (unless forced) one
 * was made less than P11_RECOVER_INTERVAL_MS ago: that attempt's outcome
 * is reported. Returns FC_OK when signing can go on, else FC_EUNAVAIL with
 * the reason in err. Call without state_lock.
 */
enum fc_status p11_recover(struct hsm_p11 *p, unsigned gen, bool force, struct fc_err *err)
{
	int64_t now = fc_mono_ms(), last;
	enum fc_status st;

	if (!atomic_load(&p->broken))
		return FC_OK;
	/* Taken even to refuse: a reconnection in progress is waited for. */
	pthread_rwlock_wrlock(&p->state_lock);
	if (!atomic_load(&p->broken)) {
		pthread_rwlock_unlock(&p->state_lock);
		return FC_OK; /* another thread got there first */
	}
	if (gen != UINT_MAX && gen != atomic_load(&p->generation))
		force = false; /* the sessions that failed were replaced already */
	last = atomic_load(&p->last_attempt_ms);
	if (now < last || (!force && now - last < P11_RECOVER_INTERVAL_MS)) {
		/* another attempt started after we looked, or one was made
		 * moments ago: take its outcome */
		pthread_rwlock_unlock(&p->state_lock);
		return p11_unavailable(p, err);
	}
	st = reconnect_locked(p);
	pthread_rwlock_unlock(&p->state_lock);
	if (st != FC_OK)
		return p11_unavailable(p, err);
	return FC_OK;
}

static void p11_unref(struct hsm_p11 *p)
{
	if (p == NULL || atomic_fetch_sub(&p->refs, 1) != 1)
		return;
	p11_sessions_close_locked(p);
	pin_wipe(p);
	module_put(p->mod);
	p11_pool_destroy(p);
	hsm_p11_config_free(p->cfg);
	free(p->desc);
	free(p);
}

/*
 * Open the token (hsm.h): load the module, find the token, log in once
 * and open the pool of sessions. Returns FC_OK with *out (release with
 * hsm_p11_free), else FC_ECONFIG (module, token, PIN) or FC_EUNAVAIL (no
 * such token present) with a message that says which; the PIN never
 * appears in it.
 */
enum fc_status hsm_p11_open(const struct hsm_p11_config *cfg, struct hsm_p11 **out,
			    struct fc_err *err)
{
	struct hsm_p11 *p = NULL;
	char wanted[128];
	enum fc_status st;

	if (cfg == NULL || out == NULL)
		return fc_err_set(err, FC_EINTERNAL, "pkcs11: open: missing argument");
	if (cfg->module_path == NULL)
		return fc_err_set(
			err, FC_ECONFIG,
			"pkcs11: no module: set Path in the config file or module-path in "
			"the URI%s",
			cfg->module_name != NULL ? " (module-name is not looked up)" : "");
	p = fc_xcalloc(1, sizeof(*p));
	atomic_init(&p->refs, 1);
	p->cfg = p11_config_copy(cfg);
	if (p->cfg->pin_from == HSM_P11_PIN_NONE && cfg->pin != NULL)
		p->cfg->pin_from = HSM_P11_PIN_VALUE; /* a PIN set by hand is a literal */
	token_wanted(cfg, wanted, sizeof(wanted));
	p->desc = fc_xasprintf("pkcs11 token %s (module %s)", wanted, cfg->module_path);
	p->want_sessions = cfg->max_sessions > 0 ? cfg->max_sessions : P11_DEFAULT_SESSIONS;
	if (p->want_sessions > P11_MAX_SESSIONS)
		p->want_sessions = P11_MAX_SESSIONS;
	p11_pool_init(p);
	if (p->cfg->pin_from == HSM_P11_PIN_VALUE && cfg->pin != NULL &&
	    !cfg->login_not_supported && pin_keep(p, cfg->pin) != FC_OK) {
		st = fc_err_set(err, FC_ECONFIG, "pkcs11: the PIN is too long");
		goto fail;
	}
	if ((st = module_get(cfg->module_path, &p->mod, err)) != FC_OK)
		goto fail;
	p->f = p->mod->f;
	if ((st = connect_locked(p, err)) != FC_OK)
		goto fail;
	fc_log(LOG_INFO, "%s: logged in, %zu sessions pooled", p->desc, p->n_sessions);
	*out = p;
	return FC_OK;
fail:
	p11_unref(p);
	return st;
}

/*
 * Drop the opener's reference to the token. The sessions are closed and
 * the PIN wiped when the last signer made from it is freed too. NULL is
 * fine.
 */
void hsm_p11_free(struct hsm_p11 *p)
{
	p11_unref(p);
}

/*
 * The token's description for logs (no secret). Borrowed.
 */
const char *hsm_p11_description(const struct hsm_p11 *p)
{
	return p->desc;
}

/* --- the signer ------------------------------------------------------------------- */

/* r||s (each half n bytes, big-endian) as a DER ECDSA-Sig-Value (RFC 5480
 * 2.2 / SEC 1 C.5). */
static enum fc_status ecdsa_raw_to_der(const uint8_t *raw, size_t raw_len, uint8_t **der,
				       size_t *der_len, struct fc_err *err)
{
	ECDSA_SIG *sig = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *out = NULL;
	int len;
	enum fc_status st = FC_EHSM;

	if (raw_len == 0 || raw_len % 2 != 0)
		return fc_err_set(err, FC_EHSM, "pkcs11: ECDSA signature of odd length %zu",
				  raw_len);
	if ((sig = ECDSA_SIG_new()) == NULL ||
	    (r = BN_bin2bn(raw, (int)(raw_len / 2), NULL)) == NULL ||
	    (s = BN_bin2bn(raw + raw_len / 2, (int)(raw_len / 2), NULL)) == NULL ||
	    ECDSA_SIG_set0(sig, r, s) != 1) {
		fc_err_set(err, FC_EHSM, "pkcs11: cannot encode the ECDSA signature");
		fc_err_append_ssl(err);
		goto out;
	}
	r = s = NULL;
	if ((len = i2d_ECDSA_SIG(sig, &out)) <= 0) {
		fc_err_set(err, FC_EHSM, "pkcs11: cannot encode the ECDSA signature");
		fc_err_append_ssl(err);
		goto out;
	}
	*der = fc_xmalloc((size_t)len);
	memcpy(*der, out, (size_t)len);
	*der_len = (size_t)len;
	st = FC_OK;
out:
	OPENSSL_free(out);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return st;
}

/*
 * One signature: the mechanism and input for the key, a pooled session,
 * C_SignInit and C_Sign. P11_SIGN_ATTEMPTS passes at most: a pass that
 * meets a fault reconnects the token (forced: the fault is its own) and
 * the next pass signs again; a pass that finds the token broken since the
 * check at its start (another thread saw a fault) goes round again too.
 * raw receives k->sig_max bytes at most.
 */
static enum fc_status sign_raw(struct p11_key *k, const uint8_t *in, size_t in_len, uint8_t *raw,
			       size_t *raw_len, struct fc_err *err)
{
	struct hsm_p11 *p = k->p;
	CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
	CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
	CK_SESSION_HANDLE s;
	enum fc_status st;

	if (k->type == CKK_RSA) {
		if (k->padding == HSM_RSA_PSS) {
			mech.mechanism = CKM_SHA256_RSA_PKCS_PSS;
			mech.pParameter = &pss;
			mech.ulParameterLen = sizeof(pss);
		} else {
			mech.mechanism = CKM_SHA256_RSA_PKCS;
		}
	}
	for (int attempt = 0; attempt < P11_SIGN_ATTEMPTS; attempt++) {
		CK_ULONG out_len = k->sig_max;
		unsigned gen;
		CK_RV rv;

		if (atomic_load(&p->broken) && (st = p11_recover(p, UINT_MAX, false, err)) != FC_OK)
			return st;
		if ((st = p11_session_begin(p, &s, &gen, err)) != FC_OK) {
			if (atomic_load(&p->broken))
				continue; /* broken again since the check above */
			return st;
		}
		rv = p->f->C_SignInit(s, &mech, k->handle);
		if (rv == CKR_OK)
			rv = p->f->C_Sign(s, (CK_BYTE_PTR)in, in_len, raw, &out_len);
		p11_session_end(p, s);
		if (rv == CKR_OK) {
			*raw_len = out_len;
			return FC_OK;
		}
		if (!p11_rv_is_fault(rv))
			return fc_err_set(err, FC_EHSM, "%s: C_Sign: %s", p->desc, p11_rv_name(rv));
		p11_mark_broken(p, gen, rv, "C_Sign");
		if (attempt + 1 < P11_SIGN_ATTEMPTS &&
		    (st = p11_recover(p, gen, true, err)) != FC_OK)
			return st;
	}
	return p11_unavailable(p, err);
}

static enum fc_status p11_key_sign(void *impl, const uint8_t *msg, size_t len, uint8_t **sig,
				   size_t *sig_len, struct fc_err *err)
{
	struct p11_key *k = impl;
	uint8_t dgst[EVP_MAX_MD_SIZE];
	unsigned dlen = 0;
	uint8_t *raw = NULL;
	size_t raw_len = 0;
	enum fc_status st;

	raw = fc_xmalloc(k->sig_max);
	if (k->type == CKK_EC) {
		/* hash in software; CKM_ECDSA signs the digest (PKCS#11 2.40
		 * curr 2.3.6) */
		if (EVP_Digest(msg, len, dgst, &dlen, k->md, NULL) != 1) {
			st = fc_err_set(err, FC_EINTERNAL, "pkcs11: digest failed");
			fc_err_append_ssl(err);
			goto out;
		}
		st = sign_raw(k, dgst, dlen, raw, &raw_len, err);
		if (st == FC_OK)
			st = ecdsa_raw_to_der(raw, raw_len, sig, sig_len, err);
	} else {
		st = sign_raw(k, msg, len, raw, &raw_len, err);
		if (st == FC_OK) {
			*sig = raw;
			raw = NULL;
			*sig_len = raw_len;
		}
	}
	if (st == FC_OK)
		atomic_store(&k->last_ok_ms, fc_mono_ms());
out:
	free(raw);
	return st;
}

/* Ready when the token is connected and a signature succeeded within
 * P11_READY_FRESH_MS, or a probe signature succeeds now. */
static bool p11_key_ready(void *impl)
{
	struct p11_key *k = impl;
	static const uint8_t probe[] = "fulcrum readiness probe";
	uint8_t *sig = NULL;
	size_t sig_len = 0;
	enum fc_status st;

	if (atomic_load(&k->p->broken) && p11_recover(k->p, UINT_MAX, false, NULL) != FC_OK)
		return false;
	if (fc_mono_ms() - atomic_load(&k->last_ok_ms) < P11_READY_FRESH_MS)
		return true;
	st = p11_key_sign(k, probe, sizeof(probe) - 1, &sig, &sig_len, NULL);
	free(sig);
	return st == FC_OK;
}

static void p11_key_close(void *impl)
{
	struct p11_key *k = impl;
	struct p11_key **pp;

	if (k == NULL)
		return;
	pthread_rwlock_wrlock(&k->p->state_lock);
	for (pp = &k->p->keys; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	}
	pthread_rwlock_unlock(&k->p->state_lock);
	p11_unref(k->p);
	free(k->label);
	free(k->id);
	free(k);
}

static const struct hsm_ops p11_ops = {
	.sign = p11_key_sign,
	.verify_output = true,
	.ready = p11_key_ready,
	.close = p11_key_close,
};

/*
 * A signer for a private key on the token (hsm.h). Returns FC_OK with
 * *out (free with hsm_signer_free; it keeps the token open), FC_ENOTFOUND
 * when no key matches, else FC_ECONFIG / FC_EUNAVAIL with the reason.
 */
enum fc_status hsm_p11_signer_new(struct hsm_p11 *p, const char *label, const uint8_t *id,
				  size_t id_len, enum hsm_rsa_padding padding,
				  EVP_PKEY *fallback_pub, struct hsm_signer **out,
				  struct fc_err *err)
{
	struct p11_key *k = NULL;
	struct hsm_signer *s = NULL;
	EVP_PKEY *pub = NULL;
	CK_SESSION_HANDLE sess;
	CK_RV rv;
	char *name = NULL, *desc = NULL;
	enum fc_status st;

	if (p == NULL || out == NULL || (label == NULL && (id == NULL || id_len == 0)))
		return fc_err_set(err, FC_EINTERNAL, "pkcs11: signer: no key label or id");
	k = fc_xcalloc(1, sizeof(*k));
	atomic_fetch_add(&p->refs, 1);
	k->p = p;
	k->label = label != NULL ? fc_xstrdup(label) : NULL;
	if (id != NULL && id_len > 0) {
		k->id = fc_xmalloc(id_len);
		memcpy(k->id, id, id_len);
		k->id_len = id_len;
	}
	k->padding = padding;
	name = p11_key_name(label, id, id_len);

	if ((st = p11_session_begin(p, &sess, NULL, err)) == FC_OK) {
		st = p11_key_find(p, sess, k, &rv, err);
		if (st == FC_OK) {
			st = p11_key_public(p, sess, k, &pub, err);
			if (st == FC_ENOTFOUND && fallback_pub != NULL &&
			    EVP_PKEY_up_ref(fallback_pub) == 1) {
				pub = fallback_pub;
				st = FC_OK;
			} else if (st == FC_ENOTFOUND) {
				st = fc_err_set(err, FC_ECONFIG,
						"%s: key %s has no public-key object on the token "
						"and no certificate to take the public key from",
						p->desc, name);
			}
		}
		p11_session_end(p, sess);
	}
	if (st != FC_OK)
		goto out;
	if (k->type == CKK_EC) {
		int bits = EVP_PKEY_get_bits(pub);
		k->sig_max = 2 * (size_t)((bits + 7) / 8);
	} else {
		k->sig_max = (size_t)EVP_PKEY_get_size(pub);
	}
	if (k->sig_max == 0 || k->sig_max > 1024) {
		st = fc_err_set(err, FC_ECONFIG, "%s: key %s: unsupported size", p->desc, name);
		goto out;
	}
	desc = fc_xasprintf("%s key %s", p->desc, name);
	st = hsm_signer_new(&p11_ops, k, pub, padding, desc, &s, err);
	if (st != FC_OK) {
		k = NULL; /* closed by hsm_signer_new */
		goto out;
	}
	k->md = hsm_signer_digest(s);
	if (k->md == NULL) {
		st = fc_err_set(err, FC_ECONFIG, "%s: key %s: Ed25519 is not supported on tokens",
				p->desc, name);
		goto out;
	}
	pthread_rwlock_wrlock(&p->state_lock);
	k->next = p->keys;
	p->keys = k;
	pthread_rwlock_unlock(&p->state_lock);
	if ((st = hsm_signer_self_test(s, err)) != FC_OK)
		goto out;
	*out = s;
	s = NULL;
	k = NULL;
out:
	if (s != NULL)
		hsm_signer_free(s); /* closes k */
	else if (k != NULL)
		p11_key_close(k);
	EVP_PKEY_free(pub);
	free(name);
	free(desc);
	return st;
}
