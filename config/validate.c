/*
 * config: checks at load time. Fulcio's validateConfig and
 * validateCIIssuerMetadata (pkg/config/config.go), plus fulcrum's own
 * (unknown types, missing ClientID/IssuerURL, meta-issuer patterns, the
 * IssuerClaim form, CI providers that do not exist or have no SAN
 * template), so that a mistake shows at startup rather than as a refused
 * token. Every message names the key path and what is wrong.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config_int.h"

/* Fulcio's minimumHostnameLength: labels that must match. */
#define MIN_HOST_LABELS 2

struct vctx {
	const char *name;
	bool yaml;
	struct fc_err *err;
};

/*
 * Spelling of an issuer field (by its JSON name) in messages.
 */
static const char *fname(const struct vctx *v, const char *json)
{
	size_t i = cfg_field_find(cfg_issuer_fields, CFG_N_ISSUER_FIELDS, json, false);

	return i < CFG_N_ISSUER_FIELDS ? cfg_field_name(&cfg_issuer_fields[i], v->yaml) : json;
}

static bool fail(const struct vctx *v, const char *path, const char *field, const char *what)
{
	if (field != NULL)
		fc_err_set(v->err, FC_ECONFIG, "config: %s: %s.%s: %s", v->name, path,
			   fname(v, field), what);
	else
		fc_err_set(v->err, FC_ECONFIG, "config: %s: %s: %s", v->name, path, what);
	return false;
}

static bool failf(const struct vctx *v, const char *path, const char *field, const char *fmt, ...)
	FC_PRINTF(4, 5);

/*
 * fail() with a message made from fmt (at most 399 characters kept).
 */
static bool failf(const struct vctx *v, const char *path, const char *field, const char *fmt, ...)
{
	char msg[400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return fail(v, path, field, msg);
}

/* The parts of a URL that the checks need, split as Go's net/url does. */
struct url_parts {
	char *scheme;	/* lower case; NULL if none */
	char *hostname; /* host without port or brackets; NULL if no authority */
};

static void url_parts_free(struct url_parts *u)
{
	free(u->scheme);
	free(u->hostname);
	u->scheme = u->hostname = NULL;
}

/*
 * Split s like url.Parse: a scheme is [A-Za-z][A-Za-z0-9+.-]* before the
 * first ':'; an authority follows "//" up to '/', '?' or '#'. Returns false
 * for what url.Parse refuses here (a ':' first: "missing protocol scheme").
 */
static bool url_split(const char *s, struct url_parts *u)
{
	const char *rest = s, *auth, *end, *host, *at;
	size_t i;

	u->scheme = u->hostname = NULL;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];
		if (isalpha((unsigned char)c))
			continue;
		if (i > 0 && (isdigit((unsigned char)c) || c == '+' || c == '-' || c == '.'))
			continue;
		if (c == ':') {
			if (i == 0)
				return false;
			u->scheme = fc_xstrndup(s, i);
			for (char *p = u->scheme; *p; p++)
				*p = (char)tolower((unsigned char)*p);
			rest = s + i + 1;
		}
		break;
	}
	if (strncmp(rest, "//", 2) != 0)
		return true;
	auth = rest + 2;
	end = auth + strcspn(auth, "/?#");
	host = auth;
	for (at = auth; at < end; at++)
		if (*at == '@')
			host = at + 1;
	if (host < end && *host == '[') {
		const char *rb = memchr(host, ']', (size_t)(end - host));
		if (rb == NULL) {
			url_parts_free(u); /* a failed split owns nothing */
			return false;
		}
		u->hostname = fc_xstrndup(host + 1, (size_t)(rb - host - 1));
	} else {
		const char *colon = NULL;
		for (const char *p = host; p < end; p++)
			if (*p == ':')
				colon = p;
		u->hostname = fc_xstrndup(host, (size_t)((colon ? colon : end) - host));
	}
	return true;
}

/*
 * An http(s) URL with a non-empty host.
 */
static bool is_http_url(const char *s)
{
	struct url_parts u;
	bool ok;

	if (!url_split(s, &u))
		return false;
	ok = u.scheme != NULL &&
	     (strcmp(u.scheme, "https") == 0 || strcmp(u.scheme, "http") == 0) &&
	     u.hostname != NULL && u.hostname[0] != '\0';
	url_parts_free(&u);
	return ok;
}

/*
 * Where the last MIN_HOST_LABELS labels of host start (out[0] the last
 * label, out[1] the last two, ...), as far as host has them; returns how
 * many labels host has.
 */
static size_t last_labels(const char *host, const char *out[MIN_HOST_LABELS])
{
	size_t n = 0;

	for (const char *p = host + strlen(host);; p--) {
		if (p == host || p[-1] == '.') {
			if (n < MIN_HOST_LABELS)
				out[n] = p;
			n++;
		}
		if (p == host)
			return n;
	}
}

/*
 * Fulcio's validateAllowedDomain: equal hostnames, or at least two labels
 * each with the last two equal (naive: no public-suffix list).
 */
static bool allowed_domain(const struct vctx *v, const char *path, const char *subject,
			   const char *issuer)
{
	const char *s[MIN_HOST_LABELS], *i[MIN_HOST_LABELS];
	size_t ns, ni;

	if (strcmp(subject, issuer) == 0)
		return true;
	ns = last_labels(subject, s);
	ni = last_labels(issuer, i);
	if (ns < MIN_HOST_LABELS || ni < MIN_HOST_LABELS)
		return failf(v, path, "SubjectDomain",
			     "hostname \"%s\" is too short (needs %d labels)",
			     ns < MIN_HOST_LABELS ? subject : issuer, MIN_HOST_LABELS);
	/* s[1]/i[1]: the last two labels. */
	if (strcmp(s[1], i[1]) == 0)
		return true;
	return failf(v, path, "SubjectDomain",
		     "hostname \"%s\" and the issuer's \"%s\" do not share their last two labels",
		     subject, issuer);
}

/*
 * The IssuerClaim form: `$` then one or more `.name` members.
 */
static bool valid_jsonpath(const char *s)
{
	if (s[0] != '$' || s[1] != '.')
		return false;
	for (const char *p = s + 1; *p;) {
		size_t n;
		if (*p != '.')
			return false;
		p++;
		n = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");
		if (n == 0)
			return false;
		p += n;
	}
	return true;
}

/*
 * CACert must hold at least one PEM certificate (Fulcio: AppendCertsFromPEM).
 */
static bool pem_has_cert(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	X509 *x;
	int n = 0;

	if (bio == NULL) {
		ERR_clear_error();
		return false;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		X509_free(x);
		n++;
	}
	/* The last read always fails ("no start line"); that is not news. */
	ERR_clear_error();
	BIO_free(bio);
	return n > 0;
}

static const char *valid_types(void)
{
	return "email, username, uri, spiffe, kubernetes, github-workflow, gitlab-pipeline, "
	       "buildkite-job, codefresh-workflow, chainguard-identity, ci-provider";
}

static bool check_uri_username(const struct vctx *v, const char *path, const struct cfg_issuer *iss)
{
	struct url_parts sd = {0}, is = {0};
	bool uri = iss->type == CFG_TYPE_URI, ok = false;

	if (iss->subject_domain == NULL)
		return failf(v, path, "SubjectDomain", "missing (required for %s issuers)",
			     iss->type_name);
	if (!url_split(iss->subject_domain, &sd)) {
		failf(v, path, "SubjectDomain", "\"%s\" does not parse as a URL",
		      iss->subject_domain);
		goto out;
	}
	if (uri && sd.scheme == NULL) {
		failf(v, path, "SubjectDomain", "\"%s\" must contain a scheme for uri issuers",
		      iss->subject_domain);
		goto out;
	}
	if (!uri && sd.scheme != NULL) {
		failf(v, path, "SubjectDomain",
		      "\"%s\" must not contain a scheme for username issuers", iss->subject_domain);
		goto out;
	}
	if (iss->is_meta) {
		ok = true; /* the issuer's host is a pattern: Fulcio checks no more */
		goto out;
	}
	if (!url_split(iss->issuer_url, &is) || is.scheme == NULL) {
		failf(v, path, "IssuerURL", "must contain a scheme for %s issuers", iss->type_name);
		goto out;
	}
	if (uri && strcmp(sd.scheme, is.scheme) != 0) {
		failf(v, path, "SubjectDomain",
		      "scheme \"%s\" does not match the issuer's scheme \"%s\"", sd.scheme,
		      is.scheme);
		goto out;
	}
	ok = allowed_domain(v, path, uri ? (sd.hostname ? sd.hostname : "") : iss->subject_domain,
			    is.hostname ? is.hostname : "");
out:
	url_parts_free(&sd);
	url_parts_free(&is);
	return ok;
}

/*
 * Type (set and known) and ClientID (set).
 */
static bool check_type_client(const struct vctx *v, const char *path, const struct cfg_issuer *iss)
{
	if (iss->type_name == NULL)
		return failf(v, path, "Type", "missing; valid types: %s", valid_types());
	if (iss->type == CFG_TYPE_UNKNOWN)
		/* Fulcio accepts it when ChallengeClaim is set, then drops the
		 * issuer from its pool; a silent no-op is worse than an error. */
		return failf(v, path, "Type", "unknown type \"%s\"; valid types: %s",
			     iss->type_name, valid_types());
	if (iss->client_id == NULL)
		return fail(v, path, "ClientID",
			    "missing (the audience tokens must carry, e.g. \"sigstore\")");
	return true;
}

/*
 * The issuer's URL: IssuerURL for a fixed issuer, the pattern (the key)
 * for a meta-issuer, an http(s) URL with a host either way.
 */
static bool check_url(const struct vctx *v, const char *path, const struct cfg_issuer *iss)
{
	if (iss->is_meta) {
		if (!is_http_url(iss->key))
			return fail(v, path, NULL, "pattern is not an http(s) URL with a host");
		if (iss->issuer_url != NULL)
			fc_log(LOG_DEBUG, "config: %s: %s.%s: ignored for meta-issuers", v->name,
			       path, fname(v, "IssuerURL"));
		return true;
	}
	if (iss->issuer_url == NULL)
		return fail(v, path, "IssuerURL", "missing");
	if (!is_http_url(iss->issuer_url))
		return failf(v, path, "IssuerURL", "\"%s\" is not an http(s) URL with a host",
			     iss->issuer_url);
	if (strcmp(iss->key, iss->issuer_url) != 0)
		/* Fulcio accepts this: tokens are matched on the key,
		 * discovery uses IssuerURL. */
		fc_log(LOG_WARNING,
		       "config: %s: %s.%s: \"%s\" differs from its key; tokens are "
		       "matched on the key, discovery uses %s",
		       v->name, path, fname(v, "IssuerURL"), iss->issuer_url,
		       fname(v, "IssuerURL"));
	return true;
}

/*
 * CACert (some PEM certificate) and IssuerClaim (email issuers only, a
 * JSONPath of the form $.a.b).
 */
static bool check_ca_claim(const struct vctx *v, const char *path, const struct cfg_issuer *iss)
{
	if (iss->ca_cert_pem != NULL && !pem_has_cert(iss->ca_cert_pem))
		return fail(v, path, "CACert", "no PEM certificate could be parsed");
	if (iss->issuer_claim == NULL)
		return true;
	if (iss->type != CFG_TYPE_EMAIL)
		return failf(v, path, "IssuerClaim",
			     "only email issuers can use issuer claim mapping (type is \"%s\")",
			     iss->type_name);
	if (!valid_jsonpath(iss->issuer_claim))
		return failf(v, path, "IssuerClaim", "\"%s\" is not a JSONPath of the form $.a.b",
			     iss->issuer_claim);
	return true;
}

/*
 * A spiffe issuer: fixed, with a valid SPIFFETrustDomain.
 */
static bool check_spiffe(const struct vctx *v, const char *path, const struct cfg_issuer *iss)
{
	if (iss->is_meta)
		return fail(v, path, "Type",
			    "SPIFFE meta issuers not supported (one trust domain per issuer)");
	if (iss->spiffe_trust_domain == NULL)
		return fail(v, path, "SPIFFETrustDomain", "missing (required for spiffe issuers)");
	if (!cfg_spiffe_trust_domain_parse(iss->spiffe_trust_domain, NULL))
		return failf(v, path, "SPIFFETrustDomain",
			     "\"%s\" is not a valid SPIFFE trust domain", iss->spiffe_trust_domain);
	return true;
}

/*
 * A ci-provider issuer: CIProvider names a CIIssuerMetadata entry that has
 * a SAN template.
 */
static bool check_ci_ref(const struct vctx *v, const struct cfg_identity *cfg, const char *path,
			 const struct cfg_issuer *iss)
{
	const char *ci_name = cfg_field_name(&cfg_top_fields[CFG_TOP_CI], v->yaml);
	const struct cfg_ci_provider *ci;

	if (iss->ci_provider == NULL)
		return fail(v, path, "CIProvider", "missing (required for ci-provider issuers)");
	if ((ci = cfg_ci_provider_find(cfg, iss->ci_provider)) == NULL)
		return failf(v, path, "CIProvider", "\"%s\" is not defined in %s", iss->ci_provider,
			     ci_name);
	if (ci->san_template == NULL || ci->san_template[0] == '\0') {
		fc_err_set(v->err, FC_ECONFIG, "config: %s: %s[\"%s\"].%s: empty, but %s uses it",
			   v->name, ci_name, ci->name,
			   cfg_field_name(&cfg_ci_fields[CFG_CI_SAN], v->yaml), path);
		return false;
	}
	return true;
}

/*
 * One OIDCIssuers or MetaIssuers entry: the checks common to every type,
 * then those of its type.
 */
static bool check_issuer(const struct vctx *v, const struct cfg_identity *cfg,
			 const struct cfg_issuer *iss)
{
	char *path = cfg_issuer_path(iss, v->yaml);
	bool ok = check_type_client(v, path, iss) && check_url(v, path, iss) &&
		  check_ca_claim(v, path, iss);

	if (ok && iss->type == CFG_TYPE_SPIFFE)
		ok = check_spiffe(v, path, iss);
	else if (ok && (iss->type == CFG_TYPE_URI || iss->type == CFG_TYPE_USERNAME))
		ok = check_uri_username(v, path, iss);
	else if (ok && iss->type == CFG_TYPE_CI_PROVIDER)
		ok = check_ci_ref(v, cfg, path, iss);
	if (ok && iss->ci_provider != NULL && iss->type != CFG_TYPE_CI_PROVIDER)
		fc_log(LOG_WARNING, "config: %s: %s.%s: ignored for type \"%s\"", v->name, path,
		       fname(v, "CIProvider"), iss->type_name);
	free(path);
	return ok;
}

/*
 * Check that a template parses, as Fulcio does for every one at load time.
 * text NULL is nothing to check. Returns FC_OK, else FC_ECONFIG with the
 * file name, the key path and the parser's message in err.
 */
enum fc_status cfg_template_check(const char *name, const char *path, const char *text,
				  struct fc_err *err)
{
	struct cfg_template *t = NULL;
	struct fc_err terr = {0};

	if (text == NULL)
		return FC_OK;
	if (cfg_template_parse(text, &t, &terr) != FC_OK)
		return fc_err_set(err, FC_ECONFIG, "config: %s: %s: %s", name, path, terr.msg);
	cfg_template_free(t);
	return FC_OK;
}

/*
 * Every extension template and the SAN template must parse (Fulcio's
 * validateCIIssuerMetadata).
 */
static bool check_ci(const struct vctx *v, const struct cfg_ci_provider *ci)
{
	const char *ext = cfg_field_name(&cfg_ci_fields[CFG_CI_EXT], v->yaml);
	char *cpath = cfg_ci_path(ci->name, v->yaml);
	char *path = NULL;
	bool ok = false;

	for (size_t i = 0; i < ci->n_extension_templates; i++) {
		const char *key = ci->extension_templates[i].key;
		size_t f = cfg_field_find(cfg_ext_fields, CFG_N_EXT_FIELDS, key, false);

		if (f < CFG_N_EXT_FIELDS)
			key = cfg_field_name(&cfg_ext_fields[f], v->yaml);
		free(path);
		path = fc_xasprintf("%s.%s.%s", cpath, ext, key);
		if (cfg_template_check(v->name, path, ci->extension_templates[i].value, v->err) !=
		    FC_OK)
			goto out;
	}
	free(path);
	path = fc_xasprintf("%s.%s", cpath, cfg_field_name(&cfg_ci_fields[CFG_CI_SAN], v->yaml));
	if (cfg_template_check(v->name, path, ci->san_template, v->err) != FC_OK)
		goto out;
	ok = true;
out:
	free(path);
	free(cpath);
	return ok;
}

/*
 * Validate a loaded configuration: fixed issuers, then meta-issuers, then
 * CI metadata, each in file order; the first problem is reported. `yaml`
 * selects YAML key names in messages. Returns FC_OK or FC_ECONFIG.
 */
enum fc_status cfg_validate(const struct cfg_identity *cfg, bool yaml, const char *name,
			    struct fc_err *err)
{
	struct vctx v = {.name = name, .yaml = yaml, .err = err};

	for (size_t i = 0; i < cfg->n_issuers; i++)
		if (!check_issuer(&v, cfg, &cfg->issuers[i]))
			return FC_ECONFIG;
	for (size_t i = 0; i < cfg->n_meta; i++)
		if (!check_issuer(&v, cfg, &cfg->meta[i]))
			return FC_ECONFIG;
	for (size_t i = 0; i < cfg->n_ci; i++)
		if (!check_ci(&v, &cfg->ci[i]))
			return FC_ECONFIG;
	return FC_OK;
}
