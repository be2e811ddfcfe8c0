/* SPDX-License-Identifier: MIT */
/*
 * sqlsplit.c - split SQL text into statements, following the token rules
 * of PostgreSQL's scan.l closely enough to find every top-level ';'.
 *
 * Assumes standard_conforming_strings = on (the default since 9.1): in a
 * plain '...' string a backslash is an ordinary byte. Identifier and
 * dollar-quote tag bytes include 0x80-0xff, as in scan.l, so a non-ASCII
 * identifier or tag is handled as PostgreSQL handles it.
 *
 * The same token rules find a statement's first keyword (is it
 * transaction control?) and join statements back into one text.
 *
 * Every output string is wiped before it is freed: callers split
 * templates, but a rendered statement carries a password, and wiping a
 * few hundred bytes costs nothing.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sqlsplit.h"

struct sqls {
	const char *text; /* borrowed */
	size_t len;
	char **stmts; /* NULL-terminated, n of cap used */
	size_t n, cap;
	/* psql's rules for a ';' that does not end a statement, reset at each end */
	size_t paren; /* depth of ( ), as in CREATE RULE ... DO (a; b) */
	size_t begin; /* depth of BEGIN ... END, see sqls_word() */
	size_t nwords; /* identifiers and keywords seen */
	char words[4]; /* for each of the first four, 'c' for CREATE, 'o', 'r', 'f', 'p' or 0 */
};

static bool sqls_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool sqls_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* scan.l: ident_start [A-Za-z\200-\377_] */
static bool sqls_ident_start(char c)
{
	unsigned char u = (unsigned char)c;

	return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u == '_' || u >= 0x80;
}

/* scan.l: dolq_cont [A-Za-z\200-\377_0-9]; ident_cont adds '$' */
static bool sqls_tag_cont(char c)
{
	return sqls_ident_start(c) || sqls_is_digit(c);
}

static int sqls_fail(const struct sqls *s, size_t at, const char *what, struct parse_error *err)
{
	int line = 1, col = 1;
	size_t i;

	/* saturate rather than overflow on absurdly long input */
	for (i = 0; i < at; i++) {
		if (s->text[i] == '\n') {
			line += line < INT_MAX;
			col = 1;
		} else {
			col += col < INT_MAX;
		}
	}
	perr_set(err, line, col, "%s", what);
	return -EINVAL;
}

/*
 * A quoted string or identifier opened by q at i: the end is a q not
 * followed by another q (qq is an escaped q). With backslash set (E'...')
 * a backslash also escapes the next byte. Returns the index after the
 * closing q, or 0 if there is none.
 */
static size_t sqls_skip_quoted(const struct sqls *s, size_t i, char q, bool backslash)
{
	for (i++; i < s->len; i++) {
		if (backslash && s->text[i] == '\\') {
			i++;
		} else if (s->text[i] == q) {
			if (i + 1 < s->len && s->text[i + 1] == q)
				i++;
			else
				return i + 1;
		}
	}
	return 0;
}

/* A block comment at i, nested as in PostgreSQL: index after it, or 0. */
static size_t sqls_skip_block(const struct sqls *s, size_t i)
{
	size_t depth = 1;

	for (i += 2; i + 1 < s->len; i++) {
		if (s->text[i] == '/' && s->text[i + 1] == '*') {
			depth++;
			i++;
		} else if (s->text[i] == '*' && s->text[i + 1] == '/') {
			i++;
			if (--depth == 0)
				return i + 1;
		}
	}
	return 0;
}

/* Length of a dollar-quote delimiter ("$$", "$tag$") at i, or 0. */
static size_t sqls_tag_len(const struct sqls *s, size_t i)
{
	size_t j = i + 1;

	if (j < s->len && s->text[j] == '$')
		return 2;
	if (j >= s->len || !sqls_ident_start(s->text[j]))
		return 0;
	while (j < s->len && sqls_tag_cont(s->text[j]))
		j++;
	return j < s->len && s->text[j] == '$' ? j - i + 1 : 0;
}

/* Append text[from, to) trimmed, unless it holds no code. */
static int sqls_emit(struct sqls *s, size_t from, size_t to, bool code)
{
	char **grown, *stmt;
	size_t cap;

	if (!code)
		return 0;
	while (from < to && sqls_is_blank(s->text[from]))
		from++;
	while (to > from && sqls_is_blank(s->text[to - 1]))
		to--;
	if (s->n + 1 >= s->cap) {
		cap = s->cap * 2;
		if ((grown = reallocarray(s->stmts, cap, sizeof(*grown))) == NULL)
			return -ENOMEM;
		s->stmts = grown;
		s->cap = cap;
	}
	if ((stmt = strndup(s->text + from, to - from)) == NULL)
		return -ENOMEM;
	s->stmts[s->n++] = stmt;
	s->stmts[s->n] = NULL;
	return 0;
}

/* ASCII only, as pg_strcasecmp: no locale */
static char sqls_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

/* The word w of n bytes is keyword kw, in any case. */
static bool sqls_word_is(const char *w, size_t n, const char *kw)
{
	size_t i;

	if (strlen(kw) != n)
		return false;
	for (i = 0; i < n; i++)
		if (sqls_lower(w[i]) != sqls_lower(kw[i]))
			return false;
	return true;
}

/*
 * An identifier or keyword. psql's heuristic (psqlscan.l) for SQL-standard
 * function bodies, CREATE FUNCTION f() ... BEGIN ATOMIC ...; ...; END,
 * whose inner ';' do not end the statement: only in a statement that
 * starts CREATE [OR REPLACE] FUNCTION|PROCEDURE, outside parentheses,
 * BEGIN opens a block, CASE inside one opens another, END closes one.
 */
static void sqls_word(struct sqls *s, const char *w, size_t n)
{
	static const char *const lead[] = { "create", "or", "replace", "function", "procedure" };
	const char *k = s->words;
	size_t i;

	for (i = 0; s->nwords < sizeof(s->words) && i < sizeof(lead) / sizeof(lead[0]); i++)
		if (sqls_word_is(w, n, lead[i]))
			s->words[s->nwords] = lead[i][0];
	s->nwords++;
	if (k[0] != 'c' || s->paren > 0 ||
	    !(k[1] == 'f' || k[1] == 'p' ||
	      (k[1] == 'o' && k[2] == 'r' && (k[3] == 'f' || k[3] == 'p'))))
		return;
	if (sqls_word_is(w, n, "begin"))
		s->begin++;
	else if (sqls_word_is(w, n, "case") && s->begin > 0)
		s->begin++;
	else if (sqls_word_is(w, n, "end") && s->begin > 0)
		s->begin--;
}

/* A '$' at i: a dollar quote, a $1 parameter or a lone '$'. */
static size_t sqls_dollar(const struct sqls *s, size_t i, struct parse_error *err)
{
	const char *t = s->text, *close;
	size_t k;

	if (i + 1 < s->len && sqls_is_digit(t[i + 1])) {
		for (i++; i < s->len && sqls_is_digit(t[i]); i++)
			;
		return i;
	}
	if ((k = sqls_tag_len(s, i)) == 0)
		return i + 1; /* "$" or "$tag" without the closing '$' */
	/* the body ends at the first copy of the delimiter, as in scan.l */
	if (i + k < s->len && (close = memmem(t + i + k, s->len - i - k, t + i, k)) != NULL)
		return (size_t)(close - t) + k;
	sqls_fail(s, i, "unterminated dollar-quoted string", err);
	return 0;
}

/*
 * A bare word at i: an identifier or keyword, taken whole so an 'E' or '$'
 * inside it ("namE'x'", "a$b") starts nothing; a number with any junk
 * stuck to it ("1end", "1e'x'"), one token as in PostgreSQL 15+; or a
 * single other byte. Returns the index after it.
 */
static size_t sqls_word_at(struct sqls *s, size_t i)
{
	const char *t = s->text;
	size_t end = i + 1;

	if (sqls_is_digit(t[i])) {
		while (end < s->len && (sqls_is_digit(t[end]) || t[end] == '.'))
			end++;
		if (end >= s->len || !sqls_ident_start(t[end]))
			return end;
	} else if (!sqls_ident_start(t[i])) {
		return end;
	}
	while (end < s->len && (sqls_tag_cont(t[end]) || t[end] == '$'))
		end++;
	if (!sqls_is_digit(t[i]))
		sqls_word(s, t + i, end - i);
	return end;
}

/*
 * The token at i that is not a comment, blank or ';': returns the index
 * after it, or 0 with err set if it is unterminated.
 */
static size_t sqls_token(struct sqls *s, size_t i, struct parse_error *err)
{
	const char *t = s->text, *what = "unterminated quoted string";
	size_t end, from = i;
	bool backslash = false;

	if (t[i] == '$')
		return sqls_dollar(s, i, err);
	if (t[i] == '(') {
		s->paren++;
		return i + 1;
	}
	if (t[i] == ')') {
		if (s->paren > 0)
			s->paren--;
		return i + 1;
	}
	if ((t[i] == 'E' || t[i] == 'e') && i + 1 < s->len && t[i + 1] == '\'') {
		backslash = true;
		i++;
	} else if (t[i] == '"') {
		what = "unterminated quoted identifier";
	} else if (t[i] != '\'') {
		return sqls_word_at(s, i);
	}
	if ((end = sqls_skip_quoted(s, i, t[i], backslash)) == 0)
		sqls_fail(s, from, what, err);
	return end;
}

/* End the statement at i: emit it and reset the per-statement state. */
static int sqls_end(struct sqls *s, size_t *start, size_t i, bool *code)
{
	int r = sqls_emit(s, *start, i, *code);

	*start = i + 1;
	*code = false;
	s->paren = s->begin = s->nwords = 0;
	memset(s->words, 0, sizeof(s->words));
	return r;
}

static int sqls_scan(struct sqls *s, struct parse_error *err)
{
	const char *t = s->text, *nul;
	size_t i = 0, start = 0, end;
	bool code = false;
	int r;

	/* a NUL would cut a statement short once it is a C string */
	if (s->len > 0 && (nul = memchr(t, '\0', s->len)) != NULL)
		return sqls_fail(s, (size_t)(nul - t), "NUL byte in SQL text", err);
	while (i < s->len) {
		if (t[i] == ';' && s->paren == 0 && s->begin == 0) {
			if ((r = sqls_end(s, &start, i, &code)) != 0)
				return r;
			i++;
		} else if (t[i] == ';' || sqls_is_blank(t[i])) {
			i++;
		} else if (t[i] == '-' && i + 1 < s->len && t[i + 1] == '-') {
			/* to the end of the line; at the end of the text is fine */
			while (i < s->len && t[i] != '\n')
				i++;
		} else if (t[i] == '/' && i + 1 < s->len && t[i + 1] == '*') {
			if ((end = sqls_skip_block(s, i)) == 0)
				return sqls_fail(s, i, "unterminated /* comment", err);
			i = end;
		} else {
			code = true;
			if ((i = sqls_token(s, i, err)) == 0)
				return -EINVAL;
		}
	}
	return sqls_emit(s, start, s->len, code);
}

int sqlsplit(const char *text, size_t len, char ***stmts, size_t *n, struct parse_error *err)
{
	struct sqls s = { .text = text, .len = len };
	int r = -EIO;

	if (text == NULL && len > 0) {
		perr_set(err, 0, 0, "no SQL text");
		r = -EINVAL;
		goto out;
	}
	/* non-NULL even when no statement is found */
	if ((s.stmts = calloc(8, sizeof(*s.stmts))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	s.cap = 8;
	if ((r = sqls_scan(&s, err)) != 0)
		goto out;
	*stmts = s.stmts;
	*n = s.n;
	s.stmts = NULL; /* transferred */
	s.n = 0;
	r = 0;
out:
	sqlsplit_free(s.stmts, s.n);
	return r;
}

void sqlsplit_free(char **stmts, size_t n)
{
	size_t i;

	if (stmts == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (stmts[i] != NULL) {
			sodium_memzero(stmts[i], strlen(stmts[i]));
			free(stmts[i]);
		}
	}
	free(stmts);
}

/* --- transaction control ------------------------------------------------- */

/* The index of the first byte at or after i that is no blank or comment. */
static size_t sqls_skip_space(const struct sqls *s, size_t i)
{
	size_t end;

	while (i < s->len) {
		if (sqls_is_blank(s->text[i])) {
			i++;
		} else if (s->text[i] == '-' && i + 1 < s->len && s->text[i + 1] == '-') {
			while (i < s->len && s->text[i] != '\n')
				i++;
		} else if (s->text[i] == '/' && i + 1 < s->len && s->text[i + 1] == '*') {
			if ((end = sqls_skip_block(s, i)) == 0)
				return s->len; /* unterminated: nothing follows */
			i = end;
		} else {
			break;
		}
	}
	return i;
}

/*
 * The keyword or identifier after blanks and comments from *i: its length
 * (0 if something else comes first), *w where it starts, *i after it.
 */
static size_t sqls_next_word(const struct sqls *s, size_t *i, const char **w)
{
	size_t from = sqls_skip_space(s, *i), end = from;

	if (from < s->len && sqls_ident_start(s->text[from])) {
		end = from + 1;
		while (end < s->len && (sqls_tag_cont(s->text[end]) || s->text[end] == '$'))
			end++;
	}
	*w = s->text + from;
	*i = end;
	return end - from;
}

const char *sqlsplit_txn_control(const char *stmt)
{
	/* gram.y's TransactionStmt and TransactionStmtLegacy, by their first keyword */
	static const char *const first[] = {
		"BEGIN", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE", NULL,
	};
	struct sqls s = { .text = stmt, .len = stmt ? strlen(stmt) : 0 };
	const char *w;
	size_t i = 0, n;

	if (stmt == NULL)
		return NULL;
	n = sqls_next_word(&s, &i, &w);
	for (const char *const *k = first; *k; k++)
		if (sqls_word_is(w, n, *k))
			return *k;
	if (sqls_word_is(w, n, "start")) {
		n = sqls_next_word(&s, &i, &w);
		return sqls_word_is(w, n, "transaction") ? "START TRANSACTION" : NULL;
	}
	if (!sqls_word_is(w, n, "prepare"))
		return NULL;
	n = sqls_next_word(&s, &i, &w);
	if (!sqls_word_is(w, n, "transaction"))
		return NULL; /* PREPARE name ...: a prepared statement */
	/* PREPARE transaction [(types)] AS ...: a prepared statement of that name */
	i = sqls_skip_space(&s, i);
	if (i < s.len && s.text[i] == '(')
		return NULL;
	n = sqls_next_word(&s, &i, &w);
	return sqls_word_is(w, n, "as") ? NULL : "PREPARE TRANSACTION";
}

int sqlsplit_check_txn_control(char *const *stmts, size_t n, const char *key,
			       struct parse_error *err)
{
	const char *cmd;

	for (size_t i = 0; i < n; i++) {
		if ((cmd = sqlsplit_txn_control(stmts[i])) != NULL) {
			perr_set(err, 0, 0,
				 "%s: statement %zu is transaction control (%s): credfs runs the "
				 "statements in its own transaction",
				 key, i + 1, cmd);
			return -EINVAL;
		}
	}
	return 0;
}

/* --- joining --------------------------------------------------------------- */

int sqlsplit_join(const char *prefix, char *const *stmts, const size_t *lens, size_t n, char **out,
		  size_t *outlen)
{
	static const char end[] = "\n;\n";
	size_t plen = strlen(prefix), total = plen, off;
	char *sql;

	for (size_t i = 0; i < n; i++) {
		if (lens[i] > SIZE_MAX - sizeof(end) - total)
			return -ENOMEM;
		total += lens[i] + sizeof(end) - 1;
	}
	if ((sql = malloc(total + 1)) == NULL)
		return -ENOMEM;
	memcpy(sql, prefix, plen);
	off = plen;
	for (size_t i = 0; i < n; i++) {
		memcpy(sql + off, stmts[i], lens[i]);
		off += lens[i];
		memcpy(sql + off, end, sizeof(end) - 1);
		off += sizeof(end) - 1;
	}
	sql[off] = '\0';
	*out = sql;
	*outlen = off;
	return 0;
}
