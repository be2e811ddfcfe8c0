/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sqlsplit.c - libFuzzer target for sqlsplit.
 *
 * The input is copied into a buffer of exactly size bytes with no NUL
 * after it, so reading past len is caught by ASan. Each statement must be
 * non-empty, trimmed, and split again into exactly itself.
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
		for (i = 0; i < n; i++)
			check_stmt(stmts[i]);
		sqlsplit_free(stmts, n);
	} else if (err.line < 1 || err.col < 1 ||
		   memchr(err.text, '\0', sizeof(err.text)) == NULL) {
		abort();
	}
	free(s);
	return 0;
}
