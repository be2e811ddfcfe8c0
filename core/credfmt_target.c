/* SPDX-License-Identifier: MIT */
/*
 * credfmt_target.c - where a connection's clients go, from its
 * connection_url, read the way libpq's conninfo_parse and
 * conninfo_uri_parse read it (fe-connect.c), without libpq: core_pure code
 * and unit tests cannot link it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credfmt.h"

static const char *const credfmt_params[CREDFMT_NPARAM][2] = {
	[CREDFMT_P_SSLMODE] = { "sslmode", "PGSSLMODE" },
	[CREDFMT_P_SSLNEGOTIATION] = { "sslnegotiation", "PGSSLNEGOTIATION" },
	[CREDFMT_P_SSLROOTCERT] = { "sslrootcert", "PGSSLROOTCERT" },
	[CREDFMT_P_SSLCRL] = { "sslcrl", "PGSSLCRL" },
	[CREDFMT_P_SSLCRLDIR] = { "sslcrldir", "PGSSLCRLDIR" },
	[CREDFMT_P_SSLSNI] = { "sslsni", "PGSSLSNI" },
	[CREDFMT_P_SSL_MIN_PROTOCOL_VERSION] = { "ssl_min_protocol_version",
						 "PGSSLMINPROTOCOLVERSION" },
	[CREDFMT_P_SSL_MAX_PROTOCOL_VERSION] = { "ssl_max_protocol_version",
						 "PGSSLMAXPROTOCOLVERSION" },
	[CREDFMT_P_GSSENCMODE] = { "gssencmode", "PGGSSENCMODE" },
	[CREDFMT_P_KRBSRVNAME] = { "krbsrvname", "PGKRBSRVNAME" },
	[CREDFMT_P_CHANNEL_BINDING] = { "channel_binding", "PGCHANNELBINDING" },
	[CREDFMT_P_REQUIREPEER] = { "requirepeer", "PGREQUIREPEER" },
	[CREDFMT_P_TARGET_SESSION_ATTRS] = { "target_session_attrs", "PGTARGETSESSIONATTRS" },
	[CREDFMT_P_LOAD_BALANCE_HOSTS] = { "load_balance_hosts", "PGLOADBALANCEHOSTS" },
};

const char *credfmt_param_keyword(enum credfmt_param p)
{
	return (unsigned)p < CREDFMT_NPARAM ? credfmt_params[p][0] : NULL;
}

const char *credfmt_param_env(enum credfmt_param p)
{
	return (unsigned)p < CREDFMT_NPARAM ? credfmt_params[p][1] : NULL;
}

struct credfmt_parse {
	struct credfmt_target t;
	char *scratch; /* one decoded value at a time; strlen(url) + 1 bytes, wiped */
	size_t scratch_len;
	int requiressl; /* libpq's old requiressl=1: sslmode=require unless sslmode is set */
	char *errbuf;
};

static int credfmt_fail(struct credfmt_parse *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Messages name keys and positions only: a value may be a literal root password. */
static int credfmt_fail(struct credfmt_parse *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->errbuf)
		return -EINVAL;
	n = snprintf(p->errbuf, CREDFMT_ERRLEN, "connection_url: ");
	va_start(ap, fmt);
	if (n > 0 && n < CREDFMT_ERRLEN)
		vsnprintf(p->errbuf + n, CREDFMT_ERRLEN - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static char **credfmt_slot(struct credfmt_parse *p, const char *key)
{
	if (!strcmp(key, "host"))
		return &p->t.host;
	if (!strcmp(key, "hostaddr"))
		return &p->t.hostaddr;
	if (!strcmp(key, "port"))
		return &p->t.port;
	if (!strcmp(key, "dbname"))
		return &p->t.dbname;
	for (int i = 0; i < CREDFMT_NPARAM; i++)
		if (!strcmp(key, credfmt_params[i][0]))
			return &p->t.param[i];
	return NULL;
}

/* Keep key=val if clients need it; a later value replaces an earlier one, as in libpq. */
static int credfmt_store(struct credfmt_parse *p, const char *key, const char *val)
{
	char **slot;

	if (!strcmp(key, "service") && *val)
		return credfmt_fail(p, "service= is not supported: host and port would come from "
				       "a service file of the daemon's");
	if (!strcmp(key, "requiressl")) {
		p->requiressl = !strcmp(val, "1");
		return 0;
	}
	if (!(slot = credfmt_slot(p, key)))
		return 0; /* user, password, credfs's tuning, client certificates */
	if (strstr(val, "{{username}}") || strstr(val, "{{password}}"))
		return credfmt_fail(
			p, "%s: {{username}} and {{password}} cannot be given to clients", key);
	free(*slot);
	*slot = NULL;
	if (*val && !(*slot = strdup(val)))
		return -ENOMEM;
	return 0;
}

/*
 * key=value conninfo: whitespace-separated pairs, spaces allowed around
 * '='; a value is either single-quoted or runs to the next space, and a
 * backslash takes the next byte literally in both.
 */
static int credfmt_parse_kv(struct credfmt_parse *p, const char *s)
{
	char key[64];
	int r;

	for (;;) {
		const char *k;
		char *d = p->scratch;
		size_t klen;

		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			return 0;
		for (k = s; *s && *s != '=' && !isspace((unsigned char)*s); s++)
			;
		klen = (size_t)(s - k);
		while (isspace((unsigned char)*s))
			s++;
		if (*s != '=')
			return credfmt_fail(p, "missing \"=\" after a keyword");
		s++;
		while (isspace((unsigned char)*s))
			s++;
		if (*s == '\'') {
			for (s++; *s != '\''; *d++ = *s++) {
				if (!*s)
					return credfmt_fail(p, "unterminated quoted string");
				if (*s == '\\' && !*++s)
					return credfmt_fail(p, "unterminated quoted string");
			}
			s++;
		} else {
			while (*s && !isspace((unsigned char)*s)) {
				if (*s == '\\' && !*++s)
					break;
				*d++ = *s++;
			}
		}
		*d = '\0';
		if (klen >= sizeof(key))
			continue; /* no keyword is that long */
		memcpy(key, k, klen);
		key[klen] = '\0';
		if ((r = credfmt_store(p, key, p->scratch)) != 0)
			return r;
	}
}

static int credfmt_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode s[0..n-1], appending to d; NULL on a bad escape or %00 (libpq refuses both). */
static char *credfmt_decode(char *d, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi, lo;

		if (s[i] != '%') {
			*d++ = s[i];
			continue;
		}
		if (i + 2 >= n)
			return NULL;
		if ((hi = credfmt_hex(s[i + 1])) < 0 || (lo = credfmt_hex(s[i + 2])) < 0 ||
		    (hi == 0 && lo == 0))
			return NULL;
		*d++ = (char)(hi << 4 | lo);
		i += 2;
	}
	*d = '\0';
	return d;
}

/* Decode s[0..n-1] into the scratch buffer and store it under key. */
static int credfmt_store_enc(struct credfmt_parse *p, const char *key, const char *s, size_t n)
{
	if (!credfmt_decode(p->scratch, s, n))
		return credfmt_fail(p, "%s: invalid percent-encoding", key);
	return credfmt_store(p, key, p->scratch);
}

/* The query string: key=value pairs separated by '&', both percent-encoded. */
static int credfmt_parse_query(struct credfmt_parse *p, const char *s)
{
	char key[64];
	int r;

	while (*s) {
		const char *amp = strchr(s, '&'), *eq;
		size_t n = amp ? (size_t)(amp - s) : strlen(s);

		eq = memchr(s, '=', n);
		if (!eq)
			return credfmt_fail(p, "missing key/value separator \"=\" in the query");
		if (memchr(eq + 1, '=', n - (size_t)(eq + 1 - s)))
			return credfmt_fail(p, "extra key/value separator \"=\" in the query");
		if ((size_t)(eq - s) >= sizeof(key) || !credfmt_decode(key, s, (size_t)(eq - s)))
			return credfmt_fail(p, "invalid keyword in the query");
		if (!credfmt_decode(p->scratch, eq + 1, n - (size_t)(eq + 1 - s)))
			return credfmt_fail(p, "%s: invalid percent-encoding", key);
		/* libpq's JDBC-compatible spelling */
		if (!strcmp(key, "ssl") && !strcmp(p->scratch, "true"))
			r = credfmt_store(p, "sslmode", "require");
		else
			r = credfmt_store(p, key, p->scratch);
		if (r != 0)
			return r;
		s += n;
		if (*s == '&')
			s++;
	}
	return 0;
}

/*
 * [user[:password]@]host[:port][,host[:port]...][/dbname][?query], a host
 * being a name or "[IPv6]". The hosts and ports are collected still
 * encoded, as libpq does, and decoded as two comma lists.
 */
static int credfmt_parse_uri(struct credfmt_parse *p, const char *s)
{
	size_t cap = strlen(s) + 1, nh = 0, np = 0;
	char *hosts = NULL, *ports = NULL;
	int any_port = 0, r = -ENOMEM;
	const char *q, *h, *he;

	for (q = s; *q && *q != '@' && *q != '/'; q++)
		;
	if (*q == '@')
		s = q + 1; /* user and password: never copied */
	if (!(hosts = malloc(cap)) || !(ports = malloc(cap)))
		goto out;
	for (;;) {
		if (*s == '[') {
			for (h = ++s; *s && *s != ']'; s++)
				;
			r = !*s	     ? credfmt_fail(p, "missing \"]\" in an IPv6 host address")
			    : s == h ? credfmt_fail(p, "empty IPv6 host address")
			    : (s[1] && !strchr(":/?,", s[1]))
				    ? credfmt_fail(p, "unexpected character after an IPv6 address")
				    : 0;
			if (r != 0)
				goto out;
			he = s++;
		} else {
			for (h = s; *s && !strchr(":/?,", *s); s++)
				;
			he = s;
		}
		memcpy(hosts + nh, h, (size_t)(he - h));
		nh += (size_t)(he - h);
		if (*s == ':') {
			for (h = ++s; *s && !strchr("/?,", *s); s++)
				;
			memcpy(ports + np, h, (size_t)(s - h));
			np += (size_t)(s - h);
			any_port |= s > h;
		}
		if (*s != ',')
			break;
		hosts[nh++] = ',';
		ports[np++] = ',';
		s++;
	}
	if (*s && *s != '/' && *s != '?') {
		r = credfmt_fail(p, "unexpected character after the hosts");
		goto out;
	}
	if ((r = credfmt_store_enc(p, "host", hosts, nh)) != 0 ||
	    (any_port && (r = credfmt_store_enc(p, "port", ports, np)) != 0))
		goto out;
	if (*s == '/') {
		for (h = ++s; *s && *s != '?'; s++)
			;
		if ((r = credfmt_store_enc(p, "dbname", h, (size_t)(s - h))) != 0)
			goto out;
	}
	r = *s == '?' ? credfmt_parse_query(p, s + 1) : 0;
out:
	free(hosts);
	free(ports);
	return r;
}

static size_t credfmt_count(const char *s)
{
	size_t n = 1;

	for (; s && *s; s++)
		n += *s == ',';
	return n;
}

/* libpq's own checks (connectOptions2), so that every format sees consistent lists. */
static int credfmt_check_lists(struct credfmt_parse *p)
{
	const struct credfmt_target *t = &p->t;
	size_t nh = credfmt_count(t->hostaddr ? t->hostaddr : t->host), np;

	if (t->hostaddr && t->host && credfmt_count(t->host) != nh)
		return credfmt_fail(p, "could not match %zu host names to %zu hostaddr values",
				    credfmt_count(t->host), nh);
	if (!t->port)
		return 0;
	np = credfmt_count(t->port);
	if (np != 1 && np != nh)
		return credfmt_fail(p, "could not match %zu port numbers to %zu hosts", np, nh);
	for (const char *c = t->port; *c; c++)
		if (*c != ',' && !isdigit((unsigned char)*c))
			return credfmt_fail(p, "port: not a number");
	return 0;
}

int credfmt_target(const char *connection_url, struct credfmt_target *out, char *errbuf)
{
	struct credfmt_parse p = { .errbuf = errbuf };
	const char *url = connection_url;
	int r;

	if (errbuf)
		errbuf[0] = '\0';
	p.scratch_len = strlen(url) + 1;
	if (!(p.scratch = malloc(p.scratch_len)))
		return -ENOMEM;
	if (!strncmp(url, "postgresql://", 13))
		r = credfmt_parse_uri(&p, url + 13);
	else if (!strncmp(url, "postgres://", 11))
		r = credfmt_parse_uri(&p, url + 11);
	else
		r = credfmt_parse_kv(&p, url);
	if (r == 0 && p.requiressl && !p.t.param[CREDFMT_P_SSLMODE])
		r = credfmt_store(&p, "sslmode", "require");
	if (r == 0)
		r = credfmt_check_lists(&p);
	secret_wipe(p.scratch, p.scratch_len);
	free(p.scratch);
	if (r != 0) {
		credfmt_target_clear(&p.t);
		if (r == -ENOMEM && errbuf)
			snprintf(errbuf, CREDFMT_ERRLEN, "out of memory");
		return r;
	}
	*out = p.t;
	return 0;
}

void credfmt_target_clear(struct credfmt_target *t)
{
	if (!t)
		return;
	free(t->host);
	free(t->hostaddr);
	free(t->port);
	free(t->dbname);
	for (int i = 0; i < CREDFMT_NPARAM; i++)
		free(t->param[i]);
	memset(t, 0, sizeof(*t));
}
