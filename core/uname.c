/* SPDX-License-Identifier: MIT */
/*
 * uname.c - generated database usernames.
 *
 * The random part is what makes a name unique; who, role and time only
 * help a person reading pg_stat_activity. 20 characters of base62 are
 * ~119 bits, so two leases never collide even within the same second.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "secret.h"
#include "uname.h"

#define UNAME_PART   8 /* bytes kept of who and of role, as Vault's truncate 8 */
#define UNAME_RANDOM 20 /* as Vault's (random 20) */

static const char uname_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

void uname_random(char *out, size_t n)
{
	/* rejection sampling, not % 62 alone: every character equally likely */
	secret_random_chars(out, n, uname_alphabet, sizeof(uname_alphabet) - 1);
	out[n] = '\0';
}

bool uname_byte_ok(unsigned char c)
{
	return c > ' ' && c < 0x7f && c != '"' && c != '\'' && c != '\\' && c != '$';
}

void uname_sanitize(char *s)
{
	for (; *s; s++)
		if (!uname_byte_ok((unsigned char)*s))
			*s = '_';
}

/* Copy at most UNAME_PART bytes of in, sanitized ("db.app" stays as Vault shows it). */
static void uname_part(char *out, const char *in)
{
	size_t n = strnlen(in, UNAME_PART);

	memcpy(out, in, n);
	out[n] = '\0';
	uname_sanitize(out);
}

int uname_generate(const char *who, const char *role, int64_t unix_sec, char *out)
{
	char w[UNAME_PART + 1], ro[UNAME_PART + 1], rnd[UNAME_RANDOM + 1];
	uname_part(w, who != NULL && who[0] != '\0' ? who : "unknown");
	uname_part(ro, role != NULL ? role : "");
	uname_random(rnd, UNAME_RANDOM);
	/* at most 2 + 8 + 1 + 8 + 1 + 20 + 1 + 20 = 61 bytes: the cut never bites */
	if (snprintf(out, UNAME_MAX + 1, "v-%s-%s-%s-%" PRId64, w, ro, rnd, unix_sec) < 0)
		abort(); /* no conversion here can fail */
	return 0;
}
