/*
 * The CT client a server logs through, which a reload (SIGHUP, a new log
 * shard in the CT configuration) replaces while serving: each request
 * takes the current client with a reference when it starts issuing and
 * keeps it to its answer, so that certificates in flight are logged where
 * they started; a replaced client is freed once no request holds it and
 * its last callback has returned (ca_server_tick, or at stop). The first
 * client, from the server's options, stays the caller's to free.
 */
#include <stdlib.h>
#include <unistd.h>

#include "ca_int.h"

/* The CT client of a server start (opts->ct, borrowed); none when NULL. */
void ca_ct_slot_init(struct ca_server *s, struct ct_client *ct)
{
	pthread_mutex_init(&s->ct_lock, NULL);
	s->ct_on = ct != NULL;
	if (ct == NULL)
		return;
	s->ct = fc_xcalloc(1, sizeof(*s->ct));
	s->ct->ct = ct;
	atomic_init(&s->ct->refs, 0);
}

/*
 * The current CT client with a reference for the caller (release with
 * ca_ct_put), or NULL when the server issues without CT.
 */
struct ca_ct_ref *ca_ct_get(struct ca_server *s)
{
	struct ca_ct_ref *r;

	pthread_mutex_lock(&s->ct_lock);
	if ((r = s->ct) != NULL)
		atomic_fetch_add(&r->refs, 1);
	pthread_mutex_unlock(&s->ct_lock);
	return r;
}

/* Release a reference of ca_ct_get (NULL is fine). Nothing is freed here:
 * this may run on the client's own I/O thread. */
void ca_ct_put(struct ca_ct_ref *r)
{
	if (r != NULL)
		atomic_fetch_sub(&r->refs, 1);
}

static bool ct_ref_idle(struct ca_ct_ref *r)
{
	return atomic_load(&r->refs) == 0 && ct_client_in_flight(r->ct) == 0;
}

static void ct_ref_free(struct ca_ct_ref *r)
{
	if (r->owned)
		ct_client_free(r->ct);
	free(r);
}

/*
 * Swap in a new CT client (ca.h): FC_OK and ct taken, or FC_ECONFIG (ct
 * left to the caller) when the server was started without CT: the signer
 * process checks each certificate against that choice, which a reload
 * cannot change.
 */
enum fc_status ca_server_replace_ct(struct ca_server *s, struct ct_client *ct, struct fc_err *err)
{
	struct ca_ct_ref *r;
	struct ca_authority *a;

	if (ct == NULL || !s->ct_on)
		return fc_err_set(err, FC_ECONFIG,
				  "ca: CT cannot be turned %s by a reload (restart fulcrum serve)",
				  ct == NULL ? "off" : "on");
	a = ca_authority_slot_get(&s->authority);
	ca_check_ct_roots(ct, a); /* warnings only, as at start */
	ca_authority_unref(a);
	r = fc_xcalloc(1, sizeof(*r));
	r->ct = ct;
	r->owned = true;
	atomic_init(&r->refs, 0);
	pthread_mutex_lock(&s->ct_lock);
	s->ct->next = s->ct_retired;
	s->ct_retired = s->ct;
	s->ct = r;
	pthread_mutex_unlock(&s->ct_lock);
	ca_server_tick(s);
	return FC_OK;
}

/*
 * Free the CT clients that reloads replaced and that no request holds any
 * more (ca.h). Call it now and then from one thread (serve's signal wait).
 */
void ca_server_tick(struct ca_server *s)
{
	struct ca_ct_ref *done = NULL;

	pthread_mutex_lock(&s->ct_lock);
	for (struct ca_ct_ref **pp = &s->ct_retired; *pp != NULL;) {
		struct ca_ct_ref *r = *pp;

		if (r->owned && ct_ref_idle(r)) {
			*pp = r->next;
			r->next = done;
			done = r;
		} else {
			pp = &r->next;
		}
	}
	pthread_mutex_unlock(&s->ct_lock);
	while (done != NULL) {
		struct ca_ct_ref *next = done->next;

		fc_log(LOG_INFO, "ca: a replaced CT configuration is no longer in use: freed");
		ct_ref_free(done);
		done = next;
	}
}

/* True while a CT client (current or replaced) has a request in flight. */
bool ca_ct_busy(struct ca_server *s)
{
	bool busy = false;

	pthread_mutex_lock(&s->ct_lock);
	if (s->ct != NULL && ct_client_in_flight(s->ct->ct) > 0)
		busy = true;
	for (struct ca_ct_ref *r = s->ct_retired; r != NULL && !busy; r = r->next)
		busy = ct_client_in_flight(r->ct) > 0;
	pthread_mutex_unlock(&s->ct_lock);
	return busy;
}

/* At stop, once nothing is in flight: free every client the server owns. */
void ca_ct_slot_destroy(struct ca_server *s)
{
	struct ca_ct_ref *r = s->ct_retired;

	while (r != NULL) {
		struct ca_ct_ref *next = r->next;

		ct_ref_free(r);
		r = next;
	}
	if (s->ct != NULL)
		ct_ref_free(s->ct);
	s->ct = s->ct_retired = NULL;
	pthread_mutex_destroy(&s->ct_lock);
}

/* The current client's metrics (none without CT). */
void ca_ct_metrics(struct ca_server *s, struct fc_buf *b)
{
	struct ca_ct_ref *r = ca_ct_get(s);

	if (r != NULL)
		ct_client_metrics_text(r->ct, b);
	ca_ct_put(r);
}
