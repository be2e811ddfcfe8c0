/* SPDX-License-Identifier: MIT */
/*
 * test_rsched.c - when the next rotation is due: rotation_period against
 * rotation_schedule, with and without rotation_window, on a clock the test
 * passes in.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "params.h"
#include "rsched.h"
#include "test.h"

/* 2026-12-01T00:00:00Z, a Tuesday */
#define T0 1796083200LL

static int parse(const char *doc, struct rsched *s, struct parse_error *err)
{
	json_t *p = NULL;
	int r;

	memset(s, 0, sizeof(*s));
	memset(err, 0, sizeof(*err));
	if ((r = params_parse(doc, strlen(doc), true, &p, err)) != 0)
		return r;
	r = rsched_from_params(p, 5, s, err);
	json_decref(p);
	return r;
}

static void test_period(void)
{
	struct parse_error err;
	struct rsched s;

	CHECK_INT_EQ(parse("rotation_period=1h\n", &s, &err), 0);
	CHECK(rsched_is_set(&s));
	CHECK_INT_EQ(s.period, 3600);
	CHECK_INT_EQ(rsched_next(&s, T0, T0), T0 + 3600);
	/* Late (credfs was down): due at once, still counted from the last one. */
	CHECK_INT_EQ(rsched_next(&s, T0, T0 + 7200), T0 + 3600);
	CHECK_INT_EQ(parse("rotation_period=3\n", &s, &err), -EINVAL);
	CHECK(strstr(err.text, "at least 5s") != NULL);
	CHECK_INT_EQ(parse("{\"rotation_period\": 5}", &s, &err), 0);
	CHECK_INT_EQ(s.period, 5);
}

static void test_none(void)
{
	struct parse_error err;
	struct rsched s;

	CHECK_INT_EQ(parse("username=x\n", &s, &err), 0);
	CHECK(!rsched_is_set(&s));
	CHECK(rsched_next(&s, T0, T0) == INT64_MAX);
	/* Vault's read-back of "none" */
	CHECK_INT_EQ(parse("{\"rotation_period\": 0, \"rotation_schedule\": \"\"}", &s, &err), 0);
	CHECK(!rsched_is_set(&s));
}

static void test_schedule(void)
{
	struct parse_error err;
	struct rsched s;

	CHECK_INT_EQ(parse("rotation_schedule=0 3 * * *\n", &s, &err), 0);
	CHECK(s.has_cron);
	CHECK_STR_EQ(s.expr, "0 3 * * *");
	CHECK_INT_EQ(rsched_next(&s, T0, T0), T0 + 3 * 3600);
	CHECK_INT_EQ(rsched_next(&s, T0 + 3 * 3600, T0 + 3 * 3600), T0 + 27 * 3600);
	/* No window: a missed time is caught up as soon as possible. */
	CHECK_INT_EQ(rsched_next(&s, T0, T0 + 10 * 3600), T0 + 3 * 3600);
	CHECK_INT_EQ(parse("rotation_schedule=61 * * * *\n", &s, &err), -EINVAL);
	CHECK(strstr(err.text, "rotation_schedule") != NULL);
}

static void test_window(void)
{
	struct parse_error err;
	struct rsched s;

	CHECK_INT_EQ(parse("rotation_schedule=0 3 * * *\nrotation_window=2h\n", &s, &err), 0);
	CHECK_INT_EQ(s.window, 7200);
	/* Inside the window: still due at 03:00. */
	CHECK_INT_EQ(rsched_next(&s, T0, T0 + 4 * 3600), T0 + 3 * 3600);
	/* The window closed at 05:00: wait for tomorrow's 03:00. */
	CHECK_INT_EQ(rsched_next(&s, T0, T0 + 5 * 3600), T0 + 27 * 3600);
	CHECK_INT_EQ(rsched_next(&s, T0, T0 + 10 * 3600), T0 + 27 * 3600);
	/* Two days late, inside the window of the third day's time. */
	CHECK_INT_EQ(rsched_next(&s, T0, T0 + 51 * 3600 + 60), T0 + 51 * 3600);
}

static void test_refused(void)
{
	struct parse_error err;
	struct rsched s;

	CHECK_INT_EQ(parse("rotation_period=1h\nrotation_schedule=0 * * * *\n", &s, &err), -EINVAL);
	CHECK(strstr(err.text, "exclude") != NULL);
	CHECK_INT_EQ(parse("rotation_period=1h\nrotation_window=2h\n", &s, &err), -EINVAL);
	CHECK(strstr(err.text, "only with rotation_schedule") != NULL);
	CHECK_INT_EQ(parse("rotation_schedule=0 * * * *\nrotation_window=30m\n", &s, &err),
		     -EINVAL);
	CHECK(strstr(err.text, "at least 1h") != NULL);
}

static void test_json(void)
{
	struct parse_error err;
	struct rsched s;
	json_t *o = json_object();

	CHECK_INT_EQ(parse("rotation_schedule=*/5 * * * *\nrotation_window=1h\n", &s, &err), 0);
	rsched_to_json(&s, o);
	CHECK_STR_EQ(json_string_value(json_object_get(o, "rotation_schedule")), "*/5 * * * *");
	CHECK_INT_EQ(json_integer_value(json_object_get(o, "rotation_window")), 3600);
	CHECK(!json_object_get(o, "rotation_period"));
	json_decref(o);
}

int main(void)
{
	RUN(test_period);
	RUN(test_none);
	RUN(test_schedule);
	RUN(test_window);
	RUN(test_refused);
	RUN(test_json);
	return DONE();
}
