/*
 * Flag value parsing shared by the subcommands.
 */
#include <stdlib.h>

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
