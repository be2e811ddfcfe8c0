/* SPDX-License-Identifier: MIT */
/*
 * tmpl.c - {{variable}} substitution.
 *
 * What counts as a variable: at each "{{", take the bytes up to the first
 * "}}" after it and trim blanks. [a-z_]+ is a variable. Something that
 * starts like a name ([A-Za-z_.]: "{{Name}}", "{{.RoleName}}" from Vault's
 * username_template, "{{na me}}") is an error, because copying a mistyped
 * variable into SQL would create a role literally called "{{Name}}".
 * Anything else ("{{1,2},{3,4}}", an array literal; "{{}}") is text, and
 * the scan resumes one byte later so "{{{name}}}" still finds {{name}}.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tmpl.h"

#define TMPL_SHOW_MAX 32 /* bytes of a bad variable quoted in a message */

struct tmpl_scan {
	const char *text; /* borrowed: the whole template */
	const char *p; /* next byte to look at */
	const char *close; /* first "}}" after the last "{{" seen, or NULL */
};

struct tmpl_ref {
	const char *start, *end; /* the whole "{{ name }}" */
	const char *name;
	size_t nlen;
};

static bool tmpl_is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool tmpl_is_name(char c)
{
	return (c >= 'a' && c <= 'z') || c == '_';
}

static bool tmpl_looks_like_name(char c)
{
	return tmpl_is_name(c) || (c >= 'A' && c <= 'Z') || c == '.';
}

/* 1-based line and byte column of p in text, for messages. */
static void tmpl_pos(const char *text, const char *p, int *line, int *col)
{
	const char *bol = text;

	/* saturate rather than overflow on absurdly long input */
	*line = 1;
	for (; text < p; text++) {
		if (*text == '\n') {
			*line += *line < INT_MAX;
			bol = text + 1;
		}
	}
	*col = p - bol < INT_MAX ? (int)(p - bol) + 1 : INT_MAX;
}

/* Fill err with "<pre>{{<name>}}<post>" (or just pre) at the position of at. */
static int tmpl_fail(const struct tmpl_scan *sc, const char *at, struct parse_error *err,
		     const char *pre, const char *name, size_t nlen, const char *post)
{
	char shown[TMPL_SHOW_MAX + 4];
	size_t i;
	int line, col;

	for (i = 0; i < nlen && i < TMPL_SHOW_MAX; i++)
		shown[i] = (name[i] >= 0x20 && name[i] < 0x7f) ? name[i] : '?';
	if (i < nlen) {
		memcpy(shown + i, "...", 3);
		i += 3;
	}
	shown[i] = '\0';
	tmpl_pos(sc->text, at, &line, &col);
	if (name == NULL)
		perr_set(err, line, col, "%s", pre);
	else
		perr_set(err, line, col, "%s{{%s}}%s", pre, shown, post);
	return -EINVAL;
}

/*
 * tmpl_next - find the next variable at or after sc->p.
 * Returns 1 with *v filled and sc->p moved past it, 0 at the end (sc->p
 * at the NUL), or -EINVAL with err set; after a bad variable sc->p is
 * past it, so a caller that only looks may go on.
 */
static int tmpl_next(struct tmpl_scan *sc, struct tmpl_ref *v, struct parse_error *err)
{
	const char *p = sc->p, *b, *e, *q;

	while ((p = strstr(p, "{{")) != NULL) {
		/* reuse the last "}}": it is still the first one after p + 2 */
		if (sc->close == NULL || sc->close < p + 2)
			sc->close = strstr(p + 2, "}}");
		if (sc->close == NULL) {
			sc->p = p + strlen(p);
			return tmpl_fail(sc, p, err, "unterminated {{", NULL, 0, NULL);
		}
		for (b = p + 2; b < sc->close && tmpl_is_blank(*b); b++)
			;
		for (e = sc->close; e > b && tmpl_is_blank(e[-1]); e--)
			;
		if (b == e || !tmpl_looks_like_name(*b)) {
			p++;
			continue;
		}
		sc->p = sc->close + 2;
		for (q = b; q < e; q++)
			if (!tmpl_is_name(*q))
				return tmpl_fail(sc, p, err, "bad template variable ", b,
						 (size_t)(e - b),
						 ": names are lowercase letters and '_'");
		v->start = p;
		v->end = sc->close + 2;
		v->name = b;
		v->nlen = (size_t)(e - b);
		return 1;
	}
	sc->p += strlen(sc->p);
	return 0;
}

static bool tmpl_name_is(const struct tmpl_ref *v, const char *name)
{
	return name != NULL && strlen(name) == v->nlen && memcmp(name, v->name, v->nlen) == 0;
}

int tmpl_check(const char *text, const char *const *allowed, struct parse_error *err)
{
	struct tmpl_scan sc = { .text = text ? text : "", .p = text ? text : "" };
	struct tmpl_ref v;
	size_t i;
	int r;

	while ((r = tmpl_next(&sc, &v, err)) == 1) {
		for (i = 0; allowed != NULL && allowed[i] != NULL; i++)
			if (tmpl_name_is(&v, allowed[i]))
				break;
		if (allowed == NULL || allowed[i] == NULL) {
			static const char *const known[] = { "name", "username", "password",
							     "expiration", NULL };

			for (i = 0; known[i] != NULL; i++)
				if (tmpl_name_is(&v, known[i]))
					return tmpl_fail(&sc, v.start, err, "template variable ",
							 v.name, v.nlen,
							 " is not available in these statements");
			return tmpl_fail(&sc, v.start, err, "unknown template variable ", v.name,
					 v.nlen, "");
		}
	}
	return r;
}

int tmpl_uses(const char *text, const char *name)
{
	struct tmpl_scan sc = { .text = text ? text : "", .p = text ? text : "" };
	struct tmpl_ref v;
	int r;

	/* a bad variable is skipped; only an unterminated "{{" ends the scan */
	while ((r = tmpl_next(&sc, &v, NULL)) != 0)
		if (r == 1 && tmpl_name_is(&v, name))
			return 1;
	return 0;
}

static const struct tmpl_var *tmpl_lookup(const struct tmpl_ref *v, const struct tmpl_var *vars,
					  size_t nvars)
{
	size_t i;

	for (i = 0; i < nvars; i++)
		if (tmpl_name_is(v, vars[i].name))
			return &vars[i];
	return NULL;
}

/*
 * One pass of rendering: with out == NULL it only validates and sizes, so
 * the result is written once into a buffer of the right size and no
 * partial copy holding a secret is ever left behind by a realloc.
 */
static int tmpl_pass(const char *text, const struct tmpl_var *vars, size_t nvars, char *out,
		     size_t *size, struct parse_error *err)
{
	struct tmpl_scan sc = { .text = text, .p = text };
	const struct tmpl_var *tv;
	const char *last = text;
	struct tmpl_ref v;
	size_t n = 0, lit;
	int r;

	while ((r = tmpl_next(&sc, &v, err)) == 1) {
		if ((tv = tmpl_lookup(&v, vars, nvars)) == NULL)
			return tmpl_fail(&sc, v.start, err, "unknown template variable ", v.name,
					 v.nlen, "");
		/* a NUL would silently cut the statement short in libpq */
		if ((tv->value == NULL && tv->len > 0) ||
		    (tv->len > 0 && memchr(tv->value, '\0', tv->len) != NULL))
			return tmpl_fail(&sc, v.start, err, "value of ", v.name, v.nlen,
					 " contains a NUL byte");
		lit = (size_t)(v.start - last);
		if (lit > SIZE_MAX - 1 - n || tv->len > SIZE_MAX - 1 - n - lit) {
			perr_set(err, 0, 0, "rendered text too large");
			return -ENOMEM;
		}
		if (out != NULL) {
			memcpy(out + n, last, lit);
			if (tv->len > 0)
				memcpy(out + n + lit, tv->value, tv->len);
		}
		n += lit + tv->len;
		last = v.end;
	}
	if (r < 0)
		return r;
	lit = strlen(last);
	if (lit > SIZE_MAX - 1 - n) {
		perr_set(err, 0, 0, "rendered text too large");
		return -ENOMEM;
	}
	if (out != NULL) {
		memcpy(out + n, last, lit);
		out[n + lit] = '\0';
	}
	*size = n + lit;
	return 0;
}

int tmpl_render(const char *text, const struct tmpl_var *vars, size_t nvars, char **out,
		size_t *outlen, struct parse_error *err)
{
	char *buf = NULL;
	size_t size = 0, filled = 0;
	int r = -EIO;

	if (text == NULL)
		text = "";
	if ((r = tmpl_pass(text, vars, nvars, NULL, &size, err)) != 0)
		goto out;
	if ((buf = malloc(size + 1)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	/* the same input again: it cannot fail or change size now */
	if (tmpl_pass(text, vars, nvars, buf, &filled, NULL) != 0 || filled != size)
		abort();
	*out = buf;
	*outlen = size;
	buf = NULL; /* transferred */
	r = 0;
out:
	return r;
}

void tmpl_free(char *s)
{
	if (s == NULL)
		return;
	sodium_memzero(s, strlen(s));
	free(s);
}
