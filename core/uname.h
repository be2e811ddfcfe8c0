/* SPDX-License-Identifier: MIT */
/*
 * uname.h - generated database usernames, Vault's default shape:
 *
 *     v-<who>-<role>-<20 random [A-Za-z0-9]>-<unix time>   cut to 63 bytes
 *
 * <who> is the opening process's command name cut to 8 bytes, <role> the
 * role name cut to 8 bytes, both as Vault keeps them ("token.foo" gives
 * "token.fo"), except that a byte no name may hold (uname_byte_ok) becomes
 * '_' (command names are attacker-chosen), and an empty who becomes
 * "unknown". Randomness comes from libsodium (randombytes_uniform), so
 * sodium_init() must have run. The longest name (a 20-digit negative
 * time) is 61 bytes, so the 63-byte cut never removes the time.
 */
#ifndef CREDFS_UNAME_H
#define CREDFS_UNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UNAME_MAX 63 /* PostgreSQL's NAMEDATALEN - 1 */

/*
 * uname_generate - write the name into out (at least UNAME_MAX + 1 bytes).
 * Returns 0. who and role are borrowed; NULL who counts as empty.
 */
int uname_generate(const char *who, const char *role, int64_t unix_sec, char *out);

/*
 * uname_byte_ok - whether c may be part of a generated name: printable
 * ASCII other than space, '"', '\'', '\\' and '$'. Those five, control
 * bytes and non-ASCII are what could break out of, or change the meaning
 * of, "{{name}}", '{{name}}' or a dollar-quoted body in a role's own
 * statements (or leave half a UTF-8 character after a cut); every other
 * byte (. _ - @ + : / % # ...) is kept, as Vault keeps it.
 */
bool uname_byte_ok(unsigned char c);

/*
 * uname_sanitize - turn every byte of s that uname_byte_ok refuses into
 * '_': a command name is chosen by whoever runs the program and may hold
 * quotes, spaces, control bytes or half a UTF-8 sequence.
 */
void uname_sanitize(char *s);

/*
 * uname_random - fill out[0..n-1] with uniformly random [A-Za-z0-9] and
 * NUL-terminate it (out has n + 1 bytes).
 */
void uname_random(char *out, size_t n);

#endif
