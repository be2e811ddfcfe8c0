/* SPDX-License-Identifier: MIT */
/*
 * test_scram.c - PBKDF2-HMAC-SHA256 and PostgreSQL's SCRAM-SHA-256
 * verifier, on the SHA extensions and on the portable compression, against
 * vectors computed by an independent implementation (OpenSSL's, through
 * Python's hashlib) and against a straight RFC 8018 loop over libsodium.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "scram.h"
#include "test.h"

static void hex(const unsigned char *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

/* RFC 8018 as written, one general HMAC per iteration. */
static void reference_pbkdf2(const char *pw, size_t len, const unsigned char *salt, size_t salt_len,
			     unsigned iterations, unsigned char out[32])
{
	unsigned char key[32], u[64], t[32];
	const unsigned char *k = (const unsigned char *)pw;
	size_t klen = len;
	crypto_auth_hmacsha256_state s;

	if (len > 64) {
		crypto_hash_sha256(key, (const unsigned char *)pw, len);
		k = key;
		klen = 32;
	}
	memcpy(u, salt, salt_len);
	u[salt_len] = 0, u[salt_len + 1] = 0, u[salt_len + 2] = 0, u[salt_len + 3] = 1;
	crypto_auth_hmacsha256_init(&s, k, klen);
	crypto_auth_hmacsha256_update(&s, u, salt_len + 4);
	crypto_auth_hmacsha256_final(&s, t);
	memcpy(out, t, 32);
	for (unsigned i = 1; i < iterations; i++) {
		crypto_auth_hmacsha256_init(&s, k, klen);
		crypto_auth_hmacsha256_update(&s, t, 32);
		crypto_auth_hmacsha256_final(&s, t);
		for (int j = 0; j < 32; j++)
			out[j] ^= t[j];
	}
}

static void each_engine(void (*fn)(void))
{
	scram_force_portable(true);
	fn();
	scram_force_portable(false);
	fn();
}

static void vectors(void)
{
	unsigned char out[32];
	char h[65];
	char longpw[101];

	scram_pbkdf2("password", 8, (const unsigned char *)"salt", 4, 4096, out);
	hex(out, 32, h);
	CHECK_STR_EQ(h, "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a");
	memset(longpw, 'x', 100);
	longpw[100] = '\0';
	scram_pbkdf2(longpw, 100, (const unsigned char *)"saltsaltsaltsalt", 16, 10, out);
	hex(out, 32, h);
	CHECK_STR_EQ(h, "665826174b91285ba96f1fa1ff7654434bb792abf161210015a07547cc454876");
	scram_pbkdf2("", 0, (const unsigned char *)"salt", 4, 2, out);
	hex(out, 32, h);
	CHECK_STR_EQ(h, "62384466264daadc4144018c6bd864648272b34da8980d31521ffcce92ae003b");
}

static void test_pbkdf2_vectors(void)
{
	each_engine(vectors);
}

static void verifiers(void)
{
	unsigned char salt[16];
	char *v;

	for (int i = 0; i < 16; i++)
		salt[i] = (unsigned char)i;
	v = scram_verifier("aB3-xYz9QwErTyUiOp0L", 20, salt, 16, 4096);
	CHECK_STR_EQ(v, "SCRAM-SHA-256$4096:AAECAwQFBgcICQoLDA0ODw==$"
			"XMLdXA4VFPZwHUKWIOaKKSGU4r0TxXrfKhCQT6kdOO4=:"
			"/BqY0YiFIzSYkV+T8qTB5w+GdBd6NIzioBvyB5QM1X0=");
	free(v);
	/* the salt of RFC 7677's example exchange */
	unsigned char rfc[16];
	size_t n = 0;

	CHECK(sodium_base642bin(rfc, sizeof(rfc), "W22ZaJ0SNY7soEsUEjb6gQ==", 24, NULL, &n, NULL,
				sodium_base64_VARIANT_ORIGINAL) == 0 &&
	      n == 16);
	v = scram_verifier("pencil", 6, rfc, 16, 4096);
	CHECK_STR_EQ(v, "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
			"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
			"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
	free(v);
}

static void test_verifier_vectors(void)
{
	each_engine(verifiers);
}

/* Random passwords, salts and counts: both engines agree with the reference. */
static void test_against_reference(void)
{
	for (int round = 0; round < 200; round++) {
		char pw[130];
		unsigned char salt[64], a[32], b[32], c[32];
		size_t len = randombytes_uniform(sizeof(pw));
		size_t salt_len = 1 + randombytes_uniform(60);
		unsigned it = 1 + randombytes_uniform(40);

		for (size_t i = 0; i < len; i++)
			pw[i] = (char)(0x20 + randombytes_uniform(0x5f));
		randombytes_buf(salt, salt_len);
		reference_pbkdf2(pw, len, salt, salt_len, it, a);
		scram_force_portable(true);
		scram_pbkdf2(pw, len, salt, salt_len, it, b);
		scram_force_portable(false);
		scram_pbkdf2(pw, len, salt, salt_len, it, c);
		CHECK(memcmp(a, b, 32) == 0);
		CHECK(memcmp(a, c, 32) == 0);
	}
}

static void test_shape_and_refusals(void)
{
	char *v = scram_verifier_new("abc", 3), *w = scram_verifier_new("abc", 3);
	unsigned char salt[16] = { 0 };

	CHECK(v && !strncmp(v, "SCRAM-SHA-256$4096:", 19));
	CHECK(v && w && strcmp(v, w) != 0); /* fresh salt each time */
	CHECK(v && strlen(v) == strlen("SCRAM-SHA-256$4096:") + 24 + 1 + 44 + 1 + 44);
	free(v);
	free(w);
	CHECK(scram_verifier("caf\xc3\xa9", 5, salt, 16, 4096) == NULL); /* SASLprep: libpq */
	CHECK(scram_verifier("abc", 3, salt, 16, 0) == NULL);
	printf("SHA extensions: %s\n", scram_hw() ? "in use" : "not available");
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	RUN(test_pbkdf2_vectors);
	RUN(test_verifier_vectors);
	RUN(test_against_reference);
	RUN(test_shape_and_refusals);
	return DONE();
}
