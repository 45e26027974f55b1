/*
 * config: SPIFFE names as go-spiffe v2 reads them (spiffeid.FromString and
 * spiffeid.TrustDomainFromString). The checks at load time read an issuer's
 * SPIFFETrustDomain with them, and oidc reads the subject of a spiffe
 * issuer's token with the same grammar, as Fulcio's pkg/identity/spiffe
 * does.
 */
#include <string.h>

#include "config_int.h"

static bool td_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
	       ch == '_';
}

static bool path_char(char ch)
{
	return td_char(ch) || (ch >= 'A' && ch <= 'Z');
}

/*
 * The path of a SPIFFE ID: segments "/[a-zA-Z0-9._-]+", none "." or "..",
 * no trailing slash; "" is fine.
 */
static bool valid_path(const char *s)
{
	while (*s != '\0') {
		const char *seg = s + 1;
		size_t n = strcspn(seg, "/");

		if (n == 0 || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return false;
		for (size_t i = 0; i < n; i++)
			if (!path_char(seg[i]))
				return false;
		s = seg + n;
	}
	return true;
}

/*
 * spiffeid.FromString: "spiffe://<trust domain>[/<segment>...]", the trust
 * domain [a-z0-9._-]+. Returns true and, if td is not NULL, *td = the trust
 * domain name (caller frees); false if id is not a SPIFFE ID.
 */
bool cfg_spiffe_id_parse(const char *id, char **td)
{
	static const char prefix[] = "spiffe://";
	const char *t, *p;

	if (strncmp(id, prefix, sizeof(prefix) - 1) != 0)
		return false;
	t = id + sizeof(prefix) - 1;
	for (p = t; *p && *p != '/'; p++)
		if (!td_char(*p))
			return false;
	if (p == t || !valid_path(p))
		return false;
	if (td != NULL)
		*td = fc_xstrndup(t, (size_t)(p - t));
	return true;
}

/*
 * spiffeid.TrustDomainFromString: a trust domain name ([a-z0-9._-]+), or a
 * SPIFFE ID (anything with ":/") whose trust domain is taken. Returns true
 * and, if td is not NULL, *td = the name (caller frees); else false.
 */
bool cfg_spiffe_trust_domain_parse(const char *s, char **td)
{
	if (strstr(s, ":/") != NULL)
		return cfg_spiffe_id_parse(s, td);
	if (*s == '\0')
		return false;
	for (const char *p = s; *p; p++)
		if (!td_char(*p))
			return false;
	if (td != NULL)
		*td = fc_xstrdup(s);
	return true;
}
