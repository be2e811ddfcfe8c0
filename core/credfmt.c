/* SPDX-License-Identifier: MIT */
/*
 * credfmt.c - the names of creds/ files and the bytes of each format.
 *
 * Each format is written by one function into a struct credfmt_out that
 * either only counts (buf NULL) or writes: credfmt_render runs it twice,
 * to size the secret and then to fill it, so the password goes straight
 * from one secret into the other and no other buffer ever holds it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credfmt.h"
#include "params.h"

static const char *const credfmt_suffixes[] = {
	[CREDFMT_ENV] = ".env",
	[CREDFMT_URI] = ".uri",
	[CREDFMT_SERVICE] = ".service",
	[CREDFMT_PGPASS] = ".pgpass",
};

static const char *const credfmt_keys[] = {
	[CREDFMT_KEY_USERNAME] = "username", [CREDFMT_KEY_PASSWORD] = "password",
	[CREDFMT_KEY_HOST] = "host",	     [CREDFMT_KEY_PORT] = "port",
	[CREDFMT_KEY_DATABASE] = "database",
};

#define CREDFMT_DIR_SUFFIX ".d"

static int credfmt_has_suffix(const char *name, const char *suffix)
{
	size_t n = strlen(name), s = strlen(suffix);

	return n > s && !strcmp(name + n - s, suffix);
}

/* name[0..len-1] is a valid role name: copy it out. */
static int credfmt_role_part(const char *name, size_t len, char *out, size_t size)
{
	char role[CREDFMT_ROLE_MAX];

	if (len == 0 || len >= sizeof(role))
		return -ENOENT;
	memcpy(role, name, len);
	role[len] = '\0';
	if (params_name_valid(role, NULL) != 0)
		return -ENOENT;
	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(out, role, len + 1);
	return 0;
}

int credfmt_from_name(const char *filename, char *role_out, size_t role_size, enum credfmt *fmt)
{
	size_t n = strlen(filename);
	char role[CREDFMT_ROLE_MAX];
	int r;

	if (credfmt_has_suffix(filename, CREDFMT_DIR_SUFFIX))
		return credfmt_role_part(filename, n - 2, role, sizeof(role)) == 0 ? -EISDIR
										   : -ENOENT;
	for (int f = CREDFMT_ENV; f <= CREDFMT_PGPASS; f++) {
		if (!credfmt_has_suffix(filename, credfmt_suffixes[f]))
			continue;
		r = credfmt_role_part(filename, n - strlen(credfmt_suffixes[f]), role_out,
				      role_size);
		if (r == 0)
			*fmt = (enum credfmt)f;
		return r;
	}
	if ((r = credfmt_role_part(filename, n, role_out, role_size)) == 0)
		*fmt = CREDFMT_JSON;
	return r;
}

int credfmt_dir_from_name(const char *dirname, char *role_out, size_t role_size)
{
	if (!credfmt_has_suffix(dirname, CREDFMT_DIR_SUFFIX))
		return -ENOENT;
	return credfmt_role_part(dirname, strlen(dirname) - 2, role_out, role_size);
}

int credfmt_key_from_name(const char *name, enum credfmt *fmt)
{
	for (int f = CREDFMT_KEY_USERNAME; f <= CREDFMT_KEY_DATABASE; f++) {
		if (!strcmp(name, credfmt_keys[f])) {
			*fmt = (enum credfmt)f;
			return 0;
		}
	}
	return -ENOENT;
}

int credfmt_name(enum credfmt f, const char *role, char *out, size_t size)
{
	int n;

	if (f == CREDFMT_JSON)
		n = snprintf(out, size, "%s", role);
	else if (f >= CREDFMT_ENV && f <= CREDFMT_PGPASS)
		n = snprintf(out, size, "%s%s", role, credfmt_suffixes[f]);
	else if (f >= CREDFMT_KEY_USERNAME && f <= CREDFMT_KEY_DATABASE)
		n = snprintf(out, size, "%s", credfmt_keys[f]);
	else
		return -EINVAL;
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

bool credfmt_role_name_clashes(const char *role)
{
	for (int f = CREDFMT_ENV; f <= CREDFMT_PGPASS; f++)
		if (credfmt_has_suffix(role, credfmt_suffixes[f]))
			return true;
	return credfmt_has_suffix(role, CREDFMT_DIR_SUFFIX);
}

struct credfmt_out {
	char *buf; /* NULL: only count */
	size_t len;
};

static void out_put(struct credfmt_out *o, const char *s, size_t n)
{
	if (o->buf)
		memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void out_puts(struct credfmt_out *o, const char *s)
{
	out_put(o, s, strlen(s));
}

static void out_putc(struct credfmt_out *o, char c)
{
	out_put(o, &c, 1);
}

/* The values of one lease, each with its length (a password may not be a C string). */
struct credfmt_vals {
	const struct credfmt_target *t;
	const char *role;
	const char *user;
	const char *pw;
	size_t pw_len;
};

/* The i-th element of a comma list (NULL: one empty element); a one-element list repeats. */
static void credfmt_item(const char *list, size_t i, const char **p, size_t *n)
{
	const char *s = list ? list : "", *e;

	if (!strchr(s, ','))
		i = 0;
	for (; i > 0 && s; i--)
		s = strchr(s, ',') ? strchr(s, ',') + 1 : NULL;
	if (!s) {
		*p = "";
		*n = 0;
		return;
	}
	e = strchr(s, ',');
	*p = s;
	*n = e ? (size_t)(e - s) : strlen(s);
}

static size_t credfmt_count(const char *list)
{
	size_t n = 1;

	for (const char *s = list; s && *s; s++)
		n += *s == ',';
	return n;
}

/* ROLE.d/ files: the bare value. An absent host, port or database is empty: libpq's default. */
static int credfmt_key(enum credfmt f, const struct credfmt_vals *v, struct credfmt_out *o)
{
	const char *s = f == CREDFMT_KEY_USERNAME ? v->user
			: f == CREDFMT_KEY_HOST	  ? v->t->host
			: f == CREDFMT_KEY_PORT	  ? v->t->port
						  : v->t->dbname;

	if (f == CREDFMT_KEY_PASSWORD)
		out_put(o, v->pw, v->pw_len);
	else if (s)
		out_puts(o, s);
	return 0;
}

/* Safe unquoted in a POSIX sh assignment, and then as is in docker's --env-file too. */
static int credfmt_sh_bare(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && (!s[i] || !strchr("-_.,:/@%+=", s[i])))
			return 0;
	return 1;
}

/* NAME=value, single-quoted unless bare: inside '...' only ' is special, written '\''. */
static void credfmt_sh_assign(struct credfmt_out *o, const char *name, const char *s, size_t n)
{
	out_puts(o, name);
	out_putc(o, '=');
	if (credfmt_sh_bare(s, n)) {
		out_put(o, s, n);
	} else {
		out_putc(o, '\'');
		for (size_t i = 0; i < n; i++) {
			if (s[i] == '\'')
				out_puts(o, "'\\''");
			else
				out_putc(o, s[i]);
		}
		out_putc(o, '\'');
	}
	out_putc(o, '\n');
}

/*
 * ROLE.env: host, port and database are always written, empty for libpq's
 * default, so that a PGHOST left in the environment cannot send the
 * password to another server.
 */
static int credfmt_env(const struct credfmt_vals *v, struct credfmt_out *o)
{
	const struct credfmt_target *t = v->t;
	const char *host = t->host ? t->host : "", *port = t->port ? t->port : "";
	const char *db = t->dbname ? t->dbname : "";

	credfmt_sh_assign(o, "PGUSER", v->user, strlen(v->user));
	credfmt_sh_assign(o, "PGPASSWORD", v->pw, v->pw_len);
	credfmt_sh_assign(o, "PGHOST", host, strlen(host));
	credfmt_sh_assign(o, "PGPORT", port, strlen(port));
	credfmt_sh_assign(o, "PGDATABASE", db, strlen(db));
	if (t->hostaddr)
		credfmt_sh_assign(o, "PGHOSTADDR", t->hostaddr, strlen(t->hostaddr));
	for (int i = 0; i < CREDFMT_NPARAM; i++)
		if (t->param[i])
			credfmt_sh_assign(o, credfmt_param_env((enum credfmt_param)i), t->param[i],
					  strlen(t->param[i]));
	return 0;
}

/* RFC 3986 percent-encoding: everything but the unreserved characters and keep. */
static void credfmt_pct(struct credfmt_out *o, const char *s, size_t n, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (isalnum(c) || (c && strchr("-._~", c)) || (c && keep && strchr(keep, c))) {
			out_putc(o, (char)c);
		} else {
			out_putc(o, '%');
			out_putc(o, hex[c >> 4]);
			out_putc(o, hex[c & 15]);
		}
	}
}

static void credfmt_uri_param(struct credfmt_out *o, char *sep, const char *key, const char *val)
{
	out_putc(o, *sep);
	*sep = '&';
	out_puts(o, key);
	out_putc(o, '=');
	credfmt_pct(o, val, strlen(val), NULL);
}

/*
 * ROLE.uri: postgresql://user:password@host:port,.../dbname?params. An IPv6
 * address goes in brackets; a socket directory is percent-encoded like
 * every other byte outside the unreserved set. Without a host, the port
 * goes in the query (libpq takes either).
 */
static int credfmt_uri(const struct credfmt_vals *v, struct credfmt_out *o)
{
	const struct credfmt_target *t = v->t;
	const char *h, *p;
	size_t hn, pn;
	char sep = '?';

	out_puts(o, "postgresql://");
	credfmt_pct(o, v->user, strlen(v->user), NULL);
	out_putc(o, ':');
	credfmt_pct(o, v->pw, v->pw_len, NULL);
	out_putc(o, '@');
	for (size_t i = 0; t->host && i < credfmt_count(t->host); i++) {
		credfmt_item(t->host, i, &h, &hn);
		if (i > 0)
			out_putc(o, ',');
		if (hn && h[0] != '/' && memchr(h, ':', hn)) {
			out_putc(o, '[');
			credfmt_pct(o, h, hn, ":");
			out_putc(o, ']');
		} else {
			credfmt_pct(o, h, hn, NULL);
		}
		credfmt_item(t->port, i, &p, &pn);
		if (pn) {
			out_putc(o, ':');
			out_put(o, p, pn);
		}
	}
	if (t->dbname) {
		out_putc(o, '/');
		credfmt_pct(o, t->dbname, strlen(t->dbname), NULL);
	}
	if (t->hostaddr)
		credfmt_uri_param(o, &sep, "hostaddr", t->hostaddr);
	if (!t->host && t->port)
		credfmt_uri_param(o, &sep, "port", t->port);
	for (int i = 0; i < CREDFMT_NPARAM; i++)
		if (t->param[i])
			credfmt_uri_param(o, &sep, credfmt_param_keyword((enum credfmt_param)i),
					  t->param[i]);
	return 0;
}

/*
 * libpq reads a service file with fgets, trims white space off both ends
 * of each line and splits it at the first '=', taking the rest verbatim:
 * a value can hold neither a line break nor trailing white space.
 */
static int credfmt_svc_line(struct credfmt_out *o, const char *key, const char *s, size_t n)
{
	if (n > 0 && isspace((unsigned char)s[n - 1]))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\n' || s[i] == '\r' || s[i] == '\0')
			return -EINVAL;
	out_puts(o, key);
	out_putc(o, '=');
	out_put(o, s, n);
	out_putc(o, '\n');
	return 0;
}

/* ROLE.service: [ROLE] then one key=value line each; host, port, dbname always (see env). */
static int credfmt_service(const struct credfmt_vals *v, struct credfmt_out *o)
{
	const struct credfmt_target *t = v->t;
	const char *host = t->host ? t->host : "", *port = t->port ? t->port : "";
	const char *db = t->dbname ? t->dbname : "";
	int r;

	if (params_name_valid(v->role, NULL) != 0)
		return -EINVAL;
	out_putc(o, '[');
	out_puts(o, v->role);
	out_puts(o, "]\n");
	if ((r = credfmt_svc_line(o, "host", host, strlen(host))) != 0 ||
	    (r = credfmt_svc_line(o, "port", port, strlen(port))) != 0 ||
	    (r = credfmt_svc_line(o, "dbname", db, strlen(db))) != 0 ||
	    (r = credfmt_svc_line(o, "user", v->user, strlen(v->user))) != 0 ||
	    (r = credfmt_svc_line(o, "password", v->pw, v->pw_len)) != 0)
		return r;
	if (t->hostaddr &&
	    (r = credfmt_svc_line(o, "hostaddr", t->hostaddr, strlen(t->hostaddr))) != 0)
		return r;
	for (int i = 0; i < CREDFMT_NPARAM; i++)
		if (t->param[i] &&
		    (r = credfmt_svc_line(o, credfmt_param_keyword((enum credfmt_param)i),
					  t->param[i], strlen(t->param[i]))) != 0)
			return r;
	return 0;
}

/*
 * One field of a pgpass line: ':' and '\' escaped with '\' (libpq's
 * pwdfMatchesString and its de-escaping of the password), a field that is
 * only "*" escaped so it is not a wildcard, a '#' opening the line escaped
 * so it is not a comment. A line break cannot be represented.
 */
static int credfmt_pgpass_field(struct credfmt_out *o, const char *s, size_t n, int first)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '\n' || s[i] == '\r' || s[i] == '\0')
			return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\' || s[i] == ':' || (i == 0 && n == 1 && s[i] == '*') ||
		    (i == 0 && first && s[i] == '#'))
			out_putc(o, '\\');
		out_putc(o, s[i]);
	}
	return 0;
}

static int credfmt_pgpass_line(const struct credfmt_vals *v, struct credfmt_out *o, const char *h,
			       size_t hn, const char *p, size_t pn)
{
	int r;

	if ((r = credfmt_pgpass_field(o, h, hn, 1)) != 0)
		return r;
	out_putc(o, ':');
	if ((r = credfmt_pgpass_field(o, p, pn, 0)) != 0)
		return r;
	out_putc(o, ':');
	if (!v->t->dbname)
		out_putc(o, '*'); /* libpq's default is the user name; any database will do */
	else if ((r = credfmt_pgpass_field(o, v->t->dbname, strlen(v->t->dbname), 0)) != 0)
		return r;
	out_putc(o, ':');
	if ((r = credfmt_pgpass_field(o, v->user, strlen(v->user), 0)) != 0)
		return r;
	out_putc(o, ':');
	if ((r = credfmt_pgpass_field(o, v->pw, v->pw_len, 0)) != 0)
		return r;
	out_putc(o, '\n');
	return 0;
}

/*
 * ROLE.pgpass: a line per host, looked up as libpq does: the host, else the
 * hostaddr, else "localhost"; the port, else 5432. A socket directory gets
 * a second line for "localhost", which libpq looks up instead when the
 * directory is its compiled-in default (which credfs cannot know).
 */
static int credfmt_pgpass(const struct credfmt_vals *v, struct credfmt_out *o)
{
	const struct credfmt_target *t = v->t;
	size_t n = credfmt_count(t->hostaddr ? t->hostaddr : t->host), hn, pn;
	const char *h, *p;
	int r;

	for (size_t i = 0; i < n; i++) {
		credfmt_item(t->host, i, &h, &hn);
		if (!hn && t->hostaddr)
			credfmt_item(t->hostaddr, i, &h, &hn);
		if (!hn) {
			h = "localhost";
			hn = strlen(h);
		}
		credfmt_item(t->port, i, &p, &pn);
		if (!pn) {
			p = "5432";
			pn = strlen(p);
		}
		if ((r = credfmt_pgpass_line(v, o, h, hn, p, pn)) != 0 ||
		    (h[0] == '/' && (r = credfmt_pgpass_line(v, o, "localhost", 9, p, pn)) != 0))
			return r;
	}
	return 0;
}

static int credfmt_emit(enum credfmt f, const struct credfmt_vals *v, struct credfmt_out *o)
{
	switch (f) {
	case CREDFMT_ENV:
		return credfmt_env(v, o);
	case CREDFMT_URI:
		return credfmt_uri(v, o);
	case CREDFMT_SERVICE:
		return credfmt_service(v, o);
	case CREDFMT_PGPASS:
		return credfmt_pgpass(v, o);
	case CREDFMT_KEY_USERNAME:
	case CREDFMT_KEY_PASSWORD:
	case CREDFMT_KEY_HOST:
	case CREDFMT_KEY_PORT:
	case CREDFMT_KEY_DATABASE:
		return credfmt_key(f, v, o);
	default:
		return -EINVAL;
	}
}

struct secret *credfmt_render(enum credfmt f, const struct credfmt_target *t, const char *role,
			      const char *username, const struct secret *password)
{
	struct credfmt_vals v = { .t = t, .role = role, .user = username };
	struct credfmt_out o = { .buf = NULL, .len = 0 };
	struct secret *s;
	size_t want;
	int r;

	if (!t || !role || !username || !password) {
		errno = EINVAL;
		return NULL;
	}
	v.pw = secret_str(password);
	v.pw_len = secret_len(password);
	/* a NUL inside the password: no client could send it */
	if (strlen(v.pw) != v.pw_len) {
		errno = EINVAL;
		return NULL;
	}
	if ((r = credfmt_emit(f, &v, &o)) != 0) {
		errno = -r;
		return NULL;
	}
	if (!(s = secret_alloc(o.len))) {
		errno = ENOMEM;
		return NULL;
	}
	want = o.len;
	o.buf = secret_buf(s);
	o.len = 0;
	/* the same inputs give the same bytes: anything else is a bug */
	if (credfmt_emit(f, &v, &o) != 0 || o.len != want)
		abort();
	return s;
}
