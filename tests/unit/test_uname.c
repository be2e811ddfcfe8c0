/* SPDX-License-Identifier: MIT */
/*
 * test_uname.c - generated database usernames.
 */
#include <regex.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "uname.h"
#include "test.h"

/* Vault's default shape: the parts hold any printable ASCII but space " ' \\ $. */
#define SHAPE \
	"^v-[!#%&()*+,./0-9:;<=>?@A-Z^_`a-z{|}~[-]{1,8}-[!#%&()*+,./0-9:;<=>?@A-Z^_`a-z{|}~[-]{0,8}-[A-Za-z0-9]{20}-(-?[0-9]+)$"

static int matches(const char *s)
{
	regex_t re;
	int ok;

	if (regcomp(&re, SHAPE, REG_EXTENDED | REG_NOSUB) != 0)
		return 0;
	ok = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

/* The name with the 20 random characters replaced by 'R' (t >= 0). */
static const char *masked(const char *who, const char *role, int64_t t)
{
	static char out[UNAME_MAX + 1];
	char *p, *dash;

	memset(out, 'Z', sizeof(out));
	CHECK_INT_EQ(uname_generate(who, role, t, out), 0);
	CHECK(strlen(out) <= UNAME_MAX);
	CHECK(matches(out));
	/* the random part ends at the last '-': ...-<20 random>-<time> */
	if ((dash = strrchr(out, '-')) == NULL || dash - out < 20)
		return "no random part";
	for (p = dash - 20; p < dash; p++)
		*p = 'R';
	return out;
}

static void test_shape(void)
{
	CHECK_STR_EQ(masked("psql", "readonly", 1700000000),
		     "v-psql-readonly-RRRRRRRRRRRRRRRRRRRR-1700000000");
	CHECK_STR_EQ(masked("cat", "app", 0), "v-cat-app-RRRRRRRRRRRRRRRRRRRR-0");
}

static void test_cut(void)
{
	/* who and role are cut to 8 bytes each */
	CHECK_STR_EQ(masked("postgres_exporter", "analytics-readonly", 1700000000),
		     "v-postgres-analytic-RRRRRRRRRRRRRRRRRRRR-1700000000");
	CHECK_STR_EQ(masked("12345678", "abcdefgh", 1),
		     "v-12345678-abcdefgh-RRRRRRRRRRRRRRRRRRRR-1");
}

static void test_sanitize(void)
{
	CHECK_STR_EQ(masked("my prog", "r", 5), "v-my_prog-r-RRRRRRRRRRRRRRRRRRRR-5");
	CHECK_STR_EQ(masked("a\"b';--", "r", 5), "v-a_b_;---r-RRRRRRRRRRRRRRRRRRRR-5");
	CHECK_STR_EQ(masked("a\\b$c", "r", 5), "v-a_b_c-r-RRRRRRRRRRRRRRRRRRRR-5");
	CHECK_STR_EQ(masked("cat", "db-app", 5), "v-cat-db-app-RRRRRRRRRRRRRRRRRRRR-5");
	CHECK_STR_EQ(masked("\x1b[31m", "r", 5), "v-_[31m-r-RRRRRRRRRRRRRRRRRRRR-5");
	CHECK_STR_EQ(masked("caf\xc3\xa9", "r", 5), "v-caf__-r-RRRRRRRRRRRRRRRRRRRR-5");
	/* a multibyte character cut in half by the 8-byte limit */
	CHECK_STR_EQ(masked("abcdefg\xc3\xa9", "r", 5), "v-abcdefg_-r-RRRRRRRRRRRRRRRRRRRR-5");
	/* Vault keeps '.', and every other byte a quoted name can hold */
	CHECK_STR_EQ(masked("x", "db.app-1", 5), "v-x-db.app-1-RRRRRRRRRRRRRRRRRRRR-5");
	CHECK_STR_EQ(masked("token.foo", "myrole", 5), "v-token.fo-myrole-RRRRRRRRRRRRRRRRRRRR-5");
	CHECK_STR_EQ(masked("token", "myrole.foo", 5), "v-token-myrole.f-RRRRRRRRRRRRRRRRRRRR-5");
	CHECK_STR_EQ(masked("py@3+x:y", "a/b%c#d", 5), "v-py@3+x:y-a/b%c#d-RRRRRRRRRRRRRRRRRRRR-5");
	CHECK_STR_EQ(masked("\t\n\r", "{{name}}", 5), "v-___-{{name}}-RRRRRRRRRRRRRRRRRRRR-5");
	CHECK_STR_EQ(masked("_x_", "_", 5), "v-_x_-_-RRRRRRRRRRRRRRRRRRRR-5");
}

static void test_empty(void)
{
	CHECK_STR_EQ(masked("", "r", 5), "v-unknown-r-RRRRRRRRRRRRRRRRRRRR-5");
	CHECK_STR_EQ(masked(NULL, "r", 5), "v-unknown-r-RRRRRRRRRRRRRRRRRRRR-5");
	CHECK_STR_EQ(masked("cat", "", 5), "v-cat--RRRRRRRRRRRRRRRRRRRR-5");
}

static void test_time_extremes(void)
{
	char out[UNAME_MAX + 1];

	/* the longest possible name still fits */
	CHECK_INT_EQ(uname_generate("abcdefghij", "abcdefghij", INT64_MIN, out), 0);
	CHECK_INT_EQ(strlen(out), 2 + 8 + 1 + 8 + 1 + 20 + 1 + 20);
	CHECK(strlen(out) <= UNAME_MAX);
	CHECK(strcmp(out + strlen(out) - 20, "-9223372036854775808") == 0);
	CHECK_INT_EQ(uname_generate("abcdefghij", "abcdefghij", INT64_MAX, out), 0);
	CHECK(strcmp(out + strlen(out) - 19, "9223372036854775807") == 0);
	CHECK(matches(out));
}

static void test_unique(void)
{
	enum { N = 2000 };
	static char names[N][UNAME_MAX + 1];
	size_t i, j;
	int dup = 0;

	for (i = 0; i < N; i++)
		CHECK_INT_EQ(uname_generate("psql", "ro", 1700000000, names[i]), 0);
	for (i = 0; i < N; i++)
		for (j = i + 1; j < N; j++)
			dup |= strcmp(names[i], names[j]) == 0;
	CHECK(!dup);
}

static void test_random(void)
{
	char buf[4001];
	int seen[256] = { 0 };
	size_t i, distinct = 0;

	uname_random(buf, 0);
	CHECK_STR_EQ(buf, "");
	memset(buf, 'Z', sizeof(buf));
	uname_random(buf, 1);
	CHECK(buf[1] == '\0');
	uname_random(buf, 4000);
	CHECK_INT_EQ(strlen(buf), 4000);
	for (i = 0; i < 4000; i++) {
		unsigned char c = (unsigned char)buf[i];

		CHECK((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'));
		if (!seen[c]++)
			distinct++;
	}
	/* 4000 draws from 62 symbols: all appear (miss chance ~ 62 * e^-64) */
	CHECK_INT_EQ(distinct, 62);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	RUN(test_shape);
	RUN(test_cut);
	RUN(test_sanitize);
	RUN(test_empty);
	RUN(test_time_extremes);
	RUN(test_unique);
	RUN(test_random);
	return DONE();
}
