/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "secret.h"

struct secret {
	size_t len;
	char buf[]; /* len bytes and a NUL */
};

/*
 * jansson keeps copies of every string it parses or builds (definitions,
 * rendered creds/ bodies). Route them through a wiping free: the size is
 * kept in front of each block because json_set_alloc_funcs' free has none.
 */
#define JSON_HDR 16

static void *secret_json_malloc(size_t n)
{
	unsigned char *p = malloc(n + JSON_HDR);

	if (!p)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + JSON_HDR;
}

static void secret_json_free(void *ptr)
{
	unsigned char *p;
	size_t n;

	if (!ptr)
		return;
	p = (unsigned char *)ptr - JSON_HDR;
	memcpy(&n, p, sizeof(n));
	sodium_memzero(p, n + JSON_HDR);
	free(p);
}

int secret_init(void)
{
	if (sodium_init() < 0)
		return -EIO;
	json_set_alloc_funcs(secret_json_malloc, secret_json_free);
	json_object_seed(0);
	return 0;
}

struct secret *secret_alloc(size_t len)
{
	struct secret *s;

	if (len > SIZE_MAX / 2)
		return NULL;
	/* sodium_malloc places the block against a guard page: round the size
	 * up so that the struct stays aligned. */
	s = sodium_malloc((sizeof(*s) + len + 1 + 15) & ~(size_t)15);
	if (!s)
		return NULL;
	s->len = len;
	memset(s->buf, 0, len + 1);
	return s;
}

struct secret *secret_new(const char *src, size_t len)
{
	struct secret *s = secret_alloc(len);

	if (s && len)
		memcpy(s->buf, src, len);
	return s;
}

struct secret *secret_dup(const struct secret *s)
{
	return s ? secret_new(s->buf, s->len) : NULL;
}

void secret_free(struct secret *s)
{
	if (s)
		sodium_free(s); /* wipes */
}

const char *secret_str(const struct secret *s)
{
	return s->buf;
}

char *secret_buf(struct secret *s)
{
	return s->buf;
}

size_t secret_len(const struct secret *s)
{
	return s->len;
}

int secret_eq(const struct secret *a, const struct secret *b)
{
	if (!a || !b)
		return a == b;
	if (a->len != b->len)
		return 0;
	return sodium_memcmp(a->buf, b->buf, a->len) == 0;
}

static const char secret_charset[] =
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";

/* classes: 1 lower, 2 upper, 4 digit, 8 dash */
static unsigned secret_class(char c)
{
	if (c >= 'a' && c <= 'z')
		return 1;
	if (c >= 'A' && c <= 'Z')
		return 2;
	if (c >= '0' && c <= '9')
		return 4;
	return 8;
}

struct secret *secret_password(size_t len)
{
	const uint32_t n = sizeof(secret_charset) - 1;
	struct secret *s;
	unsigned seen;

	if (len < 4)
		return NULL;
	s = secret_alloc(len);
	if (!s)
		return NULL;
	/* Rejection sampling on the whole string, as Vault's generator does. */
	do {
		seen = 0;
		for (size_t i = 0; i < len; i++) {
			s->buf[i] = secret_charset[randombytes_uniform(n)];
			seen |= secret_class(s->buf[i]);
		}
	} while (seen != 15);
	return s;
}

void secret_wipe(void *p, size_t n)
{
	if (p)
		sodium_memzero(p, n);
}

void secret_wipe_str(char *s)
{
	if (!s)
		return;
	sodium_memzero(s, strlen(s));
	free(s);
}
