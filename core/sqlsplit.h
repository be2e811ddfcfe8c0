/* SPDX-License-Identifier: MIT */
/*
 * sqlsplit.h - split SQL text into statements the way PostgreSQL's lexer
 * sees them.
 *
 * A ';' ends a statement only at top level: not inside '...' strings
 * (with '' escapes), E'...' strings (with backslash escapes), "..."
 * identifiers, -- line comments, nested C-style block comments, or
 * dollar-quoted bodies ($$...$$, $tag$...$tag$). "$1" style parameters are
 * not dollar quotes, nor is a '$' inside an identifier ("a$b"). Like psql,
 * a ';' inside parentheses (CREATE RULE ... DO (a; b)) or inside the
 * BEGIN ... END of a CREATE [OR REPLACE] FUNCTION|PROCEDURE body does not
 * end a statement either. Plain '...' strings follow
 * standard_conforming_strings = on. Each statement is trimmed of
 * surrounding whitespace; empty ones (";;", a trailing ';', only blanks)
 * are skipped. Comments are kept in the statement text (PostgreSQL
 * ignores them); a statement made only of comments is skipped too.
 *
 * Pure and reentrant: no global state.
 */
#ifndef CREDFS_SQLSPLIT_H
#define CREDFS_SQLSPLIT_H

#include <stddef.h>
#include "perr.h"

/*
 * sqlsplit - split text (len bytes, need not be NUL-terminated).
 * On success *stmts is a new array of *n new NUL-terminated strings
 * (without the terminating ';'), followed by a NULL; the array is
 * non-NULL even when *n is 0. Release with sqlsplit_free(), which wipes
 * the strings (a rendered statement may hold a password).
 * Returns 0, -EINVAL with err set for an unterminated quote, identifier,
 * comment or dollar-quote (line/col, 1-based, col in bytes, of where it
 * began) or a NUL byte in text (it would cut a statement short), or
 * -ENOMEM. *stmts and *n are written only on success.
 */
int sqlsplit(const char *text, size_t len, char ***stmts, size_t *n, struct parse_error *err)
	__attribute__((warn_unused_result));

/* sqlsplit_free - free what sqlsplit returned (NULL-safe). */
void sqlsplit_free(char **stmts, size_t n);

#endif
