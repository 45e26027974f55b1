/*
 * Durations as Go writes them (time.ParseDuration), the syntax of Fulcio's
 * and fulcrum's duration flags.
 */
#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common.h"

/* Digits, optionally a point and more digits (at least one digit in all),
 * as Go's duration grammar has them; the end, or NULL. */
static const char *decimal(const char *p, double *v)
{
	double x = 0, scale = 1;
	bool digits = false;

	for (; isdigit((unsigned char)*p); p++, digits = true)
		x = x * 10 + (*p - '0');
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++, digits = true)
			x += (*p - '0') * (scale /= 10);
	if (!digits || !isfinite(x))
		return NULL;
	*v = x;
	return p;
}

/*
 * A Go duration (time.ParseDuration): a sequence of decimal numbers, each
 * with an optional fraction and a unit (ns, us, µs, ms, s, m, h), e.g.
 * "10s", "1m30s", "1.5h", "500ms"; "0" alone is zero. A bare number is
 * accepted only when plain_ms is not 0, as that many milliseconds per unit
 * (fulcrum's own flags took plain seconds, or milliseconds). Sets *ms.
 */
bool fc_parse_duration(const char *s, uint64_t plain_ms, double *ms)
{
	static const struct {
		const char *unit;
		double ms;
	} units[] = {
		{"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"\xce\xbcs", 1e-3},
		{"ms", 1},    {"s", 1e3},   {"m", 6e4},		 {"h", 3.6e6},
	};
	const char *p = s;
	double total = 0;
	bool bare = *s != '\0' && strspn(s, "0123456789.") == strlen(s);

	if (strcmp(s, "0") == 0 || (bare && plain_ms != 0)) {
		const char *end = decimal(s, &total);
		if (end == NULL || *end != '\0')
			return false;
		*ms = total * (double)plain_ms;
		return true;
	}
	if (*p == '\0')
		return false;
	while (*p != '\0') {
		const char *end;
		double v;
		size_t i;

		if ((end = decimal(p, &v)) == NULL)
			return false;
		p = end;
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t n = strlen(units[i].unit);
			/* "m" must not take the "m" of "ms" */
			if (strncmp(p, units[i].unit, n) == 0 &&
			    !(n == 1 && p[0] == 'm' && p[1] == 's'))
				break;
		}
		if (i == sizeof(units) / sizeof(units[0]))
			return false;
		total += v * units[i].ms;
		p += strlen(units[i].unit);
	}
	if (!isfinite(total))
		return false;
	*ms = total;
	return true;
}
