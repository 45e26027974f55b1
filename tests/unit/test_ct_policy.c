/*
 * Unit tests of the CA's multi-log CT policy (ct/policy.c): when SCTs meet
 * "k from m operators", which logs a certificate asks and when (the first
 * ones at once, one more per stagger delay, a replacement at once after a
 * failure, a new operator first), the circuit breaker driven by a fake
 * monotonic clock (fc_set_mono_fn), and the CT configuration file
 * (ct/config.c) in YAML and JSON with its refusals.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ct_int.h"

static int64_t fake_now;
static int64_t fake_mono(void)
{
	return fake_now;
}

/* A view of n logs: states, operators, all eligible. */
static void views(struct ct_slot_view *v, size_t n, const enum ct_slot *st, const unsigned *op)
{
	for (size_t i = 0; i < n; i++) {
		v[i].state = st[i];
		v[i].op = op[i];
		v[i].eligible = true;
	}
}

static void test_met(void)
{
	struct ct_policy p11 = {1, 1}, p21 = {2, 1}, p22 = {2, 2};
	unsigned same[] = {0, 0}, two[] = {0, 3};

	CHECK(!ct_policy_met(&p11, NULL, 0));
	CHECK(ct_policy_met(&p11, same, 1));
	CHECK(!ct_policy_met(&p21, same, 1));
	CHECK(ct_policy_met(&p21, same, 2));
	CHECK(!ct_policy_met(&p22, same, 2)); /* one operator */
	CHECK(ct_policy_met(&p22, two, 2));
	/* zeros mean 1 */
	CHECK(ct_policy_met(&(struct ct_policy){0, 0}, same, 1));
}

/* 1 of 2: the first log at once, the second after the stagger delay, or at
 * once when the first fails (or may not be asked); met by one SCT. */
static void test_plan_one_of_two(void)
{
	struct ct_policy p = {1, 1};
	struct ct_slot_view v[2];
	bool l[2];
	unsigned op[2] = {0, 1};

	views(v, 2, (enum ct_slot[]){CT_SLOT_IDLE, CT_SLOT_IDLE}, op);
	CHECK(ct_plan(&p, v, 2, false, 1, l) == CT_PLAN_WAIT && l[0] && !l[1]);
	views(v, 2, (enum ct_slot[]){CT_SLOT_RUNNING, CT_SLOT_IDLE}, op);
	CHECK(ct_plan(&p, v, 2, false, 1, l) == CT_PLAN_WAIT && !l[0] && !l[1]);
	CHECK(ct_plan(&p, v, 2, true, 1, l) == CT_PLAN_WAIT && !l[0] && l[1]);
	views(v, 2, (enum ct_slot[]){CT_SLOT_FAILED, CT_SLOT_IDLE}, op);
	CHECK(ct_plan(&p, v, 2, false, 1, l) == CT_PLAN_WAIT && l[1]);
	views(v, 2, (enum ct_slot[]){CT_SLOT_RETRYING, CT_SLOT_IDLE}, op);
	CHECK(ct_plan(&p, v, 2, false, 1, l) == CT_PLAN_WAIT && l[1]);
	views(v, 2, (enum ct_slot[]){CT_SLOT_OK, CT_SLOT_RUNNING}, op);
	CHECK(ct_plan(&p, v, 2, true, 1, l) == CT_PLAN_MET);
	views(v, 2, (enum ct_slot[]){CT_SLOT_FAILED, CT_SLOT_FAILED}, op);
	CHECK(ct_plan(&p, v, 2, true, 1, l) == CT_PLAN_IMPOSSIBLE);
	/* the first log's breaker is open: the second at once */
	views(v, 2, (enum ct_slot[]){CT_SLOT_IDLE, CT_SLOT_IDLE}, op);
	v[0].eligible = false;
	CHECK(ct_plan(&p, v, 2, false, 1, l) == CT_PLAN_WAIT && !l[0] && l[1]);
	v[1].eligible = false;
	CHECK(ct_plan(&p, v, 2, false, 1, l) == CT_PLAN_IMPOSSIBLE);
	/* a log still retrying keeps the policy possible */
	views(v, 2, (enum ct_slot[]){CT_SLOT_RETRYING, CT_SLOT_FAILED}, op);
	CHECK(ct_plan(&p, v, 2, true, 1, l) == CT_PLAN_WAIT && !l[0] && !l[1]);
	/* no stagger delay: every log at once */
	views(v, 2, (enum ct_slot[]){CT_SLOT_IDLE, CT_SLOT_IDLE}, op);
	CHECK(ct_plan(&p, v, 2, true, 2, l) == CT_PLAN_WAIT && l[0] && l[1]);
}

/* 2 of 2: both at once; one failure makes it impossible; both SCTs meet it. */
static void test_plan_two_of_two(void)
{
	struct ct_policy p = {2, 1};
	struct ct_slot_view v[2];
	bool l[2];
	unsigned op[2] = {0, 1};

	views(v, 2, (enum ct_slot[]){CT_SLOT_IDLE, CT_SLOT_IDLE}, op);
	CHECK(ct_plan(&p, v, 2, false, 1, l) == CT_PLAN_WAIT && l[0] && l[1]);
	views(v, 2, (enum ct_slot[]){CT_SLOT_OK, CT_SLOT_RUNNING}, op);
	CHECK(ct_plan(&p, v, 2, true, 1, l) == CT_PLAN_WAIT && !l[0] && !l[1]);
	views(v, 2, (enum ct_slot[]){CT_SLOT_OK, CT_SLOT_FAILED}, op);
	CHECK(ct_plan(&p, v, 2, true, 1, l) == CT_PLAN_IMPOSSIBLE);
	views(v, 2, (enum ct_slot[]){CT_SLOT_OK, CT_SLOT_OK}, op);
	CHECK(ct_plan(&p, v, 2, false, 1, l) == CT_PLAN_MET);
}

/* 2 SCTs from 2 operators among logs of operators A, A, B, C: the first
 * two asked are of distinct operators; two SCTs of A do not meet it. */
static void test_plan_operators(void)
{
	struct ct_policy p = {2, 2};
	struct ct_slot_view v[4];
	bool l[4];
	unsigned op[4] = {0, 0, 2, 3};

	views(v, 4, (enum ct_slot[]){CT_SLOT_IDLE, CT_SLOT_IDLE, CT_SLOT_IDLE, CT_SLOT_IDLE}, op);
	CHECK(ct_plan(&p, v, 4, false, 1, l) == CT_PLAN_WAIT && l[0] && !l[1] && l[2] && !l[3]);
	views(v, 4, (enum ct_slot[]){CT_SLOT_OK, CT_SLOT_OK, CT_SLOT_RUNNING, CT_SLOT_IDLE}, op);
	CHECK(ct_plan(&p, v, 4, false, 1, l) == CT_PLAN_WAIT && !l[3]);
	/* B failed: C replaces it at once */
	views(v, 4, (enum ct_slot[]){CT_SLOT_OK, CT_SLOT_IDLE, CT_SLOT_FAILED, CT_SLOT_IDLE}, op);
	CHECK(ct_plan(&p, v, 4, false, 1, l) == CT_PLAN_WAIT && !l[1] && l[3]);
	/* only A left: impossible */
	views(v, 4, (enum ct_slot[]){CT_SLOT_OK, CT_SLOT_IDLE, CT_SLOT_FAILED, CT_SLOT_FAILED}, op);
	CHECK(ct_plan(&p, v, 4, false, 1, l) == CT_PLAN_IMPOSSIBLE);
	views(v, 4, (enum ct_slot[]){CT_SLOT_OK, CT_SLOT_RUNNING, CT_SLOT_OK, CT_SLOT_IDLE}, op);
	CHECK(ct_plan(&p, v, 4, false, 1, l) == CT_PLAN_MET);
}

static void test_breaker(void)
{
	struct ct_breaker_cfg cfg = {.failures = 3, .backoff_ms = 1000, .max_backoff_ms = 3000};
	struct ct_breaker b;
	bool probe;

	fc_set_mono_fn(fake_mono);
	fake_now = 10000;
	ct_breaker_init(&b, &cfg);
	CHECK(ct_breaker_allow(&b, fc_mono_ms(), &probe) && !probe);
	/* two failures, a success: still closed, count reset */
	ct_breaker_record(&b, &cfg, fc_mono_ms(), false, false);
	ct_breaker_record(&b, &cfg, fc_mono_ms(), false, false);
	ct_breaker_record(&b, &cfg, fc_mono_ms(), true, false);
	ct_breaker_record(&b, &cfg, fc_mono_ms(), false, false);
	ct_breaker_record(&b, &cfg, fc_mono_ms(), false, false);
	CHECK(b.state == CT_BREAKER_CLOSED);
	ct_breaker_record(&b, &cfg, fc_mono_ms(), false, false);
	CHECK(b.state == CT_BREAKER_OPEN);
	CHECK(!ct_breaker_would_allow(&b, fc_mono_ms()));
	CHECK(!ct_breaker_allow(&b, fc_mono_ms(), &probe));
	fake_now += 999;
	CHECK(!ct_breaker_allow(&b, fc_mono_ms(), &probe));
	/* answers to requests sent before it opened change nothing */
	ct_breaker_record(&b, &cfg, fc_mono_ms(), true, false);
	CHECK(b.state == CT_BREAKER_OPEN);
	fake_now += 1;
	CHECK(ct_breaker_would_allow(&b, fc_mono_ms()));
	CHECK(ct_breaker_allow(&b, fc_mono_ms(), &probe) && probe);
	CHECK(b.state == CT_BREAKER_HALF_OPEN);
	/* one probe only */
	CHECK(!ct_breaker_would_allow(&b, fc_mono_ms()));
	CHECK(!ct_breaker_allow(&b, fc_mono_ms(), &probe));
	/* the probe fails: open again, twice as long */
	ct_breaker_record(&b, &cfg, fc_mono_ms(), false, true);
	CHECK(b.state == CT_BREAKER_OPEN && b.open_until == fake_now + 2000);
	fake_now += 2000;
	CHECK(ct_breaker_allow(&b, fc_mono_ms(), &probe) && probe);
	ct_breaker_record(&b, &cfg, fc_mono_ms(), false, true);
	CHECK(b.state == CT_BREAKER_OPEN && b.open_until == fake_now + 3000); /* the max */
	fake_now += 3000;
	CHECK(ct_breaker_allow(&b, fc_mono_ms(), &probe) && probe);
	/* a non-probe result in half-open is ignored; the probe's success closes */
	ct_breaker_record(&b, &cfg, fc_mono_ms(), false, false);
	CHECK(b.state == CT_BREAKER_HALF_OPEN);
	ct_breaker_record(&b, &cfg, fc_mono_ms(), true, true);
	CHECK(b.state == CT_BREAKER_CLOSED && b.backoff_ms == 1000);
	CHECK(ct_breaker_allow(&b, fc_mono_ms(), &probe) && !probe);
	/* failures == 0: never opens */
	cfg.failures = 0;
	for (int i = 0; i < 10; i++)
		ct_breaker_record(&b, &cfg, fc_mono_ms(), false, false);
	CHECK(b.state == CT_BREAKER_CLOSED);
	fc_set_mono_fn(NULL);
}

static void parse_refused(const char *text, const char *want)
{
	struct ct_config *cfg = NULL;
	struct fc_err err = {0};

	CHECK(ct_config_parse(text, strlen(text), "t.yaml", &cfg, &err) == FC_ECONFIG);
	CHECK(cfg == NULL);
	CHECK_CONTAINS(err.msg, want);
}

static void test_config(void)
{
	const char *yaml =
		"timeout: 4s\n"
		"stagger: 250ms\n"
		"policy: {min_scts: 2, min_operators: 2}\n"
		"breaker:\n  failures: 5\n  backoff: 2s\n  max_backoff: 1m\n  slow: 1500ms\n"
		"logs:\n"
		"  - url: http://127.0.0.1:1/a\n    public_key_path: /k1.pem\n"
		"    operator: Op A\n    origin: a.example\n"
		"    not_after_start: 2026-01-01T00:00:00Z\n"
		"    not_after_limit: 2026-07-01T02:00:00+02:00\n"
		"  - url: http://127.0.0.1:2/b\n    public_key: |\n"
		"      -----BEGIN PUBLIC KEY-----\n      xx\n      -----END PUBLIC KEY-----\n"
		"    operator: Op B\n";
	const char *json = "{\"stagger\": \"0\", \"breaker\": {\"failures\": 0},"
			   " \"logs\": [{\"url\": \"http://x\", \"public_key_path\": \"/k\","
			   " \"operator\": \"o\"}], \"policy\": {\"min_scts\": 1}}";
	struct ct_config *cfg = NULL;
	struct ct_client_options *o;
	struct fc_err err = {0};

	CHECK(ct_config_parse(yaml, strlen(yaml), "t.yaml", &cfg, &err) == FC_OK);
	if (cfg != NULL) {
		o = ct_config_options(cfg);
		CHECK(o->timeout_ms == 4000 && o->stagger_ms == 250);
		CHECK(o->min_scts == 2 && o->min_operators == 2);
		CHECK(o->breaker_failures == 5 && o->breaker_backoff_ms == 2000 &&
		      o->breaker_max_backoff_ms == 60000 && o->slow_ms == 1500);
		CHECK(o->n_logs == 2);
		CHECK_STR(o->logs[0].url, "http://127.0.0.1:1/a");
		CHECK_STR(o->logs[0].public_key_path, "/k1.pem");
		CHECK_STR(o->logs[0].operator_name, "Op A");
		CHECK_STR(o->logs[0].origin, "a.example");
		CHECK(o->logs[0].has_not_after_start && o->logs[0].not_after_start == 1767225600);
		CHECK(o->logs[0].has_not_after_limit && o->logs[0].not_after_limit == 1782864000);
		CHECK(o->logs[1].public_key_path == NULL && o->logs[1].public_key_pem != NULL &&
		      strstr(o->logs[1].public_key_pem, "BEGIN PUBLIC KEY") != NULL);
		CHECK(!o->logs[1].has_not_after_start);
	} else {
		fprintf(stderr, "yaml: %s\n", err.msg);
	}
	ct_config_free(cfg);
	cfg = NULL;
	CHECK(ct_config_parse(json, strlen(json), "t.json", &cfg, &err) == FC_OK);
	if (cfg != NULL) {
		o = ct_config_options(cfg);
		CHECK(o->stagger_ms == 0 && o->breaker_failures < 0 && o->n_logs == 1);
		CHECK(o->min_scts == 1 && o->timeout_ms == 0);
	}
	ct_config_free(cfg);

	parse_refused("logs: []\n", "1 to 8 logs");
	parse_refused("lgos: []\n", "unknown key lgos");
	parse_refused("logs:\n  - url: http://x\n    public_key_path: /k\n",
		      "needs url and operator");
	parse_refused("logs:\n  - url: http://x\n    operator: o\n", "exactly one of");
	parse_refused(
		"logs:\n  - {url: http://x, operator: o, public_key_path: /k, public_key: p}\n",
		"exactly one of");
	parse_refused("logs:\n  - {url: http://x, operator: o, public_key_path: /k, oops: 1}\n",
		      "unknown key logs[0].oops");
	parse_refused("timeout: 10x\nlogs: []\n", "timeout: bad duration");
	parse_refused("policy: {min_scts: -1}\nlogs: []\n",
		      "policy.min_scts must be a whole number");
	parse_refused("policy: {min_scts: 9}\nlogs: []\n",
		      "policy.min_scts must be a whole number");
	parse_refused("logs:\n  - {url: http://x, operator: o, public_key_path: /k, "
		      "not_after_start: tomorrow}\n",
		      "not an RFC 3339 time");
	parse_refused("logs: []\nlogs: []\n", "repeated");
	parse_refused("{\"logs\": [], \"logs\": []}", "duplicate");
	parse_refused("- a\n- b\n", "top level must be a mapping");
	parse_refused("logs: [\n", "YAML line");
	parse_refused("{\"logs\": [1, 2, 3, 4, 5, 6, 7, 8, 9]}", "1 to 8 logs");
	parse_refused("{\"logs\": [1]}", "logs[0] must be a mapping");
}

int main(void)
{
	fc_log_set_level(LOG_WARNING);
	test_met();
	test_plan_one_of_two();
	test_plan_two_of_two();
	test_plan_operators();
	test_breaker();
	test_config();
	return check_exit();
}
