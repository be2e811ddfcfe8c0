/* SPDX-License-Identifier: MIT */
/*
 * test_pwpool.c - the pool of passwords with SCRAM verifiers made ahead:
 * it fills, each pair's verifier is the verifier of its password, pairs
 * are handed out once, other lengths are not served, freeing wipes all.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "pwpool.h"
#include "scram.h"
#include "secret.h"
#include "test.h"

/* Wait (in 10 ms steps, at most 20 s) until the pool holds n pairs. */
static int wait_ready(struct pwpool *p, size_t n)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	for (int i = 0; i < 2000; i++) {
		if (pwpool_ready(p) >= n)
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* The verifier recomputed from the password and the verifier's own salt. */
static int matches(const struct secret *pw, const char *v)
{
	const char *salt_b64 = strchr(v, ':'), *end;
	unsigned char salt[64];
	size_t n = 0;
	char *again;
	int ok;

	if (strncmp(v, "SCRAM-SHA-256$4096:", 19) || !salt_b64 || !(end = strchr(salt_b64, '$')))
		return 0;
	salt_b64++;
	if (sodium_base642bin(salt, sizeof(salt), salt_b64, (size_t)(end - salt_b64), NULL, &n,
			      NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		return 0;
	again = scram_verifier(secret_str(pw), strlen(secret_str(pw)), salt, n, 4096);
	ok = again && !strcmp(again, v);
	free(again);
	return ok;
}

static void test_fills_and_serves(void)
{
	struct pwpool *p = pwpool_new(4, SECRET_PASSWORD_LEN);
	struct secret *pw[5] = { 0 };
	char *v[5] = { 0 };

	CHECK(p != NULL);
	CHECK(wait_ready(p, 4));
	CHECK(pwpool_ready(p) == 4); /* never more than cap */
	for (int i = 0; i < 4; i++) {
		CHECK(pwpool_take(p, SECRET_PASSWORD_LEN, &pw[i], &v[i]) == 0);
		CHECK(pw[i] && v[i] && strlen(secret_str(pw[i])) == SECRET_PASSWORD_LEN);
		CHECK(pw[i] && v[i] && matches(pw[i], v[i]));
	}
	/* four different passwords, four different salts */
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++) {
			CHECK(strcmp(secret_str(pw[i]), secret_str(pw[j])) != 0);
			CHECK(strcmp(v[i], v[j]) != 0);
		}
	/* another length: not served, whatever is ready */
	CHECK(wait_ready(p, 1));
	CHECK(pwpool_take(p, SECRET_PASSWORD_LEN + 1, &pw[4], &v[4]) == -EAGAIN);
	/* and it refills after being emptied */
	CHECK(wait_ready(p, 4));
	for (int i = 0; i < 4; i++) {
		secret_free(pw[i]);
		secret_wipe_str(v[i]);
	}
	pwpool_free(p);
}

static void test_empty_and_null(void)
{
	struct secret *pw = NULL;
	char *v = NULL;
	struct pwpool *p = pwpool_new(0, SECRET_PASSWORD_LEN); /* never fills */

	CHECK(pwpool_take(NULL, SECRET_PASSWORD_LEN, &pw, &v) == -EAGAIN);
	CHECK(p && pwpool_take(p, SECRET_PASSWORD_LEN, &pw, &v) == -EAGAIN);
	CHECK(pw == NULL && v == NULL);
	pwpool_free(p);
	pwpool_free(NULL);
	/* freed while full: pairs are wiped and freed (LeakSanitizer checks) */
	p = pwpool_new(3, SECRET_PASSWORD_LEN);
	CHECK(p && wait_ready(p, 3));
	pwpool_free(p);
}

int main(void)
{
	if (secret_init() != 0)
		return 1;
	RUN(test_fills_and_serves);
	RUN(test_empty_and_null);
	return DONE();
}
