/*
 * The network process's side of the signer: a link over the socket to the
 * current signer process, on which many requests are in flight at once
 * (each with its request id; a caller blocks only for its own answer), and
 * the transport of the remote hsm_signers (hsm/remote.c) made from the keys
 * it loads. A reader thread hands each answer to its caller; a control
 * thread takes the socket of each signer process the supervisor starts
 * after one died, and loads again the keys in use, which stay usable if
 * they are the same keys.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "signer_int.h"

/* Loading a key may log in to an HSM or generate a key and a root. */
#define LOAD_TIMEOUT_MS 60000
/* A new signer process says HELLO within this time. */
#define HELLO_TIMEOUT_MS 10000

/* Where a request's answer goes, called once without the lock: st FC_OK
 * with the answer's type and payload (the callee takes payload), else
 * FC_EUNAVAIL and why. */
typedef void (*answer_fn)(void *arg, enum fc_status st, uint16_t type, uint8_t *payload,
			  uint32_t len, const char *why);

/* A request waiting for its answer. */
struct call {
	struct call *next;
	uint32_t id;
	unsigned epoch;
	int64_t deadline; /* fc_mono_ms(): given up on after this */
	answer_fn fn;
	void *arg;
};

/* A key this link loaded and has not released. */
struct tkey {
	struct tkey *next;
	uint32_t id;
	uint8_t *spki;
	size_t spki_len;
	bool live; /* loaded in the current signer process */
};

struct signer_link {
	pthread_mutex_t lock;  /* guards everything below but the atomics */
	pthread_mutex_t wlock; /* one request written at a time; fd swaps */
	int fd;		       /* the current signer's socket, -1 before the first */
	unsigned epoch;	       /* bumped when a signer takes over */
	bool up;	       /* the current signer said HELLO and has not gone */
	pid_t pid;	       /* of the current signer */
	pthread_cond_t hello;  /* signalled when up changes */
	struct call *calls;
	uint32_t next_req, next_key;
	struct tkey *keys;
	pthread_t reader;
	bool reader_started;
	int control_fd;
	pthread_t control;
	bool control_started;
	signer_attached_fn attached;
	void *arg;
	/* refusals by reason: reported by earlier signers, and by this one */
	unsigned long refusals_base[SIGNER_REFUSE_COUNT];
	unsigned long refusals_last[SIGNER_REFUSE_COUNT];
	atomic_ulong restarts;
	atomic_bool closing; /* signer_link_free: the end is expected */
};

static const struct hsm_remote_transport link_transport;

/* The absolute CLOCK_MONOTONIC time ms from now. */
static void deadline_after(struct timespec *ts, int ms)
{
	fc_deadline_timespec(fc_deadline_ms(ms), ts);
}

static void cond_init_mono(pthread_cond_t *c)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(c, &a);
	pthread_condattr_destroy(&a);
}

/* Unlink, under the lock, the calls of epoch that match (all, or those
 * past their deadline), and answer them with why. */
static void fail_calls(struct signer_link *l, unsigned epoch, bool expired_only, const char *why)
{
	struct call *failed = NULL, **pp;
	int64_t now = fc_mono_ms();

	pthread_mutex_lock(&l->lock);
	for (pp = &l->calls; *pp != NULL;) {
		struct call *c = *pp;
		if (c->epoch != epoch || (expired_only && c->deadline > now)) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		c->next = failed;
		failed = c;
	}
	pthread_mutex_unlock(&l->lock);
	while (failed != NULL) {
		struct call *c = failed;
		failed = c->next;
		c->fn(c->arg, FC_EUNAVAIL, 0, NULL, 0, why);
		free(c);
	}
}

/* --- the reader ---------------------------------------------------------------------- */

struct reader_arg {
	struct signer_link *l;
	int fd;
	unsigned epoch;
	uint8_t buf[64 * 1024];
	size_t start, end;
};

static bool rd_exact(struct reader_arg *ra, uint8_t *dst, size_t n)
{
	while (n > 0) {
		size_t have = ra->end - ra->start;
		if (have == 0) {
			ssize_t got = read(ra->fd, ra->buf, sizeof(ra->buf));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0)
				return false;
			ra->start = 0;
			ra->end = (size_t)got;
			continue;
		}
		if (have > n)
			have = n;
		memcpy(dst, ra->buf + ra->start, have);
		ra->start += have;
		dst += have;
		n -= have;
	}
	return true;
}

/* Until the next message may be read: wait for data, giving up on the
 * calls of this epoch whose deadline passes meanwhile. False on an error. */
static bool wait_readable(struct reader_arg *ra)
{
	struct signer_link *l = ra->l;

	while (ra->start == ra->end) {
		struct pollfd pfd = {.fd = ra->fd, .events = POLLIN};
		int64_t next = INT64_MAX, now;
		int timeout, r;

		pthread_mutex_lock(&l->lock);
		for (struct call *c = l->calls; c != NULL; c = c->next)
			if (c->epoch == ra->epoch && c->deadline < next)
				next = c->deadline;
		pthread_mutex_unlock(&l->lock);
		now = fc_mono_ms();
		timeout = next == INT64_MAX ? -1 : next <= now ? 0 : (int)(next - now);
		if ((r = poll(&pfd, 1, timeout)) < 0 && errno != EINTR)
			return false;
		if (r > 0)
			return true;
		fail_calls(l, ra->epoch, true, "signer: no answer from the signer process in time");
	}
	return true;
}

/* Hand an answer to its call; an answer nobody waits for (the call gave
 * up) is dropped. */
static void deliver(struct signer_link *l, const struct sg_msg *m, uint8_t *payload)
{
	struct call *c = NULL;

	pthread_mutex_lock(&l->lock);
	for (struct call **pp = &l->calls; *pp != NULL; pp = &(*pp)->next) {
		if ((*pp)->id == m->req_id) {
			c = *pp;
			*pp = c->next;
			break;
		}
	}
	pthread_mutex_unlock(&l->lock);
	if (c == NULL) {
		free(payload);
		return;
	}
	c->fn(c->arg, FC_OK, m->type, payload, m->len, NULL);
	free(c);
}

/* The signer of epoch is gone: fail its calls, its keys are not loaded. */
static void went_down(struct signer_link *l, unsigned epoch)
{
	pthread_mutex_lock(&l->lock);
	if (l->epoch == epoch && l->up) {
		l->up = false;
		if (!atomic_load(&l->closing))
			fc_log(LOG_ERR,
			       "signer: the signer process (pid %d) is gone: signing requests "
			       "fail until the supervisor has started another",
			       (int)l->pid);
	}
	for (struct tkey *k = l->keys; k != NULL; k = k->next)
		k->live = false;
	pthread_cond_broadcast(&l->hello);
	pthread_mutex_unlock(&l->lock);
	fail_calls(l, epoch, false, "signer: the signer process is gone");
}

/* HELLO: the signer of this epoch is up. */
static void hello(struct reader_arg *ra, const uint8_t *p, uint32_t len)
{
	struct signer_link *l = ra->l;
	struct fc_rd r;
	uint32_t version, pid;

	fc_rd_init(&r, p, len);
	if (!fc_rd_u32(&r, &version) || !fc_rd_u32(&r, &pid) || !fc_rd_done(&r))
		return;
	pthread_mutex_lock(&l->lock);
	if (l->epoch == ra->epoch) {
		l->pid = (pid_t)pid;
		l->up = true;
		pthread_cond_broadcast(&l->hello);
	}
	pthread_mutex_unlock(&l->lock);
}

static void *reader_main(void *arg)
{
	struct reader_arg *ra = arg;

	for (;;) {
		uint8_t hdr[SIGNER_HDR_LEN], *payload = NULL;
		struct sg_msg m;

		if (!wait_readable(ra) || !rd_exact(ra, hdr, sizeof(hdr)))
			break;
		if (!sg_hdr_decode(hdr, &m)) {
			fc_log(LOG_ERR, "signer: a malformed message from the signer process");
			break;
		}
		if (m.len > 0) {
			payload = fc_xmalloc(m.len);
			if (!rd_exact(ra, payload, m.len)) {
				free(payload);
				break;
			}
		}
		if (m.type == SIGNER_MSG_HELLO) {
			hello(ra, payload, m.len);
			free(payload);
		} else {
			deliver(ra->l, &m, payload);
		}
	}
	went_down(ra->l, ra->epoch);
	free(ra);
	return NULL;
}

/* --- requests ------------------------------------------------------------------------- */

/* Write one whole message to the current signer. */
static bool write_msg(struct signer_link *l, const struct fc_buf *b)
{
	size_t off = 0;
	bool ok = true;

	pthread_mutex_lock(&l->wlock);
	while (ok && off < b->len) {
		ssize_t n = l->fd < 0 ? -1 : send(l->fd, b->data + off, b->len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		ok = n > 0;
		if (ok)
			off += (size_t)n;
	}
	pthread_mutex_unlock(&l->wlock);
	return ok;
}

/* Send a request whose answer goes to fn(arg, ...) (answer_fn), within
 * timeout_ms; fn is called on this thread at once when the signer is not
 * there. */
static void send_request(struct signer_link *l, uint16_t type, uint32_t key_id,
			 const struct fc_buf *payload, int timeout_ms, answer_fn fn, void *arg)
{
	struct call *c = fc_xcalloc(1, sizeof(*c));
	struct fc_buf b;
	bool mine = false;

	pthread_mutex_lock(&l->lock);
	if (!l->up) {
		pthread_mutex_unlock(&l->lock);
		free(c);
		fn(arg, FC_EUNAVAIL, 0, NULL, 0, "signer: the signer process is not running");
		return;
	}
	if (++l->next_req == 0)
		l->next_req = 1;
	c->id = l->next_req;
	c->epoch = l->epoch;
	c->deadline = fc_mono_ms() + timeout_ms;
	c->fn = fn;
	c->arg = arg;
	c->next = l->calls;
	l->calls = c;
	pthread_mutex_unlock(&l->lock);
	fc_buf_init(&b, 0);
	sg_msg_encode(&b, type, c->id, key_id, payload ? payload->data : NULL,
		      payload ? payload->len : 0);
	if (write_msg(l, &b)) {
		fc_buf_free(&b);
		return; /* c belongs to the reader now */
	}
	fc_buf_free(&b);
	pthread_mutex_lock(&l->lock);
	for (struct call **pp = &l->calls; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			mine = true;
			break;
		}
	pthread_mutex_unlock(&l->lock);
	if (mine) {
		fn(arg, FC_EUNAVAIL, 0, NULL, 0, "signer: the signer process cannot be reached");
		free(c);
	}
}

/* A caller waiting for its answer (call). */
struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	enum fc_status st;
	uint16_t type;
	uint8_t *payload;
	uint32_t len;
	char why[128];
};

static void waiter_answer(void *arg, enum fc_status st, uint16_t type, uint8_t *payload,
			  uint32_t len, const char *why)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->lock);
	w->st = st;
	w->type = type;
	w->payload = payload;
	w->len = len;
	snprintf(w->why, sizeof(w->why), "%s", why ? why : "");
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/*
 * Send a request and wait for its answer (the reader gives up after
 * timeout_ms): FC_OK with *type and *payload (caller frees), else
 * FC_EUNAVAIL with the reason.
 */
static enum fc_status call(struct signer_link *l, uint16_t type, uint32_t key_id,
			   const struct fc_buf *payload, int timeout_ms, uint16_t *rtype,
			   uint8_t **rpayload, uint32_t *rlen, struct fc_err *err)
{
	struct waiter w = {.done = false};

	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cond, NULL);
	send_request(l, type, key_id, payload, timeout_ms, waiter_answer, &w);
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	pthread_mutex_destroy(&w.lock);
	pthread_cond_destroy(&w.cond);
	*rtype = w.type;
	*rpayload = w.payload;
	*rlen = w.len;
	if (w.st != FC_OK)
		return fc_err_set(err, w.st, "%s", w.why);
	return FC_OK;
}

/* The status and text of a FAILED answer as an error. */
static enum fc_status failed(const uint8_t *p, uint32_t len, struct fc_err *err)
{
	char text[SIGNER_MAX_TEXT + 1];
	uint16_t code;

	if (!sg_code_text_decode(p, len, &code, text, sizeof(text)))
		return fc_err_set(err, FC_EHSM, "signer: a malformed answer");
	if (code == FC_OK || code > FC_ENOTFOUND)
		code = FC_EHSM;
	return fc_err_set(err, (enum fc_status)code, "%s", text);
}

static struct tkey *tkey_find_locked(struct signer_link *l, uint32_t id)
{
	for (struct tkey *k = l->keys; k != NULL; k = k->next)
		if (k->id == id)
			return k;
	return NULL;
}

/*
 * True while key_id is loaded in the current signer process (signer.h).
 */
bool signer_link_key_live(struct signer_link *l, uint32_t key_id)
{
	struct tkey *k;
	bool live;

	pthread_mutex_lock(&l->lock);
	k = tkey_find_locked(l, key_id);
	live = l->up && k != NULL && k->live;
	pthread_mutex_unlock(&l->lock);
	return live;
}

/* --- the remote transport ----------------------------------------------------------- */

/* A refusal (the signer counts it, for /metrics): an HSM failure here. */
static enum fc_status refused(const uint8_t *p, uint32_t len, struct fc_err *err)
{
	char text[SIGNER_MAX_TEXT + 1];
	uint16_t code;

	if (!sg_code_text_decode(p, len, &code, text, sizeof(text)))
		return fc_err_set(err, FC_EHSM, "signer: a malformed answer");
	fc_log(LOG_ERR, "signer: the signer process refused to sign: %s: %s",
	       signer_refusal_name((enum signer_refusal)code), text);
	return fc_err_set(err, FC_EHSM, "signer: refused (%s): %s",
			  signer_refusal_name((enum signer_refusal)code), text);
}

/* The signature in a SIGN's answer: FC_OK with *sig (malloc'd), else the
 * refusal or failure. */
static enum fc_status sign_answer(uint16_t type, const uint8_t *ans, uint32_t alen, uint8_t **sig,
				  size_t *sig_len, struct fc_err *err)
{
	const uint8_t *s;
	size_t slen;
	struct fc_rd r;

	fc_rd_init(&r, ans, alen);
	if (type == SIGNER_MSG_SIGNED && fc_rd_vec(&r, 2, 1, 4096, &s, &slen) && fc_rd_done(&r)) {
		*sig = fc_xmalloc(slen);
		memcpy(*sig, s, slen);
		*sig_len = slen;
		return FC_OK;
	}
	if (type == SIGNER_MSG_REFUSED)
		return refused(ans, alen, err);
	if (type == SIGNER_MSG_FAILED)
		return failed(ans, alen, err);
	return fc_err_set(err, FC_EHSM, "signer: an unexpected answer (type %u)", type);
}

/* The SIGN payload for ctx and msg, or FC_EINTERNAL / FC_EUNAVAIL when it
 * cannot be sent (a field the signer would refuse as malformed, a key not
 * loaded). */
static enum fc_status sign_request(struct signer_link *l, uint32_t key_id, const uint8_t *msg,
				   size_t len, const struct hsm_sign_ctx *ctx, struct fc_buf *p,
				   struct fc_err *err)
{
	if (ctx == NULL || len == 0 || len > SIGNER_MAX_MSG ||
	    (ctx->token_id && strlen(ctx->token_id) > HSM_SIGN_MAX_TOKEN_ID) ||
	    (ctx->note && strlen(ctx->note) > HSM_SIGN_MAX_NOTE))
		return fc_err_set(err, FC_EINTERNAL, "signer: a request the signer would not take");
	if (!signer_link_key_live(l, key_id))
		return fc_err_set(err, FC_EUNAVAIL,
				  "signer: key %u is not loaded in the signer "
				  "process (it restarted)",
				  key_id);
	sg_sign_req_encode(p, ctx, msg, len);
	return FC_OK;
}

static enum fc_status link_sign(void *link, uint32_t key_id, const uint8_t *msg, size_t len,
				const struct hsm_sign_ctx *ctx, uint8_t **sig, size_t *sig_len,
				struct fc_err *err)
{
	struct signer_link *l = link;
	uint8_t *ans = NULL;
	uint32_t alen = 0;
	uint16_t type = 0;
	struct fc_buf p;
	enum fc_status st;

	fc_buf_init(&p, 0);
	if ((st = sign_request(l, key_id, msg, len, ctx, &p, err)) == FC_OK &&
	    (st = call(l, SIGNER_MSG_SIGN, key_id, &p, SIGNER_CALL_TIMEOUT_MS, &type, &ans, &alen,
		       err)) == FC_OK)
		st = sign_answer(type, ans, alen, sig, sig_len, err);
	fc_buf_free(&p);
	free(ans);
	return st;
}

/* An asynchronous signature's answer (answer_fn). */
struct async_call {
	hsm_sign_done_fn done;
	void *arg;
};

static void async_answer(void *arg, enum fc_status st, uint16_t type, uint8_t *payload,
			 uint32_t len, const char *why)
{
	struct async_call *ac = arg;
	struct fc_err err = {0};
	uint8_t *sig = NULL;
	size_t sig_len = 0;

	if (st == FC_OK)
		st = sign_answer(type, payload, len, &sig, &sig_len, &err);
	else
		fc_err_set(&err, st, "%s", why);
	free(payload);
	ac->done(ac->arg, st, sig, sig_len, &err);
	free(ac);
}

static void link_sign_async(void *link, uint32_t key_id, const uint8_t *msg, size_t len,
			    const struct hsm_sign_ctx *ctx, hsm_sign_done_fn done, void *arg)
{
	struct signer_link *l = link;
	struct async_call *ac;
	struct fc_err err = {0};
	struct fc_buf p;
	enum fc_status st;

	fc_buf_init(&p, 0);
	if ((st = sign_request(l, key_id, msg, len, ctx, &p, &err)) != FC_OK) {
		fc_buf_free(&p);
		done(arg, st, NULL, 0, &err);
		return;
	}
	ac = fc_xcalloc(1, sizeof(*ac));
	ac->done = done;
	ac->arg = arg;
	send_request(l, SIGNER_MSG_SIGN, key_id, &p, SIGNER_CALL_TIMEOUT_MS, async_answer, ac);
	fc_buf_free(&p);
}

static bool link_ready(void *link, uint32_t key_id)
{
	struct signer_link *l = link;
	uint8_t *ans = NULL;
	uint32_t alen = 0;
	uint16_t type = 0;
	bool ready;

	if (!signer_link_key_live(l, key_id) ||
	    call(l, SIGNER_MSG_READY, key_id, NULL, SIGNER_CALL_TIMEOUT_MS, &type, &ans, &alen,
		 NULL) != FC_OK)
		return false;
	ready = type == SIGNER_MSG_READY_STATE && alen == 1 && ans[0] == 1;
	free(ans);
	return ready;
}

/* Send KEY_RELEASE (no answer) to the current signer. */
static void send_release(struct signer_link *l, uint32_t key_id)
{
	struct fc_buf b;

	fc_buf_init(&b, 0);
	sg_msg_encode(&b, SIGNER_MSG_KEY_RELEASE, 0, key_id, NULL, 0);
	write_msg(l, &b);
	fc_buf_free(&b);
}

static void link_release(void *link, uint32_t key_id)
{
	struct signer_link *l = link;
	struct tkey *k = NULL;
	bool live = false;

	pthread_mutex_lock(&l->lock);
	for (struct tkey **pp = &l->keys; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->id == key_id) {
			k = *pp;
			*pp = k->next;
			live = k->live && l->up;
			break;
		}
	pthread_mutex_unlock(&l->lock);
	if (live)
		send_release(l, key_id);
	if (k != NULL)
		free(k->spki);
	free(k);
}

static const struct hsm_remote_transport link_transport = {
	.sign = link_sign,
	.sign_async = link_sign_async,
	.ready = link_ready,
	.release = link_release,
};

/* --- keys ------------------------------------------------------------------------------- */

/* KEY_LOAD key_id: FC_OK with the decoded KEY_INFO in *ki (pointing into
 * *ans, which the caller frees). */
static enum fc_status key_load(struct signer_link *l, uint32_t key_id, struct sg_key_info *ki,
			       uint8_t **ans, struct fc_err *err)
{
	uint32_t alen = 0;
	uint16_t type = 0;
	enum fc_status st;

	*ans = NULL;
	st = call(l, SIGNER_MSG_KEY_LOAD, key_id, NULL, LOAD_TIMEOUT_MS, &type, ans, &alen, err);
	if (st != FC_OK)
		return st;
	if (type == SIGNER_MSG_FAILED)
		return failed(*ans, alen, err);
	if (type != SIGNER_MSG_KEY_INFO || !sg_key_info_decode(*ans, alen, ki))
		return fc_err_set(err, FC_EHSM, "signer: a malformed answer to KEY_LOAD");
	return FC_OK;
}

/*
 * Load the configured key as a new key id (signer.h). FC_OK with *out
 * (out->signer: free with hsm_signer_free; out->chain_pem: free), else
 * the reason in err.
 */
enum fc_status signer_link_load(struct signer_link *l, struct signer_loaded *out,
				struct fc_err *err)
{
	struct sg_key_info ki;
	uint8_t *ans = NULL;
	const unsigned char *p;
	EVP_PKEY *pub = NULL;
	struct tkey *k;
	char desc[64];
	uint32_t id;
	enum fc_status st;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&l->lock);
	id = ++l->next_key;
	pthread_mutex_unlock(&l->lock);
	if ((st = key_load(l, id, &ki, &ans, err)) != FC_OK)
		goto out;
	p = ki.spki;
	if ((pub = d2i_PUBKEY(NULL, &p, (long)ki.spki_len)) == NULL || p != ki.spki + ki.spki_len) {
		ERR_clear_error();
		st = fc_err_set(err, FC_EHSM, "signer: the key's public half cannot be read");
		goto out;
	}
	k = fc_xcalloc(1, sizeof(*k));
	k->id = id;
	k->spki = fc_xmalloc(ki.spki_len);
	memcpy(k->spki, ki.spki, ki.spki_len);
	k->spki_len = ki.spki_len;
	k->live = true;
	pthread_mutex_lock(&l->lock);
	k->next = l->keys;
	l->keys = k;
	pthread_mutex_unlock(&l->lock);
	snprintf(desc, sizeof(desc), "signer process key %u", id);
	/* On failure this releases the key (link_release). */
	if ((st = hsm_remote_signer_new(&link_transport, l, id, pub,
					(enum hsm_rsa_padding)ki.padding, desc, &out->signer,
					err)) != FC_OK)
		goto out;
	out->key_id = id;
	if (ki.chain_len > 0)
		out->chain_pem = fc_xstrndup((const char *)ki.chain, ki.chain_len);
out:
	EVP_PKEY_free(pub);
	free(ans);
	return st;
}

/* --- taking over a new signer process -------------------------------------------------- */

/* Make fd the current signer socket: the old reader stops, a new one
 * starts, and the signer's HELLO is awaited. */
static enum fc_status attach(struct signer_link *l, int fd, struct fc_err *err)
{
	struct reader_arg *ra = fc_xcalloc(1, sizeof(*ra));
	struct timespec dl;
	bool up;

	pthread_mutex_lock(&l->wlock);
	if (l->fd >= 0)
		shutdown(l->fd, SHUT_RDWR);
	pthread_mutex_unlock(&l->wlock);
	if (l->reader_started)
		pthread_join(l->reader, NULL);
	pthread_mutex_lock(&l->wlock);
	pthread_mutex_lock(&l->lock);
	if (l->fd >= 0)
		close(l->fd);
	l->fd = fd;
	l->epoch++;
	l->up = false;
	/* what the previous signer last reported stays counted */
	for (int r = 0; r < SIGNER_REFUSE_COUNT; r++) {
		l->refusals_base[r] += l->refusals_last[r];
		l->refusals_last[r] = 0;
	}
	ra->l = l;
	ra->fd = fd;
	ra->epoch = l->epoch;
	pthread_mutex_unlock(&l->lock);
	pthread_mutex_unlock(&l->wlock);
	l->reader_started = pthread_create(&l->reader, NULL, reader_main, ra) == 0;
	if (!l->reader_started) {
		free(ra);
		return fc_err_set(err, FC_EINTERNAL, "signer: cannot start the reader thread");
	}
	deadline_after(&dl, HELLO_TIMEOUT_MS);
	pthread_mutex_lock(&l->lock);
	while (!l->up && pthread_cond_timedwait(&l->hello, &l->lock, &dl) != ETIMEDOUT)
		;
	up = l->up;
	pthread_mutex_unlock(&l->lock);
	return up ? FC_OK
		  : fc_err_set(err, FC_EUNAVAIL, "signer: the signer process did not say hello");
}

/* Load again, in the new signer, every key still in use; those that are
 * the same keys are usable again. */
static void revalidate(struct signer_link *l)
{
	uint32_t ids[64];
	size_t n = 0;

	pthread_mutex_lock(&l->lock);
	for (struct tkey *k = l->keys; k != NULL && n < 64; k = k->next)
		ids[n++] = k->id;
	pthread_mutex_unlock(&l->lock);
	for (size_t i = 0; i < n; i++) {
		struct sg_key_info ki;
		struct fc_err err = {0};
		uint8_t *ans = NULL;
		struct tkey *k;
		bool same = false;

		if (key_load(l, ids[i], &ki, &ans, &err) != FC_OK) {
			fc_log(LOG_ERR, "signer: key %u cannot be loaded again: %s", ids[i],
			       err.msg);
			free(ans);
			continue;
		}
		pthread_mutex_lock(&l->lock);
		k = tkey_find_locked(l, ids[i]);
		same = k != NULL && k->spki_len == ki.spki_len &&
		       memcmp(k->spki, ki.spki, ki.spki_len) == 0;
		if (same)
			k->live = true;
		pthread_mutex_unlock(&l->lock);
		free(ans);
		if (!same) {
			fc_log(LOG_WARNING,
			       "signer: key %u is not the same key in the new signer "
			       "process: requests that used it fail",
			       ids[i]);
			send_release(l, ids[i]);
		}
	}
}

static void *control_main(void *arg)
{
	struct signer_link *l = arg;
	int fd;

	int what;

	while ((what = signer_control_recv(l->control_fd, -1, &fd)) != 0) {
		struct fc_err err = {0};

		if (what == SIGNER_CTL_RELOAD) {
			if (l->attached != NULL)
				l->attached(l->arg, l, SIGNER_EVENT_RELOAD);
			continue;
		}

		atomic_fetch_add(&l->restarts, 1);
		if (attach(l, fd, &err) != FC_OK) {
			/* A signer that does not answer is of no use: close its socket
			 * so that it exits and the supervisor starts another. */
			fc_log(LOG_ERR, "%s", err.msg);
			pthread_mutex_lock(&l->wlock);
			shutdown(l->fd, SHUT_RDWR);
			pthread_mutex_unlock(&l->wlock);
			continue;
		}
		fc_log(LOG_NOTICE, "signer: a new signer process (pid %d) took over", (int)l->pid);
		revalidate(l);
		if (l->attached != NULL)
			l->attached(l->arg, l, SIGNER_EVENT_ATTACHED);
	}
	return NULL;
}

/*
 * Take a supervisor's control socket (signer.h): the first signer socket
 * and its HELLO within timeout_ms, then a thread that takes the next ones.
 * FC_OK with *out (free with signer_link_free), else the reason in err
 * (control_fd is then still the caller's).
 */
enum fc_status signer_link_start(int control_fd, int timeout_ms, signer_attached_fn attached,
				 void *arg, struct signer_link **out, struct fc_err *err)
{
	struct signer_link *l = fc_xcalloc(1, sizeof(*l));
	enum fc_status st;
	int fd;

	pthread_mutex_init(&l->lock, NULL);
	pthread_mutex_init(&l->wlock, NULL);
	cond_init_mono(&l->hello);
	l->fd = -1;
	l->control_fd = -1;
	l->attached = attached;
	l->arg = arg;
	if (signer_control_recv(control_fd, timeout_ms, &fd) != SIGNER_CTL_SOCKET) {
		st = fc_err_set(err, FC_EUNAVAIL, "signer: no signer process was started");
		goto fail;
	}
	if ((st = attach(l, fd, err)) != FC_OK)
		goto fail;
	l->control_fd = control_fd;
	if (pthread_create(&l->control, NULL, control_main, l) != 0) {
		l->control_fd = -1;
		st = fc_err_set(err, FC_EINTERNAL, "signer: cannot start the control thread");
		goto fail;
	}
	l->control_started = true;
	*out = l;
	return FC_OK;
fail:
	signer_link_free(l);
	return st;
}

/*
 * Stop watching the supervisor, close the signer socket (the signer
 * process finishes what it has and exits), join the threads and free l.
 * Every remote signer made from l must have been freed. NULL is fine.
 */
void signer_link_free(struct signer_link *l)
{
	if (l == NULL)
		return;
	atomic_store(&l->closing, true);
	if (l->control_started) {
		shutdown(l->control_fd, SHUT_RDWR);
		pthread_join(l->control, NULL);
	}
	if (l->fd >= 0)
		shutdown(l->fd, SHUT_RDWR);
	if (l->reader_started)
		pthread_join(l->reader, NULL);
	if (l->fd >= 0)
		close(l->fd);
	while (l->keys != NULL) {
		struct tkey *k = l->keys;
		l->keys = k->next;
		free(k->spki);
		free(k);
	}
	pthread_mutex_destroy(&l->lock);
	pthread_mutex_destroy(&l->wlock);
	pthread_cond_destroy(&l->hello);
	free(l);
}

/*
 * Ask the current signer for its refusal counts (signer.h); on failure the
 * last known counts stay.
 */
void signer_link_stats(struct signer_link *l)
{
	uint8_t *ans = NULL;
	uint32_t alen = 0;
	uint16_t type = 0, n;
	unsigned epoch;
	struct fc_rd r;

	if (l == NULL)
		return;
	pthread_mutex_lock(&l->lock);
	epoch = l->epoch;
	pthread_mutex_unlock(&l->lock);
	if (call(l, SIGNER_MSG_STATS, 0, NULL, SIGNER_CALL_TIMEOUT_MS, &type, &ans, &alen, NULL) !=
		    FC_OK ||
	    type != SIGNER_MSG_STATS_STATE) {
		free(ans);
		return;
	}
	fc_rd_init(&r, ans, alen);
	pthread_mutex_lock(&l->lock);
	if (fc_rd_u16(&r, &n) && l->epoch == epoch) {
		for (uint16_t i = 0; i < n && i < SIGNER_REFUSE_COUNT; i++) {
			uint64_t v;
			if (!fc_rd_u64(&r, &v))
				break;
			l->refusals_last[i] = (unsigned long)v;
		}
	}
	pthread_mutex_unlock(&l->lock);
	free(ans);
}

/* Refusals the signer processes reported, by reason (signer.h). */
unsigned long signer_link_refusals(struct signer_link *l, enum signer_refusal r)
{
	unsigned long v;

	if (l == NULL || (unsigned)r >= SIGNER_REFUSE_COUNT)
		return 0;
	pthread_mutex_lock(&l->lock);
	v = l->refusals_base[r] + l->refusals_last[r];
	pthread_mutex_unlock(&l->lock);
	return v;
}

/* Signer processes started after the first (signer.h). */
unsigned long signer_link_restarts(struct signer_link *l)
{
	return l == NULL ? 0 : atomic_load(&l->restarts);
}
