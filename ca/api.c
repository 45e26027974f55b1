/*
 * Fulcio's HTTP API (fulcio-inventory.md section 1): v2 signingCert,
 * trustBundle and configuration, v1 signingCert and rootCert, healthz.
 * Request and response shapes follow grpc-gateway + protojson byte for byte
 * where a client can see them; error messages start with Fulcio's fixed
 * text and then say the real cause (never a secret).
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "ca_int.h"
#include "ratelimit.h"

/* gRPC status codes used in error bodies (google.rpc.Code). */
enum grpc_code {
	GRPC_CANCELLED = 1,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_NOT_FOUND = 5,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
	GRPC_UNAVAILABLE = 14,
};

/* The code's name as gRPC's codes.Code.String() writes it (Fulcio's "code"
 * log field). */
static const char *grpc_code_name(enum grpc_code code)
{
	switch (code) {
	case GRPC_CANCELLED: return "Canceled";
	case GRPC_INVALID_ARGUMENT: return "InvalidArgument";
	case GRPC_NOT_FOUND: return "NotFound";
	case GRPC_RESOURCE_EXHAUSTED: return "ResourceExhausted";
	case GRPC_UNIMPLEMENTED: return "Unimplemented";
	case GRPC_INTERNAL: return "Internal";
	case GRPC_UNAVAILABLE: return "Unavailable";
	}
	return "Unknown";
}

/* Fulcio's client messages (pkg/server/error.go). */
#define MSG_TOKEN "There was an error processing the identity token"
#define MSG_CSR "The certificate signing request could not be parsed"
#define MSG_KEY_PARSE "The public key supplied in the request could not be parsed"
#define MSG_KEY_INSECURE "The public key supplied in the request is insecure"
#define MSG_SIGNATURE "The signature supplied in the request could not be verified"
#define MSG_CA "error communicating with CA backend"
#define MSG_CTL "Error entering certificate in CTL"

/* At most this many refusal lines a second (fail()); then one line says
 * how many were left out. Failures of ours (5xx) have their own, larger
 * budget: a client can cause some of them too (a token naming an
 * unreachable issuer). */
static struct fc_log_limit refusal_log = FC_LOG_LIMIT_INIT("api: refusals", 10);
static struct fc_log_limit error_log = FC_LOG_LIMIT_INIT("api: server errors", 50);

/* Which metrics refusal counter a failure belongs to. */
enum refusal { REFUSAL_IDENTITY, REFUSAL_KEY, REFUSAL_POP, REFUSAL_OTHER, REFUSAL_NONE };

/* One API request in flight. */
struct api_call {
	struct ca_server *s;
	struct fc_http_exchange *x;
	char request_id[40];
};

/* A CORS preflight (rs/cors answers it before Fulcio's metrics see it). */
static bool is_preflight(struct fc_http_exchange *x)
{
	return strcmp(fc_http_method(x), "OPTIONS") == 0 &&
	       fc_http_header(x, "Access-Control-Request-Method") != NULL;
}

/* With -v: one line per request answered (Fulcio logs one per call at
 * debug level). */
static void log_answer(const struct api_call *c, unsigned status, int64_t ms)
{
	json_t *fields;

	if (!fc_log_enabled(LOG_DEBUG))
		return;
	fields = json_pack("{s:s, s:o, s:o, s:i, s:I}", "requestID", c->request_id, "method",
			   fc_log_json_string(fc_http_method(c->x)), "path",
			   fc_log_json_string(fc_http_path(c->x)), "status", (int)status,
			   "durationMs", (json_int_t)ms);
	fc_log_event(LOG_DEBUG, fields, "api: req=%s %s %s: %u in %lld ms", c->request_id,
		     fc_http_method(c->x), fc_http_path(c->x), status, (long long)ms);
}

/* Count the request and its latency, then send the response. */
static void finish(struct api_call *c, unsigned status, const char *content_type, const void *body,
		   size_t len)
{
	int64_t ms = fc_http_elapsed_ms(c->x);

	if (!is_preflight(c->x))
		fc_http_metrics_observe(c->s->metrics.http, status, fc_http_method(c->x),
					ms * 1000);
	log_answer(c, status, ms);
	if (fc_http_header(c->x, "Origin") != NULL)
		fc_http_add_header(c->x, "Access-Control-Allow-Origin", "*");
	fc_http_add_header(c->x, "X-Request-Id", c->request_id);
	fc_http_respond(c->x, status, content_type, body, len);
}

static void finish_json(struct api_call *c, unsigned status, json_t *obj)
{
	char *text = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);

	json_decref(obj);
	if (text == NULL)
		abort(); /* jansson only fails here on out of memory */
	finish(c, status, "application/json", text, strlen(text));
	free(text);
}

/*
 * Answer an error in grpc-gateway's shape: {"code":N,"message":"...",
 * "details":[]} with Content-Type application/json, and log it with
 * Fulcio's fields (requestID, code as gRPC names it, clientMessage: what
 * the client is told) and the status, method and path.
 */
static void fail(struct api_call *c, unsigned status, enum grpc_code code, const char *fmt, ...)
	FC_PRINTF(4, 5);
static void fail(struct api_call *c, unsigned status, enum grpc_code code, const char *fmt, ...)
{
	/* Fulcio: client errors at warn, its own at error. 501 answers a
	 * method the path does not take: the client's. */
	bool ours = status >= 500 && status != 501;
	int prio = ours ? LOG_ERR : LOG_WARNING;
	char msg[FC_ERR_MSG_MAX + 128];
	json_t *fields = NULL;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (fc_log_enabled(prio))
		fields = json_pack("{s:s, s:s, s:o, s:i, s:o, s:o}", "requestID", c->request_id,
				   "code", grpc_code_name(code), "clientMessage",
				   fc_log_json_string(msg), "status", (int)status, "method",
				   fc_log_json_string(fc_http_method(c->x)), "path",
				   fc_log_json_string(fc_http_path(c->x)));
	/* Bounded: a client can cause these lines at will. */
	fc_log_limited_event(ours ? &error_log : &refusal_log, prio, fields,
			     "api: req=%s %s %s: %u %s", c->request_id, fc_http_method(c->x),
			     fc_http_path(c->x), status, msg);
	finish_json(c, status,
		    json_pack("{s:i, s:s, s:[]}", "code", (int)code, "message", msg, "details"));
}

/* --- request parsing (protojson rules, section 1.3) ------------------------ */

/*
 * A field by its lowerCamelCase or proto snake_case name; both present is
 * protojson's "duplicate field" error. JSON null means unset.
 */
static bool get_field(const json_t *obj, const char *camel, const char *snake, const json_t **out,
		      char *why, size_t cap)
{
	const json_t *a = json_object_get(obj, camel);
	const json_t *b = strcmp(camel, snake) != 0 ? json_object_get(obj, snake) : NULL;

	if (a != NULL && b != NULL) {
		snprintf(why, cap, "field %s is given twice (as %s and %s)", camel, camel, snake);
		return false;
	}
	*out = json_is_null(a ? a : b) ? NULL : (a ? a : b);
	return true;
}

static bool get_string(const json_t *obj, const char *camel, const char *snake, const char **out,
		       char *why, size_t cap)
{
	const json_t *v;

	if (!get_field(obj, camel, snake, &v, why, cap))
		return false;
	if (v != NULL && !json_is_string(v)) {
		snprintf(why, cap, "field %s must be a string", camel);
		return false;
	}
	*out = v ? json_string_value(v) : NULL;
	return true;
}

static bool get_object(const json_t *obj, const char *camel, const char *snake, const json_t **out,
		       char *why, size_t cap)
{
	if (!get_field(obj, camel, snake, out, why, cap))
		return false;
	if (*out != NULL && !json_is_object(*out)) {
		snprintf(why, cap, "field %s must be an object", camel);
		return false;
	}
	return true;
}

/* A protojson bytes field: base64, standard or URL-safe, padded or not. */
static bool get_bytes(const json_t *obj, const char *camel, const char *snake, uint8_t **out,
		      size_t *len, char *why, size_t cap)
{
	const char *s = NULL;

	*out = NULL;
	*len = 0;
	if (!get_string(obj, camel, snake, &s, why, cap))
		return false;
	if (s == NULL || *s == '\0')
		return true;
	if (!fc_b64_decode_any(s, strlen(s), out, len)) {
		snprintf(why, cap, "field %s is not valid base64", camel);
		return false;
	}
	return true;
}

/* What a signingCert request asks for, v1 or v2. */
struct sign_request {
	const char *token;   /* points into the JSON or a header */
	const char *key_pem; /* v2 publicKey.content */
	uint8_t *key_bytes;  /* v1 publicKey.content (PEM or DER) */
	size_t key_len;
	uint8_t *pop; /* proofOfPossession / signedEmailAddress */
	size_t pop_len;
	uint8_t *csr; /* certificateSigningRequest (PEM text) */
	size_t csr_len;
};

static void sign_request_clear(struct sign_request *r)
{
	free(r->key_bytes);
	free(r->pop);
	free(r->csr);
	memset(r, 0, sizeof(*r));
}

/* Authorization: Fulcio removes the first "Bearer " and forwards the rest. */
static const char *bearer_token(struct fc_http_exchange *x)
{
	const char *h = fc_http_header(x, "Authorization");

	if (h == NULL || *h == '\0')
		return NULL;
	return strncmp(h, "Bearer ", 7) == 0 ? h + 7 : h;
}

/* Parse a v2 CreateSigningCertificateRequest (fulcio.proto). */
static bool parse_v2(const json_t *root, struct fc_http_exchange *x, struct sign_request *r,
		     char *why, size_t cap)
{
	const json_t *cred = NULL, *pkr = NULL, *pk = NULL, *alg = NULL;
	const char *token = NULL;

	if (!get_object(root, "credentials", "credentials", &cred, why, cap) ||
	    (cred &&
	     !get_string(cred, "oidcIdentityToken", "oidc_identity_token", &token, why, cap)) ||
	    !get_object(root, "publicKeyRequest", "public_key_request", &pkr, why, cap) ||
	    !get_bytes(root, "certificateSigningRequest", "certificate_signing_request", &r->csr,
		       &r->csr_len, why, cap))
		return false;
	if (pkr != NULL && r->csr != NULL) {
		snprintf(why, cap,
			 "publicKeyRequest and certificateSigningRequest are both set "
			 "(give one)");
		return false;
	}
	if (pkr != NULL) {
		if (!get_object(pkr, "publicKey", "public_key", &pk, why, cap) ||
		    !get_bytes(pkr, "proofOfPossession", "proof_of_possession", &r->pop,
			       &r->pop_len, why, cap))
			return false;
		if (pk != NULL) {
			if (!get_string(pk, "content", "content", &r->key_pem, why, cap) ||
			    !get_field(pk, "algorithm", "algorithm", &alg, why, cap))
				return false;
			/* The enum is ignored (the key says what it is) but must
			 * be a name or a number, as protojson demands. */
			if (alg != NULL && !json_is_string(alg) && !json_is_integer(alg)) {
				snprintf(why, cap,
					 "field publicKey.algorithm must be a string or "
					 "a number");
				return false;
			}
		}
	}
	r->token = token && *token ? token : bearer_token(x);
	return true;
}

/* Parse a v1 (legacy) request (fulcio_legacy.proto); token from the header. */
static bool parse_v1(const json_t *root, struct fc_http_exchange *x, struct sign_request *r,
		     char *why, size_t cap)
{
	const json_t *pk = NULL;

	if (!get_object(root, "publicKey", "public_key", &pk, why, cap) ||
	    !get_bytes(root, "signedEmailAddress", "signed_email_address", &r->pop, &r->pop_len,
		       why, cap) ||
	    !get_bytes(root, "certificateSigningRequest", "certificate_signing_request", &r->csr,
		       &r->csr_len, why, cap))
		return false;
	if (pk != NULL &&
	    !get_bytes(pk, "content", "content", &r->key_bytes, &r->key_len, why, cap))
		return false;
	r->token = bearer_token(x);
	return true;
}

/* --- signingCert ------------------------------------------------------------- */

/*
 * How a failed signingCert is answered: the one table from a failure
 * (class, status) to the HTTP status, the gRPC code, Fulcio's client
 * message and the refusal counter. The first row that matches wins; FC_OK
 * as a status matches any. The answer's message is Fulcio's text, then
 * ": " and the cause with its class prefix (ca_int.h) dropped; without
 * Fulcio's text it is the cause alone.
 */
static const struct failure_answer {
	enum fc_class cls;
	enum fc_status st;
	unsigned http;
	enum grpc_code grpc;
	const char *fulcio;   /* Fulcio's message for the class, or NULL */
	const char *prefix;   /* the cause's class prefix, dropped after fulcio */
	enum refusal refusal; /* the counter, or REFUSAL_NONE */
} failure_answers[] = {
	/* An unreachable issuer: a retry may cure it (Fulcio says 400). */
	{FC_CLASS_TOKEN, FC_EUPSTREAM, 503, GRPC_UNAVAILABLE,
	 MSG_TOKEN ": the issuer could not be reached", NULL, REFUSAL_NONE},
	/* Too many new identity providers being looked up, or the verifier is
	 * stopping: retry later. */
	{FC_CLASS_TOKEN, FC_EUNAVAIL, 503, GRPC_UNAVAILABLE, MSG_TOKEN, NULL, REFUSAL_NONE},
	/* A verified token whose principal cannot make a certificate. */
	{FC_CLASS_TOKEN, FC_EINPUT, 400, GRPC_INVALID_ARGUMENT, NULL, NULL, REFUSAL_IDENTITY},
	{FC_CLASS_TOKEN, FC_OK, 400, GRPC_INVALID_ARGUMENT, MSG_TOKEN, NULL, REFUSAL_IDENTITY},
	{FC_CLASS_KEY_PARSE, FC_OK, 400, GRPC_INVALID_ARGUMENT, MSG_KEY_PARSE, CA_PFX_KEY_PARSE,
	 REFUSAL_KEY},
	{FC_CLASS_KEY_INSECURE, FC_OK, 400, GRPC_INVALID_ARGUMENT, MSG_KEY_INSECURE,
	 CA_PFX_KEY_INSECURE, REFUSAL_KEY},
	{FC_CLASS_SIGNATURE, FC_OK, 400, GRPC_INVALID_ARGUMENT, MSG_SIGNATURE, CA_PFX_SIGNATURE,
	 REFUSAL_POP},
	{FC_CLASS_CSR, FC_OK, 400, GRPC_INVALID_ARGUMENT, MSG_CSR, CA_PFX_CSR, REFUSAL_POP},
	{FC_CLASS_ALG_UNKNOWN, FC_OK, 400, GRPC_INVALID_ARGUMENT, NULL, NULL, REFUSAL_POP},
	{FC_CLASS_ALG_REFUSED, FC_OK, 400, GRPC_INVALID_ARGUMENT, NULL, NULL, REFUSAL_KEY},
	/* The CT log pushed back or could not be reached within
	 * --ct-log-timeout, or the CA is stopping: retry later. */
	{FC_CLASS_CT_LOG, FC_EUNAVAIL, 503, GRPC_UNAVAILABLE, MSG_CTL, NULL, REFUSAL_NONE},
	/* The log answered 400: we sent it something wrong. */
	{FC_CLASS_CT_LOG, FC_EINTERNAL, 500, GRPC_INTERNAL, MSG_CTL, NULL, REFUSAL_NONE},
	/* Any other log failure: a bad status, garbage, an SCT that does not
	 * verify. */
	{FC_CLASS_CT_LOG, FC_OK, 502, GRPC_INTERNAL, MSG_CTL, NULL, REFUSAL_NONE},
	/* Over a rate limit (ratelimit/; Retry-After set by check_rate). */
	{FC_CLASS_RATE_LIMIT, FC_OK, 429, GRPC_RESOURCE_EXHAUSTED, NULL, NULL, REFUSAL_NONE},
	/* Unclassified: a client error, the signer away for now, or ours. */
	{FC_CLASS_NONE, FC_EINPUT, 400, GRPC_INVALID_ARGUMENT, NULL, NULL, REFUSAL_OTHER},
	{FC_CLASS_NONE, FC_EUNAVAIL, 503, GRPC_UNAVAILABLE, MSG_CA, NULL, REFUSAL_NONE},
	{FC_CLASS_NONE, FC_OK, 500, GRPC_INTERNAL, MSG_CA, NULL, REFUSAL_NONE},
};

/* The row of failure_answers for st and err's class; a class without rows
 * of its own is answered as unclassified. */
static const struct failure_answer *failure_answer(enum fc_status st, const struct fc_err *err)
{
	const size_t n = sizeof(failure_answers) / sizeof(failure_answers[0]);

	for (int pass = 0; pass < 2; pass++) {
		enum fc_class cls = pass == 0 ? err->cls : FC_CLASS_NONE;
		for (size_t i = 0; i < n; i++) {
			const struct failure_answer *fa = &failure_answers[i];
			if (fa->cls == cls && (fa->st == FC_OK || fa->st == st))
				return fa;
		}
	}
	return &failure_answers[n - 1]; /* not reached: the last row takes anything */
}

/* Answer the failure st, its class and cause in err (failure_answers), and
 * count it. */
static void fail_err(struct api_call *c, enum fc_status st, const struct fc_err *err)
{
	const struct failure_answer *fa = failure_answer(st, err);
	const char *cause = err->msg;

	if (fa->refusal != REFUSAL_NONE)
		atomic_fetch_add(&c->s->metrics.refusals[fa->refusal], 1);
	if (fa->fulcio == NULL) {
		fail(c, fa->http, fa->grpc, "%s", cause);
		return;
	}
	if (fa->prefix != NULL && strncmp(cause, fa->prefix, strlen(fa->prefix)) == 0)
		cause += strlen(fa->prefix);
	fail(c, fa->http, fa->grpc, "%s: %s", fa->fulcio, cause);
}

/* The chain as a JSON array of PEM strings. */
static json_t *certificates_json(const struct ca_issued *issued)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < issued->n; i++)
		json_array_append_new(arr, json_string(issued->pem[i]));
	return arr;
}

/* Leaf and chain PEMs joined with "\n", no final newline (v1 body). */
static char *pem_chain_text(char *const *pem, size_t n)
{
	struct fc_buf b;

	fc_buf_init(&b, 0);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			fc_buf_append_str(&b, "\n");
		fc_buf_append_str(&b, pem[i]);
	}
	return fc_buf_steal(&b, NULL);
}

/* The SCTs of an issued certificate: " ct=LOGID@INDEX,..." (log IDs in
 * base64, as trusted_root.json writes them) and a JSON array for the
 * fields. */
static json_t *scts_describe(const struct ca_issued *issued, struct fc_buf *text)
{
	json_t *arr = json_array();
	char idx[24];

	for (size_t i = 0; i < issued->n_scts; i++) {
		const struct ca_issued_sct *sct = &issued->scts[i];
		char *id = fc_b64_encode(sct->log_id, sizeof(sct->log_id));

		fc_buf_append_str(text, i == 0 ? " ct=" : ",");
		fc_buf_append_str(text, id);
		if (sct->leaf_index >= 0) {
			snprintf(idx, sizeof(idx), "@%lld", (long long)sct->leaf_index);
			fc_buf_append_str(text, idx);
		}
		json_array_append_new(arr,
				      json_pack("{s:s, s:o}", "logID", id, "index",
						sct->leaf_index >= 0 ? json_integer(sct->leaf_index)
								     : json_null()));
		free(id);
	}
	return arr;
}

/*
 * The audit line of an issued certificate (docs/operations.md, "Logs"), in
 * both formats: the request, the serial, the identity (SAN and issuer), the
 * token's id (jti or a hash prefix, never the token), the SHA-256 of the
 * client's public key, the lifetime and the SCTs (log and index).
 */
static void log_issued(const struct api_call *c, const struct oidc_identity *id,
		       const struct ca_issued *issued)
{
	struct fc_buf ct;
	json_t *fields, *scts;

	if (!fc_log_enabled(LOG_INFO))
		return;
	fc_buf_init(&ct, 4096);
	scts = scts_describe(issued, &ct);
	fields = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:i, s:o}", "requestID",
			   c->request_id, "serial", issued->serial_hex, "san",
			   fc_log_json_string(id->san), "issuer", fc_log_json_string(id->issuer),
			   "issuerType", fc_log_json_string(id->issuer_type), "tokenID",
			   fc_log_json_string(id->token_id), "publicKeySHA256", issued->key_sha256,
			   "ttlSeconds", c->s->opts.validity_s, "scts", scts);
	fc_log_event(
		LOG_INFO, fields,
		"api: req=%s issued serial=%s san=%s issuer=%s token=%s key=sha256:%s ttl=%ds%s%s",
		c->request_id, issued->serial_hex, id->san, id->issuer, id->token_id,
		issued->key_sha256, c->s->opts.validity_s, c->s->ct_on ? " sct=embedded" : "",
		ct.data ? (const char *)ct.data : "");
	fc_buf_free(&ct);
}

/*
 * Send an issued certificate: v1 201 PEM chain (no SCT header: the SCT is
 * embedded, or there is none); v2 signedCertificateEmbeddedSct with a CT
 * log, else Fulcio's detached form with an empty SCT.
 */
static void answer_issued(struct api_call *c, bool v1, const struct oidc_identity *id,
			  const struct ca_issued *issued)
{
	atomic_fetch_add(&c->s->metrics.new_certs, 1);
	log_issued(c, id, issued);
	if (v1) {
		char *text = pem_chain_text(issued->pem, issued->n);
		finish(c, 201, "application/pem-certificate-chain", text, strlen(text));
		free(text);
	} else if (c->s->ct_on) {
		finish_json(c, 200,
			    json_pack("{s:{s:{s:o}}}", "signedCertificateEmbeddedSct", "chain",
				      "certificates", certificates_json(issued)));
	} else {
		/* No CT log: Fulcio's detached form with an empty SCT. */
		finish_json(c, 200,
			    json_pack("{s:{s:{s:o}, s:s}}", "signedCertificateDetachedSct", "chain",
				      "certificates", certificates_json(issued),
				      "signedCertificateTimestamp", ""));
	}
}

/* The client closed its connection before its certificate was signed, so
 * none was: 499 (nginx's "client closed request"), which nobody reads but
 * the metrics and the (rate-limited) log. */
static void answer_gone(struct api_call *c)
{
	fail(c, 499, GRPC_CANCELLED, "the client went away before issuance: nothing was signed");
}

/* A signingCert request waiting for its certificate: its signature from
 * the signer process, or the CT log (a suspended connection). */
struct ct_call {
	struct api_call call; /* a copy: the handler's frame is gone by then */
	bool v1;
	struct oidc_identity *id;
	struct ca_ct_ref *ct; /* the CT client it started with (a reload may replace it) */
};

/*
 * Completion of ca_authority_issue_ct or _async, on the thread of the
 * last step (the CT client's, the signer link's, or this handler's with a
 * key in this process). Answers the exchange exactly once (a CT failure
 * never yields a certificate; its status is failure_answers'
 * FC_CLASS_CT_LOG rows), frees everything the
 * request held. Nothing of the request is touched after the answer is
 * sent: the server may stop as soon as its last exchange is answered.
 */
static void ct_issued(void *arg, enum fc_status st, struct ca_issued *issued,
		      const struct fc_err *err)
{
	struct ct_call *cc = arg;
	struct api_call c = cc->call;
	struct oidc_identity *id = cc->id;
	struct ca_server *s = c.s;
	struct ca_ct_ref *ct = cc->ct;
	bool v1 = cc->v1;

	free(cc);
	if (st == FC_OK)
		answer_issued(&c, v1, id, issued);
	else if (st == FC_EUNAVAIL && fc_http_client_gone(c.x))
		answer_gone(&c);
	else
		fail_err(&c, st, err);
	ca_issued_free(issued);
	oidc_identity_free(id);
	ca_ct_put(ct);
	atomic_fetch_sub(&s->issuing, 1); /* the last use of s: a stop may free it now */
}

/* Asked after the SCT, before the final certificate is signed. */
static bool ct_client_gone(void *arg)
{
	struct ct_call *cc = arg;

	return fc_http_client_gone(cc->call.x);
}

/*
 * The request's key and its proof: a CSR (its self-signature is the
 * proof), or a public key with a signature over the principal's name.
 * FC_OK with *key, else the refusal (with its class) in err.
 */
static enum fc_status verify_key(struct api_call *c, const struct sign_request *r, bool v1,
				 const struct oidc_identity *id, EVP_PKEY **key, struct fc_err *err)
{
	enum fc_status st;

	if (r->csr != NULL)
		return ca_csr_verify(r->csr, r->csr_len, &c->s->algs, key, err);
	if (r->key_pem == NULL && r->key_bytes == NULL)
		return fc_err_set_class(err, FC_CLASS_KEY_PARSE, FC_EINPUT,
					CA_PFX_KEY_PARSE
					"the request has neither a public key nor a "
					"certificate signing request");
	if (r->key_pem != NULL)
		st = ca_client_key_parse((const uint8_t *)r->key_pem, strlen(r->key_pem), false,
					 key, err);
	else
		st = ca_client_key_parse(r->key_bytes, r->key_len, true, key, err);
	if (st == FC_OK)
		st = ca_client_key_check(*key, err);
	if (st == FC_OK && r->pop == NULL)
		st = fc_err_set_class(err, FC_CLASS_SIGNATURE, FC_EINPUT,
				      CA_PFX_SIGNATURE "no proof of possession (%s)",
				      v1 ? "signedEmailAddress" : "proofOfPossession");
	if (st == FC_OK)
		st = ca_pop_verify(*key, id->pop_subject, r->pop, r->pop_len, &c->s->algs, err);
	if (st != FC_OK) {
		EVP_PKEY_free(*key);
		*key = NULL;
	}
	return st;
}

/* The identity's source repository (Sigstore extension 1.12), or NULL. */
static const char *identity_repository(const struct oidc_identity *id)
{
	for (size_t i = 0; i < id->n_extensions; i++)
		if (strcmp(id->extensions[i].oid, "1.3.6.1.4.1.57264.1.12") == 0)
			return id->extensions[i].value;
	return NULL;
}

/*
 * The rate limits of a verified identity (token and proof of possession
 * checked, nothing signed yet): FC_OK, or the refusal in err with its
 * Retry-After header set on the exchange.
 */
static enum fc_status check_rate(struct api_call *c, const struct oidc_identity *id,
				 struct fc_err *err)
{
	struct rl_request rq = {id->issuer, id->san, identity_repository(id)};
	int64_t retry_s = 0;
	char value[24];
	enum fc_status st;

	if (c->s->opts.ratelimit == NULL)
		return FC_OK;
	if ((st = rl_check(c->s->opts.ratelimit, &rq, &retry_s, err)) != FC_OK) {
		snprintf(value, sizeof(value), "%lld", (long long)retry_s);
		fc_http_add_header(c->x, "Retry-After", value);
	}
	return st;
}

/*
 * Issue for a verified identity and key and answer when the certificate is
 * signed (ct_issued): no worker waits for the signer process or the CT
 * log meanwhile. Takes *id.
 */
static void issue(struct api_call *c, bool v1, struct oidc_identity **id, EVP_PKEY *key)
{
	struct ca_authority *authority = ca_authority_slot_get(&c->s->authority);
	struct ct_call *cc;
	struct fc_err err = {0};
	enum fc_status st;

	if (fc_http_client_gone(c->x)) {
		/* Nobody would receive the certificate: do not sign it. */
		answer_gone(c);
		ca_authority_unref(authority);
		return;
	}
	atomic_fetch_add(&c->s->issuing, 1);
	cc = fc_xcalloc(1, sizeof(*cc));
	cc->call = *c;
	cc->v1 = v1;
	cc->id = *id;
	cc->ct = ca_ct_get(c->s);
	if (cc->ct != NULL)
		st = ca_authority_issue_ct(authority, cc->ct->ct, *id, key, c->s->opts.validity_s,
					   ct_issued, ct_client_gone, cc, &err);
	else
		st = ca_authority_issue_async(authority, *id, key, c->s->opts.validity_s, ct_issued,
					      cc, &err);
	if (st == FC_OK) {
		*id = NULL; /* cc owns it until ct_issued, which may have run already */
	} else {
		ca_ct_put(cc->ct);
		free(cc);
		fail_err(c, st, &err);
		atomic_fetch_sub(&c->s->issuing, 1);
	}
	ca_authority_unref(authority);
}

/*
 * One signingCert request from its parsed body on. It lives on the heap
 * because the token's check may have to wait for the identity provider's
 * keys: the request then holds no thread (oidc_verify_nb's FC_EPENDING),
 * and the verifier's wake hands it back to the worker pool.
 */
struct sign_call {
	struct api_call c; /* a copy: the handler's frame is gone by then */
	bool v1;
	json_t *root; /* the body; r points into it */
	struct sign_request r;
	struct ca_identity *identity; /* the configuration checking the token (a
				       * reference, taken at the first step) */
	enum fc_status wake_st;	      /* how the verifier's fetch ended */
	unsigned waits;		      /* times the token's check had to wait */
};

/* Free sc and release its identity, unless the server is stopping and
 * abandoned the request (stopping: the stop frees every identity, and this
 * may run on the verifier's own fetch thread). */
static void sign_call_free(struct sign_call *sc, bool abandoned)
{
	if (!abandoned)
		ca_server_identity_put(sc->c.s, sc->identity);
	json_decref(sc->root);
	sign_request_clear(&sc->r);
	free(sc);
}

static void sign_step(struct sign_call *sc);

/* On a worker again, after the verifier's wake (x NULL: the server answered
 * the request itself while it waited, when stopping). */
static void sign_resume(void *arg, struct fc_http_exchange *x)
{
	struct sign_call *sc = arg;

	if (x == NULL) {
		sign_call_free(sc, true);
		return;
	}
	sign_step(sc);
}

/* The verifier's wake, on its fetch thread: back to the worker pool. */
static void sign_woken(void *arg, enum fc_status st)
{
	struct sign_call *sc = arg;

	sc->wake_st = st;
	fc_http_resume(sc->c.x, sign_resume, sc);
}

/* The token (waiting for its provider if need be), the key, then issue.
 * Answers, and frees sc, unless it waits. */
static void sign_step(struct sign_call *sc)
{
	struct api_call *c = &sc->c;
	struct oidc_identity *id = NULL;
	EVP_PKEY *key = NULL;
	struct fc_err err = {0};
	enum fc_status st;

	/* The token first: a bad token wins over a bad key, as in Fulcio. */
	if (sc->r.token == NULL || *sc->r.token == '\0')
		st = fc_err_set_class(&err, FC_CLASS_TOKEN, FC_EAUTH,
				      "no identity token (send it as %sAuthorization: Bearer)",
				      sc->v1 ? "" : "credentials.oidcIdentityToken or ");
	else if (sc->waits > 0 && sc->wake_st == FC_EUNAVAIL)
		st = fc_err_set_class(&err, FC_CLASS_TOKEN, FC_EUNAVAIL,
				      "the identity provider's keys could not be fetched now (the "
				      "server is stopping)");
	else {
		/* Counted before the call: the wake may run sign_step on another
		 * worker before oidc_verify_nb has even returned here. */
		unsigned waited = sc->waits++;

		if (sc->identity == NULL)
			sc->identity = ca_server_identity_get(c->s);
		st = oidc_verify_nb(sc->identity->verifier, sc->r.token, strlen(sc->r.token),
				    sign_woken, sc, &id, &err);
		if (st == FC_EPENDING && waited == 0)
			return;	       /* sign_woken brings it back; sc is not ours any more */
		if (st == FC_EPENDING) /* the verifier decides after one wait */
			st = fc_err_set_class(&err, FC_CLASS_TOKEN, FC_EUNAVAIL,
					      "the identity provider's keys are still being "
					      "fetched");
	}
	if (st != FC_OK)
		fc_err_classify(&err, FC_CLASS_TOKEN);
	if (st == FC_OK)
		st = verify_key(c, &sc->r, sc->v1, id, &key, &err);
	if (st == FC_OK)
		st = check_rate(c, id, &err);
	if (st != FC_OK)
		fail_err(c, st, &err);
	else
		issue(c, sc->v1, &id, key);
	EVP_PKEY_free(key);
	oidc_identity_free(id);
	sign_call_free(sc, false);
}

/* POST /api/v2/signingCert and /api/v1/signingCert: read the body, then
 * sign_step. */
static void signing_cert(struct api_call *c, bool v1)
{
	struct sign_call *sc;
	json_error_t jerr;
	const uint8_t *body;
	size_t body_len;
	char why[256] = "";

	if (fc_http_body_too_large(c->x)) {
		fail(c, 413, GRPC_INVALID_ARGUMENT, "request body is larger than %d bytes",
		     CA_MAX_BODY_BYTES);
		return;
	}
	sc = fc_xcalloc(1, sizeof(*sc));
	sc->c = *c;
	sc->v1 = v1;
	body = fc_http_body(c->x, &body_len);
	/* Any Content-Type is read as JSON, as grpc-gateway does. */
	sc->root = json_loadb((const char *)body, body_len, JSON_REJECT_DUPLICATES, &jerr);
	if (sc->root == NULL || !json_is_object(sc->root))
		fail(c, 400, GRPC_INVALID_ARGUMENT, "request body is not a JSON object: %s",
		     sc->root ? "wrong type" : jerr.text);
	else if (!(v1 ? parse_v1(sc->root, c->x, &sc->r, why, sizeof(why))
		      : parse_v2(sc->root, c->x, &sc->r, why, sizeof(why))))
		fail(c, 400, GRPC_INVALID_ARGUMENT, "invalid request: %s", why);
	else {
		sign_step(sc);
		return;
	}
	sign_call_free(sc, false);
}

/* --- read-only endpoints ------------------------------------------------------ */

static void trust_bundle(struct api_call *c)
{
	struct ca_authority *a = ca_authority_slot_get(&c->s->authority);
	const struct ca_chain *chain = ca_authority_chain(a);
	json_t *certs = json_array();

	for (size_t i = 0; i < chain->n; i++)
		json_array_append_new(certs, json_string(chain->pem[i]));
	ca_authority_unref(a);
	finish_json(c, 200, json_pack("{s:[{s:o}]}", "chains", "certificates", certs));
}

/* GET /api/v1/rootCert: the trust bundle's PEM blocks (each with its
 * newline) joined by newlines, trailing whitespace trimmed: Fulcio's
 * legacy server, byte for byte (so a blank line between blocks). */
static void root_cert(struct api_call *c)
{
	struct ca_authority *a = ca_authority_slot_get(&c->s->authority);
	const struct ca_chain *chain = ca_authority_chain(a);
	char *text = pem_chain_text(chain->pem, chain->n);
	size_t len = strlen(text);

	ca_authority_unref(a);
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ' || text[len - 1] == '\r' ||
			   text[len - 1] == '\t'))
		len--;
	finish(c, 200, "application/pem-certificate-chain", text, len);
	free(text);
}

static json_t *issuer_json(const struct cfg_issuer *iss)
{
	const char *claim = cfg_issuer_challenge_claim(iss);
	const char *type = iss->type_name ? iss->type_name : cfg_issuer_type_name(iss->type);

	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:b}",
			 iss->is_meta ? "wildcardIssuerUrl" : "issuerUrl",
			 iss->is_meta ? iss->key : (iss->issuer_url ? iss->issuer_url : iss->key),
			 "audience", iss->client_id ? iss->client_id : "", "challengeClaim",
			 claim ? claim : "", "spiffeTrustDomain",
			 iss->spiffe_trust_domain ? iss->spiffe_trust_domain : "", "issuerType",
			 type ? type : "", "subjectDomain",
			 iss->subject_domain ? iss->subject_domain : "", "skipEmailVerification",
			 iss->skip_email_verification);
}

/*
 * GET /api/v2/configuration: every OIDCIssuers entry, then every
 * MetaIssuers entry (Fulcio's FulcioConfig.ToIssuers). Caller frees.
 */
char *ca_api_configuration_json(const struct cfg_identity *cfg)
{
	json_t *issuers = json_array();
	char *text;

	for (size_t i = 0; i < cfg->n_issuers; i++)
		json_array_append_new(issuers, issuer_json(&cfg->issuers[i]));
	for (size_t i = 0; i < cfg->n_meta; i++)
		json_array_append_new(issuers, issuer_json(&cfg->meta[i]));
	json_t *doc = json_pack("{s:o}", "issuers", issuers);
	text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (text == NULL)
		abort();
	return text;
}

/* --- routing -------------------------------------------------------------------- */

enum route_method { ROUTE_GET, ROUTE_POST };

struct route {
	const char *path;
	enum route_method method;
	void (*fn)(struct api_call *c);
};

static void v2_signing_cert(struct api_call *c)
{
	signing_cert(c, false);
}
static void v1_signing_cert(struct api_call *c)
{
	signing_cert(c, true);
}

static void configuration(struct api_call *c)
{
	struct ca_identity *id = ca_server_identity_get(c->s);
	const char *doc = id->configuration_json;

	finish(c, 200, "application/json", doc, strlen(doc));
	ca_server_identity_put(c->s, id);
}

static void healthz(struct api_call *c)
{
	finish_json(c, 200, json_pack("{s:s}", "status", "SERVING"));
}

/* Readiness: 200 while the CA's signer can sign now (an HSM backend
 * answers), else 503, so that a load balancer stops sending requests. */
static void readyz(struct api_call *c)
{
	struct ca_authority *a = ca_authority_slot_get(&c->s->authority);
	bool ready = hsm_signer_ready(ca_authority_signer(a));

	ca_authority_unref(a);
	if (ready)
		finish_json(c, 200, json_pack("{s:s}", "status", "READY"));
	else
		finish_json(c, 503,
			    json_pack("{s:s, s:s}", "status", "NOT_READY", "message",
				      "the CA backend cannot sign now"));
}

/*
 * GET /api/v2/trustedRoot, /api/v2/signingConfig, /api/v2/trustConfig: the
 * trust files given to fulcrum serve, as they are (fulcrum's own paths:
 * Sigstore clients read these files from disk or from a TUF repository,
 * none from a CA). 404 when the server was started without them.
 */
static void trust_doc(struct api_call *c)
{
	static const char *const paths[3] = {"/api/v2/trustedRoot", "/api/v2/signingConfig",
					     "/api/v2/trustConfig"};
	static const char *const flags[3] = {"--trusted-root", "--signing-config",
					     "--trusted-root and --signing-config"};
	int i = 0;
	char *doc;

	while (i < 2 && strcmp(fc_http_path(c->x), paths[i]) != 0)
		i++;
	if ((doc = ca_server_trust_doc(c->s, i)) == NULL) {
		fail(c, 404, GRPC_NOT_FOUND, "this CA serves no %s file (fulcrum serve %s)",
		     paths[i] + 8, flags[i]);
		return;
	}
	fc_http_add_header(c->x, "Cache-Control", "no-cache");
	finish(c, 200, "application/json", doc, strlen(doc));
	free(doc);
}

static const struct route routes[] = {
	{"/api/v2/signingCert", ROUTE_POST, v2_signing_cert},
	{"/api/v2/trustBundle", ROUTE_GET, trust_bundle},
	{"/api/v2/configuration", ROUTE_GET, configuration},
	{"/api/v2/trustedRoot", ROUTE_GET, trust_doc},
	{"/api/v2/signingConfig", ROUTE_GET, trust_doc},
	{"/api/v2/trustConfig", ROUTE_GET, trust_doc},
	{"/api/v1/signingCert", ROUTE_POST, v1_signing_cert},
	{"/api/v1/rootCert", ROUTE_GET, root_cert},
	{"/healthz", ROUTE_GET, healthz},
	{"/readyz", ROUTE_GET, readyz},
};

/* x-request-id if it is short and printable (Fulcio: <= 128), else random. */
static void request_id(struct fc_http_exchange *x, char *out, size_t cap)
{
	const char *h = fc_http_header(x, "X-Request-Id");
	uint8_t rnd[8];

	if (h != NULL && *h != '\0' && strlen(h) < cap) {
		bool ok = true;
		for (const char *p = h; *p; p++)
			ok &= *p > 0x20 && *p < 0x7f;
		if (ok) {
			snprintf(out, cap, "%s", h);
			return;
		}
	}
	if (fc_rand_bytes(rnd, sizeof(rnd)) != FC_OK)
		memset(rnd, 0, sizeof(rnd));
	for (size_t i = 0; i < sizeof(rnd) && 2 * i + 2 < cap; i++)
		snprintf(out + 2 * i, 3, "%02x", rnd[i]);
}

/*
 * Route one exchange. Every path answers exactly once; unknown paths 404,
 * known paths with another method 501 (grpc-gateway's quirk).
 */
void ca_api_handle(void *ctx, struct fc_http_exchange *x)
{
	struct api_call call = {.s = ctx, .x = x};
	const char *method = fc_http_method(x);
	const char *path = fc_http_path(x);
	bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
	bool post = strcmp(method, "POST") == 0;
	bool known_path = false;

	request_id(x, call.request_id, sizeof(call.request_id));
	if (strcmp(method, "OPTIONS") == 0) {
		/* CORS preflight, as rs/cors' Default(): any origin, simple methods. */
		fc_http_add_header(x, "Access-Control-Allow-Methods", "GET, POST, HEAD");
		fc_http_add_header(x, "Access-Control-Allow-Headers",
				   "Accept, Content-Type, Authorization, X-Requested-With");
		finish(&call, 204, NULL, "", 0);
		return;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(path, routes[i].path) != 0)
			continue;
		known_path = true;
		if ((routes[i].method == ROUTE_GET && get) ||
		    (routes[i].method == ROUTE_POST && post)) {
			routes[i].fn(&call);
			return;
		}
	}
	if (known_path)
		fail(&call, 501, GRPC_UNIMPLEMENTED, "Method Not Allowed");
	else
		fail(&call, 404, GRPC_NOT_FOUND, "Not Found");
}
