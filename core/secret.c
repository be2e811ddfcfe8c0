/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "secret.h"

struct secret {
	size_t len;
	size_t cap; /* bytes of buf; SECRET_SLOT_BUF for a slot */
	struct secret *next; /* in the free list */
	char buf[]; /* len bytes and a NUL */
};

/*
 * Every secret lives in its own sodium_malloc block (guard pages, canary,
 * mlock, no core dump). Mapping and unmapping one costs five system calls
 * and TLB shootdowns on every core, and an issue makes and frees several:
 * small secrets therefore come in one size of slot, and a freed slot is
 * wiped whole and kept for the next secret instead of being unmapped, up
 * to SECRET_SLOTS_KEPT of them. Larger secrets are mapped and unmapped.
 */
#define SECRET_SLOT	  1024
#define SECRET_SLOT_BUF	  (SECRET_SLOT - sizeof(struct secret))
#define SECRET_SLOTS_KEPT 128

static pthread_mutex_t secret_mu = PTHREAD_MUTEX_INITIALIZER;
static struct secret *secret_free_slots; /* protected by secret_mu */
static size_t secret_n_free; /* protected by secret_mu */

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
	struct secret *s = NULL;
	size_t cap;

	if (len > SIZE_MAX / 2)
		return NULL;
	if (len + 1 <= SECRET_SLOT_BUF) {
		pthread_mutex_lock(&secret_mu);
		if ((s = secret_free_slots)) {
			secret_free_slots = s->next;
			secret_n_free--;
		}
		pthread_mutex_unlock(&secret_mu);
		cap = SECRET_SLOT_BUF;
	} else {
		/* sodium_malloc places the block against a guard page: round the
		 * size up so that the struct stays aligned. */
		cap = ((sizeof(*s) + len + 1 + 15) & ~(size_t)15) - sizeof(*s);
	}
	if (!s && !(s = sodium_malloc(sizeof(*s) + cap)))
		return NULL;
	s->len = len;
	s->cap = cap;
	s->next = NULL;
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
	if (!s)
		return;
	if (s->cap == SECRET_SLOT_BUF) {
		sodium_memzero(s->buf, s->cap);
		s->len = 0;
		pthread_mutex_lock(&secret_mu);
		if (secret_n_free < SECRET_SLOTS_KEPT) {
			s->next = secret_free_slots;
			secret_free_slots = s;
			secret_n_free++;
			s = NULL;
		}
		pthread_mutex_unlock(&secret_mu);
	}
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
		secret_random_chars(s->buf, len, secret_charset, n);
		for (size_t i = 0; i < len; i++)
			seen |= secret_class(s->buf[i]);
	} while (seen != 15);
	return s;
}

void secret_random_chars(char *out, size_t n, const char *alphabet, size_t alen)
{
	/* a byte below limit maps to alphabet[b % alen] with equal odds */
	const unsigned limit = 256 - 256 % (unsigned)alen;
	unsigned char pool[128];
	size_t have = 0, used = 0;

	for (size_t i = 0; i < n;) {
		if (used == have) {
			have = n - i + 16 < sizeof(pool) ? n - i + 16 : sizeof(pool);
			randombytes_buf(pool, have);
			used = 0;
		}
		if (pool[used] < limit)
			out[i++] = alphabet[pool[used] % alen];
		used++;
	}
	sodium_memzero(pool, sizeof(pool));
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
