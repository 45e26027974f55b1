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
 * (PREFIX + the flag name upper-cased, dashes and dots kept: viper's
 * AutomaticEnv without a key replacer, so FULCIO_SERVE_CA and
 * FULCIO_SERVE_CT-LOG-URL work, FULCIO_SERVE_CT_LOG_URL does not; an empty
 * value counts as unset, as viper's), else from the flag file (viper's
 * --config, flags_file.c: names matched without regard to case, aliases
 * not read), else it keeps its default. The flag file itself is named on
 * the command line only, as in Fulcio.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmd.h"
#include "cmd_int.h"

#define WHY_MAX 320
/* --help: where a flag's help starts, and the width of its lines. */
#define USAGE_COL 33
#define USAGE_WIDTH 80

static void own(struct cmd_flags_spec *spec, char *s)
{
	spec->owned = fc_xrealloc(spec->owned, (spec->n_owned + 1) * sizeof(*spec->owned));
	spec->owned[spec->n_owned++] = s;
}

/* Keep a warning for cmd_flags_log_notes (takes msg). */
static void note(struct cmd_flags_spec *spec, char *msg)
{
	spec->notes = fc_xrealloc(spec->notes, (spec->n_notes + 1) * sizeof(*spec->notes));
	spec->notes[spec->n_notes++] = msg;
}

/* Log the warnings the parse left (cmd.h), then forget them. */
void cmd_flags_log_notes(struct cmd_flags_spec *spec)
{
	for (size_t i = 0; i < spec->n_notes; i++) {
		fc_log(LOG_WARNING, "%s", spec->notes[i]);
		free(spec->notes[i]);
	}
	free(spec->notes);
	spec->notes = NULL;
	spec->n_notes = 0;
}

/* Release the strings the flags point to that came from a flag file, and
 * the warnings not logged. */
void cmd_flags_release(struct cmd_flags_spec *spec)
{
	for (size_t i = 0; i < spec->n_owned; i++)
		fc_free_secret(spec->owned[i]); /* a file may have held a passphrase */
	free(spec->owned);
	spec->owned = NULL;
	spec->n_owned = 0;
	for (size_t i = 0; i < spec->n_notes; i++)
		free(spec->notes[i]);
	free(spec->notes);
	spec->notes = NULL;
	spec->n_notes = 0;
}

/* A flag of the command line: its name or its alias, exactly. */
static struct cmd_flag *find_arg(struct cmd_flag *flags, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		const char *a = flags[i].alias;
		if ((strlen(flags[i].name) == len && strncmp(flags[i].name, name, len) == 0) ||
		    (a != NULL && strlen(a) == len && strncmp(a, name, len) == 0))
			return &flags[i];
	}
	return NULL;
}

/* A flag of the flag file: its name, in any case (viper lower-cases keys). */
static struct cmd_flag *find_key(struct cmd_flag *flags, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(flags[i].name, name) == 0)
			return &flags[i];
	return NULL;
}

static struct cmd_flag *find_short(struct cmd_flag *flags, size_t n, char c)
{
	for (size_t i = 0; i < n; i++)
		if (flags[i].shorthand != 0 && flags[i].shorthand == c)
			return &flags[i];
	return NULL;
}

/* True when the flag named name was given (cmd.h). */
bool cmd_flag_given(const struct cmd_flag *flags, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(flags[i].name, name) == 0)
			return flags[i].source != CMD_SRC_DEFAULT;
	return false;
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

/* A bound in milliseconds as a Go duration would be written: 1m, 168h. */
static void fmt_ms(char *buf, size_t n, unsigned long ms)
{
	if (ms >= 3600000 && ms % 3600000 == 0)
		snprintf(buf, n, "%luh", ms / 3600000);
	else if (ms >= 60000 && ms % 60000 == 0)
		snprintf(buf, n, "%lum", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, n, "%lus", ms / 1000);
	else
		snprintf(buf, n, "%lums", ms);
}

/* UINT and DURATION values, within the flag's bounds. */
static bool set_number(struct cmd_flag *f, const char *value, char *why, size_t n)
{
	char lo[32], hi[32];
	unsigned long v;
	double ms;

	if (f->type == CMD_FLAG_UINT) {
		if (cmd_parse_uint(value, f->max, &v) && v >= f->min) {
			*(unsigned long *)f->target = v;
			return true;
		}
		snprintf(why, n, "not a whole number from %lu to %lu", f->min, f->max);
		return false;
	}
	if (fc_parse_duration(value, f->plain_ms, &ms) && ms >= (double)f->min &&
	    ms <= (double)f->max) {
		*(unsigned long *)f->target = (unsigned long)ms;
		return true;
	}
	fmt_ms(lo, sizeof(lo), f->min);
	fmt_ms(hi, sizeof(hi), f->max);
	snprintf(why, n, "not a duration from %s to %s (Go syntax: 10s, 1m30s, 500ms%s)", lo, hi,
		 f->plain_ms == 1000 ? "; or a number of seconds"
		 : f->plain_ms == 1  ? "; or a number of milliseconds"
				     : "");
	return false;
}

/* Store value in f's target. value stays valid for the life of the flags
 * (argv, environ or an owned copy). false with the reason in why. */
static bool set_value(struct cmd_flag *f, char *value, char *why, size_t n)
{
	switch (f->type) {
	case CMD_FLAG_STRING: *(const char **)f->target = value; return true;
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
	case CMD_FLAG_DURATION: return set_number(f, value, why, n);
	case CMD_FLAG_LIST: {
		struct cmd_list *l = f->target;
		if (l->n == CMD_LIST_MAX) {
			snprintf(why, n, "given more than %d times", CMD_LIST_MAX);
			return false;
		}
		l->items[l->n++] = value;
		return true;
	}
	case CMD_FLAG_CUSTOM: return f->parse(value, f->target, why, n);
	case CMD_FLAG_IGNORED: return true;
	case CMD_FLAG_REFUSED: snprintf(why, n, "%s", f->note); return false;
	}
	return false;
}

/* Give f the value from source src (where: " (in FILE)", ...), unless a
 * stronger source set it. */
static bool apply(const char *command, struct cmd_flag *f, char *value, enum cmd_flag_source src,
		  const char *where)
{
	char why[WHY_MAX] = "";

	if (f->source > src)
		return true;
	if (f->type == CMD_FLAG_LIST && f->source < src)
		((struct cmd_list *)f->target)->n = 0; /* a stronger source replaces the list */
	if (!set_value(f, value, why, sizeof(why))) {
		if (f->type == CMD_FLAG_REFUSED || f->type == CMD_FLAG_SECRET)
			fprintf(stderr, "fulcrum %s: --%s%s: %s\n", command, f->name, where, why);
		else
			fprintf(stderr, "fulcrum %s: bad value \"%s\" for --%s%s: %s\n", command,
				value, f->name, where, why);
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
	struct cmd_flag *f = find_arg(flags, n, arg, len);
	bool b;

	if (f == NULL) {
		fprintf(stderr, "fulcrum %s: unknown flag: --%.*s (fulcrum %s --help lists them)\n",
			spec->command, (int)len, arg, spec->command);
		return false;
	}
	if (eq != NULL)
		return apply_arg(spec->command, f, eq + 1);
	if (f->type == CMD_FLAG_BOOL) {
		if (spec->bool_value_arg && *i + 1 < argc && parse_bool(argv[*i + 1], &b))
			return apply_arg(spec->command, f, argv[++*i]);
		return apply_arg(spec->command, f, "true");
	}
	if (*i + 1 >= argc) {
		fprintf(stderr, "fulcrum %s: flag needs an argument: --%s\n", spec->command,
			f->name);
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
			fprintf(stderr,
				"fulcrum %s: unknown shorthand flag: '%c' in %s (fulcrum %s "
				"--help lists the flags)\n",
				spec->command, *p, argv[*i], spec->command);
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

/* PREFIX + NAME upper-cased, dashes and dots kept (as viper builds it), or
 * with them turned into underscores (the name viper does not read). */
static char *env_name(const char *prefix, const char *flag, bool underscores)
{
	char *s = fc_xasprintf("%s%s", prefix, flag);

	for (char *c = s; *c; c++) {
		*c = (char)toupper((unsigned char)*c);
		if (underscores && (*c == '-' || *c == '.'))
			*c = '_';
	}
	return s;
}

/* A variable spelled with underscores for a flag whose name has dashes is
 * not read (nor by Fulcio): say which one is. */
static void note_misspelled_env(struct cmd_flags_spec *spec, const struct cmd_flag *f,
				const char *name)
{
	char *alt;
	const char *v;

	if (strpbrk(f->name, "-.") == NULL)
		return;
	alt = env_name(spec->env_prefix, f->name, true);
	if ((v = getenv(alt)) != NULL && *v != '\0')
		note(spec,
		     fc_xasprintf("%s: %s is not read (nor by Fulcio, whose variables keep the "
				  "flag's dashes): the variable for --%s is %s",
				  spec->command, alt, f->name, name));
	free(alt);
}

/* Flags not given on the command line, from the environment. A secret is
 * copied, wiped and removed from the environment. */
static bool apply_env(struct cmd_flags_spec *spec, struct cmd_flag *flags, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *name, *v, *where;
		bool ok;

		if (flags[i].source == CMD_SRC_ARG)
			continue;
		name = env_name(spec->env_prefix, flags[i].name, false);
		v = getenv(name);
		if (spec->file_flag != NULL && strcmp(flags[i].name, spec->file_flag) == 0) {
			if (v != NULL && *v != '\0')
				note(spec,
				     fc_xasprintf("%s: %s is not read (nor by Fulcio): name the "
						  "flag file with --%s",
						  spec->command, name, spec->file_flag));
			free(name);
			continue;
		}
		note_misspelled_env(spec, &flags[i], name);
		if (v == NULL || *v == '\0') {
			free(name);
			continue;
		}
		where = fc_xasprintf(" (from %s)", name);
		ok = apply(spec->command, &flags[i], v, CMD_SRC_ENV, where);
		if (flags[i].type == CMD_FLAG_SECRET) {
			fc_memzero(v, strlen(v));
			unsetenv(name);
		}
		free(where);
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

/* One value of the flag file for f (owned by spec; a secret's copy is
 * wiped once taken). */
static bool apply_file_text(struct cmd_flags_spec *spec, struct cmd_flag *f, char *t,
			    const char *where)
{
	bool ok;

	own(spec, t);
	ok = apply(spec->command, f, t, CMD_SRC_FILE, where);
	if (f->type == CMD_FLAG_SECRET)
		fc_memzero(t, strlen(t));
	return ok;
}

/* A list from the flag file: each item for a list flag; for another flag,
 * the items joined with commas (as viper's StringSlice flags read "a,b"). */
static bool apply_file_list(struct cmd_flags_spec *spec, struct cmd_flag *f, const json_t *v,
			    const char *where)
{
	struct fc_buf joined;
	size_t i;
	json_t *item;
	bool ok = true;

	fc_buf_init(&joined, 0);
	json_array_foreach(v, i, item)
	{
		char *t = json_scalar_text(item);
		if (t == NULL) {
			fprintf(stderr,
				"fulcrum %s: --%s%s: a list of lists or objects is not a "
				"flag value\n",
				spec->command, f->name, where);
			ok = false;
			break;
		}
		if (f->type == CMD_FLAG_LIST) {
			if (!(ok = apply_file_text(spec, f, t, where)))
				break;
		} else {
			if (joined.len > 0)
				fc_buf_append_str(&joined, ",");
			fc_buf_append_str(&joined, t);
			fc_free_secret(t);
		}
	}
	if (ok && f->type != CMD_FLAG_LIST)
		ok = apply_file_text(spec, f, fc_buf_steal(&joined, NULL), where);
	fc_buf_wipe_free(&joined);
	return ok;
}

/* A name of the flag file that gives no flag a value (viper ignores it):
 * a warning, naming the flag where the name is an alias. */
static void note_unread_key(struct cmd_flags_spec *spec, const struct cmd_flag *flags, size_t n,
			    const char *name, const char *path)
{
	if (spec->file_flag != NULL && strcasecmp(name, spec->file_flag) == 0) {
		note(spec, fc_xasprintf("%s: %s: \"%s\" is not read from a flag file (nor by "
					"Fulcio): a flag file cannot name another",
					spec->command, path, name));
		return;
	}
	for (size_t i = 0; i < n; i++) {
		if (flags[i].alias != NULL && strcasecmp(flags[i].alias, name) == 0) {
			note(spec,
			     fc_xasprintf("%s: %s: \"%s\" is not read (nor by Fulcio): a flag "
					  "file names a flag by its own name, \"%s\"",
					  spec->command, path, name, flags[i].name));
			return;
		}
	}
	note(spec, fc_xasprintf("%s: %s: \"%s\" is not a flag of fulcrum %s (ignored)",
				spec->command, path, name, spec->command));
}

/* Give the flag called name the value v from the flag file at path. */
static bool apply_file_value(struct cmd_flags_spec *spec, struct cmd_flag *flags, size_t n,
			     const char *name, const json_t *v, const char *path)
{
	struct cmd_flag *f = find_key(flags, n, name);
	char *where, *t;
	bool ok;

	if (json_is_null(v))
		return true; /* an empty value: not set, as viper reads it */
	if (f == NULL || (spec->file_flag != NULL && strcmp(f->name, spec->file_flag) == 0)) {
		note_unread_key(spec, flags, n, name, path);
		return true;
	}
	where = fc_xasprintf(" (in %s)", path);
	if (json_is_array(v)) {
		ok = apply_file_list(spec, f, v, where);
	} else if ((t = json_scalar_text(v)) == NULL) {
		fprintf(stderr,
			"fulcrum %s: --%s%s: the value must be a string, number, boolean "
			"or list\n",
			spec->command, f->name, where);
		ok = false;
	} else {
		ok = apply_file_text(spec, f, t, where);
	}
	free(where);
	return ok;
}

/* Read the flag file and give its values to the flags the command line
 * and the environment left alone. */
static bool apply_file(struct cmd_flags_spec *spec, struct cmd_flag *flags, size_t n,
		       const char *path)
{
	char why[WHY_MAX] = "";
	json_t *root = cmd_flag_file_read(path, why, sizeof(why)), *v;
	const char *name;
	bool ok = true;

	if (root == NULL) {
		fprintf(stderr, "fulcrum %s: --%s %s: %s\n", spec->command, spec->file_flag, path,
			why);
		return false;
	}
	json_object_foreach(root, name, v)
	{
		if (!(ok = apply_file_value(spec, flags, n, name, v, path)))
			break;
	}
	json_decref(root);
	return ok;
}

/* One warning per kind of ignored flag that was given: what it is, and
 * which flags. */
static void note_ignored(struct cmd_flags_spec *spec, const struct cmd_flag *flags, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct fc_buf names;
		bool seen = false;

		if (flags[i].type != CMD_FLAG_IGNORED || flags[i].source == CMD_SRC_DEFAULT)
			continue;
		for (size_t j = 0; j < i && !seen; j++)
			seen = flags[j].type == CMD_FLAG_IGNORED &&
			       flags[j].source != CMD_SRC_DEFAULT &&
			       strcmp(flags[j].note, flags[i].note) == 0;
		if (seen)
			continue; /* said with the first of its kind */
		fc_buf_init(&names, 0);
		for (size_t j = i; j < n; j++) {
			if (flags[j].type != CMD_FLAG_IGNORED ||
			    flags[j].source == CMD_SRC_DEFAULT ||
			    strcmp(flags[j].note, flags[i].note) != 0)
				continue;
			fc_buf_append_str(&names, names.len ? ", --" : "--");
			fc_buf_append_str(&names, flags[j].name);
		}
		note(spec, fc_xasprintf("%s: %s (ignored: %s)", spec->command, flags[i].note,
					(const char *)names.data));
		fc_buf_free(&names);
	}
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
	struct cmd_flag *ff = NULL;
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
	if (spec->file_flag != NULL)
		ff = find_arg(flags, n, spec->file_flag, strlen(spec->file_flag));
	if (ff != NULL && ff->type == CMD_FLAG_STRING && ff->source == CMD_SRC_ARG)
		file = *(const char **)ff->target; /* the command line names it, nothing else */
	if (spec->env_prefix != NULL && !apply_env(spec, flags, n))
		return CMD_EXIT_USAGE;
	if (file != NULL && *file != '\0' && !apply_file(spec, flags, n, file))
		return CMD_EXIT_USAGE;
	note_ignored(spec, flags, n);
	return -1;
}

/* --- --help ------------------------------------------------------------------------ */

/* Help text from column USAGE_COL, its words wrapped at USAGE_WIDTH; a
 * newline in it breaks the line there. */
static void usage_help(FILE *out, const char *h)
{
	size_t col = USAGE_COL;

	while (*h != '\0') {
		size_t w;

		if (*h == '\n' || *h == ' ') {
			if (*h++ == '\n' && col > USAGE_COL) {
				fprintf(out, "\n%*s", USAGE_COL, "");
				col = USAGE_COL;
			}
			continue;
		}
		w = strcspn(h, " \n");
		if (col > USAGE_COL && col + 1 + w > USAGE_WIDTH) {
			fprintf(out, "\n%*s", USAGE_COL, "");
			col = USAGE_COL;
		}
		fprintf(out, "%s%.*s", col > USAGE_COL ? " " : "", (int)w, h);
		col += (col > USAGE_COL ? 1 : 0) + w;
		h += w;
	}
	fputc('\n', out);
}

/* One flag: "  -c, --name, --alias METAVAR" then its help. */
static void usage_one(FILE *out, const struct cmd_flag *f)
{
	char left[128], sh[8] = "";
	int len;

	if (f->shorthand)
		snprintf(sh, sizeof(sh), "-%c, ", f->shorthand);
	len = snprintf(left, sizeof(left), "  %s--%s%s%s%s%s", sh, f->name, f->alias ? ", --" : "",
		       f->alias ? f->alias : "", f->metavar ? " " : "",
		       f->metavar ? f->metavar : "");
	if (len < USAGE_COL)
		fprintf(out, "%-*s", USAGE_COL, left);
	else
		fprintf(out, "%s\n%*s", left, USAGE_COL, "");
	usage_help(out, f->help);
}

/* Flags without help from flags[i] on (until a heading): their names in
 * wrapped lines. Returns the index of the last one listed. */
static size_t usage_names(FILE *out, const struct cmd_flag *flags, size_t n, size_t i)
{
	size_t col = 0;

	for (; i < n; i++) {
		size_t w = strlen(flags[i].name) + 4; /* "--" and ", " */
		if (col > 0 && col + w > USAGE_WIDTH) {
			fprintf(out, ",\n");
			col = 0;
		}
		fprintf(out, "%s--%s", col == 0 ? "  " : ", ", flags[i].name);
		col += w;
		if (i + 1 == n || flags[i + 1].help != NULL || flags[i + 1].group != NULL)
			break;
	}
	fprintf(out, "\n");
	return i;
}

/* The flags' part of --help (cmd.h). */
void cmd_flags_usage(FILE *out, const struct cmd_flag *flags, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (flags[i].group != NULL)
			fprintf(out, "%s:\n", flags[i].group);
		if (flags[i].help == NULL)
			i = usage_names(out, flags, n, i);
		else
			usage_one(out, &flags[i]);
	}
}
