/* SPDX-License-Identifier: MIT */
/*
 * scram.h - PostgreSQL's SCRAM-SHA-256 password verifier, computed here.
 *
 * With password_authentication=scram-sha-256 (the default) {{password}} in
 * creation statements is the verifier PostgreSQL stores in pg_authid:
 *
 *   SCRAM-SHA-256$<iterations>:<base64 salt>$<base64 StoredKey>:<base64 ServerKey>
 *
 * (RFC 5802 and RFC 7677, PostgreSQL's defaults: 16 bytes of salt, 4096
 * iterations.) Its cost is PBKDF2-HMAC-SHA256 over 4096 iterations: two
 * SHA-256 blocks per iteration once the HMAC pads are hashed, run on the
 * CPU's SHA extensions when it has them. libpq's PQencryptPasswordConn does
 * the same work several times slower, and that work sits on every issue.
 */
#ifndef CREDFS_SCRAM_H
#define CREDFS_SCRAM_H

#include <stdbool.h>
#include <stddef.h>

#define SCRAM_SALT_LEN	 16
#define SCRAM_ITERATIONS 4096

/*
 * scram_pbkdf2 - PBKDF2-HMAC-SHA256 (RFC 8018) with a 32-byte output: the
 * SaltedPassword of RFC 5802. salt_len at most 64 bytes; iterations >= 1.
 */
void scram_pbkdf2(const void *password, size_t len, const unsigned char *salt, size_t salt_len,
		  unsigned iterations, unsigned char out[32]);

/*
 * scram_verifier - the verifier of password under salt and iterations.
 * Returns a malloc'd NUL-terminated string (wipe it before freeing), or NULL
 * when out of memory or when password is not ASCII: PostgreSQL would
 * SASLprep a non-ASCII password first, so the caller falls back to libpq.
 */
char *scram_verifier(const char *password, size_t len, const unsigned char *salt, size_t salt_len,
		     unsigned iterations);

/* scram_verifier_new - scram_verifier with a fresh random salt and 4096 iterations. */
char *scram_verifier_new(const char *password, size_t len);

/* scram_hw - whether the SHA extensions are in use (for logs and benchmarks). */
bool scram_hw(void);

/* scram_force_portable - tests: use the portable SHA-256 even where the CPU has SHA. */
void scram_force_portable(bool on);

#endif
