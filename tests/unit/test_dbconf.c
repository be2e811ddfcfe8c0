/* SPDX-License-Identifier: MIT */
/*
 * test_dbconf.c - connection definitions (config/NAME): the seed's
 * connection in both forms, defaults, validation, JSON without the
 * password, and allowed_roles.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dbconf.h"
#include "params.h"
#include "secret.h"
#include "test.h"

#define SEED_URL \
	"postgresql://{{username}}:{{password}}@postgres.default.svc:5432/wizard?sslmode=disable"
#define SEED_PW "password"

/* The seed's `vault write database/config/wizard ...`, as a file. */
static const char seed_kv[] = "plugin_name=postgresql-database-plugin\n"
			      "allowed_roles=\"*\"\n"
			      "connection_url=\"" SEED_URL "\"\n"
			      "username=\"postgres\"\n"
			      "password=\"" SEED_PW "\"\n";

/* The same, as the body of the API call. */
static const char seed_json[] = "{\"plugin_name\": \"postgresql-database-plugin\","
				" \"allowed_roles\": \"*\","
				" \"connection_url\": \"" SEED_URL "\","
				" \"username\": \"postgres\", \"password\": \"" SEED_PW "\"}";

#define P  "plugin_name=postgresql-database-plugin\n"
#define U  "connection_url=host=db user={{username}} password={{password}}\n"
#define PW "password=Hunter2xyz\n"

/* Parse doc and build a dbconf named name; returns the dbconf_from_params result. */
static int build(const char *name, const char *doc, bool final, struct dbconf **out,
		 struct parse_error *err)
{
	json_t *p = NULL;
	int r;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	r = params_parse(doc, strlen(doc), true, &p, err);
	if (r != 0) {
		fprintf(stderr, "params_parse: %d %s\n", r, err->text);
		return r;
	}
	r = dbconf_from_params(name, p, final, out, err);
	json_decref(p);
	return r;
}

static void jfree(void *p)
{
	json_free_t f;

	json_get_alloc_funcs(NULL, &f);
	f(p);
}

/* The password must not be anywhere in the JSON text. */
static void check_no_password(const struct dbconf *c, const char *pw)
{
	json_t *j = dbconf_to_json(c);
	char *s;

	CHECK(j != NULL);
	CHECK(json_object_get(j, "password") == NULL);
	s = json_dumps(j, JSON_COMPACT);
	CHECK(s != NULL);
	if (s) {
		CHECK(strstr(s, pw) == NULL);
		CHECK(strstr(s, "\"password\"") == NULL);
		jfree(s);
	}
	json_decref(j);
}

static void check_seed(const struct dbconf *c)
{
	CHECK_STR_EQ(c->name, "wizard");
	CHECK_STR_EQ(c->connection_url, SEED_URL);
	CHECK_STR_EQ(c->username, "postgres");
	CHECK(c->password != NULL);
	if (c->password) {
		CHECK_STR_EQ(secret_str(c->password), SEED_PW);
		CHECK_INT_EQ(secret_len(c->password), strlen(SEED_PW));
	}
	CHECK_INT_EQ(c->n_allowed_roles, 1);
	CHECK_STR_EQ(c->allowed_roles[0], "*");
	CHECK(c->allowed_roles[1] == NULL);
	/* defaults */
	CHECK(c->verify_connection);
	CHECK_INT_EQ(c->max_open, DBCONF_DEFAULT_MAX_OPEN);
	CHECK_INT_EQ(c->max_open, 4);
	CHECK_INT_EQ(c->max_idle, c->max_open);
	CHECK_INT_EQ(c->max_lifetime, 0);
	/* commit 41beb44: only a SCRAM verifier reaches PostgreSQL by default */
	CHECK_INT_EQ(c->pwauth, DBCONF_PW_SCRAM);
	CHECK_INT_EQ(c->n_root_rotation, 0);
	CHECK(c->root_rotation && c->root_rotation[0] == NULL);
	CHECK_INT_EQ(c->password_length, SECRET_PASSWORD_LEN);
	CHECK_INT_EQ(c->refs, 1);
}

static void test_seed_kv(void)
{
	struct parse_error err;
	struct dbconf *c;

	CHECK_INT_EQ(build("wizard", seed_kv, true, &c, &err), 0);
	CHECK(c != NULL);
	if (!c)
		return;
	check_seed(c);
	CHECK(dbconf_role_allowed(c, "db-app"));
	check_no_password(c, SEED_PW "@");
	dbconf_unref(c);
}

static void test_seed_json(void)
{
	struct parse_error err;
	struct dbconf *c;

	CHECK_INT_EQ(build("wizard", seed_json, true, &c, &err), 0);
	CHECK(c != NULL);
	if (!c)
		return;
	check_seed(c);
	dbconf_unref(c);
}

static void test_to_json(void)
{
	static const char *const keys[] = { "plugin_name",
					    "connection_url",
					    "username",
					    "allowed_roles",
					    "verify_connection",
					    "max_open_connections",
					    "max_idle_connections",
					    "max_connection_lifetime",
					    "pool_timeout",
					    "issue_timeout",
					    "password_authentication",
					    "root_credentials_rotate_statements",
					    "password_length",
					    "plugin_version",
					    "password_policy",
					    "connection_details",
					    "disable_automated_rotation",
					    NULL };
	struct parse_error err;
	struct dbconf *c;
	json_t *j;

	CHECK_INT_EQ(build("wizard", seed_kv, true, &c, &err), 0);
	if (!c)
		return;
	j = dbconf_to_json(c);
	CHECK(j != NULL);
	for (const char *const *k = keys; *k; k++)
		CHECK(json_object_get(j, *k) != NULL);
	CHECK_INT_EQ(json_object_size(j), sizeof(keys) / sizeof(keys[0]) - 1);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "plugin_name")), DBCONF_PLUGIN);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "connection_url")), SEED_URL);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "username")), "postgres");
	CHECK_STR_EQ(json_string_value(json_array_get(json_object_get(j, "allowed_roles"), 0)),
		     "*");
	CHECK(json_is_true(json_object_get(j, "verify_connection")));
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "max_open_connections")), 4);
	CHECK_INT_EQ(json_integer_value(json_object_get(j, "max_idle_connections")), 4);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "password_authentication")),
		     "scram-sha-256");
	json_decref(j);
	dbconf_unref(c);

	/* Vault's "password" can still be chosen */
	CHECK_INT_EQ(build("wizard", P U "password_authentication=password\n", true, &c, &err), 0);
	if (!c)
		return;
	CHECK_INT_EQ(c->pwauth, DBCONF_PW_PASSWORD);
	j = dbconf_to_json(c);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "password_authentication")), "password");
	json_decref(j);
	dbconf_unref(c);
}

/* The password never shows, whatever it is (here: words that also appear in the JSON). */
static void test_to_json_never_password(void)
{
	static const char *const pws[] = { "s3cr3t-Pw!", "postgres", "wizard",
					   "postgresql-database-plugin", "x\"y\\z" };
	struct parse_error err;
	struct dbconf *c;
	json_t *p, *j;
	char *s;

	for (size_t i = 0; i < sizeof(pws) / sizeof(pws[0]); i++) {
		p = json_pack("{s:s, s:s, s:s, s:s}", "plugin_name", DBCONF_PLUGIN,
			      "connection_url", "host=db user={{username}} password={{password}}",
			      "username", "admin", "password", pws[i]);
		CHECK_INT_EQ(dbconf_from_params("c1", p, true, &c, &err), 0);
		json_decref(p);
		if (!c)
			continue;
		CHECK_STR_EQ(secret_str(c->password), pws[i]);
		j = dbconf_to_json(c);
		CHECK(json_object_get(j, "password") == NULL);
		s = json_dumps(j, JSON_COMPACT);
		CHECK(s != NULL);
		/* pws[1..3] are the user name, db name and plugin name too: only the first */
		if (s && i == 0)
			CHECK(strstr(s, pws[i]) == NULL);
		if (s && i == 4)
			CHECK(strstr(s, "x\\\"y") == NULL);
		jfree(s);
		json_decref(j);
		dbconf_unref(c);
	}
}

static void test_options(void)
{
	struct parse_error err;
	struct dbconf *c;

	CHECK_INT_EQ(build("c1",
			   "plugin_name=postgresql-database-plugin\n"
			   "connection_url=host=db user={{username}} password={{password}}\n"
			   "verify_connection=false\n"
			   "max_open_connections=10\n"
			   "max_idle_connections=3\n"
			   "max_connection_lifetime=30s\n"
			   "password_authentication=scram-sha-256\n"
			   "root_rotation_statements=ALTER USER \"{{username}}\" WITH PASSWORD "
			   "'{{password}}'; SELECT 1\n"
			   "password_length=32\n"
			   "plugin_version=v1\n",
			   true, &c, &err),
		     0);
	if (!c) {
		fprintf(stderr, "%s\n", err.text);
		CHECK(0);
		return;
	}
	CHECK(!c->verify_connection);
	CHECK_INT_EQ(c->max_open, 10);
	CHECK_INT_EQ(c->max_idle, 3);
	CHECK_INT_EQ(c->max_lifetime, 30);
	CHECK_INT_EQ(c->pwauth, DBCONF_PW_SCRAM);
	CHECK_INT_EQ(c->n_root_rotation, 2);
	CHECK_STR_EQ(c->root_rotation[0],
		     "ALTER USER \"{{username}}\" WITH PASSWORD '{{password}}'");
	CHECK_STR_EQ(c->root_rotation[1], "SELECT 1");
	CHECK_INT_EQ(c->password_length, 32);
	CHECK(c->username == NULL);
	CHECK(c->password == NULL);
	/* no allowed_roles: nothing allowed (Vault) */
	CHECK_INT_EQ(c->n_allowed_roles, 0);
	CHECK(!dbconf_role_allowed(c, "db-app"));
	dbconf_unref(c);
}

static void test_idle_rules(void)
{
	static const struct {
		const char *open, *idle;
		int want_open, want_idle;
	} cases[] = {
		{ NULL, NULL, 4, 4 },		{ "10", NULL, 10, 10 }, { "10", "0", 10, 10 },
		{ "10", "20", 10, 10 },		{ "10", "-1", 10, 0 },	{ "2", "1", 2, 1 },
		{ "1000", "1000", 1000, 1000 },
	};
	struct parse_error err;
	struct dbconf *c;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *p = json_pack("{s:s, s:s}", "plugin_name", DBCONF_PLUGIN, "connection_url",
				      "host=db");

		if (cases[i].open)
			json_object_set_new(p, "max_open_connections", json_string(cases[i].open));
		if (cases[i].idle)
			json_object_set_new(p, "max_idle_connections", json_string(cases[i].idle));
		c = NULL;
		CHECK_INT_EQ(dbconf_from_params("c1", p, true, &c, &err), 0);
		if (c) {
			CHECK_INT_EQ(c->max_open, cases[i].want_open);
			CHECK_INT_EQ(c->max_idle, cases[i].want_idle);
		}
		dbconf_unref(c);
		json_decref(p);
	}
}

/* Each document must be rejected with -EINVAL and a message containing want. */
static void reject(const char *name, const char *doc, bool final, const char *want)
{
	struct parse_error err;
	struct dbconf *c = (struct dbconf *)&err; /* must stay as it is */
	json_t *p = NULL;
	int r;

	memset(&err, 0, sizeof(err));
	if (params_parse(doc, strlen(doc), true, &p, &err) != 0) {
		fprintf(stderr, "params_parse failed for %s\n", doc);
		CHECK(0);
		return;
	}
	r = dbconf_from_params(name, p, final, &c, &err);
	json_decref(p);
	if (r != -EINVAL)
		fprintf(stderr, "accepted: %s\n", doc);
	CHECK_INT_EQ(r, -EINVAL);
	CHECK(c == (struct dbconf *)&err);
	if (r == 0 && c != (struct dbconf *)&err)
		dbconf_unref(c);
	if (want && !strstr(err.text, want)) {
		fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err.text, want);
		CHECK(0);
	}
	/* the password is never echoed */
	CHECK(strstr(err.text, "Hunter2xyz") == NULL);
}

static void test_rejects(void)
{
	/* required keys */
	reject("c1", U PW, true, "plugin_name");
	reject("c1", P PW, true, "connection_url");
	reject("c1", "plugin_name=mysql-database-plugin\n" U PW, true, "plugin_name");
	reject("c1", "plugin_name=mysql-database-plugin\n", false, "plugin_name");
	reject("c1", "plugin_name=\n" U, true, "plugin_name");
	/* unknown keys */
	reject("c1", P U PW "colour=blue\n", true, "colour");
	reject("c1", P U PW "Password=x\n", true, "Password");
	/* template variables */
	reject("c1", P "connection_url=host=db user={{name}}\n" PW, true, "connection_url");
	reject("c1", P "connection_url=host=db user={{ user }}\n" PW, true, "connection_url");
	reject("c1", P "connection_url=host=db user={{username\n" PW, true, "connection_url");
	reject("c1", P U PW "root_rotation_statements=ALTER ROLE x VALID UNTIL '{{expiration}}'\n",
	       true, "root_rotation_statements");
	reject("c1", P U PW "root_rotation_statements=ALTER ROLE \"{{nam}}\"\n", true,
	       "root_rotation_statements");
	reject("c1", P U PW "root_rotation_statements=ALTER ROLE 'x\n", true,
	       "root_rotation_statements");
	reject("c1", P U "username={{username}}\n" PW, true, "username");
	reject("c1", P U "password=a{{password}}b\n", true, "password");
	/* numbers and enums */
	reject("c1", P U "max_open_connections=0\n", true, "max_open_connections");
	reject("c1", P U "max_open_connections=many\n", true, "max_open_connections");
	reject("c1", P U "max_open_connections=1001\n", true, "max_open_connections");
	reject("c1", P U "max_idle_connections=x\n", true, "max_idle_connections");
	reject("c1", P U "verify_connection=maybe\n", true, "verify_connection");
	reject("c1", P U "max_connection_lifetime=forever\n", true, "max_connection_lifetime");
	reject("c1", P U "password_authentication=md5\n", true, "password_authentication");
	reject("c1", P U "password_length=7\n", true, "password_length");
	reject("c1", P U "password_length=101\n", true, "password_length");
	/* wrong JSON types */
	reject("c1", "{\"plugin_name\": 1, \"connection_url\": \"h\"}", true, "plugin_name");
	reject("c1", "{\"plugin_name\": \"" DBCONF_PLUGIN "\", \"connection_url\": [\"h\"]}", true,
	       "connection_url");
	reject("c1",
	       "{\"plugin_name\": \"" DBCONF_PLUGIN "\", \"connection_url\": \"h\","
	       " \"allowed_roles\": [1]}",
	       true, "allowed_roles");
	reject("c1",
	       "{\"plugin_name\": \"" DBCONF_PLUGIN "\", \"connection_url\": \"h\","
	       " \"password\": 12345}",
	       true, "password");
	/* bad names */
	reject("", P U, true, NULL);
	reject("a/b", P U, true, NULL);
	reject("..", P U, true, NULL);
	reject("a;b", P U, true, NULL);
}

#define ROT	"root_rotation_statements=ALTER USER \"{{username}}\" WITH PASSWORD '{{password}}'; "
#define TXN_MSG "): credfs runs the statements in its own transaction"

/* root_rotation_statements run in one transaction: none may end it or open another */
/* Parameters Vault accepts: accepted, ignored, or refused with the reason. */
static void test_vault_params(void)
{
	struct parse_error err;
	struct dbconf *c;

	CHECK_INT_EQ(build("c1",
			   P U PW "disable_escaping=false\nplugin_version=v1.17.0\n"
				  "password_policy=\n",
			   true, &c, &err),
		     0);
	dbconf_unref(c);
	CHECK_INT_EQ(build("c1",
			   "{\"plugin_name\": \"postgresql-database-plugin\", \"connection_url\": "
			   "\"host=db\", \"disable_escaping\": false, \"password_policy\": \"\", "
			   "\"plugin_version\": \"\", \"connection_details\": {\"x\": 1}}",
			   true, &c, &err),
		     0);
	dbconf_unref(c);
	reject("c1", P U PW "disable_escaping=true\n", true,
	       "disable_escaping: true is not supported");
	reject("c1", P U PW "disable_escaping=maybe\n", true, "disable_escaping");
	reject("c1", P U PW "password_policy=strong\n", true, "password_policy is not supported");
	reject("c1", P U PW "password_policy=strong\n", true, "password_length");
	reject("c1",
	       "{\"plugin_name\": \"postgresql-database-plugin\", \"connection_url\": "
	       "\"host=db\", \"connection_details\": \"x\"}",
	       true, "connection_details: expected an object");
	/* the rotation statements under either name, in both forms */
	CHECK_INT_EQ(build("c1",
			   P U PW "root_credentials_rotate_statements=ALTER ROLE "
				  "\"{{username}}\" PASSWORD '{{password}}'; SELECT 1\n",
			   true, &c, &err),
		     0);
	if (c) {
		CHECK_INT_EQ(c->n_root_rotation, 2);
		dbconf_unref(c);
	}
	CHECK_INT_EQ(build("c1",
			   "{\"plugin_name\": \"postgresql-database-plugin\", \"connection_url\": "
			   "\"host=db\", \"root_credentials_rotate_statements\": [\"SELECT 1\"], "
			   "\"root_rotation_statements\": [\"SELECT 1\"]}",
			   true, &c, &err),
		     0);
	if (c) {
		CHECK_INT_EQ(c->n_root_rotation, 1);
		dbconf_unref(c);
	}
	reject("c1",
	       P U PW "root_rotation_statements=SELECT 1\n"
		      "root_credentials_rotate_statements=SELECT 2\n",
	       true, "differ");
	reject("c1", P U PW "root_credentials_rotate_statements=SELECT {{nope}}\n", true,
	       "root_rotation_statements");
}

/* A read-back is a valid document: written back, it gives the same definition. */
static void test_vault_read_back(void)
{
	struct parse_error err;
	struct dbconf *c = NULL, *d = NULL;
	json_t *j, *k, *det;

	CHECK_INT_EQ(build("wizard", seed_kv, true, &c, &err), 0);
	if (!c)
		return;
	j = dbconf_to_json(c);
	det = json_object_get(j, "connection_details");
	CHECK(json_is_object(det));
	CHECK_STR_EQ(json_string_value(json_object_get(det, "connection_url")), SEED_URL);
	CHECK_STR_EQ(json_string_value(json_object_get(det, "username")), "postgres");
	CHECK_INT_EQ(json_integer_value(json_object_get(det, "max_open_connections")), 4);
	CHECK(json_object_get(det, "password") == NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "password_policy")), "");
	CHECK_STR_EQ(json_string_value(json_object_get(j, "plugin_version")), "");
	CHECK(json_object_get(j, "root_rotation_statements") == NULL);
	CHECK_INT_EQ(dbconf_from_params("wizard", j, true, &d, &err), 0);
	if (d) {
		k = dbconf_to_json(d);
		CHECK(json_equal(j, k));
		json_decref(k);
		dbconf_unref(d);
	}
	json_decref(j);
	dbconf_unref(c);
}

static void redact(const char *url, const char *want)
{
	char *r = dbconf_redact_url(url);

	CHECK_STR_EQ(r, want);
	free(r);
}

static void test_redact_url(void)
{
	redact(SEED_URL, SEED_URL);
	redact("postgresql://postgres:Hunter2@db:5432/w", "postgresql://postgres:xxxxx@db:5432/w");
	redact("postgres://u:p@ss@db/w?sslmode=disable", "postgres://u:xxxxx@db/w?sslmode=disable");
	redact("postgresql://u@db/w", "postgresql://u@db/w");
	redact("postgresql://db/w?user=u&password=s3cret&sslmode=require",
	       "postgresql://db/w?user=u&password=xxxxx&sslmode=require");
	redact("postgresql://db/w?password={{password}}",
	       "postgresql://db/w?password={{password}}");
	redact("postgresql://u:pw@db/w?password=x#frag",
	       "postgresql://u:xxxxx@db/w?password=xxxxx#frag");
	redact("host=db user=u password=Hunter2 dbname=w",
	       "host=db user=u password=xxxxx dbname=w");
	redact("host=db password = 'a b\\' c' user=u", "host=db password = xxxxx user=u");
	redact("host=db user={{username}} password={{password}}",
	       "host=db user={{username}} password={{password}}");
	redact("host=db passfile=/x", "host=db passfile=/x");
	redact("", "");
}

static void test_txn_control(void)
{
	struct parse_error err;
	struct dbconf *c = NULL;

	reject("c1", P U PW ROT "COMMIT\n", true,
	       "root_rotation_statements: statement 2 is transaction control (COMMIT" TXN_MSG);
	reject("c1", P U PW ROT "end\n", true,
	       "root_rotation_statements: statement 2 is transaction control (END" TXN_MSG);
	reject("c1", P U PW "root_rotation_statements=BEGIN; " ROT "\n", true,
	       "root_rotation_statements: statement 1 is transaction control (BEGIN" TXN_MSG);
	reject("c1", P U PW ROT "SELECT 1; /* undo */ ROLLBACK\n", true,
	       "root_rotation_statements: statement 3 is transaction control (ROLLBACK" TXN_MSG);
	reject("c1", P U PW ROT "/* keep */ savepoint s\n", true,
	       "root_rotation_statements: statement 2 is transaction control (SAVEPOINT" TXN_MSG);
	reject("c1", P U PW ROT "START TRANSACTION READ WRITE\n", true,
	       "(START TRANSACTION" TXN_MSG);
	reject("c1", P U PW ROT "PREPARE TRANSACTION 'rot'\n", true,
	       "(PREPARE TRANSACTION" TXN_MSG);
	reject("c1",
	       "{\"plugin_name\": \"" DBCONF_PLUGIN "\", \"connection_url\": \"h\","
	       " \"root_rotation_statements\": [\"SELECT 1\", \"abort\"]}",
	       true, "root_rotation_statements: statement 2 is transaction control (ABORT" TXN_MSG);
	/* BEGIN and END inside a statement, and prepared statements, are fine */
	CHECK_INT_EQ(build("c1",
			   P U PW ROT "DO $$ BEGIN PERFORM 1; END $$; PREPARE q AS SELECT 1; "
				      "EXECUTE q\n",
			   true, &c, &err),
		     0);
	if (c)
		CHECK_INT_EQ(c->n_root_rotation, 4);
	dbconf_unref(c);
}

/* while the writer is still writing, missing required keys are fine */
static void test_not_final(void)
{
	struct parse_error err;
	struct dbconf *c;

	CHECK_INT_EQ(build("c1", "username=postgres\n", false, &c, &err), 0);
	if (c) {
		CHECK(c->connection_url == NULL);
		CHECK_STR_EQ(c->username, "postgres");
		dbconf_unref(c);
	}
	CHECK_INT_EQ(build("c1", "username=postgres\n", true, &c, &err), -EINVAL);
	CHECK(c == NULL);
}

static struct dbconf *with_roles(const char *doc)
{
	struct parse_error err;
	struct dbconf *c = NULL;

	if (build("c1", doc, true, &c, &err) != 0) {
		fprintf(stderr, "%s: %s\n", doc, err.text);
		CHECK(0);
	}
	return c;
}

static void test_allowed_roles(void)
{
	struct dbconf *c;

	c = with_roles(P U "allowed_roles=*\n");
	CHECK(c && dbconf_role_allowed(c, "anything"));
	CHECK(c && dbconf_role_allowed(c, "db-app"));
	dbconf_unref(c);

	c = with_roles(P U "allowed_roles=db-*\n");
	CHECK(c && dbconf_role_allowed(c, "db-app"));
	CHECK(c && dbconf_role_allowed(c, "db-"));
	CHECK(c && !dbconf_role_allowed(c, "app"));
	CHECK(c && !dbconf_role_allowed(c, "xdb-app"));
	dbconf_unref(c);

	c = with_roles(P U "allowed_roles=a, b\n");
	CHECK(c && c->n_allowed_roles == 2);
	CHECK(c && dbconf_role_allowed(c, "a"));
	CHECK(c && dbconf_role_allowed(c, "b"));
	CHECK(c && !dbconf_role_allowed(c, "a, b"));
	CHECK(c && !dbconf_role_allowed(c, " b"));
	CHECK(c && !dbconf_role_allowed(c, "c"));
	dbconf_unref(c);

	c = with_roles(P U "allowed_roles=\n");
	CHECK(c && c->n_allowed_roles == 0);
	CHECK(c && !dbconf_role_allowed(c, "a"));
	CHECK(c && !dbconf_role_allowed(c, ""));
	dbconf_unref(c);

	c = with_roles("{\"plugin_name\": \"" DBCONF_PLUGIN "\", \"connection_url\": \"h\","
		       " \"allowed_roles\": [\"app-?\", \"exact\"]}");
	CHECK(c && dbconf_role_allowed(c, "app-1"));
	CHECK(c && !dbconf_role_allowed(c, "app-12"));
	CHECK(c && dbconf_role_allowed(c, "exact"));
	CHECK(c && !dbconf_role_allowed(c, "exactly"));
	dbconf_unref(c);

	c = with_roles("{\"plugin_name\": \"" DBCONF_PLUGIN "\", \"connection_url\": \"h\","
		       " \"allowed_roles\": []}");
	CHECK(c && !dbconf_role_allowed(c, "a"));
	dbconf_unref(c);
}

static void test_with_password(void)
{
	struct parse_error err;
	struct dbconf *c, *d;
	json_t *a, *b;

	CHECK_INT_EQ(
		build("wizard",
		      "plugin_name=postgresql-database-plugin\n"
		      "allowed_roles=a,b*\n"
		      "connection_url=" SEED_URL "\n"
		      "username=postgres\npassword=password\n"
		      "root_rotation_statements=ALTER ROLE \"{{name}}\" PASSWORD '{{password}}'\n",
		      true, &c, &err),
		0);
	if (!c)
		return;
	d = dbconf_with_password(c, secret_new("n3w-pw", 6));
	CHECK(d != NULL);
	if (!d) {
		dbconf_unref(c);
		return;
	}
	CHECK(d != c);
	CHECK_INT_EQ(d->refs, 1);
	CHECK_STR_EQ(secret_str(d->password), "n3w-pw");
	CHECK_STR_EQ(secret_str(c->password), "password"); /* the old one is untouched */
	CHECK(d->name != c->name);
	CHECK(d->allowed_roles != c->allowed_roles);
	CHECK_STR_EQ(d->allowed_roles[1], "b*");
	CHECK_STR_EQ(d->root_rotation[0], c->root_rotation[0]);
	a = dbconf_to_json(c);
	b = dbconf_to_json(d);
	CHECK(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	dbconf_unref(c); /* d outlives c */
	CHECK_STR_EQ(d->name, "wizard");
	CHECK(dbconf_role_allowed(d, "bob"));
	CHECK(dbconf_ref(d) == d);
	CHECK_INT_EQ(d->refs, 2);
	dbconf_unref(d);
	dbconf_unref(d);
	dbconf_unref(NULL);
}

/* username_template: checked at write time, read back, kept by a rotation. */
static void test_username_template(void)
{
	struct parse_error err;
	struct dbconf *c, *d;
	json_t *j;

	CHECK_INT_EQ(build("t",
			   P U "username_template={{ .RoleName | truncate 4 }}_{{ random 6 }}\n",
			   true, &c, &err),
		     0);
	if (!c)
		return;
	CHECK_STR_EQ(c->username_template, "{{ .RoleName | truncate 4 }}_{{ random 6 }}");
	j = dbconf_to_json(c);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "username_template")),
		     "{{ .RoleName | truncate 4 }}_{{ random 6 }}");
	json_decref(j);
	d = dbconf_with_password(c, secret_new("x", 1));
	CHECK(d && d->username_template && d->username_template != c->username_template);
	if (d)
		CHECK_STR_EQ(d->username_template, c->username_template);
	dbconf_unref(d);
	dbconf_unref(c);
	/* absent or empty: Vault's default shape, nothing in the JSON */
	CHECK_INT_EQ(build("t", P U "username_template=\n", true, &c, &err), 0);
	if (c) {
		CHECK(c->username_template == NULL);
		j = dbconf_to_json(c);
		CHECK(json_object_get(j, "username_template") == NULL);
		json_decref(j);
		dbconf_unref(c);
	}
	reject("t", P U "username_template={{ nosuch }}\n", true,
	       "username_template: template: unknown function");
	reject("t", P U "username_template={{ random 70 }}\n", true, "username_template");
	reject("t", P U "username_template=a'b\n", true, "not printable");
}

/* A target names the server and login, never the password; the JSON round trip keeps it. */
static void test_target(void)
{
	char t1[DBCONF_TARGET_LEN], t2[DBCONF_TARGET_LEN], t3[DBCONF_TARGET_LEN];
	struct parse_error err;
	struct dbconf *c = NULL, *d;
	json_t *j;

	CHECK_INT_EQ(build("wizard",
			   "plugin_name=postgresql-database-plugin\nallowed_roles=*\n"
			   "connection_url=" SEED_URL "\nusername=postgres\npassword=password\n",
			   true, &c, &err),
		     0);
	if (!c)
		return;
	dbconf_target(c, t1);
	CHECK_INT_EQ(strlen(t1), 32);
	CHECK(strspn(t1, "0123456789abcdef") == 32);
	d = dbconf_with_password(c, secret_new("other", 5));
	CHECK(d != NULL);
	if (d) {
		dbconf_target(d, t2);
		CHECK_STR_EQ(t2, t1); /* a rotated root password keeps the target */
		dbconf_unref(d);
	}
	j = dbconf_to_json(c);
	dbconf_target_of(json_string_value(json_object_get(j, "connection_url")),
			 json_string_value(json_object_get(j, "username")), t2);
	CHECK_STR_EQ(t2, t1);
	json_decref(j);
	dbconf_target_of(c->connection_url, "someone", t2);
	CHECK(strcmp(t2, t1) != 0);
	dbconf_target_of("postgresql://h2/db", c->username, t2);
	CHECK(strcmp(t2, t1) != 0);
	/* Absent and empty differ, and the parts do not run into each other. */
	dbconf_target_of("ab", NULL, t2);
	dbconf_target_of("ab", "", t3);
	CHECK(strcmp(t2, t3) != 0);
	dbconf_target_of("a", "b", t2);
	dbconf_target_of("ab", "", t3);
	CHECK(strcmp(t2, t3) != 0);
	dbconf_unref(c);
}

int main(void)
{
	if (secret_init() != 0) {
		fprintf(stderr, "secret_init failed\n");
		return 1;
	}
	RUN(test_seed_kv);
	RUN(test_seed_json);
	RUN(test_to_json);
	RUN(test_to_json_never_password);
	RUN(test_options);
	RUN(test_idle_rules);
	RUN(test_rejects);
	RUN(test_vault_params);
	RUN(test_vault_read_back);
	RUN(test_redact_url);
	RUN(test_txn_control);
	RUN(test_not_final);
	RUN(test_allowed_roles);
	RUN(test_with_password);
	RUN(test_username_template);
	RUN(test_target);
	return DONE();
}
