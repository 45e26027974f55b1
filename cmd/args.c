/*
 * Flag value parsing shared by the subcommands.
 */
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

/*
 * Parse a decimal unsigned integer of at most max: digits only (no sign,
 * no spaces, nothing after). Returns false and leaves *out alone otherwise.
 */
bool cmd_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return false;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || v > max)
		return false;
	*out = v;
	return true;
}

/*
 * Split a --listen value HOST:PORT ("[::1]:80" for IPv6; an empty host is
 * 0.0.0.0). *host is allocated (caller frees). false if it does not parse.
 */
bool cmd_parse_listen(const char *s, char **host, uint16_t *port)
{
	const char *colon = strrchr(s, ':');
	unsigned long p;
	size_t hl;

	if (colon == NULL || !cmd_parse_uint(colon + 1, 65535, &p))
		return false;
	hl = (size_t)(colon - s);
	if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']')
		*host = fc_xstrndup(s + 1, hl - 2);
	else
		*host = fc_xstrndup(s, hl);
	if ((*host)[0] == '\0') {
		free(*host);
		*host = fc_xstrdup("0.0.0.0");
	}
	*port = (uint16_t)p;
	return true;
}
