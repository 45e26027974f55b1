/*
 * The CA key of `fulcrum serve`: where it is opened and how the network
 * side sees it. By default the key lives in a signer process (signer/):
 * this file's loader runs there (fileca key file, pkcs11ca token,
 * ephemeralca key and root), and the network process builds its authority
 * from the public key and chain the signer sends, reloads it (SIGHUP, or a
 * changed fileca file seen by the supervisor) under a new key id, and
 * takes the key again from a signer process that replaced one that died.
 * With --no-signer-process everything happens in the one process, as
 * before. A SIGHUP also rebuilds the CT client from its configuration
 * (a new log shard), swapped in the same way (ca_server_replace_ct).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ca.h"
#include "cmd.h"
#include "ct.h"
#include "hsm.h"
#include "journal.h"
#include "signer.h"

struct cmd_ca {
	struct cmd_ca_opts o;
	char *passwd;		  /* the passphrase: supervisor and signer, or in-process */
	char *pin;		  /* FULCRUM_PKCS11_PIN: supervisor and signer only */
	char *uri;		  /* --pkcs11-uri holding a pin-value: supervisor and signer */
	struct cmd_privsep ps;	  /* link NULL with --no-signer-process */
	pthread_mutex_t lock;	  /* one change of authority at a time */
	struct ca_server *server; /* where reloads go, once started */
	uint32_t key_id;	  /* the current authority's key in the signer */
	int64_t mtime;		  /* the fileca files, as last seen by the supervisor */
	cmd_ct_build_fn ct_build; /* rebuilds the CT client on SIGHUP (NULL: no CT) */
	void *ct_arg;
};

/* --- the key, where it is held ----------------------------------------------------- */

/* The fileca key file and chain file, checked together. The key file must
 * not be readable by others unless it is encrypted (a passphrase given). */
static enum fc_status load_fileca(const struct cmd_ca *c, struct hsm_signer **signer,
				  struct ca_chain **chain, struct fc_err *err)
{
	struct stat sb;
	enum fc_status st;

	if (stat(c->o.fileca_key, &sb) == 0 && (sb.st_mode & 077) != 0 && c->passwd == NULL)
		return fc_err_set(
			err, FC_ECONFIG,
			"fileca: key file %s can be read by others (mode %03o): make it "
			"readable by its owner only (chmod 600), or encrypt it and give its "
			"passphrase (FULCRUM_FILECA_KEY_PASSWD)",
			c->o.fileca_key, (unsigned)(sb.st_mode & 0777));
	st = hsm_softkey_load_pem(c->o.fileca_key, c->passwd, HSM_RSA_PKCS1, signer, err);
	if (st == FC_OK)
		st = ca_chain_load_file(c->o.fileca_cert, chain, err);
	if (st == FC_OK)
		st = ca_chain_check(*chain, hsm_signer_public_key(*signer), err);
	if (st != FC_OK) {
		hsm_signer_free(*signer);
		ca_chain_free(*chain);
		*signer = NULL;
		*chain = NULL;
	}
	return st;
}

/* The configured key and its chain (ephemeralca: a new key and root). */
static enum fc_status load_key(struct cmd_ca *c, struct hsm_signer **signer,
			       struct ca_chain **chain, struct fc_err *err)
{
	struct cmd_pkcs11ca_flags p11 = c->o.pkcs11;
	enum fc_status st;

	*signer = NULL;
	*chain = NULL;
	if (strcmp(c->o.ca, "fileca") == 0)
		return load_fileca(c, signer, chain, err);
	if (strcmp(c->o.ca, "pkcs11ca") == 0) {
		if (c->uri != NULL)
			p11.uri = c->uri; /* the copy that still holds its pin-value */
		if (c->pin != NULL)
			setenv(HSM_P11_PIN_ENV, c->pin, 1); /* taken, wiped and unset by hsm/ */
		return cmd_pkcs11ca_load(&p11, signer, chain, err);
	}
	if ((st = hsm_softkey_generate(HSM_KEY_EC_P256, signer, err)) != FC_OK)
		return st;
	if ((st = ca_chain_make_ephemeral(*signer, chain, err)) != FC_OK) {
		hsm_signer_free(*signer);
		*signer = NULL;
	}
	return st;
}

/* signer_config.load: in the signer process, the key and its chain in PEM. */
static enum fc_status signer_load(void *arg, struct signer_key *out, struct fc_err *err)
{
	struct cmd_ca *c = arg;
	struct ca_chain *chain = NULL;
	struct fc_buf pem;
	enum fc_status st;

	if ((st = load_key(c, &out->signer, &chain, err)) != FC_OK)
		return st;
	fc_buf_init(&pem, 0);
	for (size_t i = 0; i < chain->n; i++)
		fc_buf_append_str(&pem, chain->pem[i]);
	out->chain_pem = fc_buf_steal(&pem, NULL);
	ca_chain_free(chain);
	return FC_OK;
}

/* The signer process's main (signer_child.run). */
static int signer_run(void *arg, int fd)
{
	struct cmd_ca *c = arg;
	struct signer_config cfg = {
		.role = SIGNER_ROLE_CA,
		.load = signer_load,
		.load_arg = c,
		.journal_dir = c->o.journal_dir,
		.lifetime_s = c->o.validity_s,
		.ct = c->o.ct,
	};

	return signer_serve(fd, &cfg);
}

/* Wipe, where they lie in this process, the secrets of the command line
 * and the environment. */
static void wipe_secrets(const struct cmd_ca_opts *o)
{
	if (o->passwd != NULL)
		fc_memzero(o->passwd, strlen(o->passwd));
	cmd_wipe_env(CMD_FILECA_PASSWD_ENV);
	cmd_wipe_env(HSM_P11_PIN_ENV);
	cmd_wipe_uri_pin((char *)o->pkcs11.uri);
}

static void wipe_child(void *arg)
{
	wipe_secrets(&((struct cmd_ca *)arg)->o);
}

/* The passphrase: --fileca-key-passwd (command line, environment or flag
 * file), else FULCRUM_FILECA_KEY_PASSWD. */
static const char *passwd_source(const struct cmd_ca_opts *o)
{
	return o->passwd != NULL ? o->passwd : getenv(CMD_FILECA_PASSWD_ENV);
}

/* signer_child.prepare: the supervisor keeps what a new signer will need
 * and cannot read again, then wipes the originals. */
static void signer_prepare(void *arg)
{
	struct cmd_ca *c = arg;

	c->passwd = cmd_secret_keep(passwd_source(&c->o));
	c->pin = cmd_secret_keep(getenv(HSM_P11_PIN_ENV));
	if (c->o.pkcs11.uri != NULL && strstr(c->o.pkcs11.uri, "pin-value=") != NULL)
		c->uri = cmd_secret_keep(c->o.pkcs11.uri);
	wipe_secrets(&c->o);
	/* The listeners' TLS key is the network process's: it keeps the
	 * passphrase through its new start (fc_httpd_tls_load). */
	cmd_wipe_env(FC_HTTPD_TLS_KEY_PASSWD_ENV);
}

/* The fileca files' modification times, summed; -1 if one is missing. */
static int64_t files_mtime(const struct cmd_ca *c)
{
	struct stat a, b;

	if (c->o.fileca_cert == NULL || c->o.fileca_key == NULL ||
	    stat(c->o.fileca_cert, &a) != 0 || stat(c->o.fileca_key, &b) != 0)
		return -1;
	return (int64_t)a.st_mtim.tv_sec * 1000000000 + a.st_mtim.tv_nsec +
	       (int64_t)b.st_mtim.tv_sec * 1000000000 + b.st_mtim.tv_nsec;
}

/*
 * True when --fileca-watch is on and the fileca files changed since the
 * last call (cmd.h). Runs in the supervisor (signer_child.poll), which can
 * read where the network process may not, or in the only process.
 */
bool cmd_ca_files_changed(struct cmd_ca *c)
{
	int64_t now;

	if (strcmp(c->o.ca, "fileca") != 0 || !c->o.fileca_watch)
		return false;
	now = files_mtime(c);
	if (c->mtime == 0)
		c->mtime = now;
	if (now < 0 || now == c->mtime)
		return false;
	c->mtime = now;
	return true;
}

static bool signer_poll(void *arg)
{
	return cmd_ca_files_changed(arg);
}

/* --- the network side ------------------------------------------------------------- */

/* An authority over a key newly loaded in the signer process. */
static enum fc_status remote_authority(struct cmd_ca *c, struct ca_authority **out,
				       uint32_t *key_id, struct fc_err *err)
{
	struct signer_loaded ld;
	struct ca_chain *chain = NULL;
	enum fc_status st;

	if ((st = signer_link_load(c->ps.link, &ld, err)) != FC_OK)
		return st;
	st = ld.chain_pem == NULL ? fc_err_set(err, FC_EHSM, "signer: no chain came with the key")
				  : ca_chain_load_pem(ld.chain_pem, strlen(ld.chain_pem),
						      "the signer's chain", &chain, err);
	if (st == FC_OK && strcmp(c->o.ca, "ephemeralca") != 0)
		st = ca_chain_check(chain, hsm_signer_public_key(ld.signer), err);
	free(ld.chain_pem);
	if (st != FC_OK) {
		hsm_signer_free(ld.signer);
		ca_chain_free(chain);
		return st;
	}
	*key_id = ld.key_id;
	return ca_authority_new(ld.signer, chain, out, err);
}

/*
 * A new authority over the configured key (cmd.h): through the signer
 * process, or loaded here with --no-signer-process. FC_OK with *out, else
 * the reason in err.
 */
enum fc_status cmd_ca_authority(struct cmd_ca *c, struct ca_authority **out, struct fc_err *err)
{
	struct hsm_signer *signer = NULL;
	struct ca_chain *chain = NULL;
	uint32_t key_id = 0;
	enum fc_status st;

	if (c->ps.link != NULL) {
		if ((st = remote_authority(c, out, &key_id, err)) == FC_OK)
			c->key_id = key_id;
		return st;
	}
	if ((st = load_key(c, &signer, &chain, err)) != FC_OK)
		return st;
	return ca_authority_new(signer, chain, out, err);
}

/* Swap in a new authority; why says what asked for it. */
static void renew(struct cmd_ca *c, const char *why)
{
	struct ca_authority *fresh = NULL;
	struct fc_err err = {0};

	pthread_mutex_lock(&c->lock);
	if (c->server == NULL) {
		pthread_mutex_unlock(&c->lock);
		return;
	}
	if (cmd_ca_authority(c, &fresh, &err) != FC_OK) {
		pthread_mutex_unlock(&c->lock);
		fc_log(LOG_ERR, "serve: %s: reload refused, keeping the current CA: %s", why,
		       err.msg);
		return;
	}
	ca_server_replace_authority(c->server, fresh);
	pthread_mutex_unlock(&c->lock);
	if (strcmp(c->o.ca, "fileca") == 0)
		fc_log(LOG_NOTICE, "serve: %s: reloaded the CA key and chain from %s and %s", why,
		       c->o.fileca_key, c->o.fileca_cert);
	else if (strcmp(c->o.ca, "pkcs11ca") == 0)
		fc_log(LOG_NOTICE, "serve: %s: reloaded the CA key and chain from the token%s%s",
		       why, c->o.pkcs11.chain_path ? " and " : "",
		       c->o.pkcs11.chain_path ? c->o.pkcs11.chain_path : "");
	else
		fc_log(LOG_NOTICE, "serve: %s: a new %s key and root", why, c->o.ca);
}

/* The signer link's events (signer_attached_fn). */
static void on_event(void *arg, struct signer_link *l, enum signer_event ev)
{
	struct cmd_ca *c = arg;

	if (ev == SIGNER_EVENT_RELOAD) {
		cmd_ca_reload(c, "fileca files changed");
		return;
	}
	if (!signer_link_key_live(l, c->key_id))
		renew(c, "the CA key changed in the new signer process");
}

/*
 * Reload the CA (SIGHUP, or the fileca files changed; cmd.h): fileca (key
 * and chain files) and pkcs11ca (the chain file or token certificate, and
 * its key: a new intermediate's); on any failure the current CA keeps
 * serving. An ephemeralca is kept.
 */
void cmd_ca_reload(struct cmd_ca *c, const char *why)
{
	if (strcmp(c->o.ca, "ephemeralca") == 0) {
		fc_log(LOG_NOTICE, "serve: reload: nothing to reload for %s", c->o.ca);
		return;
	}
	renew(c, why);
}

/* From now on a SIGHUP rebuilds the CT client with build(arg) (cmd.h). */
void cmd_ca_set_ct_source(struct cmd_ca *c, cmd_ct_build_fn build, void *arg)
{
	c->ct_build = build;
	c->ct_arg = arg;
}

/* A new CT client from the configuration, swapped in; on failure the
 * current one keeps serving. */
static void reload_ct(struct cmd_ca *c, const char *why)
{
	struct ct_client *ct = NULL;
	struct fc_err err = {0};
	struct fc_buf urls;
	enum fc_status st;

	if (c->ct_build == NULL || c->server == NULL)
		return;
	if ((st = c->ct_build(c->ct_arg, &ct, &err)) == FC_OK && ct != NULL)
		st = ca_server_replace_ct(c->server, ct, &err);
	else if (st == FC_OK)
		st = fc_err_set(&err, FC_ECONFIG, "the configuration has no CT log any more");
	if (st != FC_OK) {
		ct_client_free(ct);
		fc_log(LOG_ERR, "serve: %s: CT reload refused, keeping the current logs: %s", why,
		       err.msg);
		return;
	}
	fc_buf_init(&urls, 0);
	for (size_t i = 0; i < ct_client_log_count(ct); i++) {
		fc_buf_append_str(&urls, i ? ", " : "");
		fc_buf_append_str(&urls, ct_client_url(ct, i));
	}
	fc_buf_append(&urls, "", 1);
	fc_log(LOG_NOTICE, "serve: %s: reloaded the CT logs: %s", why, (char *)urls.data);
	fc_buf_free(&urls);
}

/*
 * The signal wait's hook (cmd.h), at each wake: on SIGHUP the CA and the
 * CT logs are reloaded; with --no-signer-process a change of the fileca
 * files reloads the CA; and what earlier reloads replaced is freed once
 * nothing uses it.
 */
void cmd_ca_tick(struct cmd_ca *c, bool hup)
{
	if (hup) {
		cmd_ca_reload(c, "SIGHUP");
		pthread_mutex_lock(&c->lock);
		reload_ct(c, "SIGHUP");
		pthread_mutex_unlock(&c->lock);
	} else if (c->o.no_signer && cmd_ca_files_changed(c)) {
		cmd_ca_reload(c, "fileca files changed");
	}
	pthread_mutex_lock(&c->lock);
	if (c->server != NULL)
		ca_server_tick(c->server);
	pthread_mutex_unlock(&c->lock);
}

/*
 * Open the CA's key side (cmd.h): fork the supervisor and take the first
 * signer process (the key is then loaded by cmd_ca_authority), or with
 * --no-signer-process take the passphrase here. Either way the secrets of
 * the command line and environment are wiped in this process. FC_OK with
 * *out (free with cmd_ca_free), else the reason in err.
 */
enum fc_status cmd_ca_open(const struct cmd_ca_opts *o, struct cmd_ca **out, struct fc_err *err)
{
	struct cmd_ca *c = fc_xcalloc(1, sizeof(*c));
	struct signer_child child = {
		.prepare = signer_prepare, .run = signer_run, .poll = signer_poll, .arg = c};
	enum fc_status st;

	c->o = *o;
	pthread_mutex_init(&c->lock, NULL);
	if (o->no_signer) {
		const char *pw = passwd_source(o);
		c->passwd = pw != NULL ? fc_xstrdup(pw) : NULL;
		c->mtime = files_mtime(c);
		wipe_secrets(o);
		*out = c;
		return FC_OK;
	}
	c->mtime = files_mtime(c);
	/* The supervisor takes its copies; this process never reads them. */
	st = cmd_privsep_start(&child, wipe_child, on_event, c, &c->ps, err);
	if (st != FC_OK) {
		cmd_ca_free(c);
		return st;
	}
	*out = c;
	return FC_OK;
}

/* From now on reloads go to server (NULL: nowhere). */
void cmd_ca_set_server(struct cmd_ca *c, struct ca_server *server)
{
	pthread_mutex_lock(&c->lock);
	c->server = server;
	pthread_mutex_unlock(&c->lock);
}

/* The signer process's counters for /metrics, or NULL without one. */
struct cmd_privsep *cmd_ca_privsep(struct cmd_ca *c)
{
	return c->ps.link != NULL ? &c->ps : NULL;
}

/*
 * Stop the signer side (after the server and every authority are gone)
 * and free c. NULL is fine.
 */
void cmd_ca_free(struct cmd_ca *c)
{
	if (c == NULL)
		return;
	if (c->ps.sup.pid > 0)
		cmd_privsep_stop(&c->ps);
	if (c->o.no_signer)
		fc_free_secret(c->passwd);
	else
		cmd_secret_free(c->passwd);
	cmd_secret_free(c->pin);
	cmd_secret_free(c->uri);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
