/* SPDX-License-Identifier: MIT */
/*
 * perr.h - where and why user input was rejected.
 *
 * Every parser of user bytes fills a struct parse_error on failure. The
 * text is lowercase, has no final period, names the offending key or
 * position and never contains a secret (passwords are never echoed).
 */
#ifndef CREDFS_PERR_H
#define CREDFS_PERR_H

struct parse_error {
	int line; /* 1-based, 0 when not applicable */
	int col; /* 1-based, 0 when not applicable */
	char text[160];
};

/* perr_set - fill err (NULL-safe) with a printf-style message. */
void perr_set(struct parse_error *err, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* perr_prefix - prepend "prefix: " to err->text (NULL-safe), e.g. the key name. */
void perr_prefix(struct parse_error *err, const char *prefix);

#endif
