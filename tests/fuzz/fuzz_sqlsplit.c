/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sqlsplit.c - libFuzzer target for sqlsplit.
 *
 * The input is copied into a buffer of exactly size bytes with no NUL
 * after it, so reading past len is caught by ASan. Each statement must be
 * non-empty, trimmed, and split again into exactly itself; the statements
 * joined as credfs sends them must split back into themselves; the
 * transaction-control classifier must answer for each.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sqlsplit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void check_stmt(const char *st)
{
	struct parse_error err;
	size_t len = strlen(st), n = 0;
	char **again = NULL;

	if (len == 0 || is_blank(st[0]) || is_blank(st[len - 1]))
		abort();
	if (sqlsplit(st, len, &again, &n, &err) != 0 || n != 1 || strcmp(again[0], st) != 0)
		abort();
	sqlsplit_free(again, n);
}

static void check_txn(const char *st)
{
	static const char *const names[] = {
		"BEGIN",   "START TRANSACTION",	 "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT",
		"RELEASE", "PREPARE TRANSACTION"
	};
	const char *cmd = sqlsplit_txn_control(st);

	if (cmd == NULL)
		return;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(cmd, names[i]) == 0)
			return;
	abort();
}

/*
 * Every statement but the last ended at a top-level ';', so it ends one
 * again after the "\n;\n" sqlsplit_join puts after it. The last may have
 * left a '(' or a BEGIN ATOMIC open (psql's rules, not the server's) and
 * then takes the ';' in.
 */
static void check_join(char *const *stmts, size_t n)
{
	struct parse_error err;
	size_t *lens = calloc(n ? n : 1, sizeof(*lens)), len = 0, m = 0, last;
	char *sql = NULL, **again = NULL;

	if (lens == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		lens[i] = strlen(stmts[i]);
	if (sqlsplit_join("BEGIN;\n", stmts, lens, n, &sql, &len) != 0)
		goto out;
	if (sqlsplit(sql, len, &again, &m, &err) != 0 || m != n + 1 || strcmp(again[0], "BEGIN"))
		abort();
	for (size_t i = 0; i + 1 < n; i++)
		if (strcmp(again[i + 1], stmts[i]) != 0)
			abort();
	if (n > 0 && strcmp(again[n], stmts[n - 1]) != 0) {
		last = lens[n - 1];
		if (strlen(again[n]) != last + 2 || strncmp(again[n], stmts[n - 1], last) != 0 ||
		    strcmp(again[n] + last, "\n;") != 0)
			abort();
	}
out:
	sqlsplit_free(again, m);
	free(sql);
	free(lens);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct parse_error err;
	char **stmts = NULL, *s;
	size_t n = 0, i;

	if ((s = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	if (sqlsplit(s, size, &stmts, &n, &err) == 0) {
		if (stmts == NULL || stmts[n] != NULL)
			abort();
		for (i = 0; i < n; i++) {
			check_stmt(stmts[i]);
			check_txn(stmts[i]);
		}
		check_join(stmts, n);
		sqlsplit_free(stmts, n);
	} else if (err.line < 1 || err.col < 1 ||
		   memchr(err.text, '\0', sizeof(err.text)) == NULL) {
		abort();
	}
	free(s);
	return 0;
}
