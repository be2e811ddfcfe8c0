/* SPDX-License-Identifier: MIT */
/*
 * test_role.c - role definitions (roles/NAME): the seed's role, TTLs,
 * template variables per statement kind, binding, creds/ file options and
 * the JSON round trip.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "params.h"
#include "role.h"
#include "secret.h"
#include "test.h"

#define CREATE_1 \
	"CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'"
#define CREATE_2 "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\""
#define REVOKE_1 "ALTER ROLE \"{{name}}\" NOLOGIN"

/* The seed's `vault write database/roles/db-app ...`, as a file. */
static const char seed_kv[] = "db_name=wizard\n"
			      "creation_statements=" CREATE_1 "; \\\n"
			      "      " CREATE_2 ";\n"
			      "revocation_statements=" REVOKE_1 ";\n"
			      "default_ttl=\"1h\"\n"
			      "max_ttl=\"24h\"\n";

/* The same, as the body of the API call. */
static const char seed_json[] =
	"{\"db_name\": \"wizard\","
	" \"creation_statements\": \"CREATE ROLE \\\"{{name}}\\\" WITH LOGIN"
	" PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT SELECT"
	" ON ALL TABLES IN SCHEMA public TO \\\"{{name}}\\\";\","
	" \"revocation_statements\": [\"ALTER ROLE \\\"{{name}}\\\" NOLOGIN;\"],"
	" \"default_ttl\": \"1h\", \"max_ttl\": 86400}";

static int build(const char *name, const char *doc, unsigned final, struct role **out,
		 struct parse_error *err)
{
	json_t *p = NULL;
	int r;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	if ((r = params_parse(doc, strlen(doc), true, &p, err)) != 0) {
		fprintf(stderr, "params_parse: %d %s\n", r, err->text);
		return r;
	}
	r = role_from_params(name, p, final, out, err);
	json_decref(p);
	return r;
}

static void check_seed(const struct role *ro)
{
	CHECK_STR_EQ(ro->name, "db-app");
	CHECK_STR_EQ(ro->db_name, "wizard");
	CHECK_INT_EQ(ro->n_creation, 2);
	if (ro->n_creation == 2) {
		CHECK_STR_EQ(ro->creation[0], CREATE_1);
		CHECK_STR_EQ(ro->creation[1], CREATE_2);
		CHECK(ro->creation[2] == NULL);
	}
	CHECK_INT_EQ(ro->n_revocation, 1);
	if (ro->n_revocation == 1)
		CHECK_STR_EQ(ro->revocation[0], REVOKE_1);
	CHECK_INT_EQ(ro->n_renew, 0);
	CHECK(ro->renew && ro->renew[0] == NULL);
	CHECK_INT_EQ(ro->n_rollback, 0);
	CHECK(ro->rollback && ro->rollback[0] == NULL);
	CHECK_INT_EQ(ro->default_ttl, 3600);
	CHECK_INT_EQ(ro->max_ttl, 86400);
	CHECK_INT_EQ(role_ttl(ro), 3600);
	CHECK_INT_EQ(role_max_ttl(ro), 86400);
	/* defaults */
	CHECK_INT_EQ(ro->binding, ROLE_BIND_HANDLE);
	CHECK(ro->terminate_sessions);
	CHECK_INT_EQ(ro->creds_uid, (uid_t)-1);
	CHECK_INT_EQ(ro->creds_gid, (gid_t)-1);
	CHECK_INT_EQ(ro->creds_mode, 0400);
	CHECK_INT_EQ(ro->refs, 1);
}

static void test_seed_kv(void)
{
	struct parse_error err;
	struct role *ro;

	CHECK_INT_EQ(build("db-app", seed_kv, true, &ro, &err), 0);
	if (!ro) {
		fprintf(stderr, "%s\n", err.text);
		return;
	}
	check_seed(ro);
	role_unref(ro);
}

static void test_seed_json(void)
{
	struct parse_error err;
	struct role *ro;

	CHECK_INT_EQ(build("db-app", seed_json, true, &ro, &err), 0);
	if (!ro) {
		fprintf(stderr, "%s\n", err.text);
		return;
	}
	check_seed(ro);
	role_unref(ro);
}

/* TTLs from two documents: ttl and max as written (NULL: absent). */
static struct role *ttls(const char *ttl, const char *max, int *r)
{
	struct parse_error err;
	struct role *ro = NULL;
	json_t *p = json_pack("{s:s}", "db_name", "db");

	if (ttl)
		json_object_set_new(p, "default_ttl", json_string(ttl));
	if (max)
		json_object_set_new(p, "max_ttl", json_string(max));
	*r = role_from_params("r", p, true, &ro, &err);
	json_decref(p);
	return ro;
}

static void test_ttls(void)
{
	struct role *ro;
	int r;

	ro = ttls("1h", "24h", &r);
	CHECK_INT_EQ(r, 0);
	CHECK(ro && role_ttl(ro) == 3600 && role_max_ttl(ro) == 86400);
	role_unref(ro);

	ro = ttls("3600", "90m", &r);
	CHECK(ro && ro->default_ttl == 3600 && ro->max_ttl == 5400);
	role_unref(ro);

	/* absent or 0: the system default and maximum, 768h */
	ro = ttls(NULL, NULL, &r);
	CHECK_INT_EQ(r, 0);
	CHECK(ro && ro->default_ttl == 0 && ro->max_ttl == 0);
	CHECK(ro && role_ttl(ro) == 768 * 3600 && role_max_ttl(ro) == 768 * 3600);
	role_unref(ro);
	ro = ttls("0", "0", &r);
	CHECK(ro && role_ttl(ro) == ROLE_SYSTEM_MAX_TTL && role_max_ttl(ro) == ROLE_SYSTEM_MAX_TTL);
	role_unref(ro);
	ro = ttls("0s", "0h", &r);
	CHECK_INT_EQ(r, 0);
	CHECK(ro && role_ttl(ro) == ROLE_SYSTEM_MAX_TTL && role_max_ttl(ro) == ROLE_SYSTEM_MAX_TTL);
	role_unref(ro);
	/* Vault: max_ttl 0 is the system maximum, so any default_ttl up to it is fine */
	ro = ttls("100h", "0", &r);
	CHECK_INT_EQ(r, 0);
	CHECK(ro && role_ttl(ro) == 100 * 3600 && role_max_ttl(ro) == ROLE_SYSTEM_MAX_TTL);
	role_unref(ro);
	/* default_ttl 0 with a max_ttl: the system default, capped at max_ttl */
	ro = ttls("0", "45m", &r);
	CHECK(ro && role_ttl(ro) == 2700 && role_max_ttl(ro) == 2700);
	role_unref(ro);

	/* only max_ttl: the lease lasts max_ttl */
	ro = ttls(NULL, "2h", &r);
	CHECK(ro && role_ttl(ro) == 7200 && role_max_ttl(ro) == 7200);
	role_unref(ro);
	/* only default_ttl: renewable up to 768h */
	ro = ttls("30m", NULL, &r);
	CHECK(ro && role_ttl(ro) == 1800 && role_max_ttl(ro) == ROLE_SYSTEM_MAX_TTL);
	role_unref(ro);
	/* equal */
	ro = ttls("1h", "1h", &r);
	CHECK(ro && role_ttl(ro) == 3600 && role_max_ttl(ro) == 3600);
	role_unref(ro);
	/* the limit itself */
	ro = ttls("768h", "768h", &r);
	CHECK_INT_EQ(r, 0);
	role_unref(ro);
	ro = ttls("32d", NULL, &r);
	CHECK_INT_EQ(r, 0);
	role_unref(ro);

	/* rejected */
	ro = ttls("2h", "1h", &r);
	CHECK_INT_EQ(r, -EINVAL);
	CHECK(ro == NULL);
	static const char *const bad[][2] = {
		{ "769h", NULL },    { NULL, "769h" }, { NULL, "2764801" } /* 768h + 1 s */,
		{ "2764801", NULL }, { "33d", "33d" }, { "1x", NULL },
		{ NULL, "-1h" },     { "", NULL },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ro = ttls(bad[i][0], bad[i][1], &r);
		CHECK_INT_EQ(r, -EINVAL);
		CHECK(ro == NULL);
		role_unref(ro);
	}
}

/* Vault's credential_config: its only password key, password_policy, is refused. */
static void test_credential_config(void)
{
	struct parse_error err;
	struct role *ro = NULL;

	CHECK_INT_EQ(
		build("r", "{\"db_name\": \"db\", \"credential_config\": {}}", true, &ro, &err), 0);
	role_unref(ro);
	CHECK_INT_EQ(build("r",
			   "{\"db_name\": \"db\", \"credential_type\": \"password\", "
			   "\"credential_config\": {\"password_policy\": \"\"}}",
			   true, &ro, &err),
		     0);
	role_unref(ro);
	CHECK_INT_EQ(build("r",
			   "{\"db_name\": \"db\", \"credential_config\": {\"password_policy\": "
			   "\"strong\"}}",
			   true, &ro, &err),
		     -EINVAL);
	CHECK(strstr(err.text, "password_policy is not supported") != NULL);
	CHECK_INT_EQ(build("r",
			   "{\"db_name\": \"db\", \"credential_config\": {\"key_bits\": 2048}}",
			   true, &ro, &err),
		     -EINVAL);
	CHECK(strstr(err.text, "key_bits") != NULL);
	CHECK_INT_EQ(build("r", "db_name=db\ncredential_config=x\n", true, &ro, &err), -EINVAL);
	CHECK(strstr(err.text, "credential_config: expected an object") != NULL);
}

static void test_ttl_json_types(void)
{
	struct parse_error err;
	struct role *ro;

	CHECK_INT_EQ(build("r", "{\"db_name\": \"db\", \"default_ttl\": 0, \"max_ttl\": 0}", true,
			   &ro, &err),
		     0);
	CHECK(ro && role_ttl(ro) == ROLE_SYSTEM_MAX_TTL && role_max_ttl(ro) == ROLE_SYSTEM_MAX_TTL);
	role_unref(ro);

	CHECK_INT_EQ(build("r", "{\"db_name\": \"db\", \"default_ttl\": 3600, \"max_ttl\": 86400}",
			   true, &ro, &err),
		     0);
	CHECK(ro && ro->default_ttl == 3600 && ro->max_ttl == 86400);
	role_unref(ro);
	CHECK_INT_EQ(build("r", "{\"db_name\": \"db\", \"default_ttl\": -5}", true, &ro, &err),
		     -EINVAL);
	CHECK(strstr(err.text, "default_ttl") != NULL);
	CHECK_INT_EQ(build("r", "{\"db_name\": \"db\", \"default_ttl\": true}", true, &ro, &err),
		     -EINVAL);
	CHECK_INT_EQ(build("r", "{\"db_name\": \"db\", \"max_ttl\": 1.5}", true, &ro, &err),
		     -EINVAL);
}

/* A role whose key holds stmt; returns role_from_params's result. */
static int with_stmt(const char *key, const char *stmt, struct parse_error *err)
{
	struct role *ro = NULL;
	json_t *p = json_pack("{s:s, s:s}", "db_name", "db", key, stmt);
	int r;

	memset(err, 0, sizeof(*err));
	r = role_from_params("r", p, true, &ro, err);
	json_decref(p);
	role_unref(ro);
	return r;
}

static void test_template_vars(void)
{
	static const struct {
		const char *key;
		const char *ok[4];
		const char *bad[4];
	} kinds[] = {
		{ "creation_statements",
		  { "{{name}}", "{{username}}", "{{password}}", "{{expiration}}" },
		  { "{{foo}}", "{{Name}}", "{{.RoleName}}", "{{name" } },
		{ "renew_statements",
		  { "{{name}}", "{{username}}", "{{expiration}}", "{{ name }}" },
		  { "{{password}}", "{{foo}}", "{{Password}}", NULL } },
		{ "revocation_statements",
		  { "{{name}}", "{{username}}", "{{ username }}", NULL },
		  { "{{password}}", "{{expiration}}", "{{foo}}", NULL } },
		{ "rollback_statements",
		  { "{{name}}", "{{username}}", NULL, NULL },
		  { "{{password}}", "{{expiration}}", "{{bar}}", NULL } },
	};
	struct parse_error err;
	char stmt[128];

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		for (size_t i = 0; i < 4 && kinds[k].ok[i]; i++) {
			snprintf(stmt, sizeof(stmt), "SELECT '%s'; SELECT 2", kinds[k].ok[i]);
			if (with_stmt(kinds[k].key, stmt, &err) != 0) {
				fprintf(stderr, "%s: %s rejected: %s\n", kinds[k].key, stmt,
					err.text);
				CHECK(0);
			}
		}
		for (size_t i = 0; i < 4 && kinds[k].bad[i]; i++) {
			snprintf(stmt, sizeof(stmt), "SELECT 1; SELECT '%s'", kinds[k].bad[i]);
			if (with_stmt(kinds[k].key, stmt, &err) != -EINVAL) {
				fprintf(stderr, "%s: %s accepted\n", kinds[k].key, stmt);
				CHECK(0);
			} else if (strncmp(err.text, kinds[k].key, strlen(kinds[k].key)) != 0) {
				fprintf(stderr, "%s: message \"%s\"\n", kinds[k].key, err.text);
				CHECK(0);
			}
		}
	}
	/* SQL that does not split is rejected, naming the key */
	CHECK_INT_EQ(with_stmt("creation_statements", "CREATE ROLE 'x", &err), -EINVAL);
	CHECK(strncmp(err.text, "creation_statements", 19) == 0);
	/* a PostgreSQL array literal is not a variable */
	CHECK_INT_EQ(with_stmt("creation_statements", "SELECT '{{1,2},{3,4}}'::int[]", &err), 0);
}

static void test_stmt_lists(void)
{
	struct parse_error err;
	struct role *ro;

	CHECK_INT_EQ(build("r",
			   "{\"db_name\": \"db\", \"creation_statements\": [\"A; B\", \"C\"],"
			   " \"renew_statements\": \"ALTER ROLE \\\"{{name}}\\\" VALID UNTIL "
			   "'{{expiration}}'\", \"rollback_statements\": [\"DROP ROLE "
			   "\\\"{{name}}\\\"\"], \"revocation_statements\": \"\"}",
			   true, &ro, &err),
		     0);
	if (!ro)
		return;
	CHECK_INT_EQ(ro->n_creation, 3);
	CHECK_STR_EQ(ro->creation[2], "C");
	CHECK_INT_EQ(ro->n_renew, 1);
	CHECK_INT_EQ(ro->n_rollback, 1);
	CHECK_INT_EQ(ro->n_revocation, 0);
	CHECK(ro->revocation && ro->revocation[0] == NULL);
	role_unref(ro);

	CHECK_INT_EQ(
		build("r", "{\"db_name\": \"db\", \"creation_statements\": [1]}", true, &ro, &err),
		-EINVAL);
	CHECK_INT_EQ(
		build("r", "{\"db_name\": \"db\", \"creation_statements\": {}}", true, &ro, &err),
		-EINVAL);
}

static void test_required_and_names(void)
{
	struct parse_error err;
	struct role *ro;

	/* db_name is required at close, not while writing */
	CHECK_INT_EQ(build("r", "default_ttl=1h\n", true, &ro, &err), -EINVAL);
	CHECK(ro == NULL);
	CHECK(strstr(err.text, "db_name") != NULL);
	CHECK_INT_EQ(build("r", "default_ttl=1h\n", false, &ro, &err), 0);
	CHECK(ro && ro->db_name == NULL);
	role_unref(ro);
	/* db_name must be a valid connection name */
	CHECK_INT_EQ(build("r", "db_name=a b\n", true, &ro, &err), -EINVAL);
	CHECK(strncmp(err.text, "db_name", 7) == 0);
	CHECK_INT_EQ(build("r", "db_name=../x\n", true, &ro, &err), -EINVAL);
	CHECK_INT_EQ(build("r", "{\"db_name\": 5}", true, &ro, &err), -EINVAL);
	/* role names */
	CHECK_INT_EQ(build("a/b", "db_name=db\n", true, &ro, &err), -EINVAL);
	CHECK(ro == NULL);
	CHECK_INT_EQ(build("", "db_name=db\n", true, &ro, &err), -EINVAL);
	CHECK_INT_EQ(build("..", "db_name=db\n", true, &ro, &err), -EINVAL);
	CHECK_INT_EQ(build("x\"y", "db_name=db\n", true, &ro, &err), -EINVAL);
	/* unknown keys */
	CHECK_INT_EQ(build("r", "db_name=db\nttl=1h\n", true, &ro, &err), -EINVAL);
	CHECK(strstr(err.text, "ttl") != NULL);
	CHECK(ro == NULL);
	/* credential_type */
	CHECK_INT_EQ(build("r", "db_name=db\ncredential_type=password\n", true, &ro, &err), 0);
	role_unref(ro);
	CHECK_INT_EQ(build("r", "db_name=db\ncredential_type=rsa_private_key\n", true, &ro, &err),
		     -EINVAL);
}

static void test_binding(void)
{
	struct parse_error err;
	struct role *ro;

	CHECK_INT_EQ(build("r", "db_name=db\nlease_binding=handle\n", true, &ro, &err), 0);
	CHECK(ro && ro->binding == ROLE_BIND_HANDLE);
	role_unref(ro);
	CHECK_INT_EQ(build("r", "db_name=db\nlease_binding=process\n", true, &ro, &err), 0);
	CHECK(ro && ro->binding == ROLE_BIND_PROCESS);
	role_unref(ro);
	CHECK_INT_EQ(build("r", "db_name=db\nlease_binding=Process\n", true, &ro, &err), -EINVAL);
	CHECK(strstr(err.text, "lease_binding") != NULL);
	CHECK_INT_EQ(build("r", "db_name=db\nlease_binding=\n", true, &ro, &err), -EINVAL);
	CHECK_INT_EQ(build("r", "db_name=db\nlease_binding=thread\n", true, &ro, &err), -EINVAL);
	CHECK_INT_EQ(build("r", "{\"db_name\": \"db\", \"lease_binding\": 1}", true, &ro, &err),
		     -EINVAL);
	/* terminate_sessions */
	CHECK_INT_EQ(build("r", "db_name=db\nterminate_sessions=false\n", true, &ro, &err), 0);
	CHECK(ro && !ro->terminate_sessions);
	role_unref(ro);
	CHECK_INT_EQ(build("r", "db_name=db\nterminate_sessions=perhaps\n", true, &ro, &err),
		     -EINVAL);
}

static void test_creds_mode(void)
{
	static const struct {
		const char *mode;
		int ok;
		unsigned want;
	} cases[] = {
		{ "0440", 1, 0440 }, { "0400", 1, 0400 }, { "0444", 1, 0444 }, { "440", 1, 0440 },
		{ "0404", 1, 0404 }, { "0644", 0, 0 },	  { "0600", 0, 0 },    { "0500", 0, 0 },
		{ "0111", 0, 0 },    { "0777", 0, 0 },	  { "1440", 0, 0 },    { "abc", 0, 0 },
		{ "", 0, 0 },	     { "0448", 0, 0 },	  { "-0440", 0, 0 },   { "0440x", 0, 0 },
	};
	struct parse_error err;
	struct role *ro;
	char doc[64];
	int r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(doc, sizeof(doc), "db_name=db\ncreds_mode=%s\n", cases[i].mode);
		r = build("r", doc, true, &ro, &err);

		if (cases[i].ok) {
			CHECK_INT_EQ(r, 0);
			CHECK(ro && ro->creds_mode == cases[i].want);
		} else {
			if (r != -EINVAL)
				fprintf(stderr, "creds_mode %s accepted\n", cases[i].mode);
			CHECK_INT_EQ(r, -EINVAL);
			CHECK(strstr(err.text, "creds_mode") != NULL);
		}
		role_unref(ro);
	}
	CHECK_INT_EQ(build("r", "{\"db_name\": \"db\", \"creds_mode\": 288}", true, &ro, &err),
		     -EINVAL);
}

static void test_creds_owner(void)
{
	struct parse_error err;
	struct group *g = getgrgid(0);
	struct role *ro;
	char doc[128];

	CHECK_INT_EQ(build("r", "db_name=db\ncreds_owner=root\n", true, &ro, &err), 0);
	CHECK(ro && ro->creds_uid == 0);
	CHECK(ro && ro->creds_gid == (gid_t)-1);
	role_unref(ro);
	CHECK_INT_EQ(
		build("r", "db_name=db\ncreds_owner=1234\ncreds_group=5678\n", true, &ro, &err), 0);
	CHECK(ro && ro->creds_uid == 1234 && ro->creds_gid == 5678);
	role_unref(ro);
	CHECK_INT_EQ(build("r", "db_name=db\ncreds_owner=0\ncreds_group=0\n", true, &ro, &err), 0);
	CHECK(ro && ro->creds_uid == 0 && ro->creds_gid == 0);
	role_unref(ro);
	if (g) {
		snprintf(doc, sizeof(doc), "db_name=db\ncreds_group=%s\n", g->gr_name);
		CHECK_INT_EQ(build("r", doc, true, &ro, &err), 0);
		CHECK(ro && ro->creds_gid == 0);
		role_unref(ro);
	}
	CHECK_INT_EQ(build("r", "db_name=db\ncreds_owner=no-such-user-credfs\n", true, &ro, &err),
		     -EINVAL);
	CHECK(ro == NULL);
	CHECK(strstr(err.text, "creds_owner") != NULL);
	CHECK(strstr(err.text, "no-such-user-credfs") != NULL);
	CHECK_INT_EQ(build("r", "db_name=db\ncreds_group=no-such-group-credfs\n", true, &ro, &err),
		     -EINVAL);
	CHECK(strstr(err.text, "creds_group") != NULL);
	CHECK_INT_EQ(build("r", "db_name=db\ncreds_owner=\n", true, &ro, &err), -EINVAL);
	CHECK_INT_EQ(build("r", "db_name=db\ncreds_owner=12ab\n", true, &ro, &err), -EINVAL);
	role_unref(ro);
}

/*
 * Numeric ids outside uid_t/gid_t must be refused, not truncated: 2^32
 * would become uid 0 (root), -1 and 2^32-1 the "daemon's" sentinel.
 */
static void test_creds_owner_range(void)
{
	static const char *const bad[] = { "4294967296", "4294967295", "-1", "99999999999999999999",
					   "18446744073709551615" };
	struct parse_error err;
	struct role *ro;
	char doc[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(doc, sizeof(doc), "db_name=db\ncreds_owner=%s\n", bad[i]);
		if (build("r", doc, true, &ro, &err) != -EINVAL) {
			fprintf(stderr, "creds_owner=%s accepted as uid %u\n", bad[i],
				ro ? (unsigned)ro->creds_uid : 0);
			CHECK(0);
		}
		role_unref(ro);
		snprintf(doc, sizeof(doc), "db_name=db\ncreds_group=%s\n", bad[i]);
		if (build("r", doc, true, &ro, &err) != -EINVAL) {
			fprintf(stderr, "creds_group=%s accepted as gid %u\n", bad[i],
				ro ? (unsigned)ro->creds_gid : 0);
			CHECK(0);
		}
		role_unref(ro);
	}
	CHECK_INT_EQ(build("r", "{\"db_name\": \"db\", \"creds_owner\": 0}", true, &ro, &err),
		     -EINVAL);
}

/* role_to_json, fed back into role_from_params, gives the same role */
/* role_from_params must refuse key=stmt, naming the key, statement number n and cmd. */
static void expect_txn_refused(const char *key, const char *stmt, int n, const char *cmd)
{
	struct parse_error err;
	char want[sizeof(err.text)];

	snprintf(want, sizeof(want),
		 "%s: statement %d is transaction control (%s): credfs runs the statements in its "
		 "own transaction",
		 key, n, cmd);
	CHECK_INT_EQ(with_stmt(key, stmt, &err), -EINVAL);
	if (strcmp(err.text, want) != 0) {
		fprintf(stderr, "%s=%s: \"%s\", expected \"%s\"\n", key, stmt, err.text, want);
		CHECK(0);
	}
	CHECK(strstr(err.text, "Hunter2xyz") == NULL);
}

static void test_txn_control(void)
{
	static const char *const keys[] = { "creation_statements", "revocation_statements",
					    "renew_statements", "rollback_statements" };
	struct parse_error err;
	struct role *ro = (struct role *)&err;
	json_t *p;

	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		expect_txn_refused(keys[k], "COMMIT", 1, "COMMIT");
		expect_txn_refused(keys[k], "SELECT 1; END", 2, "END");
		expect_txn_refused(keys[k], "ALTER ROLE x PASSWORD 'Hunter2xyz'; rollback;", 2,
				   "ROLLBACK");
		expect_txn_refused(keys[k], "begin; SELECT 1", 1, "BEGIN");
		expect_txn_refused(keys[k], "SELECT 1; SELECT 2; -- now\nSAVEPOINT s", 3,
				   "SAVEPOINT");
		expect_txn_refused(keys[k], "START TRANSACTION ISOLATION LEVEL SERIALIZABLE", 1,
				   "START TRANSACTION");
		expect_txn_refused(keys[k], "SELECT 1; /* c */ Abort", 2, "ABORT");
		expect_txn_refused(keys[k], "SELECT 1; RELEASE SAVEPOINT s", 2, "RELEASE");
		expect_txn_refused(keys[k], "SELECT 1; PREPARE TRANSACTION 'x'", 2,
				   "PREPARE TRANSACTION");
		expect_txn_refused(keys[k], "SELECT 1; COMMIT PREPARED 'x'", 2, "COMMIT");
		/* BEGIN and END inside a statement, and prepared statements, are fine */
		CHECK_INT_EQ(with_stmt(keys[k], "DO $$ BEGIN PERFORM 1; END $$; SELECT 1", &err),
			     0);
		CHECK_INT_EQ(with_stmt(keys[k],
				       "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql "
				       "BEGIN ATOMIC SELECT 1; END",
				       &err),
			     0);
		CHECK_INT_EQ(with_stmt(keys[k], "PREPARE q AS SELECT 1; EXECUTE q", &err), 0);
	}
	/* numbered across the items of a list */
	p = json_pack("{s:s, s:[s, s]}", "db_name", "db", "creation_statements",
		      "CREATE ROLE x; GRANT y TO x", "SELECT 1; commit");
	memset(&err, 0, sizeof(err));
	CHECK_INT_EQ(role_from_params("r", p, true, &ro, &err), -EINVAL);
	CHECK(ro == (struct role *)&err); /* untouched */
	CHECK_STR_EQ(err.text, "creation_statements: statement 4 is transaction control (COMMIT): "
			       "credfs runs the statements in its own transaction");
	/*
	 * Not while key=value lines arrive: a value cut between two writes may
	 * end in a word that is transaction control ("END" of "ENDORSE"), and
	 * every prefix of an accepted document must pass (fuzz_params checks
	 * it); the complete document is refused, at its closing brace or close.
	 */
	CHECK_INT_EQ(role_from_params("r", p, false, &ro, &err), 0);
	role_unref(ro);
	ro = (struct role *)&err;
	json_decref(p);
	CHECK_INT_EQ(build("r",
			   "db_name=db\ncreation_statements=CREATE ROLE x; \\\n  END;\n"
			   "revocation_statements=DROP ROLE x\n",
			   true, &ro, &err),
		     -EINVAL);
	CHECK_STR_EQ(err.text, "creation_statements: statement 2 is transaction control (END): "
			       "credfs runs the statements in its own transaction");
	CHECK(ro == NULL);
}

static void roundtrip(const char *doc)
{
	struct parse_error err;
	struct role *a = NULL, *b = NULL;
	json_t *ja = NULL, *jb = NULL;

	if (build("rt", doc, true, &a, &err) != 0) {
		fprintf(stderr, "roundtrip %s: %s\n", doc, err.text);
		CHECK(0);
		return;
	}
	ja = role_to_json(a);
	CHECK(ja != NULL);
	CHECK(json_object_get(ja, "name") == NULL || json_is_string(json_object_get(ja, "name")));
	memset(&err, 0, sizeof(err));
	CHECK_INT_EQ(role_from_params("rt", ja, true, &b, &err), 0);
	if (!b) {
		fprintf(stderr, "roundtrip back: %s\n", err.text);
		goto out;
	}
	jb = role_to_json(b);
	CHECK(json_equal(ja, jb));
	CHECK_STR_EQ(a->db_name, b->db_name);
	CHECK_INT_EQ(a->n_creation, b->n_creation);
	for (size_t i = 0; i < a->n_creation && i < b->n_creation; i++)
		CHECK_STR_EQ(a->creation[i], b->creation[i]);
	CHECK_INT_EQ(a->n_revocation, b->n_revocation);
	CHECK_INT_EQ(a->n_renew, b->n_renew);
	CHECK_INT_EQ(a->n_rollback, b->n_rollback);
	CHECK_INT_EQ(a->default_ttl, b->default_ttl);
	CHECK_INT_EQ(a->max_ttl, b->max_ttl);
	CHECK_INT_EQ(a->binding, b->binding);
	CHECK_INT_EQ(a->terminate_sessions, b->terminate_sessions);
	CHECK_INT_EQ(a->creds_uid, b->creds_uid);
	CHECK_INT_EQ(a->creds_gid, b->creds_gid);
	CHECK_INT_EQ(a->creds_mode, b->creds_mode);
	CHECK_INT_EQ(a->max_leases, b->max_leases);
	CHECK_INT_EQ(a->max_leases_per_uid, b->max_leases_per_uid);
	CHECK_INT_EQ(a->issue_rate.n, b->issue_rate.n);
	CHECK_INT_EQ(a->issue_rate.per_ms, b->issue_rate.per_ms);
out:
	json_decref(ja);
	json_decref(jb);
	role_unref(a);
	role_unref(b);
}

static void test_roundtrip(void)
{
	struct parse_error err;
	struct role *ro;
	json_t *j;

	roundtrip(seed_kv);
	roundtrip(seed_json);
	roundtrip("db_name=db\n");
	roundtrip("{\"db_name\": \"db\", \"creation_statements\": [\"SELECT ';'\", \"DO $$ BEGIN "
		  "PERFORM 1; END $$\"], \"renew_statements\": \"ALTER ROLE \\\"{{name}}\\\" VALID "
		  "UNTIL '{{expiration}}'\", \"rollback_statements\": \"DROP ROLE "
		  "\\\"{{name}}\\\"\", \"lease_binding\": \"process\", \"terminate_sessions\": "
		  "false, \"creds_owner\": \"1234\", \"creds_group\": \"0\", \"creds_mode\": "
		  "\"0440\", \"default_ttl\": \"90s\", \"max_ttl\": \"1h30m\"}");
	roundtrip("db_name=db\nmax_leases=2\nmax_leases_per_uid=1\nissue_rate=5/s\n");
	roundtrip("{\"db_name\": \"db\", \"max_leases\": 7, \"issue_rate\": \"10/h\"}");
	roundtrip("db_name=db\nissue_rate=1/m\n");

	/* what role_to_json says */
	CHECK_INT_EQ(build("db-app", seed_kv, true, &ro, &err), 0);
	if (!ro)
		return;
	j = role_to_json(ro);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "db_name")), "wizard");
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "default_ttl")), 3600);
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "max_ttl")), 86400);
	CHECK_INT_EQ(json_array_size(json_object_get(j, "creation_statements")), 2);
	CHECK_INT_EQ(json_array_size(json_object_get(j, "revocation_statements")), 1);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "lease_binding")), "handle");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "creds_mode")), "0400");
	CHECK(json_object_get(j, "creds_owner") == NULL);
	CHECK(json_is_true(json_object_get(j, "terminate_sessions")));
	json_decref(j);
	CHECK(role_ref(ro) == ro);
	CHECK_INT_EQ(ro->refs, 2);
	role_unref(ro);
	role_unref(ro);
	role_unref(NULL);
}

/* max_leases, max_leases_per_uid and issue_rate: valid forms, defaults, refusals. */
static void test_limits(void)
{
	static const struct {
		const char *doc;
		int64_t max, per_uid, n, per_ms;
	} ok[] = {
		{ "db_name=db\n", 0, 0, 0, 0 },
		{ "db_name=db\nmax_leases=0\nmax_leases_per_uid=0\nissue_rate=0\n", 0, 0, 0, 0 },
		{ "db_name=db\nmax_leases=2\n", 2, 0, 0, 0 },
		{ "db_name=db\nmax_leases_per_uid=1\n", 0, 1, 0, 0 },
		{ "db_name=db\nissue_rate=3/s\n", 0, 0, 3, 1000 },
		{ "db_name=db\nissue_rate=60/m\n", 0, 0, 60, 60000 },
		{ "db_name=db\nissue_rate=1000000/h\n", 0, 0, 1000000, 3600000 },
		{ "{\"db_name\": \"db\", \"max_leases\": 5, \"max_leases_per_uid\": 2, "
		  "\"issue_rate\": \"1/s\"}",
		  5, 2, 1, 1000 },
		{ "{\"db_name\": \"db\", \"issue_rate\": 0}", 0, 0, 0, 0 },
	};
	static const struct {
		const char *doc, *text;
	} bad[] = {
		{ "db_name=db\nmax_leases=-1\n", "max_leases: -1 is out of range" },
		{ "db_name=db\nmax_leases=two\n", "max_leases: expected an integer" },
		{ "db_name=db\nmax_leases_per_uid=-3\n", "max_leases_per_uid: -3 is out of range" },
		{ "db_name=db\nmax_leases_per_uid=1.5\n",
		  "max_leases_per_uid: expected an integer" },
		{ "db_name=db\nissue_rate=10 per second\n",
		  "issue_rate: expected N/s, N/m or N/h, got \"10 per second\"" },
		{ "db_name=db\nissue_rate=10\n",
		  "issue_rate: expected N/s, N/m or N/h, got \"10\"" },
		{ "db_name=db\nissue_rate=10/d\n",
		  "issue_rate: expected N/s, N/m or N/h, got \"10/d\"" },
		{ "db_name=db\nissue_rate=/s\n",
		  "issue_rate: expected N/s, N/m or N/h, got \"/s\"" },
		{ "db_name=db\nissue_rate=5/ss\n",
		  "issue_rate: expected N/s, N/m or N/h, got \"5/ss\"" },
		{ "db_name=db\nissue_rate=-1/s\n",
		  "issue_rate: expected N/s, N/m or N/h, got \"-1/s\"" },
		{ "db_name=db\nissue_rate=0/s\n", "issue_rate: N must be from 1 to 1000000" },
		{ "db_name=db\nissue_rate=99999999999999999999/s\n",
		  "issue_rate: N must be from 1 to 1000000" },
		{ "{\"db_name\": \"db\", \"issue_rate\": 5}",
		  "issue_rate: expected N/s, N/m or N/h, got 5" },
		{ "{\"db_name\": \"db\", \"issue_rate\": true}", "issue_rate: expected a string" },
	};
	struct parse_error err;
	struct role *ro;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		CHECK_INT_EQ(build("r", ok[i].doc, true, &ro, &err), 0);
		if (!ro) {
			fprintf(stderr, "%s: %s\n", ok[i].doc, err.text);
			continue;
		}
		CHECK_INT_EQ(ro->max_leases, ok[i].max);
		CHECK_INT_EQ(ro->max_leases_per_uid, ok[i].per_uid);
		CHECK_INT_EQ(ro->issue_rate.n, ok[i].n);
		CHECK_INT_EQ(ro->issue_rate.per_ms, ok[i].per_ms);
		role_unref(ro);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT_EQ(build("r", bad[i].doc, true, &ro, &err), -EINVAL);
		CHECK(ro == NULL);
		if (strncmp(err.text, bad[i].text, strlen(bad[i].text)) != 0) {
			fprintf(stderr, "%s: message \"%s\", expected \"%s\"\n", bad[i].doc,
				err.text, bad[i].text);
			CHECK(0);
		}
		role_unref(ro);
	}

	/* the read-back: integers always, issue_rate only when set */
	CHECK_INT_EQ(build("r", "db_name=db\nmax_leases=2\nissue_rate=5/m\n", true, &ro, &err), 0);
	if (ro) {
		json_t *j = role_to_json(ro);

		CHECK_INT_EQ(json_integer_value(json_object_get(j, "max_leases")), 2);
		CHECK_INT_EQ(json_integer_value(json_object_get(j, "max_leases_per_uid")), 0);
		CHECK_STR_EQ(json_string_value(json_object_get(j, "issue_rate")), "5/m");
		json_decref(j);
		role_unref(ro);
	}
	CHECK_INT_EQ(build("r", "db_name=db\n", true, &ro, &err), 0);
	if (ro) {
		json_t *j = role_to_json(ro);

		CHECK(json_object_get(j, "issue_rate") == NULL);
		json_decref(j);
		role_unref(ro);
	}
}

/* A role written before transaction control was refused still restores, marked. */
static void test_txn_control_restore(void)
{
	static const char doc[] = "db_name=wizard\n"
				  "creation_statements=CREATE ROLE \"{{name}}\"; COMMIT\n"
				  "revocation_statements=DROP ROLE \"{{name}}\"; COMMIT\n";
	struct parse_error err;
	struct role *ro = NULL;

	CHECK_INT_EQ(build("old", doc, PARAMS_FINAL, &ro, &err), -EINVAL);
	CHECK(ro == NULL);
	CHECK_INT_EQ(build("old", doc, PARAMS_FINAL | PARAMS_RESTORE, &ro, &err), 0);
	CHECK(ro != NULL && ro->txn_control);
	CHECK(ro != NULL && ro->n_revocation == 2);
	role_unref(ro);
	CHECK_INT_EQ(build("db-app", seed_json, PARAMS_FINAL | PARAMS_RESTORE, &ro, &err), 0);
	CHECK(ro != NULL && !ro->txn_control);
	role_unref(ro);
}

/* Names creds/ would read as another role's file are refused, except from the state. */
static void test_name_clashes(void)
{
	static const char *const bad[] = { "x.env",    "x.uri", "x.service",
					   "x.pgpass", "x.d",	"a.b.env" };
	static const char *const good[] = { "x.ENV", "x.json", "x.dd", "env", "d", "x.env2" };
	struct parse_error err;
	struct role *ro = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_INT_EQ(role_name_valid(bad[i], &err), -EINVAL);
		CHECK(strstr(err.text, ".pgpass") != NULL);
		CHECK_INT_EQ(build(bad[i], seed_json, PARAMS_FINAL, &ro, &err), -EINVAL);
		CHECK(ro == NULL);
		CHECK_INT_EQ(build(bad[i], seed_json, PARAMS_FINAL | PARAMS_RESTORE, &ro, &err), 0);
		role_unref(ro);
		ro = NULL;
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK_INT_EQ(role_name_valid(good[i], &err), 0);
	CHECK_INT_EQ(role_name_valid("a b", &err), -EINVAL);
}

int main(void)
{
	if (secret_init() != 0) {
		fprintf(stderr, "secret_init failed\n");
		return 1;
	}
	RUN(test_seed_kv);
	RUN(test_seed_json);
	RUN(test_ttls);
	RUN(test_ttl_json_types);
	RUN(test_credential_config);
	RUN(test_template_vars);
	RUN(test_stmt_lists);
	RUN(test_required_and_names);
	RUN(test_binding);
	RUN(test_creds_mode);
	RUN(test_creds_owner);
	RUN(test_creds_owner_range);
	RUN(test_roundtrip);
	RUN(test_txn_control);
	RUN(test_txn_control_restore);
	RUN(test_limits);
	RUN(test_name_clashes);
	return DONE();
}
