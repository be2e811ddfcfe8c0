/* SPDX-License-Identifier: MIT */
/*
 * gofmt.h - Go's fmt.Sprintf for the two kinds of value a username
 * template has (Go's int and string), byte for byte as Go prints them,
 * so a Vault template's printf renders here as it does in Vault:
 *
 *   verbs     %v %d %s %q %x %X %b %o %O %c %U %%, with the flags
 *             '+' '-' '#' ' ' '0', a width, a precision, '*' and [n]
 *   mistakes  %!d(string=hi)  %!s(int=5)  %!s(MISSING)  %!(NOVERB)
 *             %!(EXTRA string=x, int=5)  %!v(BADINDEX)  %!(BADWIDTH)
 *
 * %q follows strconv.Quote exactly for ASCII and for invalid UTF-8. Go
 * decides which non-ASCII characters are printable from Unicode's
 * tables; gofmt knows the usual non-printable ones (C1 controls, the
 * no-break and zero-width spaces, bidi controls, private use,
 * noncharacters) and treats other non-ASCII characters as printable.
 * That can only matter for a value that is not a usable name anyway.
 */
#ifndef CREDFS_GOFMT_H
#define CREDFS_GOFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One argument: Go's int (is_int) or string (s, len bytes; borrowed). */
struct gofmt_arg {
	bool is_int;
	int64_t i;
	const char *s;
	size_t len;
};

/*
 * gofmt_sprintf - fmt.Sprintf(format, args...). Writes at most outsz - 1
 * bytes and a NUL to out and the length to *outlen. Returns 0, or -E2BIG
 * when the result does not fit (out then holds nothing usable).
 */
int gofmt_sprintf(const char *format, size_t flen, const struct gofmt_arg *args, size_t n,
		  char *out, size_t outsz, size_t *outlen) __attribute__((warn_unused_result));

/*
 * gofmt_rune_width - bytes of the UTF-8 sequence at s (n > 0 bytes left),
 * as Go's utf8.DecodeRuneInString counts them: 1 for an invalid byte.
 */
size_t gofmt_rune_width(const char *s, size_t n);

#endif
