/*
 * The bottom of the PKCS#11 backend: what a PKCS#11 return value is called
 * and whether it is a fault, the token's state (broken or not, the
 * generation of its sessions, why it is unavailable), and the pool of
 * sessions. It calls nothing else in hsm/: pkcs11_objects.c (objects on
 * the token) and pkcs11.c (module, login, recovery, the signer) build on
 * it.
 *
 * Locking: state_lock is held for reading while a session is in use
 * (p11_session_begin .. p11_session_end) and for writing while the
 * sessions are replaced; the pool has its own mutex and condition
 * variable, the reason its own mutex.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkcs11_int.h"

#define RV(x)                                                                                      \
	{                                                                                          \
		x, #x                                                                              \
	}
static const struct {
	CK_RV rv;
	const char *name;
} rv_names[] = {
	RV(CKR_OK),
	RV(CKR_CANCEL),
	RV(CKR_HOST_MEMORY),
	RV(CKR_SLOT_ID_INVALID),
	RV(CKR_GENERAL_ERROR),
	RV(CKR_FUNCTION_FAILED),
	RV(CKR_ARGUMENTS_BAD),
	RV(CKR_CANT_LOCK),
	RV(CKR_ATTRIBUTE_READ_ONLY),
	RV(CKR_ATTRIBUTE_SENSITIVE),
	RV(CKR_ATTRIBUTE_TYPE_INVALID),
	RV(CKR_ATTRIBUTE_VALUE_INVALID),
	RV(CKR_DATA_INVALID),
	RV(CKR_DATA_LEN_RANGE),
	RV(CKR_DEVICE_ERROR),
	RV(CKR_DEVICE_MEMORY),
	RV(CKR_DEVICE_REMOVED),
	RV(CKR_FUNCTION_CANCELED),
	RV(CKR_FUNCTION_NOT_SUPPORTED),
	RV(CKR_KEY_HANDLE_INVALID),
	RV(CKR_KEY_SIZE_RANGE),
	RV(CKR_KEY_TYPE_INCONSISTENT),
	RV(CKR_KEY_FUNCTION_NOT_PERMITTED),
	RV(CKR_MECHANISM_INVALID),
	RV(CKR_MECHANISM_PARAM_INVALID),
	RV(CKR_OBJECT_HANDLE_INVALID),
	RV(CKR_OPERATION_ACTIVE),
	RV(CKR_OPERATION_NOT_INITIALIZED),
	RV(CKR_PIN_INCORRECT),
	RV(CKR_PIN_INVALID),
	RV(CKR_PIN_LEN_RANGE),
	RV(CKR_PIN_EXPIRED),
	RV(CKR_PIN_LOCKED),
	RV(CKR_SESSION_CLOSED),
	RV(CKR_SESSION_COUNT),
	RV(CKR_SESSION_HANDLE_INVALID),
	RV(CKR_SESSION_READ_ONLY),
	RV(CKR_SESSION_EXISTS),
	RV(CKR_TEMPLATE_INCOMPLETE),
	RV(CKR_TEMPLATE_INCONSISTENT),
	RV(CKR_TOKEN_NOT_PRESENT),
	RV(CKR_TOKEN_NOT_RECOGNIZED),
	RV(CKR_TOKEN_WRITE_PROTECTED),
	RV(CKR_USER_ALREADY_LOGGED_IN),
	RV(CKR_USER_NOT_LOGGED_IN),
	RV(CKR_USER_PIN_NOT_INITIALIZED),
	RV(CKR_USER_TYPE_INVALID),
	RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
	RV(CKR_DOMAIN_PARAMS_INVALID),
	RV(CKR_CURVE_NOT_SUPPORTED),
	RV(CKR_BUFFER_TOO_SMALL),
	RV(CKR_CRYPTOKI_NOT_INITIALIZED),
	RV(CKR_CRYPTOKI_ALREADY_INITIALIZED),
};
#undef RV

/*
 * The name of a PKCS#11 return value ("CKR_PIN_INCORRECT"), or
 * "CKR_0x..." for one not in the table. Returns a static or thread-local
 * string.
 */
const char *p11_rv_name(CK_RV rv)
{
	static _Thread_local char buf[32];

	for (size_t i = 0; i < sizeof(rv_names) / sizeof(rv_names[0]); i++)
		if (rv_names[i].rv == rv)
			return rv_names[i].name;
	snprintf(buf, sizeof(buf), "CKR_0x%lx", (unsigned long)rv);
	return buf;
}

/*
 * True for the return values after which the sessions, the login or the
 * key handle cannot be trusted any more: reconnect and retry. DEVICE_MEMORY
 * and GENERAL_ERROR are included because network HSMs report a lost link
 * with them; KEY/OBJECT_HANDLE_INVALID because a token that was removed
 * and re-inserted gives its objects new handles.
 */
bool p11_rv_is_fault(CK_RV rv)
{
	switch (rv) {
	case CKR_SESSION_HANDLE_INVALID:
	case CKR_SESSION_CLOSED:
	case CKR_DEVICE_REMOVED:
	case CKR_TOKEN_NOT_PRESENT:
	case CKR_TOKEN_NOT_RECOGNIZED:
	case CKR_USER_NOT_LOGGED_IN:
	case CKR_DEVICE_ERROR:
	case CKR_DEVICE_MEMORY:
	case CKR_GENERAL_ERROR:
	case CKR_KEY_HANDLE_INVALID:
	case CKR_OBJECT_HANDLE_INVALID:
	case CKR_CRYPTOKI_NOT_INITIALIZED: return true;
	default: return false;
	}
}

/* --- the token's state ------------------------------------------------------------- */

/*
 * Set up the locks, the pool's condition variable and the session arrays
 * of p (want_sessions entries each). Undone by p11_pool_destroy.
 */
void p11_pool_init(struct hsm_p11 *p)
{
	pthread_rwlockattr_t rwa;
	pthread_condattr_t ca;

	/* Writer-preferring, so that a recovery is not starved by signers. */
	pthread_rwlockattr_init(&rwa);
	pthread_rwlockattr_setkind_np(&rwa, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&p->state_lock, &rwa);
	pthread_rwlockattr_destroy(&rwa);
	/* The pool's timed wait measures on the monotonic clock (session_get). */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->pool_cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&p->pool_lock, NULL);
	pthread_mutex_init(&p->reason_lock, NULL);
	p->sessions = fc_xcalloc(p->want_sessions, sizeof(*p->sessions));
	p->free_sessions = fc_xcalloc(p->want_sessions, sizeof(*p->free_sessions));
}

/*
 * Destroy what p11_pool_init set up (the sessions must be closed already).
 */
void p11_pool_destroy(struct hsm_p11 *p)
{
	pthread_rwlock_destroy(&p->state_lock);
	pthread_mutex_destroy(&p->pool_lock);
	pthread_cond_destroy(&p->pool_cond);
	pthread_mutex_destroy(&p->reason_lock);
	free(p->sessions);
	free(p->free_sessions);
	p->sessions = p->free_sessions = NULL;
}

/*
 * Record why the token is unavailable (msg, never a secret). Returns true
 * when the reason differs from the one recorded before.
 */
bool p11_set_reason(struct hsm_p11 *p, const char *msg)
{
	bool changed;

	pthread_mutex_lock(&p->reason_lock);
	changed = strcmp(p->reason, msg) != 0;
	snprintf(p->reason, sizeof(p->reason), "%s", msg);
	pthread_mutex_unlock(&p->reason_lock);
	return changed;
}

/*
 * Returns FC_EUNAVAIL with "<token> is unavailable: <reason>" in err.
 */
enum fc_status p11_unavailable(struct hsm_p11 *p, struct fc_err *err)
{
	char why[sizeof(p->reason)];

	pthread_mutex_lock(&p->reason_lock);
	snprintf(why, sizeof(why), "%s", p->reason);
	pthread_mutex_unlock(&p->reason_lock);
	return fc_err_set(err, FC_EUNAVAIL, "%s is unavailable: %s", p->desc, why);
}

/*
 * Record that rv (a fault) was seen with the sessions of generation gen:
 * the token is broken until p11_recover succeeds, and the first attempt to
 * reconnect may start at once. A fault seen on sessions already replaced
 * (an older generation) is ignored. Call without state_lock.
 */
void p11_mark_broken(struct hsm_p11 *p, unsigned gen, CK_RV rv, const char *what)
{
	char msg[128];

	pthread_rwlock_rdlock(&p->state_lock);
	if (atomic_load(&p->generation) == gen && !atomic_load(&p->broken)) {
		snprintf(msg, sizeof(msg), "%s: %s", what, p11_rv_name(rv));
		p11_set_reason(p, msg);
		atomic_store(&p->last_attempt_ms, 0); /* first reconnect at once */
		atomic_store(&p->broken, true);
		fc_log(LOG_WARNING, "%s: %s; reconnecting", p->desc, msg);
	}
	pthread_rwlock_unlock(&p->state_lock);
}

/* --- the pool of sessions ---------------------------------------------------------- */

/*
 * Make every open session free (state_lock held for writing, or p not yet
 * shared) and wake whoever waits for one.
 */
void p11_pool_fill_locked(struct hsm_p11 *p)
{
	pthread_mutex_lock(&p->pool_lock);
	memcpy(p->free_sessions, p->sessions, p->n_sessions * sizeof(*p->sessions));
	p->n_free = p->n_sessions;
	pthread_cond_broadcast(&p->pool_cond);
	pthread_mutex_unlock(&p->pool_lock);
}

/*
 * Close every session of ours and empty the pool (state_lock held for
 * writing, or p not shared).
 */
void p11_sessions_close_locked(struct hsm_p11 *p)
{
	for (size_t i = 0; i < p->n_sessions; i++)
		p->f->C_CloseSession(p->sessions[i]);
	p->n_sessions = 0;
	pthread_mutex_lock(&p->pool_lock);
	p->n_free = 0;
	pthread_mutex_unlock(&p->pool_lock);
}

/*
 * Take a free session (state_lock held for reading). Waits for one up to
 * PoolWaitTimeout (forever when 0). Returns FC_OK with *out, or
 * FC_EUNAVAIL when none came in time.
 */
static enum fc_status session_get(struct hsm_p11 *p, CK_SESSION_HANDLE *out, struct fc_err *err)
{
	struct timespec deadline;
	int rc = 0;

	if (p->cfg->pool_wait_ms > 0) {
		/*
		 * pthread_cond_timedwait takes an absolute time on the condition
		 * variable's own clock (CLOCK_MONOTONIC, p11_pool_init), so the
		 * deadline is read from that clock and not through fc_mono_ms():
		 * the seam has no fixed epoch and tests may replace it, which
		 * would make the deadline meaningless to the kernel.
		 */
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += p->cfg->pool_wait_ms / 1000;
		deadline.tv_nsec += (p->cfg->pool_wait_ms % 1000) * 1000000;
		if (deadline.tv_nsec >= 1000000000) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&p->pool_lock);
	while (p->n_free == 0 && p->n_sessions > 0 && rc == 0) {
		if (p->cfg->pool_wait_ms > 0)
			rc = pthread_cond_timedwait(&p->pool_cond, &p->pool_lock, &deadline);
		else
			rc = pthread_cond_wait(&p->pool_cond, &p->pool_lock);
	}
	if (p->n_free == 0) {
		pthread_mutex_unlock(&p->pool_lock);
		return fc_err_set(
			err, FC_EUNAVAIL,
			"%s: no free session within %lld ms (PoolWaitTimeout; %zu sessions)",
			p->desc, (long long)p->cfg->pool_wait_ms, p->n_sessions);
	}
	*out = p->free_sessions[--p->n_free];
	pthread_mutex_unlock(&p->pool_lock);
	return FC_OK;
}

/*
 * Return a session taken with session_get to the pool.
 */
static void session_put(struct hsm_p11 *p, CK_SESSION_HANDLE h)
{
	pthread_mutex_lock(&p->pool_lock);
	p->free_sessions[p->n_free++] = h;
	pthread_cond_signal(&p->pool_cond);
	pthread_mutex_unlock(&p->pool_lock);
}

/*
 * Start using the token: take state_lock for reading and a session from
 * the pool. Returns FC_OK with *s and (if gen is not NULL) the generation
 * of the sessions in *gen; the caller ends with p11_session_end. Else
 * FC_EUNAVAIL (the token is broken, or no session came within
 * PoolWaitTimeout) with the reason in err, and state_lock is released.
 */
enum fc_status p11_session_begin(struct hsm_p11 *p, CK_SESSION_HANDLE *s, unsigned *gen,
				 struct fc_err *err)
{
	enum fc_status st;

	pthread_rwlock_rdlock(&p->state_lock);
	if (atomic_load(&p->broken))
		st = p11_unavailable(p, err);
	else
		st = session_get(p, s, err);
	if (st != FC_OK) {
		pthread_rwlock_unlock(&p->state_lock);
		return st;
	}
	if (gen != NULL)
		*gen = atomic_load(&p->generation);
	return FC_OK;
}

/*
 * Stop using the token: return s to the pool and release state_lock (the
 * pair of a successful p11_session_begin).
 */
void p11_session_end(struct hsm_p11 *p, CK_SESSION_HANDLE s)
{
	session_put(p, s);
	pthread_rwlock_unlock(&p->state_lock);
}
