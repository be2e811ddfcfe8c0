/* SPDX-License-Identifier: MIT */
/*
 * test_dur.c - Vault duration syntax.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dur.h"
#include "test.h"

/* dur_parse(s) in seconds, or -1 when it fails. */
static int64_t parse(const char *s)
{
	struct parse_error err;
	int64_t sec = -1;

	if (dur_parse(s, &sec, &err) != 0)
		return -1;
	return sec;
}

/* The message for a rejected s, or "" if s was accepted. */
static const char *why(const char *s)
{
	static struct parse_error err;
	int64_t sec = 12345;

	memset(&err, 0, sizeof(err));
	if (dur_parse(s, &sec, &err) != -EINVAL) {
		CHECK(0);
		return "";
	}
	CHECK_INT_EQ(sec, 12345); /* untouched on failure */
	return err.text;
}

static void test_integer_seconds(void)
{
	CHECK_INT_EQ(parse("0"), 0);
	CHECK_INT_EQ(parse("1"), 1);
	CHECK_INT_EQ(parse("3600"), 3600);
	CHECK_INT_EQ(parse("007"), 7);
	CHECK_INT_EQ(parse("86400"), 86400);
}

static void test_units(void)
{
	CHECK_INT_EQ(parse("90s"), 90);
	CHECK_INT_EQ(parse("30m"), 1800);
	CHECK_INT_EQ(parse("1h"), 3600);
	CHECK_INT_EQ(parse("24h"), 86400);
	CHECK_INT_EQ(parse("7d"), 7 * 86400);
	CHECK_INT_EQ(parse("0s"), 0);
	CHECK_INT_EQ(parse("0h0m0s"), 0);
}

static void test_groups(void)
{
	CHECK_INT_EQ(parse("1h30m"), 5400);
	CHECK_INT_EQ(parse("1d2h3m4s"), 86400 + 7200 + 180 + 4);
	/* any order and repeats add up, as in Go's time.ParseDuration */
	CHECK_INT_EQ(parse("30m1h"), 5400);
	CHECK_INT_EQ(parse("1h1h"), 7200);
	CHECK_INT_EQ(parse("90m"), 5400);
}

static void test_fractions(void)
{
	CHECK_INT_EQ(parse("1.5h"), 5400);
	CHECK_INT_EQ(parse("0.5m"), 30);
	CHECK_INT_EQ(parse(".5m"), 30);
	CHECK_INT_EQ(parse("1.h"), 3600);
	CHECK_INT_EQ(parse("1.5s"), 1); /* truncated */
	CHECK_INT_EQ(parse("1.999999999s"), 1);
	CHECK_INT_EQ(parse("0.25d"), 21600);
	CHECK_INT_EQ(parse("0.5s0.5s"), 1); /* summed, then truncated */
	CHECK_INT_EQ(parse("1.5h30m"), 7200);
	/* 1/3 of an hour: exact decimal arithmetic, no binary rounding */
	CHECK_INT_EQ(parse("0.33333333333333333333333333h"), 1199);
	CHECK_INT_EQ(parse("0.1h"), 360);
	CHECK_INT_EQ(parse("0.0003125d"), 27);
	CHECK_INT_EQ(parse("1.00000000000000000000000000000000000001s"), 1);
}

static void test_blanks(void)
{
	CHECK_INT_EQ(parse("  1h "), 3600);
	CHECK_INT_EQ(parse("\t90s\n"), 90);
	CHECK_INT_EQ(parse(" 60 "), 60);
	CHECK_STR_EQ(why("1h 30m"), "bad duration \"1h 30m\": unexpected blank");
	CHECK_STR_EQ(why("1 h"), "bad duration \"1 h\": unexpected blank");
}

static void test_rejected(void)
{
	CHECK_STR_EQ(why(""), "empty duration");
	CHECK_STR_EQ(why("   "), "empty duration");
	CHECK_STR_EQ(why(NULL), "empty duration");
	CHECK_STR_EQ(why("1x"), "bad duration \"1x\": unknown unit \"x\"");
	CHECK_STR_EQ(why("1ms"), "bad duration \"1ms\": unknown unit \"ms\"");
	CHECK_STR_EQ(why("1hr"), "bad duration \"1hr\": unknown unit \"hr\"");
	CHECK_STR_EQ(why("1H"), "bad duration \"1H\": unknown unit \"H\"");
	CHECK_STR_EQ(why("1w"), "bad duration \"1w\": unknown unit \"w\"");
	CHECK_STR_EQ(why("-5"), "bad duration \"-5\": negative durations are not allowed");
	CHECK_STR_EQ(why("-1h"), "bad duration \"-1h\": negative durations are not allowed");
	CHECK_STR_EQ(why("h"), "bad duration \"h\": missing number before \"h\"");
	CHECK_STR_EQ(why("+5s"), "bad duration \"+5s\": missing number before \"+\"");
	CHECK_STR_EQ(why("1hm"), "bad duration \"1hm\": unknown unit \"hm\"");
	CHECK_STR_EQ(why("1h-5m"), "bad duration \"1h-5m\": unknown unit \"h-\"");
	CHECK_STR_EQ(why("1.5"), "bad duration \"1.5\": missing unit after \"1.5\"");
	CHECK_STR_EQ(why("1h30"), "bad duration \"1h30\": missing unit after \"30\"");
	CHECK_STR_EQ(why("1."), "bad duration \"1.\": missing unit after \"1.\"");
	CHECK_STR_EQ(why("."), "bad duration \".\": bad number \".\"");
	CHECK_STR_EQ(why(".h"), "bad duration \".h\": bad number \".\"");
	CHECK_STR_EQ(why("1..5h"), "bad duration \"1..5h\": missing unit after \"1.\"");
	CHECK_STR_EQ(why("1e3s"), "bad duration \"1e3s\": unknown unit \"e\"");
	CHECK_STR_EQ(why("0x10"), "bad duration \"0x10\": unknown unit \"x\"");
	CHECK_STR_EQ(why("1,5h"), "bad duration \"1,5h\": unknown unit \",\"");
	CHECK_STR_EQ(why("inf"), "bad duration \"inf\": missing number before \"inf\"");
	CHECK_STR_EQ(why("nan"), "bad duration \"nan\": missing number before \"nan\"");
	CHECK_INT_EQ(parse("1h\n1m"), -1);
}

static void test_limits(void)
{
	char buf[64];

	CHECK_INT_EQ(parse("3153600000"), DUR_MAX_SEC);
	CHECK_INT_EQ(parse("36500d"), DUR_MAX_SEC);
	CHECK_INT_EQ(parse("876000h"), DUR_MAX_SEC);
	CHECK_INT_EQ(parse("36499d23h59m59.999999999s"), DUR_MAX_SEC - 1);
	CHECK_INT_EQ(parse("36500d0.999999999s"), DUR_MAX_SEC);
	CHECK_STR_EQ(why("3153600001"), "bad duration \"3153600001\": longer than 100 years");
	CHECK_STR_EQ(why("36500d1s"), "bad duration \"36500d1s\": longer than 100 years");
	CHECK_INT_EQ(parse("36500.00001d"), DUR_MAX_SEC); /* + 0.864 s, truncated */
	CHECK_STR_EQ(why("36500.0001d"), "bad duration \"36500.0001d\": longer than 100 years");
	CHECK_STR_EQ(why("36501d"), "bad duration \"36501d\": longer than 100 years");
	CHECK_INT_EQ(parse("18446744073709551617"), -1); /* 2^64 + 1 must not wrap */
	CHECK_INT_EQ(parse("18446744073709551617s"), -1);
	CHECK_INT_EQ(parse("99999999999999999999999999999999d"), -1);
	CHECK_INT_EQ(parse("9223372036854775807"), -1);
	CHECK_INT_EQ(parse("213503982334601d"), -1); /* * 86400 wraps int64 */
	/* many groups each under the limit, together over it */
	snprintf(buf, sizeof(buf), "%s", "36000d36000d36000d36000d36000d36000d");
	CHECK_INT_EQ(parse(buf), -1);
	CHECK_INT_EQ(parse("0000000000000000000000000000000000000000001s"), 1);
}

static void test_message_safety(void)
{
	const char *t;

	/* user bytes are quoted bounded and printable */
	t = why("1h\x01\x7f");
	CHECK_STR_EQ(t, "bad duration \"1h??\": unknown unit \"h??\"");
	t = why("1hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh"
		"hhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhhh");
	CHECK(strlen(t) < sizeof(((struct parse_error *)0)->text));
	CHECK(strstr(t, "...") != NULL);
	t = why("1\xc3\xa9");
	CHECK_STR_EQ(t, "bad duration \"1??\": unknown unit \"??\"");
}

static void test_err_null(void)
{
	int64_t sec = 7;

	CHECK_INT_EQ(dur_parse("1x", &sec, NULL), -EINVAL);
	CHECK_INT_EQ(sec, 7);
	CHECK_INT_EQ(dur_parse("2m", &sec, NULL), 0);
	CHECK_INT_EQ(sec, 120);
}

static void test_prefix(void)
{
	struct parse_error err;
	int64_t sec;

	CHECK_INT_EQ(dur_parse("1x", &sec, &err), -EINVAL);
	perr_prefix(&err, "default_ttl");
	CHECK_STR_EQ(err.text, "default_ttl: bad duration \"1x\": unknown unit \"x\"");
	CHECK_INT_EQ(err.line, 0);
	CHECK_INT_EQ(err.col, 0);
}

/* perr is tested here, with its first user */
static void test_perr(void)
{
	struct parse_error err;
	char big[400];
	size_t len;

	perr_set(NULL, 1, 2, "ignored %d", 1);
	perr_prefix(NULL, "x");
	perr_set(&err, 3, 4, "%s=%d", "a", 5);
	CHECK_INT_EQ(err.line, 3);
	CHECK_INT_EQ(err.col, 4);
	CHECK_STR_EQ(err.text, "a=5");
	perr_prefix(&err, NULL);
	CHECK_STR_EQ(err.text, "a=5");
	perr_prefix(&err, "key");
	CHECK_STR_EQ(err.text, "key: a=5");
	CHECK_INT_EQ(err.line, 3);

	/* truncation keeps the NUL */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	perr_set(&err, 0, 0, "%s", big);
	CHECK_INT_EQ(strlen(err.text), sizeof(err.text) - 1);
	perr_prefix(&err, "creation_statements");
	CHECK_INT_EQ(strlen(err.text), sizeof(err.text) - 1);
	CHECK(strncmp(err.text, "creation_statements: xxx", 24) == 0);
	perr_prefix(&err, big); /* a prefix longer than the text field */
	CHECK_INT_EQ(strlen(err.text), sizeof(err.text) - 1);
	CHECK(err.text[0] == 'x');

	/* a cut never leaves half of a UTF-8 sequence at the end */
	memset(big, 'x', sizeof(big));
	for (len = 0; len < 4; len++) {
		memset(big, 'x', sizeof(big));
		memcpy(big + sizeof(err.text) - 2 - len, "\xe2\x82\xac", 3); /* the euro sign */
		big[sizeof(big) - 1] = '\0';
		perr_set(&err, 0, 0, "%s", big);
		CHECK(strlen(err.text) <= sizeof(err.text) - 1);
		CHECK(strlen(err.text) >= sizeof(err.text) - 4);
		CHECK(!((unsigned char)err.text[strlen(err.text) - 1] & 0x80) ||
		      strstr(err.text, "\xe2\x82\xac") == err.text + strlen(err.text) - 3);
	}
	perr_set(&err, 0, 0, "caf\xc3\xa9");
	CHECK_STR_EQ(err.text, "caf\xc3\xa9");
}

int main(void)
{
	RUN(test_integer_seconds);
	RUN(test_units);
	RUN(test_groups);
	RUN(test_fractions);
	RUN(test_blanks);
	RUN(test_rejected);
	RUN(test_limits);
	RUN(test_message_safety);
	RUN(test_err_null);
	RUN(test_prefix);
	RUN(test_perr);
	return DONE();
}
