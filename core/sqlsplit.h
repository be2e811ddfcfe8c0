/* SPDX-License-Identifier: MIT */
/*
 * sqlsplit.h - split SQL text into statements the way PostgreSQL's lexer
 * sees them.
 *
 * A ';' ends a statement only at top level: not inside '...' strings
 * (with '' escapes), E'...' strings (with backslash escapes), "..."
 * identifiers, -- line comments, nested C-style block comments, or
 * dollar-quoted bodies ($$...$$, $tag$...$tag$). "$1" style parameters are
 * not dollar quotes. Each statement is trimmed of surrounding whitespace;
 * empty ones (";;", a trailing ';', only blanks) are skipped. Comments are
 * kept in the statement text (PostgreSQL ignores them); a statement made
 * only of comments is skipped too.
 */
#ifndef CREDFS_SQLSPLIT_H
#define CREDFS_SQLSPLIT_H

#include <stddef.h>
#include "perr.h"

/*
 * sqlsplit - split text (len bytes, need not be NUL-terminated).
 * On success *stmts is a new array of *n new NUL-terminated strings
 * (without the terminating ';'); release with sqlsplit_free(). *n may be 0.
 * Returns 0, -EINVAL with err set for an unterminated quote, identifier,
 * comment or dollar-quote (line/col of where it began), or -ENOMEM.
 */
int sqlsplit(const char *text, size_t len, char ***stmts, size_t *n, struct parse_error *err)
	__attribute__((warn_unused_result));

/* sqlsplit_free - free what sqlsplit returned (NULL-safe). */
void sqlsplit_free(char **stmts, size_t n);

#endif
