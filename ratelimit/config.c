/*
 * The rate-limit configuration (docs/ratelimit.md): JSON or YAML with the
 * same keys, every key checked, every refusal naming the file, the key path
 * and what is wrong. Issuers and overrides are kept sorted, so that a
 * check finds its limits by binary search.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit_int.h"

#define PATH_MAX_LEN 96 /* key paths in messages, e.g. "overrides[12].burst" */

/* Limits of one issuer; has[b] false: the default applies to bucket b. */
struct issuer_entry {
	char *issuer;
	bool has[2];
	struct rl_limit limit[2];
};

/* One override: the limit of bucket `bucket` for (issuer, value). */
struct override {
	enum rl_bucket bucket;
	char *issuer;
	char *value;
	struct rl_limit limit;
};

struct rl_config {
	struct rl_limit defaults[2];  /* [RL_BUCKET_IDENTITY], [RL_BUCKET_REPOSITORY] */
	struct issuer_entry *issuers; /* sorted by issuer */
	size_t n_issuers;
	struct override *overrides; /* sorted by bucket, issuer, value */
	size_t n_overrides;
	size_t max_keys;
	int redis_timeout_ms;
};

static const char *const bucket_names[2] = {"identity", "repository"};

/* --- values ------------------------------------------------------------------ */

/* Only the keys in allowed[] (NULL-terminated) may appear in obj. */
static enum fc_status check_keys(const json_t *obj, const char *const *allowed, const char *name,
				 const char *where, struct fc_err *err)
{
	const char *key;
	const json_t *v;

	json_object_foreach((json_t *)obj, key, v)
	{
		size_t i = 0;
		while (allowed[i] != NULL && strcmp(allowed[i], key) != 0)
			i++;
		if (allowed[i] == NULL)
			return fc_err_set(err, FC_ECONFIG, "%s: %s%sunknown key \"%s\"", name,
					  where, *where ? ": " : "", key);
	}
	return FC_OK;
}

/* A whole number from a JSON integer or a string of digits. */
static bool number_value(const json_t *v, unsigned long long *out)
{
	const char *s;
	char *end;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return false;
		*out = (unsigned long long)json_integer_value(v);
		return true;
	}
	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno == 0 && *end == '\0';
}

static enum fc_status get_number(const json_t *v, unsigned long long lo, unsigned long long hi,
				 const char *where, unsigned long long *out, struct fc_err *err)
{
	if (!number_value(v, out) || *out < lo || *out > hi)
		return fc_err_set(err, FC_ECONFIG, "%s: must be a whole number from %llu to %llu",
				  where, lo, hi);
	return FC_OK;
}

/* "N/unit" with its unit's length in microseconds. */
static bool parse_rate_text(const char *s, unsigned long long *count, const char **unit,
			    int64_t *period_us)
{
	static const struct {
		const char *name;
		const char *canonical;
		int64_t us;
	} units[] = {
		{"s", "second", 1000000LL},	 {"sec", "second", 1000000LL},
		{"second", "second", 1000000LL}, {"m", "minute", 60000000LL},
		{"min", "minute", 60000000LL},	 {"minute", "minute", 60000000LL},
		{"h", "hour", 3600000000LL},	 {"hour", "hour", 3600000000LL},
		{"d", "day", 86400000000LL},	 {"day", "day", 86400000000LL},
	};
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*count = strtoull(s, &end, 10);
	if (errno != 0 || *end != '/')
		return false;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end + 1, units[i].name) == 0) {
			*unit = units[i].canonical;
			*period_us = units[i].us;
			return true;
		}
	}
	return false;
}

/*
 * A limit from its rate and burst values (ratelimit_int.h). rate NULL is
 * refused; burst NULL is fine where no burst belongs.
 */
enum fc_status rl_limit_parse(const json_t *rate, const json_t *burst, const char *where,
			      struct rl_limit *out, struct fc_err *err)
{
	unsigned long long count = 0, b;
	const char *unit = NULL;
	int64_t period = 0;

	memset(out, 0, sizeof(*out));
	if (rate == NULL || json_is_null(rate))
		return fc_err_set(err, FC_ECONFIG, "%s: rate is missing", where);
	if (json_is_string(rate) && strcmp(json_string_value(rate), "unlimited") == 0) {
		out->kind = RL_UNLIMITED;
	} else if (number_value(rate, &count) && count == 0) {
		out->kind = RL_REFUSE;
	} else if (!json_is_string(rate) ||
		   !parse_rate_text(json_string_value(rate), &count, &unit, &period)) {
		char *text = json_dumps(rate, JSON_ENCODE_ANY);
		fc_err_set(err, FC_ECONFIG,
			   "%s: rate %s: write N/second, N/minute, N/hour or N/day "
			   "(e.g. 10/minute), \"unlimited\", or 0 to refuse every request",
			   where, text ? text : "?");
		free(text);
		return FC_ECONFIG;
	} else if (count == 0) {
		out->kind = RL_REFUSE;
	} else if (count > (unsigned long long)period / (1000000 / RL_MAX_PER_SECOND)) {
		return fc_err_set(err, FC_ECONFIG,
				  "%s: rate \"%s\" is faster than %d/second (use "
				  "\"unlimited\")",
				  where, json_string_value(rate), RL_MAX_PER_SECOND);
	} else {
		out->kind = RL_RATE;
		out->count = (uint32_t)count;
		out->unit = unit;
		out->interval_us = period / (int64_t)count;
	}
	if (out->kind != RL_RATE) {
		if (burst != NULL && !json_is_null(burst))
			return fc_err_set(err, FC_ECONFIG, "%s: burst has no meaning with rate %s",
					  where, out->kind == RL_UNLIMITED ? "unlimited" : "0");
		return FC_OK;
	}
	if (burst == NULL || json_is_null(burst))
		return fc_err_set(err, FC_ECONFIG,
				  "%s: burst is missing (how many requests may "
				  "come at once after a lull, 1 to %d)",
				  where, RL_MAX_BURST);
	if (!number_value(burst, &b) || b < 1 || b > RL_MAX_BURST)
		return fc_err_set(err, FC_ECONFIG, "%s: burst must be a whole number from 1 to %d",
				  where, RL_MAX_BURST);
	out->burst = (uint32_t)b;
	return FC_OK;
}

/* A limit object {rate, burst}. */
static enum fc_status parse_limit_obj(const json_t *obj, const char *name, const char *where,
				      struct rl_limit *out, struct fc_err *err)
{
	static const char *const keys[] = {"rate", "burst", NULL};
	char at[PATH_MAX_LEN + 64];

	snprintf(at, sizeof(at), "%s: %s", name, where);
	if (!json_is_object(obj))
		return fc_err_set(err, FC_ECONFIG, "%s: must be a mapping with rate and burst", at);
	if (check_keys(obj, keys, name, where, err) != FC_OK)
		return FC_ECONFIG;
	return rl_limit_parse(json_object_get(obj, "rate"), json_object_get(obj, "burst"), at, out,
			      err);
}

/* The identity and repository limits of obj, where given (has[b]). */
static enum fc_status parse_buckets(const json_t *obj, const char *name, const char *where,
				    bool has[2], struct rl_limit limit[2], struct fc_err *err)
{
	char at[PATH_MAX_LEN];

	for (int b = 0; b < 2; b++) {
		const json_t *v = json_object_get(obj, bucket_names[b]);
		has[b] = v != NULL && !json_is_null(v);
		snprintf(at, sizeof(at), "%s%s%s", where, *where ? "." : "", bucket_names[b]);
		if (has[b] && parse_limit_obj(v, name, at, &limit[b], err) != FC_OK)
			return FC_ECONFIG;
	}
	return FC_OK;
}

/* A non-empty string field. */
static enum fc_status get_string(const json_t *obj, const char *key, const char *name,
				 const char *where, const char **out, struct fc_err *err)
{
	const json_t *v = json_object_get(obj, key);

	if (!json_is_string(v) || *json_string_value(v) == '\0')
		return fc_err_set(err, FC_ECONFIG, "%s: %s.%s: %s", name, where, key,
				  v == NULL || json_is_null(v) ? "is missing"
							       : "must be a non-empty string");
	*out = json_string_value(v);
	return FC_OK;
}

/* --- sections ------------------------------------------------------------------ */

static int issuer_cmp(const void *a, const void *b)
{
	return strcmp(((const struct issuer_entry *)a)->issuer,
		      ((const struct issuer_entry *)b)->issuer);
}

static int override_cmp(const void *a, const void *b)
{
	const struct override *x = a, *y = b;
	int c;

	if (x->bucket != y->bucket)
		return x->bucket < y->bucket ? -1 : 1;
	if ((c = strcmp(x->issuer, y->issuer)) != 0)
		return c;
	return strcmp(x->value, y->value);
}

static enum fc_status check_array(const json_t *arr, const char *name, const char *key,
				  struct fc_err *err)
{
	if (!json_is_array(arr))
		return fc_err_set(err, FC_ECONFIG, "%s: %s: must be a list", name, key);
	if (json_array_size(arr) > RL_MAX_ENTRIES)
		return fc_err_set(err, FC_ECONFIG, "%s: %s: more than %d entries", name, key,
				  RL_MAX_ENTRIES);
	return FC_OK;
}

/* issuers: [{issuer, identity?, repository?}], each issuer once. */
static enum fc_status parse_issuers(struct rl_config *cfg, const json_t *arr, const char *name,
				    struct fc_err *err)
{
	static const char *const keys[] = {"issuer", "identity", "repository", NULL};
	char where[PATH_MAX_LEN];
	size_t i;
	json_t *v;

	if (check_array(arr, name, "issuers", err) != FC_OK)
		return FC_ECONFIG;
	cfg->issuers = fc_xcalloc(json_array_size(arr) + 1, sizeof(*cfg->issuers));
	json_array_foreach(arr, i, v)
	{
		struct issuer_entry *e = &cfg->issuers[i];
		const char *iss = NULL;

		snprintf(where, sizeof(where), "issuers[%zu]", i);
		if (!json_is_object(v))
			return fc_err_set(err, FC_ECONFIG, "%s: %s: must be a mapping", name,
					  where);
		if (check_keys(v, keys, name, where, err) != FC_OK ||
		    get_string(v, "issuer", name, where, &iss, err) != FC_OK)
			return FC_ECONFIG;
		e->issuer = fc_xstrdup(iss);
		cfg->n_issuers++;
		if (parse_buckets(v, name, where, e->has, e->limit, err) != FC_OK)
			return FC_ECONFIG;
	}
	qsort(cfg->issuers, cfg->n_issuers, sizeof(*cfg->issuers), issuer_cmp);
	for (i = 1; i < cfg->n_issuers; i++)
		if (strcmp(cfg->issuers[i - 1].issuer, cfg->issuers[i].issuer) == 0)
			return fc_err_set(err, FC_ECONFIG, "%s: issuers: %s is listed twice", name,
					  cfg->issuers[i].issuer);
	return FC_OK;
}

/* One override: issuer, subject or repository (one of them), rate, burst. */
static enum fc_status parse_override(struct override *o, const json_t *v, const char *name,
				     const char *where, struct fc_err *err)
{
	static const char *const keys[] = {"issuer", "subject", "repository",
					   "rate",   "burst",	NULL};
	const json_t *subj = json_object_get(v, "subject"),
		     *repo = json_object_get(v, "repository");
	const char *iss = NULL, *value = NULL;
	char at[PATH_MAX_LEN + 64];

	if (!json_is_object(v))
		return fc_err_set(err, FC_ECONFIG, "%s: %s: must be a mapping", name, where);
	if (check_keys(v, keys, name, where, err) != FC_OK ||
	    get_string(v, "issuer", name, where, &iss, err) != FC_OK)
		return FC_ECONFIG;
	if ((subj == NULL) == (repo == NULL))
		return fc_err_set(err, FC_ECONFIG, "%s: %s: give either subject or repository",
				  name, where);
	o->bucket = subj != NULL ? RL_BUCKET_IDENTITY : RL_BUCKET_REPOSITORY;
	if (get_string(v, o->bucket == RL_BUCKET_IDENTITY ? "subject" : "repository", name, where,
		       &value, err) != FC_OK)
		return FC_ECONFIG;
	o->issuer = fc_xstrdup(iss);
	o->value = fc_xstrdup(value);
	snprintf(at, sizeof(at), "%s: %s", name, where);
	return rl_limit_parse(json_object_get(v, "rate"), json_object_get(v, "burst"), at,
			      &o->limit, err);
}

/* overrides: [...], each (issuer, subject) or (issuer, repository) once. */
static enum fc_status parse_overrides(struct rl_config *cfg, const json_t *arr, const char *name,
				      struct fc_err *err)
{
	char where[PATH_MAX_LEN];
	size_t i;
	json_t *v;

	if (check_array(arr, name, "overrides", err) != FC_OK)
		return FC_ECONFIG;
	cfg->overrides = fc_xcalloc(json_array_size(arr) + 1, sizeof(*cfg->overrides));
	json_array_foreach(arr, i, v)
	{
		snprintf(where, sizeof(where), "overrides[%zu]", i);
		cfg->n_overrides++;
		if (parse_override(&cfg->overrides[i], v, name, where, err) != FC_OK)
			return FC_ECONFIG;
	}
	qsort(cfg->overrides, cfg->n_overrides, sizeof(*cfg->overrides), override_cmp);
	for (i = 1; i < cfg->n_overrides; i++) {
		const struct override *o = &cfg->overrides[i];
		if (override_cmp(&cfg->overrides[i - 1], o) == 0)
			return fc_err_set(
				err, FC_ECONFIG,
				"%s: overrides: %s %s of %s is listed "
				"twice",
				name, o->bucket == RL_BUCKET_IDENTITY ? "subject" : "repository",
				o->value, o->issuer);
	}
	return FC_OK;
}

/* The top level: default, issuers, overrides, max-keys, redis-timeout-ms. */
static enum fc_status build(struct rl_config *cfg, const json_t *root, const char *name,
			    struct fc_err *err)
{
	static const char *const keys[] = {"default",  "issuers",	   "overrides",
					   "max-keys", "redis-timeout-ms", NULL};
	const json_t *v;
	unsigned long long n;
	bool has[2];

	if (!json_is_object(root))
		return fc_err_set(err, FC_ECONFIG, "%s: the top level must be a mapping", name);
	if (check_keys(root, keys, name, "", err) != FC_OK)
		return FC_ECONFIG;
	if ((v = json_object_get(root, "default")) != NULL && !json_is_null(v)) {
		static const char *const dkeys[] = {"identity", "repository", NULL};
		if (!json_is_object(v))
			return fc_err_set(err, FC_ECONFIG, "%s: default: must be a mapping", name);
		if (check_keys(v, dkeys, name, "default", err) != FC_OK ||
		    parse_buckets(v, name, "default", has, cfg->defaults, err) != FC_OK)
			return FC_ECONFIG;
	}
	if ((v = json_object_get(root, "issuers")) != NULL && !json_is_null(v) &&
	    parse_issuers(cfg, v, name, err) != FC_OK)
		return FC_ECONFIG;
	if ((v = json_object_get(root, "overrides")) != NULL && !json_is_null(v) &&
	    parse_overrides(cfg, v, name, err) != FC_OK)
		return FC_ECONFIG;
	if ((v = json_object_get(root, "max-keys")) != NULL) {
		char at[PATH_MAX_LEN + 64];
		snprintf(at, sizeof(at), "%s: max-keys", name);
		if (get_number(v, 1, RL_MAX_KEYS_LIMIT, at, &n, err) != FC_OK)
			return FC_ECONFIG;
		cfg->max_keys = (size_t)n;
	}
	if ((v = json_object_get(root, "redis-timeout-ms")) != NULL) {
		char at[PATH_MAX_LEN + 64];
		snprintf(at, sizeof(at), "%s: redis-timeout-ms", name);
		if (get_number(v, 1, 10000, at, &n, err) != FC_OK)
			return FC_ECONFIG;
		cfg->redis_timeout_ms = (int)n;
	}
	return FC_OK;
}

/* --- loading ------------------------------------------------------------------- */

/*
 * A configuration from memory (ratelimit.h): JSON when the text starts
 * with '{', else YAML.
 */
enum fc_status rl_config_load_mem(const char *text, size_t len, const char *name,
				  struct rl_config **out, struct fc_err *err)
{
	struct rl_config *cfg = fc_xcalloc(1, sizeof(*cfg));
	json_t *root = NULL;
	json_error_t jerr;
	size_t i = 0;
	enum fc_status st = FC_ECONFIG;

	cfg->max_keys = RL_DEFAULT_MAX_KEYS;
	cfg->redis_timeout_ms = RL_DEFAULT_REDIS_TIMEOUT_MS;
	while (i < len && strchr(" \t\r\n", text[i]) != NULL)
		i++;
	if (i < len && text[i] == '{') {
		root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
		if (root == NULL) {
			fc_err_set(err, FC_ECONFIG, "%s: JSON line %d column %d: %s", name,
				   jerr.line, jerr.column, jerr.text);
			goto out;
		}
	} else if (rl_yaml_to_json(text, len, name, &root, err) != FC_OK) {
		goto out;
	}
	if ((st = build(cfg, root, name, err)) != FC_OK)
		goto out;
	*out = cfg;
	cfg = NULL;
out:
	json_decref(root);
	rl_config_free(cfg);
	return st;
}

/* A configuration file (ratelimit.h). */
enum fc_status rl_config_load_file(const char *path, struct rl_config **out, struct fc_err *err)
{
	char *text = NULL;
	size_t len = 0;
	enum fc_status st;

	st = fc_read_file(path, RL_MAX_FILE_BYTES, &text, &len, err);
	if (st == FC_OK)
		st = rl_config_load_mem(text, len, path, out, err);
	else if (st != FC_ENOTFOUND)
		st = FC_ECONFIG;
	free(text);
	return st;
}

/* Free a configuration. NULL is fine. */
void rl_config_free(struct rl_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->n_issuers; i++)
		free(cfg->issuers[i].issuer);
	for (size_t i = 0; i < cfg->n_overrides; i++) {
		free(cfg->overrides[i].issuer);
		free(cfg->overrides[i].value);
	}
	free(cfg->issuers);
	free(cfg->overrides);
	free(cfg);
}

/* --- lookup -------------------------------------------------------------------- */

static const struct rl_limit *find_override(const struct rl_config *cfg, enum rl_bucket b,
					    const char *issuer, const char *value)
{
	struct override key = {.bucket = b, .issuer = (char *)issuer, .value = (char *)value};
	const struct override *o;

	if (cfg->n_overrides == 0)
		return NULL;
	o = bsearch(&key, cfg->overrides, cfg->n_overrides, sizeof(*o), override_cmp);
	return o ? &o->limit : NULL;
}

static void lookup_bucket(const struct rl_config *cfg, const struct issuer_entry *iss,
			  enum rl_bucket b, const char *issuer, const char *value,
			  struct rl_limit *out)
{
	const struct rl_limit *o;

	if (value == NULL) {
		memset(out, 0, sizeof(*out)); /* RL_UNLIMITED: no such bucket */
		return;
	}
	if ((o = find_override(cfg, b, issuer, value)) != NULL)
		*out = *o;
	else if (iss != NULL && iss->has[b])
		*out = iss->limit[b];
	else
		*out = cfg->defaults[b];
}

/*
 * The limits of rq's buckets (ratelimit_int.h): an override for its
 * subject (repository), else its issuer's limit, else the default.
 */
void rl_config_lookup(const struct rl_config *cfg, const struct rl_request *rq,
		      struct rl_limit *identity, struct rl_limit *repository)
{
	struct issuer_entry key = {.issuer = (char *)rq->issuer};
	const struct issuer_entry *iss = NULL;

	if (cfg->n_issuers > 0)
		iss = bsearch(&key, cfg->issuers, cfg->n_issuers, sizeof(key), issuer_cmp);
	lookup_bucket(cfg, iss, RL_BUCKET_IDENTITY, rq->issuer, rq->subject, identity);
	lookup_bucket(cfg, iss, RL_BUCKET_REPOSITORY, rq->issuer, rq->repository, repository);
}

static void limit_text(const struct rl_limit *l, char *buf, size_t cap)
{
	if (l->kind == RL_UNLIMITED)
		snprintf(buf, cap, "unlimited");
	else if (l->kind == RL_REFUSE)
		snprintf(buf, cap, "0 (refused)");
	else
		snprintf(buf, cap, "%" PRIu32 "/%s burst %" PRIu32, l->count, l->unit, l->burst);
}

/*
 * One line for the log at start: the defaults, how many issuers and
 * overrides, max-keys.
 */
void rl_config_describe(const struct rl_config *cfg, char *buf, size_t cap)
{
	char id[64], repo[64];

	limit_text(&cfg->defaults[RL_BUCKET_IDENTITY], id, sizeof(id));
	limit_text(&cfg->defaults[RL_BUCKET_REPOSITORY], repo, sizeof(repo));
	snprintf(buf, cap,
		 "default per identity %s, per repository %s; %zu issuer entr%s, %zu "
		 "override%s; max-keys %zu",
		 id, repo, cfg->n_issuers, cfg->n_issuers == 1 ? "y" : "ies", cfg->n_overrides,
		 cfg->n_overrides == 1 ? "" : "s", cfg->max_keys);
}

/* max-keys, or RL_DEFAULT_MAX_KEYS. */
size_t rl_config_max_keys(const struct rl_config *cfg)
{
	return cfg->max_keys;
}

/* redis-timeout-ms, or RL_DEFAULT_REDIS_TIMEOUT_MS. */
int rl_config_redis_timeout_ms(const struct rl_config *cfg)
{
	return cfg->redis_timeout_ms;
}
