/* SPDX-License-Identifier: MIT */
/*
 * utmpl.c - username_template (see utmpl.h): a recursive-descent evaluator
 * over the template text. Templates are a few dozen bytes and rendered once
 * per issue, so nothing is compiled: checking a template is rendering it
 * once with sample data, as Vault does.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "gofmt.h"
#include "gotime.h"
#include "uname.h"
#include "utmpl.h"

#define UTMPL_ARGS  8 /* arguments of one command */
#define UTMPL_DEPTH 16 /* nested parentheses */

struct val {
	bool is_int;
	int64_t i;
	char *s; /* when !is_int: NUL-terminated, at most UTMPL_VALUE_MAX bytes */
	size_t len;
};

struct ev {
	const char *src;
	size_t pos;
	const struct utmpl_data *d;
	struct parse_error *err;
	int depth;
	bool oom;
};

static void val_clear(struct val *v)
{
	free(v->s);
	memset(v, 0, sizeof(*v));
}

static int ev_fail(struct ev *e, const char *fmt, const char *what)
{
	perr_set(e->err, 0, (int)e->pos + 1, fmt, what);
	return -EINVAL;
}

static int val_str(struct ev *e, struct val *v, const char *s, size_t len)
{
	if (len > UTMPL_VALUE_MAX)
		return ev_fail(e, "%s: a value longer than 1024 bytes", "template");
	if (!(v->s = malloc(len + 1))) {
		e->oom = true;
		return -ENOMEM;
	}
	memcpy(v->s, s, len);
	v->s[len] = '\0';
	v->len = len;
	v->is_int = false;
	return 0;
}

/* A data field's value, sanitized as the default name's parts are (uname.c). */
static int val_field(struct ev *e, struct val *v, const char *in)
{
	int r;

	if ((r = val_str(e, v, in, strlen(in))) == 0)
		uname_sanitize(v->s);
	return r;
}

static void ev_space(struct ev *e)
{
	while (e->src[e->pos] == ' ' || e->src[e->pos] == '\t' || e->src[e->pos] == '\n' ||
	       e->src[e->pos] == '\r')
		e->pos++;
}

/* At the end of an action: "}}" or " -}}" (the space was skipped already). */
static bool ev_at_close(const struct ev *e)
{
	const char *p = e->src + e->pos;

	return !strncmp(p, "}}", 2) || (p[0] == '-' && !strncmp(p + 1, "}}", 2) && e->pos > 0 &&
					isspace((unsigned char)p[-1]));
}

static bool ev_ident_char(char c, bool first)
{
	return isascii((unsigned char)c) &&
	       (isalpha((unsigned char)c) || c == '_' || (!first && isdigit((unsigned char)c)));
}

static int ev_ident(struct ev *e, char *out, size_t outsz)
{
	size_t n = 0;

	while (ev_ident_char(e->src[e->pos], n == 0)) {
		if (n + 1 >= outsz)
			return ev_fail(e, "%s: a name that is too long", "template");
		out[n++] = e->src[e->pos++];
	}
	out[n] = '\0';
	return n ? 0 : ev_fail(e, "%s: expected a name", "template");
}

/* --- functions ----------------------------------------------------------- */

static int want_str(struct ev *e, const char *fn, const struct val *v)
{
	return v->is_int ? ev_fail(e, "%s: expected a string argument", fn) : 0;
}

static int want_int(struct ev *e, const char *fn, const struct val *v, int64_t min)
{
	if (!v->is_int)
		return ev_fail(e, "%s: expected a number argument", fn);
	if (v->i < min || v->i > UTMPL_VALUE_MAX)
		return ev_fail(e, "%s: number out of range", fn);
	return 0;
}

/* Go's fmt.Sprintf, mistakes included (%!d(string=hi), %!s(MISSING), ...) */
static int fn_printf(struct ev *e, struct val *a, size_t n, struct val *out)
{
	struct gofmt_arg args[UTMPL_ARGS];
	char buf[UTMPL_VALUE_MAX + 1];
	size_t len = 0;
	int r;

	if (n < 1 || (r = want_str(e, "printf", &a[0])) != 0)
		return n < 1 ? ev_fail(e, "%s: needs a format", "printf") : r;
	for (size_t k = 1; k < n; k++)
		args[k - 1] = (struct gofmt_arg){ a[k].is_int, a[k].i, a[k].s, a[k].len };
	if (gofmt_sprintf(a[0].s, a[0].len, args, n - 1, buf, sizeof(buf), &len) != 0)
		return ev_fail(e, "%s: a value longer than 1024 bytes", "printf");
	return val_str(e, out, buf, len);
}

/* Go's time.Format of the clock's time, in UTC */
static int fn_timestamp(struct ev *e, const struct val *layout, struct val *out)
{
	char buf[UTMPL_VALUE_MAX + 1];
	size_t len = 0;
	int r;

	if ((r = want_str(e, "timestamp", layout)) != 0)
		return r;
	if (gotime_format(e->d->now_ms, layout->s, layout->len, buf, sizeof(buf), &len) != 0)
		return ev_fail(e, "%s: a value longer than 1024 bytes", "timestamp");
	return val_str(e, out, buf, len);
}

static int fn_hex_sha256(struct ev *e, const struct val *s, struct val *out)
{
	unsigned char h[crypto_hash_sha256_BYTES];
	char hex[2 * sizeof(h) + 1];

	crypto_hash_sha256(h, (const unsigned char *)s->s, s->len);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	return val_str(e, out, hex, strlen(hex));
}

static int fn_call(struct ev *e, const char *fn, struct val *a, size_t n, struct val *out)
{
	struct {
		const char *name;
		size_t nargs; /* SIZE_MAX: printf */
	} const table[] = {
		{ "printf", SIZE_MAX }, { "random", 1 },
		{ "truncate", 2 },	{ "truncate_sha256", 2 },
		{ "sha256", 1 },	{ "base64", 1 },
		{ "uppercase", 1 },	{ "lowercase", 1 },
		{ "replace", 3 },	{ "uuid", 0 },
		{ "unix_time", 0 },	{ "unix_time_millis", 0 },
		{ "timestamp", 1 },
	};
	char buf[UTMPL_VALUE_MAX + 1];
	size_t i;
	int r;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcmp(table[i].name, fn))
			break;
	if (i == sizeof(table) / sizeof(table[0]))
		return ev_fail(e, "template: unknown function \"%.40s\"", fn);
	if (table[i].nargs != SIZE_MAX && table[i].nargs != n)
		return ev_fail(e, "%s: wrong number of arguments", fn);
	if (!strcmp(fn, "printf"))
		return fn_printf(e, a, n, out);
	if (!strcmp(fn, "timestamp"))
		return fn_timestamp(e, &a[0], out);
	if (!strcmp(fn, "random")) {
		if ((r = want_int(e, fn, &a[0], 1)) != 0)
			return r;
		uname_random(buf, (size_t)a[0].i);
		return val_str(e, out, buf, (size_t)a[0].i);
	}
	if (!strcmp(fn, "uuid")) {
		unsigned char b[16];

		randombytes_buf(b, sizeof(b));
		b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
		b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
		snprintf(buf, sizeof(buf),
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11],
			 b[12], b[13], b[14], b[15]);
		return val_str(e, out, buf, strlen(buf));
	}
	if (!strcmp(fn, "unix_time") || !strcmp(fn, "unix_time_millis")) {
		int64_t t = e->d->now_ms;

		snprintf(buf, sizeof(buf), "%" PRId64,
			 fn[9] ? t : (t >= 0 ? t / 1000 : -((-t + 999) / 1000)));
		return val_str(e, out, buf, strlen(buf));
	}
	if (!strncmp(fn, "truncate", 8)) {
		bool hashed = fn[8] != '\0';

		if ((r = want_int(e, fn, &a[0], hashed ? 9 : 1)) != 0 ||
		    (r = want_str(e, fn, &a[1])) != 0)
			return r;
		if (a[1].len <= (size_t)a[0].i)
			return val_str(e, out, a[1].s, a[1].len);
		if (!hashed)
			return val_str(e, out, a[1].s, (size_t)a[0].i);
		/* Vault: the head, then 8 hex digits of the tail's SHA-256 */
		{
			size_t keep = (size_t)a[0].i - 8;
			struct val tail = { .s = a[1].s + keep, .len = a[1].len - keep }, h = { 0 };

			if ((r = fn_hex_sha256(e, &tail, &h)) != 0)
				return r;
			memcpy(buf, a[1].s, keep);
			memcpy(buf + keep, h.s, 8);
			val_clear(&h);
			return val_str(e, out, buf, keep + 8);
		}
	}
	for (size_t k = 0; k < n; k++)
		if ((r = want_str(e, fn, &a[k])) != 0)
			return r;
	if (!strcmp(fn, "sha256"))
		return fn_hex_sha256(e, &a[0], out);
	if (!strcmp(fn, "base64")) {
		if (sodium_base64_ENCODED_LEN(a[0].len, sodium_base64_VARIANT_ORIGINAL) >
		    sizeof(buf))
			return ev_fail(e, "%s: a value longer than 1024 bytes", fn);
		sodium_bin2base64(buf, sizeof(buf), (const unsigned char *)a[0].s, a[0].len,
				  sodium_base64_VARIANT_ORIGINAL);
		return val_str(e, out, buf, strlen(buf));
	}
	if (!strcmp(fn, "uppercase") || !strcmp(fn, "lowercase")) {
		if ((r = val_str(e, out, a[0].s, a[0].len)) != 0)
			return r;
		for (size_t k = 0; k < out->len; k++)
			out->s[k] = (char)(fn[0] == 'u' ? toupper((unsigned char)out->s[k])
							: tolower((unsigned char)out->s[k]));
		return 0;
	}
	/*
	 * replace OLD NEW S: strings.ReplaceAll(S, OLD, NEW). An empty OLD
	 * matches at the start and after each UTF-8 sequence, as in Go.
	 */
	{
		const struct val *old = &a[0], *rep = &a[1], *s = &a[2];
		size_t len = 0;

		for (size_t k = 0; k <= s->len;) {
			bool hit = k + old->len <= s->len && !memcmp(s->s + k, old->s, old->len);
			size_t step = old->len == 0 ? gofmt_rune_width(s->s + k, s->len - k) : 1;

			if (hit && len + rep->len <= UTMPL_VALUE_MAX) {
				memcpy(buf + len, rep->s, rep->len);
				len += rep->len;
			} else if (hit) {
				return ev_fail(e, "%s: a value longer than 1024 bytes", fn);
			}
			if (hit && old->len > 0) {
				k += old->len;
				continue;
			}
			if (k == s->len)
				break;
			if (len + step > UTMPL_VALUE_MAX)
				return ev_fail(e, "%s: a value longer than 1024 bytes", fn);
			memcpy(buf + len, s->s + k, step);
			len += step;
			k += step;
		}
		return val_str(e, out, buf, len);
	}
}

/* --- parsing and evaluating ---------------------------------------------- */

static int ev_pipeline(struct ev *e, struct val *out);

static int ev_string(struct ev *e, struct val *out)
{
	char buf[UTMPL_VALUE_MAX + 1];
	char q = e->src[e->pos++];
	size_t len = 0;

	for (;;) {
		char c = e->src[e->pos];

		if (c == '\0' || (c == '\n' && q == '"'))
			return ev_fail(e, "%s: unterminated string", "template");
		e->pos++;
		if (c == q)
			break;
		if (c == '\\' && q == '"') {
			c = e->src[e->pos++];
			switch (c) {
			case 'n':
				c = '\n';
				break;
			case 't':
				c = '\t';
				break;
			case '\\':
			case '"':
				break;
			default:
				e->pos--;
				return ev_fail(e, "%s: unknown escape in a string", "template");
			}
		}
		if (len >= UTMPL_VALUE_MAX)
			return ev_fail(e, "%s: a value longer than 1024 bytes", "template");
		buf[len++] = c;
	}
	return val_str(e, out, buf, len);
}

static bool ev_operand_start(const struct ev *e)
{
	char c = e->src[e->pos];

	if (c == '\0' || c == '|' || c == ')' || ev_at_close(e))
		return false;
	return c == '"' || c == '`' || c == '.' || c == '(' || c == '-' ||
	       isdigit((unsigned char)c) || ev_ident_char(c, true);
}

static int ev_operand(struct ev *e, struct val *out)
{
	char c = e->src[e->pos], name[32];
	int r;

	if (c == '"' || c == '`')
		return ev_string(e, out);
	if (c == '-' || isdigit((unsigned char)c)) {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(e->src + e->pos, &end, 10);
		if (end == e->src + e->pos || errno != 0)
			return ev_fail(e, "%s: bad number", "template");
		e->pos = (size_t)(end - e->src);
		out->is_int = true;
		out->i = v;
		return 0;
	}
	if (c == '.') {
		e->pos++;
		if ((r = ev_ident(e, name, sizeof(name))) != 0)
			return r;
		if (!strcmp(name, "DisplayName"))
			return val_field(e, out,
					 e->d->display && *e->d->display ? e->d->display
									 : "unknown");
		if (!strcmp(name, "RoleName"))
			return val_field(e, out, e->d->role ? e->d->role : "");
		return ev_fail(e, "template: unknown field \".%.40s\" (.DisplayName, .RoleName)",
			       name);
	}
	if (c == '(') {
		if (++e->depth > UTMPL_DEPTH)
			return ev_fail(e, "%s: nested too deep", "template");
		e->pos++;
		if ((r = ev_pipeline(e, out)) != 0)
			return r;
		ev_space(e);
		if (e->src[e->pos] != ')') {
			val_clear(out);
			return ev_fail(e, "%s: expected )", "template");
		}
		e->pos++;
		e->depth--;
		return 0;
	}
	/* a function name as an operand: called with no arguments */
	if ((r = ev_ident(e, name, sizeof(name))) != 0)
		return r;
	return fn_call(e, name, NULL, 0, out);
}

/* One command: a function with its arguments (and piped, last), or a value. */
static int ev_command(struct ev *e, struct val *piped, struct val *out)
{
	struct val args[UTMPL_ARGS + 1];
	char name[32];
	size_t n = 0;
	int r = 0;

	ev_space(e);
	memset(args, 0, sizeof(args));
	if (!ev_operand_start(e))
		return ev_fail(e, "%s: expected a value or a function", "template");
	if (!ev_ident_char(e->src[e->pos], true)) {
		if (piped)
			return ev_fail(e, "%s: only a function can take a piped value", "template");
		if ((r = ev_operand(e, out)) != 0)
			return r;
		ev_space(e);
		if (ev_operand_start(e)) {
			val_clear(out);
			return ev_fail(e, "%s: a value takes no arguments", "template");
		}
		return 0;
	}
	if ((r = ev_ident(e, name, sizeof(name))) != 0)
		return r;
	for (;;) {
		ev_space(e);
		if (!ev_operand_start(e))
			break;
		if (n == UTMPL_ARGS) {
			r = ev_fail(e, "%s: too many arguments", "template");
			goto out;
		}
		if ((r = ev_operand(e, &args[n])) != 0)
			goto out;
		n++;
	}
	if (piped) {
		args[n++] = *piped;
		memset(piped, 0, sizeof(*piped));
	}
	r = fn_call(e, name, args, n, out);
out:
	for (size_t i = 0; i < n; i++)
		val_clear(&args[i]);
	return r;
}

static int ev_pipeline(struct ev *e, struct val *out)
{
	int r;

	if ((r = ev_command(e, NULL, out)) != 0)
		return r;
	for (;;) {
		struct val next = { 0 };

		ev_space(e);
		if (e->src[e->pos] != '|')
			return 0;
		e->pos++;
		r = ev_command(e, out, &next);
		val_clear(out);
		if (r != 0)
			return r;
		*out = next;
	}
}

static bool out_add(struct ev *e, char *buf, size_t *len, const char *s, size_t n)
{
	if (*len + n > UTMPL_VALUE_MAX) {
		ev_fail(e, "%s: the name is longer than 1024 bytes", "template");
		return false;
	}
	memcpy(buf + *len, s, n);
	*len += n;
	return true;
}

static int ev_template(struct ev *e, char *buf, size_t *len)
{
	*len = 0;
	while (e->src[e->pos]) {
		const char *open = strstr(e->src + e->pos, "{{");
		size_t text = open ? (size_t)(open - (e->src + e->pos)) : strlen(e->src + e->pos);
		bool trim_left = open && open[2] == '-' && isspace((unsigned char)open[3]);
		struct val v = { 0 };
		bool trim_right = false;
		int r;

		if (trim_left)
			while (text && isspace((unsigned char)e->src[e->pos + text - 1]))
				text--;
		if (!out_add(e, buf, len, e->src + e->pos, text))
			return -EINVAL;
		if (!open)
			return 0;
		e->pos = (size_t)(open - e->src) + 2 + (trim_left ? 1 : 0);
		ev_space(e);
		if (!strncmp(e->src + e->pos, "/*", 2)) {
			const char *end = strstr(e->src + e->pos + 2, "*/");

			if (!end)
				return ev_fail(e, "%s: unterminated comment", "template");
			e->pos = (size_t)(end - e->src) + 2;
		} else {
			if (ev_at_close(e))
				return ev_fail(e, "%s: empty action", "template");
			if ((r = ev_pipeline(e, &v)) != 0)
				return r;
			if (v.is_int) {
				char num[24];

				snprintf(num, sizeof(num), "%" PRId64, v.i);
				r = out_add(e, buf, len, num, strlen(num)) ? 0 : -EINVAL;
			} else {
				r = out_add(e, buf, len, v.s, v.len) ? 0 : -EINVAL;
			}
			val_clear(&v);
			if (r != 0)
				return r;
		}
		ev_space(e);
		if (e->src[e->pos] == '-' && !strncmp(e->src + e->pos + 1, "}}", 2)) {
			trim_right = true;
			e->pos++;
		}
		if (strncmp(e->src + e->pos, "}}", 2) != 0)
			return ev_fail(e, "%s: expected }}", "template");
		e->pos += 2;
		if (trim_right)
			ev_space(e);
	}
	return 0;
}

int utmpl_render(const char *src, const struct utmpl_data *d, char *out, size_t outsz,
		 struct parse_error *err)
{
	char buf[UTMPL_VALUE_MAX + 1];
	struct ev e = { .src = src, .d = d, .err = err };
	size_t len = 0;
	int r;

	if ((r = ev_template(&e, buf, &len)) != 0)
		return e.oom ? -ENOMEM : r;
	if (len == 0) {
		perr_set(err, 0, 0, "template: the name is empty");
		return -EINVAL;
	}
	if (len > UNAME_MAX || len >= outsz) {
		perr_set(
			err, 0, 0,
			"template: the name has %zu bytes, PostgreSQL keeps 63 (end with | truncate 63)",
			len);
		return -EINVAL;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (!uname_byte_ok(c)) {
			perr_set(
				err, 0, 0,
				"template: the name has a byte (0x%02x) that is not printable ASCII "
				"or is one of space \" ' \\ $",
				c);
			return -EINVAL;
		}
	}
	memcpy(out, buf, len);
	out[len] = '\0';
	return 0;
}

int utmpl_check(const char *src, struct parse_error *err)
{
	const struct utmpl_data sample = { "cat", "role", 1700000000000 };
	char name[UNAME_MAX + 1];

	return utmpl_render(src, &sample, name, sizeof(name), err);
}
