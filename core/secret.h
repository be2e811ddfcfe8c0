/* SPDX-License-Identifier: MIT */
/*
 * secret.h - passwords and rendered credential bodies, in guarded memory.
 *
 * A struct secret lives in sodium_malloc'd memory (guard pages, canary,
 * mlock, MADV_DONTDUMP) and is wiped when freed. Its bytes are always
 * NUL-terminated so they can be handed to libpq. This is the only module
 * that calls sodium_malloc. Secrets are immutable after creation and can be
 * shared read-only between threads.
 */
#ifndef CREDFS_SECRET_H
#define CREDFS_SECRET_H

#include <stddef.h>

struct secret;

#define SECRET_PASSWORD_LEN 20

/* secret_init - sodium_init and the wiping jansson allocator. Call once, before threads. */
int secret_init(void) __attribute__((warn_unused_result));

/* secret_new - a new secret holding a copy of s[0..len-1]; NULL on ENOMEM. */
struct secret *secret_new(const char *s, size_t len);

/* secret_alloc - a new secret of len bytes for the caller to fill through secret_buf(). */
struct secret *secret_alloc(size_t len);

/* secret_dup - a new copy of s (NULL-safe, NULL on ENOMEM). */
struct secret *secret_dup(const struct secret *s);

/* secret_free - wipe and free (NULL-safe). */
void secret_free(struct secret *s);

/* secret_str - the NUL-terminated bytes; borrowed, valid until secret_free. */
const char *secret_str(const struct secret *s);

/* secret_buf - writable bytes of a secret from secret_alloc. */
char *secret_buf(struct secret *s);

/* secret_len - number of bytes, without the NUL. */
size_t secret_len(const struct secret *s);

/* secret_eq - constant-time equality. */
int secret_eq(const struct secret *a, const struct secret *b);

/*
 * secret_password - a new random password of len characters from
 * [A-Za-z0-9-] with at least one of each class (Vault's default
 * generator), len >= 4. NULL on ENOMEM.
 */
struct secret *secret_password(size_t len);

/*
 * secret_random_chars - n characters drawn uniformly from alphabet (2 to
 * 256 characters), from one randombytes_buf call for the usual lengths
 * (rejection sampling on bytes, so no character is more likely).
 */
void secret_random_chars(char *out, size_t n, const char *alphabet, size_t alen);

/* secret_wipe - wipe n bytes at p (NULL-safe), for transient copies. */
void secret_wipe(void *p, size_t n);

/* secret_wipe_str - wipe a NUL-terminated heap string and free() it (NULL-safe). */
void secret_wipe_str(char *s);

#endif
