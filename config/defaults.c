/*
 * config: Fulcio's built-in DefaultConfig (pkg/config/config.go), used when
 * no configuration file exists.
 */
#include <string.h>

#include "config_int.h"

struct default_issuer {
	const char *url;
	const char *issuer_claim;
	enum cfg_issuer_type type;
};

/* Fulcio's DefaultConfig is a Go map, so it has no order; this is the order
 * of its source text. */
static const struct default_issuer default_issuers[] = {
	{"https://oauth2.sigstore.dev/auth", "$.federated_claims.connector_id", CFG_TYPE_EMAIL},
	{"https://accounts.google.com", NULL, CFG_TYPE_EMAIL},
	{"https://token.actions.githubusercontent.com", NULL, CFG_TYPE_GITHUB_WORKFLOW},
};

/*
 * Fulcio's DefaultConfig: the sigstore Dex instance (email, issuer taken
 * from the federated connector claim), Google (email) and GitHub Actions
 * (github-workflow), all with ClientID "sigstore"; no meta-issuers and no
 * CI metadata. Fulcio does not validate it, and neither does this.
 * Returns FC_OK and *out (free with cfg_identity_free).
 */
enum fc_status cfg_identity_default(struct cfg_identity **out)
{
	const size_t n = sizeof(default_issuers) / sizeof(default_issuers[0]);
	struct cfg_identity *cfg = fc_xcalloc(1, sizeof(*cfg));

	cfg->issuers = fc_xcalloc(n, sizeof(*cfg->issuers));
	cfg->n_issuers = n;
	for (size_t i = 0; i < n; i++) {
		struct cfg_issuer *iss = &cfg->issuers[i];

		iss->key = fc_xstrdup(default_issuers[i].url);
		iss->issuer_url = fc_xstrdup(default_issuers[i].url);
		iss->client_id = fc_xstrdup("sigstore");
		iss->type = default_issuers[i].type;
		iss->type_name = fc_xstrdup(cfg_issuer_type_name(iss->type));
		if (default_issuers[i].issuer_claim != NULL)
			iss->issuer_claim = fc_xstrdup(default_issuers[i].issuer_claim);
	}
	*out = cfg;
	return FC_OK;
}
