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
 * Also: which statements are transaction control, which credfs refuses in
 * every statement kind it runs, and joining statements into one text that
 * splits back into them, for one simple-query message.
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

/*
 * sqlsplit_txn_control - whether stmt (one statement, NUL-terminated,
 * borrowed) is transaction control: its first keyword, after blanks and
 * comments and in any case, is BEGIN, START TRANSACTION, COMMIT, END,
 * ROLLBACK, ABORT, SAVEPOINT, RELEASE or PREPARE TRANSACTION (COMMIT
 * PREPARED, ROLLBACK PREPARED and ROLLBACK TO SAVEPOINT start with one of
 * these). Not transaction control: a BEGIN or END later in a statement
 * (DO $$ BEGIN ... END $$, CREATE FUNCTION ... BEGIN ATOMIC ... END) and
 * PREPARE name AS ..., a prepared statement (even one named
 * "transaction"). Returns the command in upper case ("COMMIT",
 * "START TRANSACTION"), a static string, or NULL. NULL-safe.
 */
const char *sqlsplit_txn_control(const char *stmt);

/*
 * sqlsplit_check_txn_control - refuse transaction control among the n
 * statements of key (all borrowed): credfs runs each statement kind in a
 * transaction of its own, and for creation statements commits it only
 * after the lease is durable, so a COMMIT among them would commit a login
 * credfs may not know of. Returns 0, or -EINVAL with err set to
 * "KEY: statement N is transaction control (COMMIT): ..." (N 1-based; no
 * statement text, which may hold a password).
 */
int sqlsplit_check_txn_control(char *const *stmts, size_t n, const char *key,
			       struct parse_error *err) __attribute__((warn_unused_result));

/*
 * sqlsplit_join - one text for one simple-query message: prefix (borrowed,
 * e.g. "BEGIN;\n" or ""), then each of the n statements (stmts[i] of lens[i]
 * bytes, borrowed) followed by "\n;\n". The newline ends a statement's
 * trailing -- comment, which would otherwise swallow the ';' and the
 * statement after it; quotes and block comments are closed in every
 * statement sqlsplit returns. So sqlsplit splits the text back into
 * prefix's statements and then exactly these, unless one leaves a '(' or
 * a BEGIN ATOMIC open (sqlsplit allows that only at the end of its input;
 * PostgreSQL refuses it, as no statement may start with END). On success
 * *out is a new NUL-terminated string of *outlen bytes, which the caller
 * wipes (a rendered statement holds a password) and frees. Returns 0 or
 * -ENOMEM; *out and *outlen are written only on success.
 */
int sqlsplit_join(const char *prefix, char *const *stmts, const size_t *lens, size_t n, char **out,
		  size_t *outlen) __attribute__((warn_unused_result));

#endif
