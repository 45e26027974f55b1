/*
 * Command-line flags read the way Fulcio's are (spf13/pflag under viper),
 * so that a deployment can swap binaries without rewriting its flags,
 * environment or flag file:
 *
 *   --name value, --name=value; a boolean as --name or --name=false;
 *   a shorthand as -c value or -cvalue; "--" ends the flags; a flag name
 *   is matched whole (no abbreviations: getopt's would make --config an
 *   abbreviation of --config-path).
 *
 * A flag not given on the command line may come from the environment
 * (PREFIX + the flag name upper-cased, dashes kept: viper's AutomaticEnv
 * without a key replacer, so FULCIO_SERVE_CA works and a name with dashes
 * only through env(1)), else from the flag file (viper's --config: a YAML
 * or JSON mapping of flag names to values), else it keeps its default.
 */
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cmd.h"

/* A flag file is small; more is a mistake (or an attack on a log line). */
#define FLAG_FILE_MAX (256 * 1024)
#define WHY_MAX 256

static void own(struct cmd_flags_spec *spec, char *s)
{
	spec->owned = fc_xrealloc(spec->owned, (spec->n_owned + 1) * sizeof(*spec->owned));
	spec->owned[spec->n_owned++] = s;
}

/* Release the strings the flags point to that came from a flag file. */
void cmd_flags_release(struct cmd_flags_spec *spec)
{
	for (size_t i = 0; i < spec->n_owned; i++)
		fc_free_secret(spec->owned[i]); /* a file may have held a passphrase */
	free(spec->owned);
	spec->owned = NULL;
	spec->n_owned = 0;
}

static struct cmd_flag *find_long(struct cmd_flag *flags, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		const char *a = flags[i].alias;
		if ((strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0) ||
		    (a != NULL && strlen(a) == len && strncmp(a, name, len) == 0))
			return &flags[i];
	}
	return NULL;
}

static struct cmd_flag *find_short(struct cmd_flag *flags, size_t n, char c)
{
	for (size_t i = 0; i < n; i++)
		if (flags[i].shorthand != 0 && flags[i].shorthand == c)
			return &flags[i];
	return NULL;
}

static bool parse_bool(const char *v, bool *out)
{
	/* Go's strconv.ParseBool */
	static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};

	for (size_t i = 0; i < 6; i++) {
		if (strcmp(v, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcmp(v, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* Store value in f's target. value stays valid for the life of the flags
 * (argv, environ or an owned copy). false with the reason in why. */
static bool set_value(struct cmd_flag *f, char *value, char *why, size_t n)
{
	double ms;
	unsigned long v;

	switch (f->type) {
	case CMD_FLAG_STRING:
		*(const char **)f->target = value;
		return true;
	case CMD_FLAG_SECRET:
		fc_free_secret(*(char **)f->target);
		*(char **)f->target = fc_xstrdup(value);
		return true;
	case CMD_FLAG_BOOL:
		if (parse_bool(value, f->target))
			return true;
		snprintf(why, n, "not a boolean (true or false)");
		return false;
	case CMD_FLAG_UINT:
		if (cmd_parse_uint(value, f->max, &v) && v >= f->min) {
			*(unsigned long *)f->target = v;
			return true;
		}
		snprintf(why, n, "not a whole number from %lu to %lu", f->min, f->max);
		return false;
	case CMD_FLAG_DURATION:
		if (fc_parse_duration(value, f->plain_ms, &ms) && ms >= (double)f->min &&
		    ms <= (double)f->max) {
			*(unsigned long *)f->target = (unsigned long)ms;
			return true;
		}
		snprintf(why, n, "not a duration from %gs to %gs (e.g. 10s, 1m30s, 500ms%s)",
			 (double)f->min / 1000, (double)f->max / 1000,
			 f->plain_ms == 1000 ? ", or seconds" : f->plain_ms == 1 ? ", or milliseconds" : "");
		return false;
	case CMD_FLAG_LIST: {
		struct cmd_list *l = f->target;
		if (l->n == CMD_LIST_MAX) {
			snprintf(why, n, "given more than %d times", CMD_LIST_MAX);
			return false;
		}
		l->items[l->n++] = value;
		return true;
	}
	case CMD_FLAG_CUSTOM:
		return f->parse(value, f->target, why, n);
	case CMD_FLAG_IGNORED:
		return true;
	case CMD_FLAG_REFUSED:
		snprintf(why, n, "%s", f->note);
		return false;
	}
	return false;
}

/* Give f the value from source, unless a stronger source set it. */
static bool apply(const char *command, struct cmd_flag *f, char *value, enum cmd_flag_source src,
		  const char *where)
{
	char why[WHY_MAX] = "";

	if (f->source > src)
		return true;
	if (f->type == CMD_FLAG_LIST && f->source < src)
		((struct cmd_list *)f->target)->n = 0; /* a stronger source replaces the list */
	if (!set_value(f, value, why, sizeof(why))) {
		if (f->type == CMD_FLAG_REFUSED)
			fprintf(stderr, "fulcrum %s: --%s: %s\n", command, f->name, why);
		else if (f->type == CMD_FLAG_SECRET)
			fprintf(stderr, "fulcrum %s: bad value for --%s%s: %s\n", command, f->name, where,
				why);
		else
			fprintf(stderr, "fulcrum %s: bad value \"%s\" for --%s%s: %s\n", command, value,
				f->name, where, why);
		return false;
	}
	f->source = src;
	return true;
}

/* The value of a flag on the command line, wiping a secret from argv (so
 * that /proc/PID/cmdline no longer shows it) once it is copied. */
static bool apply_arg(const char *command, struct cmd_flag *f, char *value)
{
	bool ok = apply(command, f, value, CMD_SRC_ARG, "");

	if (f->type == CMD_FLAG_SECRET)
		fc_memzero(value, strlen(value));
	return ok;
}

/* One "--name[=value]" argument; *i moves past a separate value. */
static bool parse_long(const struct cmd_flags_spec *spec, struct cmd_flag *flags, size_t n,
		       int argc, char **argv, int *i)
{
	char *arg = argv[*i] + 2, *eq = strchr(arg, '=');
	size_t len = eq != NULL ? (size_t)(eq - arg) : strlen(arg);
	struct cmd_flag *f = find_long(flags, n, arg, len);

	if (f == NULL) {
		fprintf(stderr, "fulcrum %s: unknown flag: --%.*s\n", spec->command, (int)len, arg);
		return false;
	}
	if (eq != NULL)
		return apply_arg(spec->command, f, eq + 1);
	if (f->type == CMD_FLAG_BOOL)
		return apply_arg(spec->command, f, "true");
	if (*i + 1 >= argc) {
		fprintf(stderr, "fulcrum %s: flag needs an argument: --%s\n", spec->command, f->name);
		return false;
	}
	return apply_arg(spec->command, f, argv[++*i]);
}

/* One "-x[value]" argument (shorthands; booleans may be grouped). */
static bool parse_short(const struct cmd_flags_spec *spec, struct cmd_flag *flags, size_t n,
			int argc, char **argv, int *i)
{
	for (char *p = argv[*i] + 1; *p != '\0'; p++) {
		struct cmd_flag *f = find_short(flags, n, *p);

		if (f == NULL) {
			fprintf(stderr, "fulcrum %s: unknown shorthand flag: '%c' in %s\n",
				spec->command, *p, argv[*i]);
			return false;
		}
		if (f->type == CMD_FLAG_BOOL) {
			if (p[1] == '=')
				return apply_arg(spec->command, f, p + 2);
			if (!apply_arg(spec->command, f, "true"))
				return false;
			continue;
		}
		if (p[1] == '=')
			return apply_arg(spec->command, f, p + 2);
		if (p[1] != '\0')
			return apply_arg(spec->command, f, p + 1);
		if (*i + 1 >= argc) {
			fprintf(stderr, "fulcrum %s: flag needs an argument: '%c' in %s\n",
				spec->command, *p, argv[*i]);
			return false;
		}
		return apply_arg(spec->command, f, argv[++*i]);
	}
	return true;
}

/* PREFIX + NAME upper-cased (dashes and dots kept), as viper builds it. */
static char *env_name(const char *prefix, const char *flag)
{
	char *s = fc_xasprintf("%s%s", prefix, flag);

	for (char *c = s; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	return s;
}

/* Flags not given on the command line, from the environment. A secret is
 * copied, wiped and removed from the environment. */
static bool apply_env(const struct cmd_flags_spec *spec, struct cmd_flag *flags, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *name, *v;
		bool ok;

		if (flags[i].source == CMD_SRC_ARG)
			continue;
		name = env_name(spec->env_prefix, flags[i].name);
		v = getenv(name);
		ok = v == NULL || apply(spec->command, &flags[i], v, CMD_SRC_ENV, " (environment)");
		if (v != NULL && flags[i].type == CMD_FLAG_SECRET) {
			fc_memzero(v, strlen(v));
			unsetenv(name);
		}
		free(name);
		if (!ok)
			return false;
	}
	return true;
}

/* A scalar of the flag file as text: strings as they are, numbers and
 * booleans as Go's fmt prints them (what viper's cast would give). */
static char *json_scalar_text(const json_t *v)
{
	if (json_is_string(v))
		return fc_xstrdup(json_string_value(v));
	if (json_is_true(v))
		return fc_xstrdup("true");
	if (json_is_false(v))
		return fc_xstrdup("false");
	if (json_is_integer(v))
		return fc_xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	if (json_is_real(v))
		return fc_xasprintf("%g", json_real_value(v));
	return NULL;
}

/* Give flag name the value v from the flag file (a scalar, or a list for a
 * list flag; a list for a scalar flag is joined with commas, as viper's
 * StringSlice flags read "a,b"). */
static bool apply_file_value(struct cmd_flags_spec *spec, struct cmd_flag *flags, size_t n,
			     const char *name, const json_t *v, const char *path)
{
	struct cmd_flag *f = find_long(flags, n, name, strlen(name));
	char *where = fc_xasprintf(" (in %s)", path);
	bool ok = true;

	if (f == NULL) {
		/* viper ignores keys that are not flags; say so, but go on */
		fc_log(LOG_WARNING, "%s: %s: \"%s\" is not a flag of fulcrum %s (ignored)",
		       spec->command, path, name, spec->command);
	} else if (json_is_array(v)) {
		size_t i;
		json_t *item;
		struct fc_buf joined;

		fc_buf_init(&joined, 0);
		json_array_foreach(v, i, item) {
			char *t = json_scalar_text(item);
			if (t == NULL) {
				ok = false;
				break;
			}
			if (f->type == CMD_FLAG_LIST) {
				own(spec, t);
				ok = apply(spec->command, f, t, CMD_SRC_FILE, where);
				if (!ok)
					break;
			} else {
				if (joined.len > 0)
					fc_buf_append_str(&joined, ",");
				fc_buf_append_str(&joined, t);
				free(t);
			}
		}
		if (ok && f->type != CMD_FLAG_LIST) {
			char *t = fc_buf_steal(&joined, NULL);
			own(spec, t);
			ok = apply(spec->command, f, t, CMD_SRC_FILE, where);
		}
		fc_buf_free(&joined);
	} else {
		char *t = json_scalar_text(v);
		if (t == NULL) {
			fprintf(stderr, "fulcrum %s: %s: the value of %s must be a string, number, "
					"boolean or list\n",
				spec->command, path, name);
			ok = false;
		} else {
			own(spec, t);
			ok = apply(spec->command, f, t, CMD_SRC_FILE, where);
		}
	}
	free(where);
	return ok;
}

/* The YAML flag file as a JSON object of scalars and lists of scalars. */
static json_t *yaml_flags(const char *text, size_t len, const char *path, char *why, size_t n)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	json_t *root = json_object(), *list = NULL;
	char *key = NULL;
	int depth = 0;
	bool done = false, ok = true;

	yaml_parser_initialize(&parser);
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (ok && !done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			snprintf(why, n, "line %zu: %s", parser.problem_mark.line + 1,
				 parser.problem ? parser.problem : "YAML error");
			ok = false;
			break;
		}
		switch (ev.type) {
		case YAML_MAPPING_START_EVENT:
			ok = ++depth == 1;
			break;
		case YAML_SEQUENCE_START_EVENT:
			ok = depth == 1 && key != NULL && list == NULL;
			list = ok ? json_array() : NULL;
			break;
		case YAML_SEQUENCE_END_EVENT:
			json_object_set_new(root, key, list);
			list = NULL;
			free(key);
			key = NULL;
			break;
		case YAML_SCALAR_EVENT: {
			const char *val = (const char *)ev.data.scalar.value;
			if (depth != 1)
				ok = false;
			else if (list != NULL)
				json_array_append_new(list, json_string(val));
			else if (key == NULL)
				key = fc_xstrdup(val);
			else {
				json_object_set_new(root, key, json_string(val));
				free(key);
				key = NULL;
			}
			break;
		}
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_ALIAS_EVENT:
			ok = false;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (!ok && why[0] == '\0')
			snprintf(why, n, "a flag file is one mapping of flag names to values or lists");
	}
	yaml_parser_delete(&parser);
	free(key);
	json_decref(list);
	if (!ok) {
		json_decref(root);
		return NULL;
	}
	(void)path;
	return root;
}

/* Read the flag file and give its values to the flags the command line
 * and the environment left alone. */
static bool apply_file(struct cmd_flags_spec *spec, struct cmd_flag *flags, size_t n,
		       const char *path)
{
	struct fc_err err = {0};
	char *text = NULL, why[WHY_MAX] = "";
	size_t len = 0;
	json_t *root = NULL, *v;
	json_error_t jerr;
	const char *name;
	bool ok = false;

	if (fc_read_secret_file(path, FLAG_FILE_MAX, "flag file", &text, &len, NULL, &err) != FC_OK) {
		fprintf(stderr, "fulcrum %s: --%s: %s\n", spec->command, spec->file_flag, err.msg);
		return false;
	}
	if (len > 0 && (text[strspn(text, " \t\r\n")] == '{'))
		root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	else
		root = yaml_flags(text, len, path, why, sizeof(why));
	if (root == NULL || !json_is_object(root)) {
		fprintf(stderr, "fulcrum %s: --%s %s: %s\n", spec->command, spec->file_flag, path,
			why[0] ? why : root == NULL ? jerr.text : "not a mapping of flags");
		goto out;
	}
	ok = true;
	json_object_foreach(root, name, v) {
		if (!(ok = apply_file_value(spec, flags, n, name, v, path)))
			break;
	}
out:
	json_decref(root);
	fc_memzero(text, len);
	free(text);
	return ok;
}

/*
 * Parse argv[1..] into flags (see the head of this file). Returns -1 when
 * every flag was read (positional arguments start at *first_arg), else
 * CMD_EXIT_USAGE after printing what is wrong. Strings that flags point to
 * live in argv, the environment, or spec (cmd_flags_release).
 */
int cmd_flags_parse(struct cmd_flags_spec *spec, struct cmd_flag *flags, size_t n, int argc,
		    char **argv, int *first_arg)
{
	const char *file = NULL;
	int i;

	for (i = 1; i < argc; i++) {
		bool ok = true;
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (argv[i][0] != '-' || argv[i][1] == '\0')
			break; /* the first positional argument */
		if (argv[i][1] == '-')
			ok = parse_long(spec, flags, n, argc, argv, &i);
		else
			ok = parse_short(spec, flags, n, argc, argv, &i);
		if (!ok)
			return CMD_EXIT_USAGE;
	}
	*first_arg = i;
	if (spec->env_prefix != NULL && !apply_env(spec, flags, n))
		return CMD_EXIT_USAGE;
	if (spec->file_flag != NULL) {
		struct cmd_flag *f = find_long(flags, n, spec->file_flag, strlen(spec->file_flag));
		file = f != NULL && f->type == CMD_FLAG_STRING ? *(const char **)f->target : NULL;
	}
	if (file != NULL && *file != '\0' && !apply_file(spec, flags, n, file))
		return CMD_EXIT_USAGE;
	return -1;
}
