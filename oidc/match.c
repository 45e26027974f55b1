/*
 * Meta-issuer wildcards, as Fulcio's MetaRegex: the pattern is quoted, each
 * '*' becomes [-_a-zA-Z0-9]+ and the whole URL is anchored (Fulcio v1.8.5,
 * GHSA-59jp-pj84-45mr: an unanchored match let any host through).
 *
 * A dynamic-programming matcher instead of a regex engine: O(pattern x url)
 * time whatever the pattern, so an attacker-chosen `iss` of 16 KiB cannot
 * make matching slow.
 */
#include <stdlib.h>
#include <string.h>

#include "oidc_int.h"

static bool in_label_class(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

/*
 * True if url matches pattern as a whole. reach[j] says whether the pattern
 * read so far can match exactly the first j bytes of url.
 */
bool oidc_meta_match(const char *pattern, const char *url)
{
	size_t n = strlen(url);
	bool *reach = fc_xcalloc(n + 1, sizeof(bool));
	bool *next = fc_xcalloc(n + 1, sizeof(bool));
	bool matched;

	reach[0] = true;
	for (const char *p = pattern; *p; p++) {
		bool any = false;
		next[0] = false;
		for (size_t j = 1; j <= n; j++) {
			if (*p == '*') /* extend a run of one or more class bytes */
				next[j] =
					in_label_class(url[j - 1]) && (reach[j - 1] || next[j - 1]);
			else
				next[j] = reach[j - 1] && url[j - 1] == *p;
			any |= next[j];
		}
		bool *t = reach;
		reach = next;
		next = t;
		if (!any)
			break;
	}
	matched = reach[n];
	free(reach);
	free(next);
	return matched;
}
