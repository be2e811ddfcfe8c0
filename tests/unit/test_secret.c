/* SPDX-License-Identifier: MIT */
/*
 * test_secret.c - guarded secrets, constant-time comparison and the
 * password generator.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "secret.h"
#include "test.h"

#define NPW 1000

static char pwbuf[NPW][SECRET_PASSWORD_LEN + 1];

static int cmp_pw(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* 1 lower, 2 upper, 4 digit, 8 dash, 16 anything else */
static unsigned classes(const char *s, size_t n)
{
	unsigned c = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 'a' && s[i] <= 'z')
			c |= 1;
		else if (s[i] >= 'A' && s[i] <= 'Z')
			c |= 2;
		else if (s[i] >= '0' && s[i] <= '9')
			c |= 4;
		else if (s[i] == '-')
			c |= 8;
		else
			c |= 16;
	}
	return c;
}

static void test_password(void)
{
	int bad_len = 0, bad_class = 0, dups = 0;
	unsigned seen_at[SECRET_PASSWORD_LEN] = { 0 };

	for (int i = 0; i < NPW; i++) {
		struct secret *s = secret_password(SECRET_PASSWORD_LEN);

		if (!s) {
			CHECK(0);
			return;
		}
		if (secret_len(s) != SECRET_PASSWORD_LEN ||
		    strlen(secret_str(s)) != SECRET_PASSWORD_LEN)
			bad_len++;
		if (classes(secret_str(s), secret_len(s)) != 15)
			bad_class++;
		for (int k = 0; k < SECRET_PASSWORD_LEN; k++)
			seen_at[k] |= classes(secret_str(s) + k, 1);
		memcpy(pwbuf[i], secret_str(s), SECRET_PASSWORD_LEN + 1);
		secret_free(s);
	}
	CHECK_INT_EQ(bad_len, 0);
	CHECK_INT_EQ(bad_class, 0);
	/* every class shows up at every position over 1000 passwords */
	for (int k = 0; k < SECRET_PASSWORD_LEN; k++)
		CHECK_INT_EQ(seen_at[k], 15);
	qsort(pwbuf, NPW, sizeof(pwbuf[0]), cmp_pw);
	for (int i = 1; i < NPW; i++)
		if (!strcmp(pwbuf[i - 1], pwbuf[i]))
			dups++;
	CHECK_INT_EQ(dups, 0);
}

static void test_password_lengths(void)
{
	struct secret *s;

	CHECK(secret_password(0) == NULL);
	CHECK(secret_password(3) == NULL);
	for (size_t len = 4; len <= 100; len += 24) {
		s = secret_password(len);
		CHECK(s != NULL);
		if (!s)
			continue;
		CHECK_INT_EQ(secret_len(s), len);
		CHECK_INT_EQ(strlen(secret_str(s)), len);
		CHECK_INT_EQ(classes(secret_str(s), len), 15);
		secret_free(s);
	}
}

static void test_new_dup(void)
{
	struct secret *a = secret_new("hunter2", 7), *b, *c;

	CHECK(a != NULL);
	if (!a)
		return;
	CHECK_INT_EQ(secret_len(a), 7);
	CHECK_STR_EQ(secret_str(a), "hunter2");
	CHECK(secret_str(a)[7] == '\0');
	b = secret_dup(a);
	CHECK(b != NULL && b != a);
	CHECK(secret_str(b) != secret_str(a));
	CHECK_STR_EQ(secret_str(b), "hunter2");
	CHECK(secret_eq(a, b));
	CHECK(secret_dup(NULL) == NULL);

	/* only len bytes are copied, and a NUL is added */
	c = secret_new("abcdef", 3);
	CHECK_INT_EQ(secret_len(c), 3);
	CHECK_STR_EQ(secret_str(c), "abc");
	secret_free(c);
	/* embedded NUL: the length says how many bytes */
	c = secret_new("a\0b", 3);
	CHECK_INT_EQ(secret_len(c), 3);
	CHECK(memcmp(secret_str(c), "a\0b", 4) == 0);
	secret_free(c);
	/* empty */
	c = secret_new("", 0);
	CHECK(c != NULL);
	CHECK_INT_EQ(secret_len(c), 0);
	CHECK_STR_EQ(secret_str(c), "");
	secret_free(c);

	secret_free(a);
	secret_free(b);
	secret_free(NULL);
}

static void test_alloc(void)
{
	struct secret *s = secret_alloc(5);

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK_INT_EQ(secret_len(s), 5);
	memcpy(secret_buf(s), "12345", 5);
	CHECK_STR_EQ(secret_str(s), "12345");
	CHECK(secret_buf(s) == secret_str(s));
	secret_free(s);
	CHECK(secret_alloc(SIZE_MAX) == NULL);
}

static void test_eq(void)
{
	struct secret *a = secret_new("same-bytes", 10), *b = secret_new("same-bytes", 10);
	struct secret *c = secret_new("same-byteX", 10), *d = secret_new("same-byte", 9);
	struct secret *e = secret_new("", 0), *f = secret_new("", 0);

	CHECK(secret_eq(a, b));
	CHECK(secret_eq(a, a));
	CHECK(!secret_eq(a, c));
	CHECK(!secret_eq(a, d));
	CHECK(!secret_eq(d, a));
	CHECK(secret_eq(e, f));
	CHECK(!secret_eq(e, a));
	CHECK(secret_eq(NULL, NULL));
	CHECK(!secret_eq(a, NULL));
	CHECK(!secret_eq(NULL, a));
	secret_free(a);
	secret_free(b);
	secret_free(c);
	secret_free(d);
	secret_free(e);
	secret_free(f);
}

static void test_wipe(void)
{
	char buf[16];
	char *h = strdup("secret-on-heap");

	memcpy(buf, "0123456789abcde", 16);
	secret_wipe(buf, 10);
	for (int i = 0; i < 10; i++)
		CHECK(buf[i] == 0);
	CHECK(memcmp(buf + 10, "abcde", 6) == 0);
	secret_wipe(NULL, 10);
	secret_wipe(buf, 0);
	secret_wipe_str(h);
	secret_wipe_str(NULL);
}

/* the wiping jansson allocator (installed by secret_init) works end to end */
static void test_json_alloc(void)
{
	json_malloc_t m = NULL;
	json_free_t f = NULL;
	json_t *j = json_pack("{s:s, s:[i,i]}", "password", "p4ss", "n", 1, 2);
	char *s;

	json_get_alloc_funcs(&m, &f);
	CHECK(m != NULL && m != malloc);
	CHECK(f != NULL && f != free);
	CHECK(j != NULL);
	s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	CHECK_STR_EQ(s, "{\"n\":[1,2],\"password\":\"p4ss\"}");
	if (s)
		f(s);
	json_decref(j);
	j = json_loads("{\"a\": \"b\"}", 0, NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(j, "a")), "b");
	json_decref(j);
}

/* A freed small secret's slot is reused, and comes back wiped. */
static void test_slot_reuse(void)
{
	struct secret *a = secret_new("top-secret-value", 16), *b, *big;
	const void *where = a;
	char huge[3000];

	CHECK(a != NULL);
	secret_free(a);
	b = secret_alloc(8);
	CHECK(b != NULL && (const void *)b == where); /* the same slot */
	CHECK(b && secret_len(b) == 8);
	/* nothing of the old secret is left in it, past len either */
	CHECK(b && memmem(secret_buf(b), 900, "top-secret", 10) == NULL);
	secret_free(b);
	/* large secrets are their own mapping, and work the same */
	memset(huge, 'h', sizeof(huge));
	big = secret_new(huge, sizeof(huge));
	CHECK(big && secret_len(big) == sizeof(huge) && secret_str(big)[sizeof(huge)] == '\0');
	CHECK(big && memcmp(secret_str(big), huge, sizeof(huge)) == 0);
	secret_free(big);
	/* many at once: more than the slots kept */
	struct secret *many[300];

	for (int i = 0; i < 300; i++) {
		many[i] = secret_new("x", 1);
		CHECK(many[i] != NULL);
	}
	for (int i = 0; i < 300; i++)
		secret_free(many[i]);
}

/* secret_random_chars: only alphabet characters, all of them, evenly. */
static void test_random_chars(void)
{
	static const char alpha[] = "abc";
	char out[30000];
	int count[3] = { 0 };

	secret_random_chars(out, sizeof(out), alpha, 3);
	for (size_t i = 0; i < sizeof(out); i++) {
		const char *p = memchr(alpha, out[i], 3);

		CHECK(p != NULL);
		if (p)
			count[p - alpha]++;
	}
	/* 10,000 expected each; 5 sigma is about 410 */
	for (int i = 0; i < 3; i++)
		CHECK(count[i] > 9500 && count[i] < 10500);
}

int main(void)
{
	if (secret_init() != 0) {
		fprintf(stderr, "secret_init failed\n");
		return 1;
	}
	RUN(test_password);
	RUN(test_password_lengths);
	RUN(test_new_dup);
	RUN(test_alloc);
	RUN(test_eq);
	RUN(test_wipe);
	RUN(test_json_alloc);
	RUN(test_slot_reuse);
	RUN(test_random_chars);
	return DONE();
}
