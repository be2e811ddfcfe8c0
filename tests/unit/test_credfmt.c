/* SPDX-License-Identifier: MIT */
/*
 * test_credfmt.c - creds/ file names, connection_url → target, and the
 * exact bytes of ROLE.env, .uri, .service, .pgpass and ROLE.d/ files,
 * with the worst passwords (every printable ASCII byte). Decoders modelled
 * on sh, libpq's URI parser and its pgpass reader read them back.
 *
 * "test_credfmt --print-env" prints the worst lease's ROLE.env for
 * credfmt_env.sh, which sources it with every shell it finds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "credfmt.h"
#include "secret.h"
#include "test.h"

#define SEED_URL "postgresql://{{username}}:{{password}}@127.0.0.1:5432/wizard?sslmode=disable"
#define USER	 "v-cat-db-app-nsFBhj90iBwpwlOq8hHy-1795840757"
#define PW	 "sp41ycbUx2BELof6-R9d"

static char printable[96]; /* ' ' .. '~' */

/* Render f for url; NULL (errno set) when the target or the render fails. */
static struct secret *render(enum credfmt f, const char *url, const char *role, const char *user,
			     const char *pw)
{
	struct credfmt_target t;
	struct secret *p = secret_new(pw, strlen(pw)), *s;
	char eb[CREDFMT_ERRLEN];

	if (credfmt_target(url, &t, eb) != 0) {
		fprintf(stderr, "credfmt_target(%s): %s\n", url, eb);
		secret_free(p);
		errno = EINVAL;
		return NULL;
	}
	s = credfmt_render(f, &t, role, user, p);
	credfmt_target_clear(&t);
	secret_free(p);
	return s;
}

#define CHECK_RENDER(f, url, user, pw, want)                            \
	do {                                                            \
		struct secret *_s = render(f, url, "db-app", user, pw); \
		CHECK(_s != NULL);                                      \
		CHECK_STR_EQ(_s ? secret_str(_s) : NULL, want);         \
		CHECK_INT_EQ(_s ? secret_len(_s) : 0, strlen(want));    \
		secret_free(_s);                                        \
	} while (0)

static void test_names(void)
{
	char role[CREDFMT_ROLE_MAX];
	enum credfmt f = CREDFMT_KEY_PORT;

	CHECK_INT_EQ(credfmt_from_name("db-app", role, sizeof(role), &f), 0);
	CHECK_STR_EQ(role, "db-app");
	CHECK_INT_EQ(f, CREDFMT_JSON);
	CHECK_INT_EQ(credfmt_from_name("db-app.env", role, sizeof(role), &f), 0);
	CHECK_STR_EQ(role, "db-app");
	CHECK_INT_EQ(f, CREDFMT_ENV);
	CHECK_INT_EQ(credfmt_from_name("app.v2.uri", role, sizeof(role), &f), 0);
	CHECK_STR_EQ(role, "app.v2");
	CHECK_INT_EQ(f, CREDFMT_URI);
	CHECK_INT_EQ(credfmt_from_name("a.service", role, sizeof(role), &f), 0);
	CHECK_INT_EQ(f, CREDFMT_SERVICE);
	CHECK_INT_EQ(credfmt_from_name("a.pgpass", role, sizeof(role), &f), 0);
	CHECK_INT_EQ(f, CREDFMT_PGPASS);
	CHECK_STR_EQ(role, "a");
	/* one suffix is stripped: the role x.env's files */
	CHECK_INT_EQ(credfmt_from_name("x.env.env", role, sizeof(role), &f), 0);
	CHECK_STR_EQ(role, "x.env");
	CHECK_INT_EQ(f, CREDFMT_ENV);
	CHECK_INT_EQ(credfmt_from_name("x.env", role, sizeof(role), &f), 0);
	CHECK_STR_EQ(role, "x");
	/* suffixes are exact: case and near misses are part of a role's name */
	CHECK_INT_EQ(credfmt_from_name("x.ENV", role, sizeof(role), &f), 0);
	CHECK_STR_EQ(role, "x.ENV");
	CHECK_INT_EQ(f, CREDFMT_JSON);
	CHECK_INT_EQ(credfmt_from_name("x.envy", role, sizeof(role), &f), 0);
	CHECK_STR_EQ(role, "x.envy");
	CHECK_INT_EQ(credfmt_from_name("x.json", role, sizeof(role), &f), 0);
	CHECK_STR_EQ(role, "x.json");
	/* not a role name, or a directory */
	CHECK_INT_EQ(credfmt_from_name(".env", role, sizeof(role), &f), -ENOENT);
	CHECK_INT_EQ(credfmt_from_name("", role, sizeof(role), &f), -ENOENT);
	CHECK_INT_EQ(credfmt_from_name("a-.env", role, sizeof(role), &f), -ENOENT);
	CHECK_INT_EQ(credfmt_from_name("a b", role, sizeof(role), &f), -ENOENT);
	CHECK_INT_EQ(credfmt_from_name("..", role, sizeof(role), &f), -ENOENT);
	CHECK_INT_EQ(credfmt_from_name("a.d", role, sizeof(role), &f), -EISDIR);
	CHECK_INT_EQ(credfmt_from_name(".d", role, sizeof(role), &f), -ENOENT);
	CHECK_INT_EQ(credfmt_from_name("abcdef.env", role, 6, &f), -ENAMETOOLONG);
	CHECK_INT_EQ(credfmt_from_name("abcdef.env", role, 7, &f), 0);
	char longname[80];
	memset(longname, 'a', 65);
	strcpy(longname + 65, ".env");
	CHECK_INT_EQ(credfmt_from_name(longname, role, sizeof(role), &f), -ENOENT);
	longname[64] = '\0';
	CHECK_INT_EQ(credfmt_from_name(longname, role, sizeof(role), &f), 0);

	CHECK_INT_EQ(credfmt_dir_from_name("app.v2.d", role, sizeof(role)), 0);
	CHECK_STR_EQ(role, "app.v2");
	CHECK_INT_EQ(credfmt_dir_from_name("app", role, sizeof(role)), -ENOENT);
	CHECK_INT_EQ(credfmt_dir_from_name("-.d", role, sizeof(role)), -ENOENT);
	CHECK_INT_EQ(credfmt_key_from_name("username", &f), 0);
	CHECK_INT_EQ(f, CREDFMT_KEY_USERNAME);
	CHECK_INT_EQ(credfmt_key_from_name("database", &f), 0);
	CHECK_INT_EQ(f, CREDFMT_KEY_DATABASE);
	CHECK_INT_EQ(credfmt_key_from_name("dbname", &f), -ENOENT);
	CHECK_INT_EQ(credfmt_key_from_name("password\n", &f), -ENOENT);

	char name[32];
	CHECK_INT_EQ(credfmt_name(CREDFMT_SERVICE, "a.b", name, sizeof(name)), 0);
	CHECK_STR_EQ(name, "a.b.service");
	CHECK_INT_EQ(credfmt_name(CREDFMT_JSON, "a.b", name, sizeof(name)), 0);
	CHECK_STR_EQ(name, "a.b");
	CHECK_INT_EQ(credfmt_name(CREDFMT_KEY_HOST, "a.b", name, sizeof(name)), 0);
	CHECK_STR_EQ(name, "host");
	CHECK_INT_EQ(credfmt_name(CREDFMT_PGPASS, "abc", name, 11), 0);
	CHECK_INT_EQ(credfmt_name(CREDFMT_PGPASS, "abcd", name, 11), -ENAMETOOLONG);
	CHECK_INT_EQ(credfmt_name((enum credfmt)99, "a", name, sizeof(name)), -EINVAL);
	/* every name credfmt_name makes parses back */
	for (int i = CREDFMT_JSON; i <= CREDFMT_PGPASS; i++) {
		CHECK_INT_EQ(credfmt_name((enum credfmt)i, "x.env", name, sizeof(name)), 0);
		CHECK_INT_EQ(credfmt_from_name(name, role, sizeof(role), &f), 0);
		CHECK_INT_EQ(f, i == CREDFMT_JSON ? CREDFMT_ENV : i);
	}

	CHECK(credfmt_role_name_clashes("x.env"));
	CHECK(credfmt_role_name_clashes("x.d"));
	CHECK(credfmt_role_name_clashes("x.pgpass"));
	CHECK(!credfmt_role_name_clashes("x.dd"));
	CHECK(!credfmt_role_name_clashes("app.v2"));
	CHECK(!credfmt_role_name_clashes("env"));
}

/* url's target must be host, port, dbname (NULL = absent) and sslmode. */
static void check_target(const char *url, const char *host, const char *port, const char *db,
			 const char *sslmode)
{
	struct credfmt_target t;
	char eb[CREDFMT_ERRLEN];
	int r = credfmt_target(url, &t, eb);

	CHECK_INT_EQ(r, 0);
	if (r != 0) {
		fprintf(stderr, "  %s: %s\n", url, eb);
		return;
	}
#define CHECK_OPT(a, b) CHECK((!(a) && !(b)) || ((a) && (b) && !strcmp(a, b)))
	CHECK_OPT(t.host, host);
	CHECK_OPT(t.port, port);
	CHECK_OPT(t.dbname, db);
	CHECK_OPT(t.param[CREDFMT_P_SSLMODE], sslmode);
	if (t_bad)
		fprintf(stderr, "  %s: host=%s port=%s dbname=%s sslmode=%s\n", url, t.host, t.port,
			t.dbname, t.param[CREDFMT_P_SSLMODE]);
	credfmt_target_clear(&t);
}

static void check_target_fails(const char *url, const char *want)
{
	struct credfmt_target t;
	char eb[CREDFMT_ERRLEN];

	CHECK_INT_EQ(credfmt_target(url, &t, eb), -EINVAL);
	CHECK(strstr(eb, want) != NULL);
	CHECK(strstr(eb, "S3cr3t") == NULL); /* never a value of the URL */
	if (t_bad)
		fprintf(stderr, "  %s: %s\n", url, eb);
}

static void test_target(void)
{
	check_target(SEED_URL, "127.0.0.1", "5432", "wizard", "disable");
	check_target("postgres://h", "h", NULL, NULL, NULL);
	check_target("postgresql://", NULL, NULL, NULL, NULL);
	check_target("postgresql://u:p@[::1]:5433/d%20b", "::1", "5433", "d b", NULL);
	check_target("postgresql://u@%2Fvar%2Frun%2Fpostgresql/db", "/var/run/postgresql", NULL,
		     "db", NULL);
	check_target("postgresql:///db?host=/tmp&port=5999", "/tmp", "5999", "db", NULL);
	check_target("postgresql://h1:5432,h2,[fe80::1%25eth0]:7/db", "h1,h2,fe80::1%eth0",
		     "5432,,7", "db", NULL);
	check_target("postgresql://h1,h2:5433/db", "h1,h2", ",5433", "db", NULL);
	check_target("postgresql://h/db?ssl=true", "h", NULL, "db", "require");
	check_target("postgresql://h/db?host=o&dbname=d2&sslmode=a&sslmode=b", "o", NULL, "d2",
		     "b");
	/* key=value: quotes, backslashes, spaces around '=', later wins, empty = absent */
	check_target("host=db user={{username}} password={{password}}", "db", NULL, NULL, NULL);
	check_target("host='/var/run/postgresql' port = 5433 dbname='my db' sslmode=require",
		     "/var/run/postgresql", "5433", "my db", "require");
	check_target("dbname='it\\'s' requiressl=1 host=a host=b port=", "b", NULL, "it's",
		     "require");
	check_target("dbname=x\\ y requiressl=1 sslmode=disable", NULL, NULL, "x y", "disable");
	check_target("  ", NULL, NULL, NULL, NULL);

	/* kept and dropped parameters */
	struct credfmt_target t;
	char eb[CREDFMT_ERRLEN];
	CHECK_INT_EQ(credfmt_target("postgresql://root:S3cr3t@h/db?sslrootcert=/ca.pem&sslcert=/c"
				    "&sslkey=/k&sslpassword=S3cr3t&connect_timeout=3"
				    "&application_name=credfs&options=-c%20x%3Dy&hostaddr=10.0.0.1"
				    "&target_session_attrs=read-write&require_auth=password",
				    &t, eb),
		     0);
	CHECK_STR_EQ(t.hostaddr, "10.0.0.1");
	CHECK_STR_EQ(t.param[CREDFMT_P_SSLROOTCERT], "/ca.pem");
	CHECK_STR_EQ(t.param[CREDFMT_P_TARGET_SESSION_ATTRS], "read-write");
	for (int i = 0; i < CREDFMT_NPARAM; i++)
		CHECK(i == CREDFMT_P_SSLROOTCERT || i == CREDFMT_P_TARGET_SESSION_ATTRS ||
		      t.param[i] == NULL);
	credfmt_target_clear(&t);
	CHECK(t.host == NULL && t.param[CREDFMT_P_SSLROOTCERT] == NULL);
	credfmt_target_clear(NULL);
	CHECK_STR_EQ(credfmt_param_keyword(CREDFMT_P_SSLMODE), "sslmode");
	CHECK_STR_EQ(credfmt_param_env(CREDFMT_P_SSL_MIN_PROTOCOL_VERSION),
		     "PGSSLMINPROTOCOLVERSION");
	CHECK(credfmt_param_env(CREDFMT_NPARAM) == NULL);

	check_target_fails("postgresql://h/{{username}}", "dbname: {{username}}");
	check_target_fails("host={{password}}", "host:");
	check_target_fails("host=h service=prod", "service=");
	check_target_fails("host=h1,h2,h3 port=1,2", "2 port numbers to 3 hosts");
	check_target_fails("host=a,b hostaddr=1.1.1.1", "host names");
	check_target_fails("postgresql://h:54x2/db", "port: not a number");
	check_target_fails("postgresql://root:S3cr3t@h/d%zz", "dbname: invalid percent");
	check_target_fails("postgresql://h/d%00", "invalid percent");
	check_target_fails("postgresql://h/d%4", "invalid percent");
	check_target_fails("postgresql://[::1/db", "missing \"]\"");
	check_target_fails("postgresql://[]/db", "empty IPv6");
	check_target_fails("postgresql://[::1]x/db", "unexpected character");
	check_target_fails("postgresql://h/db?sslmode", "separator");
	check_target_fails("postgresql://h/db?a=b=c", "extra key/value");
	check_target_fails("host='S3cr3t", "unterminated");
	check_target_fails("password='S3cr3t\\", "unterminated");
	check_target_fails("host", "missing \"=\"");
}

static void test_seed(void)
{
	CHECK_RENDER(CREDFMT_ENV, SEED_URL, USER, PW,
		     "PGUSER=" USER "\nPGPASSWORD=" PW "\nPGHOST=127.0.0.1\nPGPORT=5432\n"
		     "PGDATABASE=wizard\nPGSSLMODE=disable\n");
	CHECK_RENDER(CREDFMT_URI, SEED_URL, USER, PW,
		     "postgresql://" USER ":" PW "@127.0.0.1:5432/wizard?sslmode=disable");
	CHECK_RENDER(CREDFMT_SERVICE, SEED_URL, USER, PW,
		     "[db-app]\nhost=127.0.0.1\nport=5432\ndbname=wizard\nuser=" USER
		     "\npassword=" PW "\nsslmode=disable\n");
	CHECK_RENDER(CREDFMT_PGPASS, SEED_URL, USER, PW, "127.0.0.1:5432:wizard:" USER ":" PW "\n");
	CHECK_RENDER(CREDFMT_KEY_USERNAME, SEED_URL, USER, PW, USER);
	CHECK_RENDER(CREDFMT_KEY_PASSWORD, SEED_URL, USER, PW, PW);
	CHECK_RENDER(CREDFMT_KEY_HOST, SEED_URL, USER, PW, "127.0.0.1");
	CHECK_RENDER(CREDFMT_KEY_PORT, SEED_URL, USER, PW, "5432");
	CHECK_RENDER(CREDFMT_KEY_DATABASE, SEED_URL, USER, PW, "wizard");
}

/* Missing host, port and database: libpq's defaults, written as empty values. */
static void test_defaults(void)
{
	const char *url = "user={{username}} password={{password}}";

	CHECK_RENDER(CREDFMT_ENV, url, "u", "p",
		     "PGUSER=u\nPGPASSWORD=p\nPGHOST=\nPGPORT=\nPGDATABASE=\n");
	CHECK_RENDER(CREDFMT_URI, url, "u", "p", "postgresql://u:p@");
	CHECK_RENDER(CREDFMT_SERVICE, url, "u", "p",
		     "[db-app]\nhost=\nport=\ndbname=\nuser=u\npassword=p\n");
	CHECK_RENDER(CREDFMT_PGPASS, url, "u", "p", "localhost:5432:*:u:p\n");
	CHECK_RENDER(CREDFMT_KEY_HOST, url, "u", "p", "");
	CHECK_RENDER(CREDFMT_KEY_PORT, url, "u", "p", "");
	CHECK_RENDER(CREDFMT_KEY_DATABASE, url, "u", "p", "");
	CHECK_RENDER(CREDFMT_URI, "port=5433 dbname=d", "u", "p", "postgresql://u:p@/d?port=5433");
	CHECK_RENDER(CREDFMT_URI, "hostaddr=10.0.0.1", "u", "p",
		     "postgresql://u:p@?hostaddr=10.0.0.1");
	CHECK_RENDER(CREDFMT_PGPASS, "hostaddr=10.0.0.1 port=6000", "u", "p",
		     "10.0.0.1:6000:*:u:p\n");
	CHECK_RENDER(CREDFMT_ENV, "postgresql://h/d?hostaddr=10.0.0.1&sslmode=verify-full", "u",
		     "p",
		     "PGUSER=u\nPGPASSWORD=p\nPGHOST=h\nPGPORT=\nPGDATABASE=d\n"
		     "PGHOSTADDR=10.0.0.1\nPGSSLMODE=verify-full\n");
}

static void test_hosts(void)
{
	/* IPv6 in brackets, socket directories percent-encoded */
	CHECK_RENDER(CREDFMT_URI, "postgresql://[::1]:5433/db", "u", "p",
		     "postgresql://u:p@[::1]:5433/db");
	CHECK_RENDER(CREDFMT_URI, "host=fe80::1%eth0", "u", "p",
		     "postgresql://u:p@[fe80::1%25eth0]");
	CHECK_RENDER(CREDFMT_URI, "host=/var/run/postgresql port=5432 dbname=db", "u", "p",
		     "postgresql://u:p@%2Fvar%2Frun%2Fpostgresql:5432/db");
	CHECK_RENDER(CREDFMT_PGPASS, "postgresql://[::1]:5433/db", "u", "p",
		     "\\:\\:1:5433:db:u:p\n");
	CHECK_RENDER(CREDFMT_PGPASS, "host=/var/run/postgresql dbname=db", "u", "p",
		     "/var/run/postgresql:5432:db:u:p\nlocalhost:5432:db:u:p\n");
	/* multi-host: one port for all, or one each */
	CHECK_RENDER(CREDFMT_URI, "host=h1,h2,::1 port=6000 dbname=d", "u", "p",
		     "postgresql://u:p@h1:6000,h2:6000,[::1]:6000/d");
	CHECK_RENDER(CREDFMT_URI, "postgresql://h1,h2:5433/d?target_session_attrs=any", "u", "p",
		     "postgresql://u:p@h1,h2:5433/d?target_session_attrs=any");
	CHECK_RENDER(CREDFMT_PGPASS, "postgresql://h1,h2:5433/d", "u", "p",
		     "h1:5432:d:u:p\nh2:5433:d:u:p\n");
	CHECK_RENDER(CREDFMT_PGPASS, "host=h1,h2 hostaddr=10.0.0.1,10.0.0.2 port=7", "u", "p",
		     "h1:7:*:u:p\nh2:7:*:u:p\n");
	CHECK_RENDER(CREDFMT_KEY_HOST, "postgresql://h1,h2:5433/d", "u", "p", "h1,h2");
	CHECK_RENDER(CREDFMT_KEY_PORT, "postgresql://h1,h2:5433/d", "u", "p", ",5433");
	CHECK_RENDER(CREDFMT_ENV, "host=h1,h2 port=1,2", "u", "p",
		     "PGUSER=u\nPGPASSWORD=p\nPGHOST=h1,h2\nPGPORT=1,2\nPGDATABASE=\n");
	/* names with quotes and dots */
	CHECK_RENDER(CREDFMT_ENV, "dbname=it\\'s.db host=a.b", "o'neil.x", "p",
		     "PGUSER='o'\\''neil.x'\nPGPASSWORD=p\nPGHOST=a.b\nPGPORT=\n"
		     "PGDATABASE='it'\\''s.db'\n");
	CHECK_RENDER(CREDFMT_URI, "dbname='my \"db\"' host=a.b", "o'neil.x", "p",
		     "postgresql://o%27neil.x:p@a.b/my%20%22db%22");
	CHECK_RENDER(CREDFMT_PGPASS, "dbname=* host=#h", "*", "p", "\\#h:5432:\\*:\\*:p\n");
}

/* sh: undo NAME=value or NAME='...' with '\'' (the only forms credfmt writes). */
static int sh_value(const char *line, char *out)
{
	const char *s = strchr(line, '=') + 1;

	while (*s && *s != '\n') {
		if (*s == '\'') {
			for (s++; *s != '\''; s++) {
				if (!*s)
					return -1;
				*out++ = *s;
			}
			s++;
		} else if (*s == '\\') {
			*out++ = *++s;
			s++;
		} else {
			*out++ = *s++;
		}
	}
	*out = '\0';
	return 0;
}

static int unhex(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* libpq's URI decoding of s[0..n-1]. */
static void pct_decode(const char *s, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			*out++ = (char)(unhex(s[i + 1]) << 4 | unhex(s[i + 2]));
			i += 2;
		} else {
			*out++ = s[i];
		}
	}
	*out = '\0';
}

/* libpq's pgpass reading: skip 4 fields with escapes, de-escape the password. */
static void pgpass_password(const char *line, char *out)
{
	const char *s = line;

	for (int f = 0; f < 4; f++) {
		while (*s != ':')
			s += *s == '\\' ? 2 : 1;
		s++;
	}
	for (; *s != '\n' && *s; s++) {
		if (*s == '\\' && s[1])
			s++;
		*out++ = *s;
	}
	*out = '\0';
}

/* Every printable ASCII byte in the password (and the worst user name): each format reads back. */
static void test_worst_password(void)
{
	const char *user = "we:ird\\us#er'\"@";
	char got[256];
	struct secret *s;

	CHECK((s = render(CREDFMT_ENV, SEED_URL, "db-app", user, printable)) != NULL);
	if (s) {
		const char *l = strstr(secret_str(s), "PGPASSWORD=");
		CHECK(l && sh_value(l, got) == 0);
		CHECK_STR_EQ(got, printable);
		CHECK(sh_value(secret_str(s), got) == 0);
		CHECK_STR_EQ(got, user);
		CHECK(strstr(secret_str(s), "PGPASSWORD=' !\"#$%&'\\''()*+,-./0123") != NULL);
		secret_free(s);
	}
	CHECK((s = render(CREDFMT_URI, SEED_URL, "db-app", user, printable)) != NULL);
	if (s) {
		const char *u = secret_str(s) + strlen("postgresql://"), *c = strchr(u, ':');
		const char *at = strchr(u, '@');
		/* no reserved byte is left bare in the userinfo */
		CHECK(c && at && strcspn(u, ":/?#[]@!$&'()*+,;= \"") == (size_t)(c - u));
		CHECK(c && strcspn(c + 1, ":/?#[]@!$&'()*+,;= \"") == (size_t)(at - c - 1));
		pct_decode(u, (size_t)(c - u), got);
		CHECK_STR_EQ(got, user);
		pct_decode(c + 1, (size_t)(at - c - 1), got);
		CHECK_STR_EQ(got, printable);
		CHECK_STR_EQ(at, "@127.0.0.1:5432/wizard?sslmode=disable");
		secret_free(s);
	}
	CHECK((s = render(CREDFMT_PGPASS, SEED_URL, "db-app", user, printable)) != NULL);
	if (s) {
		CHECK(!strncmp(secret_str(s), "127.0.0.1:5432:wizard:we\\:ird\\\\us#er'\"@:", 40));
		pgpass_password(secret_str(s), got);
		CHECK_STR_EQ(got, printable);
		secret_free(s);
	}
	/* service: verbatim to the end of the line; a leading space is kept (the line starts with "password=") */
	char want[512];
	snprintf(want, sizeof(want), "[db-app]\nhost=h\nport=\ndbname=\nuser=%s\npassword=%s\n",
		 user, printable);
	CHECK_RENDER(CREDFMT_SERVICE, "host=h", user, printable, want);
	CHECK_RENDER(CREDFMT_SERVICE, "host=h", "u", " a b",
		     "[db-app]\nhost=h\nport=\ndbname=\nuser=u\npassword= a b\n");
	/* key files: the bare bytes */
	CHECK_RENDER(CREDFMT_KEY_PASSWORD, SEED_URL, user, printable, printable);
	CHECK_RENDER(CREDFMT_KEY_USERNAME, SEED_URL, user, printable, user);
}

/* What a format cannot say is refused, never written mangled. */
static void test_refused(void)
{
	struct credfmt_target t;
	char eb[CREDFMT_ERRLEN];
	struct secret *pw = secret_new("a\0b", 3), *ok = secret_new("p", 1);

	errno = 0;
	CHECK(render(CREDFMT_SERVICE, SEED_URL, "db-app", "u", "line\nbreak") == NULL);
	CHECK_INT_EQ(errno, EINVAL);
	CHECK(render(CREDFMT_SERVICE, SEED_URL, "db-app", "u", "cr\r") == NULL);
	CHECK(render(CREDFMT_SERVICE, SEED_URL, "db-app", "u", "tab\t") == NULL);
	CHECK(render(CREDFMT_SERVICE, SEED_URL, "db-app", "u", "space ") == NULL);
	CHECK(render(CREDFMT_SERVICE, "host='h '", "db-app", "u", "p") == NULL);
	CHECK(render(CREDFMT_SERVICE, SEED_URL, "db]app", "u", "p") == NULL);
	CHECK(render(CREDFMT_SERVICE, SEED_URL, "", "u", "p") == NULL);
	CHECK(render(CREDFMT_PGPASS, SEED_URL, "db-app", "u", "line\nbreak") == NULL);
	CHECK(render(CREDFMT_PGPASS, SEED_URL, "db-app", "u\r", "p") == NULL);
	CHECK(render(CREDFMT_PGPASS, "dbname='a\nb'", "db-app", "u", "p") == NULL);
	/* sh and URIs can carry a line break */
	CHECK_RENDER(CREDFMT_ENV, "host=h", "u", "a\nb",
		     "PGUSER=u\nPGPASSWORD='a\nb'\nPGHOST=h\nPGPORT=\nPGDATABASE=\n");
	CHECK_RENDER(CREDFMT_URI, "host=h", "u", "a\nb", "postgresql://u:a%0Ab@h");

	CHECK_INT_EQ(credfmt_target(SEED_URL, &t, eb), 0);
	errno = 0;
	CHECK(credfmt_render(CREDFMT_JSON, &t, "db-app", "u", ok) == NULL);
	CHECK_INT_EQ(errno, EINVAL);
	CHECK(credfmt_render((enum credfmt)42, &t, "db-app", "u", ok) == NULL);
	for (int f = CREDFMT_ENV; f <= CREDFMT_KEY_DATABASE; f++) {
		errno = 0;
		CHECK(credfmt_render((enum credfmt)f, &t, "db-app", "u", pw) == NULL);
		CHECK_INT_EQ(errno, EINVAL);
	}
	CHECK(credfmt_render(CREDFMT_ENV, &t, "db-app", NULL, ok) == NULL);
	CHECK(credfmt_render(CREDFMT_ENV, NULL, "db-app", "u", ok) == NULL);
	credfmt_target_clear(&t);
	secret_free(pw);
	secret_free(ok);
}

int main(int argc, char **argv)
{
	if (secret_init() != 0)
		return 1;
	for (int c = ' '; c <= '~'; c++)
		printable[c - ' '] = (char)c;
	if (argc == 2 && !strcmp(argv[1], "--print-env")) {
		struct secret *s =
			render(CREDFMT_ENV, SEED_URL, "db-app", "we:ird'us\"er", printable);

		if (!s)
			return 1;
		fputs(secret_str(s), stdout);
		secret_free(s);
		return 0;
	}
	RUN(test_names);
	RUN(test_target);
	RUN(test_seed);
	RUN(test_defaults);
	RUN(test_hosts);
	RUN(test_worst_password);
	RUN(test_refused);
	return DONE();
}
