/*
 * The add-chain / add-pre-chain request body (RFC 6962 4.1, 4.2):
 * {"chain": [base64 DER, ...]}, read with jansson (duplicate keys
 * refused) into views of its strings.
 */
#include <jansson.h>
#include <string.h>

#include "ctlog_srv_int.h"

/*
 * Read the chain of an add-(pre-)chain body (ctlog_srv_int.h): a JSON
 * object (duplicate keys refused) whose "chain" holds 1 to
 * CTLOG_SRV_MAX_CHAIN elements. FC_EINPUT with the reason; clear *out with
 * ctlog_body_clear either way.
 */
enum fc_status ctlog_body_parse(const uint8_t *body, size_t len, struct ctlog_chain_body *out,
				struct fc_err *err)
{
	json_error_t jerr;
	json_t *chain;
	size_t n;

	memset(out, 0, sizeof(*out));
	out->doc = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (out->doc == NULL || !json_is_object(out->doc))
		return fc_err_set(err, FC_EINPUT, "body is not a JSON object");
	chain = json_object_get(out->doc, "chain");
	if (!json_is_array(chain))
		return fc_err_set(err, FC_EINPUT, "\"chain\" is missing or not an array");
	if ((n = json_array_size(chain)) == 0)
		return fc_err_set(err, FC_EINPUT, "\"chain\" is empty");
	if (n > CTLOG_SRV_MAX_CHAIN)
		return fc_err_set(err, FC_EINPUT,
				  "\"chain\" has %zu certificates, over the limit "
				  "of %d",
				  n, CTLOG_SRV_MAX_CHAIN);
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(chain, i);

		/* a non-string is refused when its turn comes (ctlog_entry_from_chain) */
		out->s[i] = json_is_string(v) ? json_string_value(v) : NULL;
		out->len[i] = json_is_string(v) ? json_string_length(v) : 0;
	}
	out->n = n;
	return FC_OK;
}

/* Release what ctlog_body_parse kept and empty b. */
void ctlog_body_clear(struct ctlog_chain_body *b)
{
	json_decref(b->doc);
	memset(b, 0, sizeof(*b));
}
