/* SPDX-License-Identifier: MIT */
/*
 * test_static.c - static role definitions (static-roles/NAME): both input
 * forms, required keys, defaults, refusals and the read-back round trip.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "params.h"
#include "static.h"
#include "test.h"

static int build(const char *doc, unsigned flags, struct static_role **out, struct parse_error *err)
{
	json_t *p = NULL;
	int r;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	if ((r = params_parse(doc, strlen(doc), true, &p, err)) != 0)
		return r;
	r = static_role_from_params("app", p, flags, out, err);
	json_decref(p);
	return r;
}

static void test_kv(void)
{
	struct parse_error err;
	struct static_role *s;

	CHECK_INT_EQ(build("db_name=wizard\nusername=app_user\nrotation_period=24h\n", PARAMS_FINAL,
			   &s, &err),
		     0);
	if (!s)
		return;
	CHECK_STR_EQ(s->db_name, "wizard");
	CHECK_STR_EQ(s->username, "app_user");
	CHECK_INT_EQ(s->sched.period, 86400);
	CHECK_INT_EQ(s->n_rotation, 0);
	CHECK(!s->skip_import_rotation);
	CHECK_INT_EQ(s->creds_mode, 0400);
	static_role_unref(s);
}

static void test_json(void)
{
	struct parse_error err;
	struct static_role *s;

	CHECK_INT_EQ(build("{\"db_name\": \"wizard\", \"username\": \"u\","
			   " \"rotation_schedule\": \"0 0 * * SUN\", \"rotation_window\": \"1h\","
			   " \"rotation_statements\": [\"ALTER ROLE \\\"{{name}}\\\" PASSWORD "
			   "'{{password}}'\"], \"skip_import_rotation\": true,"
			   " \"creds_mode\": \"0440\"}",
			   PARAMS_FINAL, &s, &err),
		     0);
	if (!s)
		return;
	CHECK(s->sched.has_cron);
	CHECK_INT_EQ(s->sched.window, 3600);
	CHECK_INT_EQ(s->n_rotation, 1);
	CHECK(s->skip_import_rotation);
	CHECK_INT_EQ(s->creds_mode, 0440);
	static_role_unref(s);
}

static void test_required(void)
{
	struct parse_error err;
	struct static_role *s;

	CHECK_INT_EQ(build("db_name=wizard\nrotation_period=1h\n", PARAMS_FINAL, &s, &err),
		     -EINVAL);
	CHECK(strstr(err.text, "username: required") != NULL);
	CHECK_INT_EQ(build("username=u\nrotation_period=1h\n", PARAMS_FINAL, &s, &err), -EINVAL);
	CHECK(strstr(err.text, "db_name: required") != NULL);
	CHECK_INT_EQ(build("db_name=w\nusername=u\n", PARAMS_FINAL, &s, &err), -EINVAL);
	CHECK(strstr(err.text, "rotation_period or rotation_schedule") != NULL);
	/* Not final: the writer may still be writing. */
	CHECK_INT_EQ(build("db_name=w\n", 0, &s, &err), 0);
	static_role_unref(s);
}

static void test_refused(void)
{
	struct parse_error err;
	struct static_role *s;

	CHECK_INT_EQ(build("db_name=w\nusername=u\nrotation_period=4s\n", PARAMS_FINAL, &s, &err),
		     -EINVAL);
	CHECK(strstr(err.text, "at least 5s") != NULL);
	CHECK_INT_EQ(build("db_name=w\nusername=u\nrotation_period=1h\ncolour=red\n", PARAMS_FINAL,
			   &s, &err),
		     -EINVAL);
	CHECK(strstr(err.text, "colour") != NULL);
	CHECK_INT_EQ(
		build("db_name=w\nusername=u\nrotation_period=1h\n"
		      "rotation_statements=ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiration}}'\n",
		      PARAMS_FINAL, &s, &err),
		-EINVAL);
	CHECK(strstr(err.text, "rotation_statements") != NULL);
	CHECK_INT_EQ(
		build("db_name=w\nusername=u\nrotation_period=1h\nrotation_statements=COMMIT\n",
		      PARAMS_FINAL, &s, &err),
		-EINVAL);
	CHECK_INT_EQ(build("db_name=w\nusername=u\nrotation_period=1h\ncreds_mode=0644\n",
			   PARAMS_FINAL, &s, &err),
		     -EINVAL);
	CHECK_INT_EQ(
		build("db_name=w\nusername=u\nrotation_period=1h\ncredential_type=rsa_private_key\n",
		      PARAMS_FINAL, &s, &err),
		-EINVAL);
}

/* The read-back, state fields included, can be written again as it is. */
static void test_round_trip(void)
{
	struct static_role *s, *t;
	struct parse_error err;
	json_t *j;
	char *text;

	CHECK_INT_EQ(build("db_name=w\nusername=u\nrotation_schedule=*/10 * * * *\n", PARAMS_FINAL,
			   &s, &err),
		     0);
	if (!s)
		return;
	j = static_role_to_json(s);
	json_object_set_new(j, "last_vault_rotation", json_string("2026-12-01T00:00:00Z"));
	json_object_set_new(j, "next_rotation", json_string("2026-12-01T00:10:00Z"));
	json_object_set_new(j, "last_error", json_null());
	text = json_dumps(j, 0);
	CHECK_INT_EQ(build(text, PARAMS_FINAL, &t, &err), 0);
	if (t) {
		CHECK_STR_EQ(t->sched.expr, "*/10 * * * *");
		CHECK_STR_EQ(t->username, "u");
	}
	free(text);
	json_decref(j);
	static_role_unref(t);
	static_role_unref(s);
}

/* A static role's state (the journal's and the fleet's form) folds its records in order. */
static void test_fold(void)
{
	json_t *o = json_object(), *rec;

	rec = json_pack("{s:s, s:s, s:{s:s}, s:i}", "t", "sdef", "name", "app", "doc", "username",
			"u", "at", 100);
	static_state_fold(o, "sdef", rec);
	json_decref(rec);
	CHECK_INT_EQ((int)json_integer_value(json_object_get(o, "at")), 100);
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(o, "doc"), "username")),
		     "u");
	CHECK(!json_object_get(o, "password"));

	rec = json_pack("{s:s, s:s, s:s}", "t", "spend", "name", "app", "password", "p1");
	static_state_fold(o, "spend", rec);
	json_decref(rec);
	CHECK_STR_EQ(json_string_value(json_object_get(o, "pending")), "p1");
	CHECK(!json_object_get(o, "password"));

	rec = json_pack("{s:s, s:s, s:s, s:i}", "t", "spw", "name", "app", "password", "p1", "at",
			200);
	static_state_fold(o, "spw", rec);
	json_decref(rec);
	CHECK_STR_EQ(json_string_value(json_object_get(o, "password")), "p1");
	CHECK_INT_EQ((int)json_integer_value(json_object_get(o, "last")), 200);
	CHECK(!json_object_get(o, "pending"));

	rec = json_pack("{s:s, s:s, s:s}", "t", "spend", "name", "app", "password", "p2");
	static_state_fold(o, "spend", rec);
	json_decref(rec);
	rec = json_pack("{s:s, s:s}", "t", "sclear", "name", "app");
	static_state_fold(o, "sclear", rec);
	/* Other types change nothing. */
	static_state_fold(o, "rootrot", rec);
	json_decref(rec);
	CHECK(!json_object_get(o, "pending"));
	CHECK_STR_EQ(json_string_value(json_object_get(o, "password")), "p1");
	CHECK_INT_EQ((int)json_object_size(o), 4);
	json_decref(o);
}

int main(void)
{
	RUN(test_fold);
	RUN(test_kv);
	RUN(test_json);
	RUN(test_required);
	RUN(test_refused);
	RUN(test_round_trip);
	return DONE();
}
