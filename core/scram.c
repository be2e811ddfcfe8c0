/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "scram.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SCRAM_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* --- SHA-256 compression ------------------------------------------------- */

static const uint32_t scram_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static const uint32_t scram_iv[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

static uint32_t scram_ror(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

static uint32_t scram_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void scram_put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static void scram_compress_portable(uint32_t h[8], const unsigned char blk[64])
{
	uint32_t w[64], a, b, c, d, e, f, g, hh;

	for (int i = 0; i < 16; i++)
		w[i] = scram_be32(blk + 4 * i);
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = scram_ror(w[i - 15], 7) ^ scram_ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = scram_ror(w[i - 2], 17) ^ scram_ror(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = hh + (scram_ror(e, 6) ^ scram_ror(e, 11) ^ scram_ror(e, 25)) +
			      ((e & f) ^ (~e & g)) + scram_k[i] + w[i];
		uint32_t t2 = (scram_ror(a, 2) ^ scram_ror(a, 13) ^ scram_ror(a, 22)) +
			      ((a & b) ^ (a & c) ^ (b & c));

		hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

#ifdef SCRAM_X86
#define SCRAM_NI __attribute__((target("sha,sse4.1,ssse3")))

/*
 * The same compression on the SHA extensions: sha256rnds2 does two rounds
 * on the state held as ABEF/CDGH (lanes F,E,B,A and H,G,D,C), sha256msg1
 * and msg2 extend the schedule four words at a time. m0..m3 are the
 * block's sixteen words, four to a vector, first word in lane 0.
 */
SCRAM_NI static inline __attribute__((always_inline)) void
scram_rounds_ni(__m128i *abef, __m128i *cdgh, __m128i m0, __m128i m1, __m128i m2, __m128i m3)
{
	__m128i st0 = *abef, st1 = *cdgh, msg, tmp, m[4] = { m0, m1, m2, m3 };

	/* unrolled, so that m[] lives in registers */
#pragma GCC unroll 16
	for (int g = 0; g < 16; g++) {
		msg = _mm_add_epi32(m[g & 3], _mm_loadu_si128((const __m128i *)&scram_k[4 * g]));
		st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
		msg = _mm_shuffle_epi32(msg, 0x0E);
		st0 = _mm_sha256rnds2_epu32(st0, st1, msg);
		if (g < 12) {
			/* W[t] = s1(W[t-2]) + W[t-7] + s0(W[t-15]) + W[t-16], four at once */
			tmp = _mm_sha256msg1_epu32(m[g & 3], m[(g + 1) & 3]);
			tmp = _mm_add_epi32(tmp,
					    _mm_alignr_epi8(m[(g + 3) & 3], m[(g + 2) & 3], 4));
			m[g & 3] = _mm_sha256msg2_epu32(tmp, m[(g + 3) & 3]);
		}
	}
	*abef = _mm_add_epi32(st0, *abef);
	*cdgh = _mm_add_epi32(st1, *cdgh);
}

/* h[0..7] to ABEF/CDGH and back. */
SCRAM_NI static void scram_load_ni(const uint32_t h[8], __m128i *abef, __m128i *cdgh)
{
	__m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1);
	__m128i efgh = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B);

	*abef = _mm_alignr_epi8(tmp, efgh, 8);
	*cdgh = _mm_blend_epi16(efgh, tmp, 0xF0);
}

/* The state as message words: lanes A,B,C,D and E,F,G,H. */
SCRAM_NI static inline __attribute__((always_inline)) void
scram_words_ni(__m128i abef, __m128i cdgh, __m128i *abcd, __m128i *efgh)
{
	*abcd = _mm_shuffle_epi32(_mm_unpackhi_epi64(cdgh, abef), 0x1B);
	*efgh = _mm_shuffle_epi32(_mm_unpacklo_epi64(cdgh, abef), 0x1B);
}

SCRAM_NI static void scram_compress_ni(uint32_t h[8], const unsigned char blk[64])
{
	const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i abef, cdgh, abcd, efgh, m[4];

	scram_load_ni(h, &abef, &cdgh);
	for (int i = 0; i < 4; i++)
		m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blk + 16 * i)), mask);
	scram_rounds_ni(&abef, &cdgh, m[0], m[1], m[2], m[3]);
	scram_words_ni(abef, cdgh, &abcd, &efgh);
	_mm_storeu_si128((__m128i *)&h[0], abcd);
	_mm_storeu_si128((__m128i *)&h[4], efgh);
}

/*
 * PBKDF2's loop, all in registers: Ui = HMAC(P, Ui-1) is two blocks of a
 * 32-byte message (the previous digest, then the padding for 96 bytes)
 * from the pads' saved states; acc ^= Ui.
 */
SCRAM_NI static void scram_iterate_ni(const uint32_t ih[8], const uint32_t oh[8], uint32_t t[8],
				      uint32_t acc[8], unsigned n)
{
	const __m128i pad0 = _mm_set_epi32(0, 0, 0, (int)0x80000000u);
	const __m128i pad1 = _mm_set_epi32(0x300, 0, 0, 0);
	__m128i iabef, icdgh, oabef, ocdgh, abef, cdgh;
	__m128i u0 = _mm_loadu_si128((const __m128i *)&t[0]);
	__m128i u1 = _mm_loadu_si128((const __m128i *)&t[4]);
	__m128i a0 = _mm_loadu_si128((const __m128i *)&acc[0]);
	__m128i a1 = _mm_loadu_si128((const __m128i *)&acc[4]);

	scram_load_ni(ih, &iabef, &icdgh);
	scram_load_ni(oh, &oabef, &ocdgh);
	for (unsigned it = 0; it < n; it++) {
		abef = iabef, cdgh = icdgh;
		scram_rounds_ni(&abef, &cdgh, u0, u1, pad0, pad1);
		scram_words_ni(abef, cdgh, &u0, &u1);
		abef = oabef, cdgh = ocdgh;
		scram_rounds_ni(&abef, &cdgh, u0, u1, pad0, pad1);
		scram_words_ni(abef, cdgh, &u0, &u1);
		a0 = _mm_xor_si128(a0, u0);
		a1 = _mm_xor_si128(a1, u1);
	}
	_mm_storeu_si128((__m128i *)&t[0], u0);
	_mm_storeu_si128((__m128i *)&t[4], u1);
	_mm_storeu_si128((__m128i *)&acc[0], a0);
	_mm_storeu_si128((__m128i *)&acc[4], a1);
}
#endif

static bool scram_portable_forced;

void scram_force_portable(bool on)
{
	scram_portable_forced = on;
}

#ifdef SCRAM_X86
static bool scram_cpu_sha;
static pthread_once_t scram_cpu_once = PTHREAD_ONCE_INIT;

/* CPUID once: in a virtual machine each one is a trip to the hypervisor. */
static void scram_cpu_probe(void)
{
	unsigned a, b, c, d;
	bool sse;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return;
	sse = (c & bit_SSSE3) && (c & bit_SSE4_1);
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return;
	scram_cpu_sha = sse && (b & (1u << 29)); /* CPUID.(EAX=7,ECX=0):EBX.SHA */
}
#endif

bool scram_hw(void)
{
#ifdef SCRAM_X86
	pthread_once(&scram_cpu_once, scram_cpu_probe);
	return !scram_portable_forced && scram_cpu_sha;
#else
	return false;
#endif
}

typedef void scram_compress_fn(uint32_t h[8], const unsigned char blk[64]);

static scram_compress_fn *scram_compressor(void)
{
#ifdef SCRAM_X86
	if (scram_hw())
		return scram_compress_ni;
#endif
	return scram_compress_portable;
}

/* --- PBKDF2-HMAC-SHA256 -------------------------------------------------- */

/* The state after one block: the HMAC key xor pad, hashed once per key. */
static void scram_pad_state(scram_compress_fn *fn, const unsigned char key[64], unsigned char pad,
			    uint32_t h[8])
{
	unsigned char blk[64];

	for (int i = 0; i < 64; i++)
		blk[i] = key[i] ^ pad;
	memcpy(h, scram_iv, sizeof(scram_iv));
	fn(h, blk);
	sodium_memzero(blk, sizeof(blk));
}

/*
 * Finish a hash that has absorbed one 64-byte block with one 32-byte
 * message: a single padded block, 96 bytes (768 bits) in all.
 */
static void scram_finish32(scram_compress_fn *fn, const uint32_t start[8], unsigned char blk[64],
			   uint32_t out[8])
{
	memcpy(out, start, 8 * sizeof(uint32_t));
	fn(out, blk);
}

static void scram_words_to_block(const uint32_t w[8], unsigned char blk[64])
{
	for (int i = 0; i < 8; i++)
		scram_put_be32(blk + 4 * i, w[i]);
}

void scram_pbkdf2(const void *password, size_t len, const unsigned char *salt, size_t salt_len,
		  unsigned iterations, unsigned char out[32])
{
	scram_compress_fn *fn = scram_compressor();
	unsigned char key[64] = { 0 }, blk[64], u1[32], first[68];
	uint32_t ih[8], oh[8], t[8], acc[8];
	crypto_auth_hmacsha256_state hs;

	if (len > 64)
		crypto_hash_sha256(key, password, len);
	else
		memcpy(key, password, len);
	scram_pad_state(fn, key, 0x36, ih);
	scram_pad_state(fn, key, 0x5c, oh);

	/* U1 = HMAC(P, salt || INT(1)): the general HMAC, once. */
	memcpy(first, salt, salt_len);
	scram_put_be32(first + salt_len, 1);
	crypto_auth_hmacsha256_init(&hs, key, len > 64 ? 32 : len);
	crypto_auth_hmacsha256_update(&hs, first, salt_len + 4);
	crypto_auth_hmacsha256_final(&hs, u1);
	for (int i = 0; i < 8; i++)
		acc[i] = t[i] = scram_be32(u1 + 4 * i);

		/* Ui = HMAC(P, Ui-1): two blocks each, the pads' states reused. */
#ifdef SCRAM_X86
	if (fn == scram_compress_ni) {
		scram_iterate_ni(ih, oh, t, acc, iterations - 1);
		iterations = 1;
	}
#endif
	memset(blk, 0, sizeof(blk));
	blk[32] = 0x80;
	blk[62] = 0x03; /* 768 bits */
	for (unsigned it = 1; it < iterations; it++) {
		scram_words_to_block(t, blk);
		scram_finish32(fn, ih, blk, t);
		scram_words_to_block(t, blk);
		scram_finish32(fn, oh, blk, t);
		for (int i = 0; i < 8; i++)
			acc[i] ^= t[i];
	}
	for (int i = 0; i < 8; i++)
		scram_put_be32(out + 4 * i, acc[i]);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(blk, sizeof(blk));
	sodium_memzero(u1, sizeof(u1));
	sodium_memzero(ih, sizeof(ih));
	sodium_memzero(oh, sizeof(oh));
	sodium_memzero(t, sizeof(t));
	sodium_memzero(acc, sizeof(acc));
	sodium_memzero(&hs, sizeof(hs));
}

/* --- the verifier -------------------------------------------------------- */

char *scram_verifier(const char *password, size_t len, const unsigned char *salt, size_t salt_len,
		     unsigned iterations)
{
	unsigned char salted[32], client[32], stored[32], server[32];
	char b_salt[sodium_base64_ENCODED_LEN(64, sodium_base64_VARIANT_ORIGINAL)];
	char b_stored[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
	char b_server[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
	char *v = NULL;
	size_t n;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)password[i] >= 0x80)
			return NULL; /* SASLprep would apply: libpq's job */
	if (salt_len > 64 || iterations < 1)
		return NULL;
	scram_pbkdf2(password, len, salt, salt_len, iterations, salted);
	crypto_auth_hmacsha256(client, (const unsigned char *)"Client Key", 10, salted);
	crypto_hash_sha256(stored, client, sizeof(client));
	crypto_auth_hmacsha256(server, (const unsigned char *)"Server Key", 10, salted);
	sodium_bin2base64(b_salt, sizeof(b_salt), salt, salt_len, sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(b_stored, sizeof(b_stored), stored, 32, sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(b_server, sizeof(b_server), server, 32, sodium_base64_VARIANT_ORIGINAL);
	n = strlen("SCRAM-SHA-256$:$:") + 10 + strlen(b_salt) + strlen(b_stored) +
	    strlen(b_server) + 1;
	if ((v = malloc(n)))
		snprintf(v, n, "SCRAM-SHA-256$%u:%s$%s:%s", iterations, b_salt, b_stored, b_server);
	sodium_memzero(salted, sizeof(salted));
	sodium_memzero(client, sizeof(client));
	sodium_memzero(stored, sizeof(stored));
	sodium_memzero(server, sizeof(server));
	sodium_memzero(b_stored, sizeof(b_stored));
	sodium_memzero(b_server, sizeof(b_server));
	return v;
}

char *scram_verifier_new(const char *password, size_t len)
{
	unsigned char salt[SCRAM_SALT_LEN];

	randombytes_buf(salt, sizeof(salt));
	return scram_verifier(password, len, salt, sizeof(salt), SCRAM_ITERATIONS);
}
