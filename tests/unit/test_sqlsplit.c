/* SPDX-License-Identifier: MIT */
/*
 * test_sqlsplit.c - splitting SQL into statements.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sqlsplit.h"
#include "test.h"

static char **st;
static size_t nst;

/* Split s; returns the number of statements, or -1 (st/nst hold the result). */
static long split(const char *s)
{
	struct parse_error err;

	sqlsplit_free(st, nst);
	st = NULL;
	nst = 0;
	if (sqlsplit(s, strlen(s), &st, &nst, &err) != 0) {
		st = NULL;
		nst = 0;
		return -1;
	}
	CHECK(st != NULL);
	CHECK(st[nst] == NULL);
	return (long)nst;
}

/* Expect s to be rejected at line:col with message text. */
static void expect_err(const char *s, const char *text, int line, int col)
{
	struct parse_error err = { .line = -1, .col = -1 };
	char **out = (char **)&err;
	size_t n = 12345;

	CHECK_INT_EQ(sqlsplit(s, strlen(s), &out, &n, &err), -EINVAL);
	CHECK(out == (char **)&err); /* untouched */
	CHECK_INT_EQ(n, 12345);
	CHECK_STR_EQ(err.text, text);
	CHECK_INT_EQ(err.line, line);
	CHECK_INT_EQ(err.col, col);
}

static void test_seed(void)
{
	CHECK_INT_EQ(split("CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID "
			   "UNTIL '{{expiration}}'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO "
			   "\"{{name}}\";"),
		     2);
	CHECK_STR_EQ(st[0], "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID "
			    "UNTIL '{{expiration}}'");
	CHECK_STR_EQ(st[1], "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\"");
	/* Vault's default revocation, one per line */
	CHECK_INT_EQ(
		split("REVOKE ALL PRIVILEGES ON ALL TABLES IN SCHEMA public FROM {{name}};\n"
		      "REVOKE ALL PRIVILEGES ON ALL SEQUENCES IN SCHEMA public FROM {{name}};\n"
		      "REVOKE USAGE ON SCHEMA public FROM {{name}};\n"
		      "DROP ROLE IF EXISTS {{name}};\n"),
		4);
	CHECK_STR_EQ(st[3], "DROP ROLE IF EXISTS {{name}}");
}

static void test_trim_and_empty(void)
{
	CHECK_INT_EQ(split(""), 0);
	CHECK_INT_EQ(split(";"), 0);
	CHECK_INT_EQ(split(";;  ;\n\t;"), 0);
	CHECK_INT_EQ(split("   \n "), 0);
	CHECK_INT_EQ(split("SELECT 1"), 1);
	CHECK_STR_EQ(st[0], "SELECT 1");
	CHECK_INT_EQ(split("  \r\n\tSELECT 1 \n;\n ;; SELECT 2;;"), 2);
	CHECK_STR_EQ(st[0], "SELECT 1");
	CHECK_STR_EQ(st[1], "SELECT 2");
	CHECK_INT_EQ(split("a;b"), 2);
	CHECK_STR_EQ(st[1], "b");
}

static void test_comments(void)
{
	CHECK_INT_EQ(split("-- only a comment"), 0);
	CHECK_INT_EQ(split("-- one; two\n/* three; */ ; /* x */ -- y"), 0);
	CHECK_INT_EQ(split("SELECT 1; -- trailing comment; with a semicolon"), 1);
	CHECK_STR_EQ(st[0], "SELECT 1");
	CHECK_INT_EQ(split("-- why\nSELECT 1 -- no; split\n, 2;"), 1);
	CHECK_STR_EQ(st[0], "-- why\nSELECT 1 -- no; split\n, 2");
	CHECK_INT_EQ(split("SELECT /* ; */ 1; SELECT 2"), 2);
	CHECK_STR_EQ(st[0], "SELECT /* ; */ 1");
	/* nested block comments, as PostgreSQL has them */
	CHECK_INT_EQ(split("SELECT /* a /* b; */ still; comment */ 1; SELECT 2"), 2);
	CHECK_STR_EQ(st[0], "SELECT /* a /* b; */ still; comment */ 1");
	CHECK_INT_EQ(split("/**/SELECT 1/***/;/*/ ; */"), 1);
	CHECK_STR_EQ(st[0], "/**/SELECT 1/***/");
	/* quotes inside comments mean nothing */
	CHECK_INT_EQ(split("-- it's\nSELECT 1; /* \"$$ ' */ SELECT 2"), 2);
	/* comment markers inside strings mean nothing */
	CHECK_INT_EQ(split("SELECT '--'; SELECT '/*'; SELECT \"--x\""), 3);
	/* an operator followed by a comment */
	CHECK_INT_EQ(split("SELECT 1 +/* c; */ 2 --; \n;"), 1);
	CHECK_STR_EQ(st[0], "SELECT 1 +/* c; */ 2 --;");
	/* a '-' or '/' alone */
	CHECK_INT_EQ(split("SELECT 4 - 2 / 1; SELECT -1"), 2);
}

static void test_strings(void)
{
	CHECK_INT_EQ(split("SELECT 'a;b'; SELECT 'it''s; fine'"), 2);
	CHECK_STR_EQ(st[0], "SELECT 'a;b'");
	CHECK_STR_EQ(st[1], "SELECT 'it''s; fine'");
	CHECK_INT_EQ(split("SELECT '';SELECT ''''"), 2);
	/* a plain string ends at the quote after a backslash */
	CHECK_INT_EQ(split("SELECT 'C:\\'; SELECT 2"), 2);
	CHECK_STR_EQ(st[0], "SELECT 'C:\\'");
	/* E'' strings: backslash escapes, both cases of E */
	CHECK_INT_EQ(split("SELECT E'\\''; SELECT 2"), 2);
	CHECK_STR_EQ(st[0], "SELECT E'\\''");
	CHECK_INT_EQ(split("SELECT e'a\\';b'; SELECT 2"), 2);
	CHECK_STR_EQ(st[0], "SELECT e'a\\';b'");
	CHECK_INT_EQ(split("SELECT E'\\\\'; SELECT 2"), 2);
	CHECK_STR_EQ(st[0], "SELECT E'\\\\'");
	CHECK_INT_EQ(split("SELECT E'it''s;'; SELECT 2"), 2);
	/* an E ending an identifier is no prefix: 'x\' is a plain string */
	CHECK_INT_EQ(split("SELECT namE'x\\'; SELECT 2"), 2);
	CHECK_STR_EQ(st[0], "SELECT namE'x\\'");
	/* after a non-identifier byte it is */
	CHECK_INT_EQ(split("SELECT (E'\\';'); SELECT 2"), 2);
	/* other prefixes are plain strings */
	CHECK_INT_EQ(split("SELECT X'1;', B'0;', N'a\\'; U&'d\\0061t'"), 2);
	CHECK_STR_EQ(st[1], "U&'d\\0061t'");
}

static void test_identifiers(void)
{
	CHECK_INT_EQ(split("CREATE ROLE \"a;b\"; DROP ROLE \"x\"\"y;\""), 2);
	CHECK_STR_EQ(st[0], "CREATE ROLE \"a;b\"");
	CHECK_STR_EQ(st[1], "DROP ROLE \"x\"\"y;\"");
	/* a backslash is not an escape in an identifier */
	CHECK_INT_EQ(split("SELECT \"a\\\"; SELECT 2"), 2);
	/* quotes of the other kind inside */
	CHECK_INT_EQ(split("SELECT \"it's\"; SELECT 'say \"hi;\"'"), 2);
}

static void test_dollar_quotes(void)
{
	CHECK_INT_EQ(split("DO $$ BEGIN PERFORM 1; END $$;"), 1);
	CHECK_STR_EQ(st[0], "DO $$ BEGIN PERFORM 1; END $$");
	CHECK_INT_EQ(split("DO $f$ BEGIN PERFORM 1; RAISE NOTICE 'a;b'; END $f$; SELECT 1"), 2);
	CHECK_STR_EQ(st[0], "DO $f$ BEGIN PERFORM 1; RAISE NOTICE 'a;b'; END $f$");
	/* a different tag inside does not close, $$ inside $f$ does not either */
	CHECK_INT_EQ(split("DO $f$ x; $g$ y; $$ z; $g$ $f$; SELECT 2"), 2);
	CHECK_STR_EQ(st[0], "DO $f$ x; $g$ y; $$ z; $g$ $f$");
	/* tags are case sensitive and may hold digits and '_' */
	CHECK_INT_EQ(split("SELECT $Ab_1$ ; $ab_1$ ; $Ab_1$; SELECT 2"), 2);
	CHECK_INT_EQ(split("SELECT $_$;$_$; SELECT 2"), 2);
	/* a tag that is a prefix of another */
	CHECK_INT_EQ(split("SELECT $a$ $ab$; $a$; SELECT 2"), 2);
	/* unbalanced quotes inside a dollar quote are ordinary bytes */
	CHECK_INT_EQ(split("SELECT $$it's \"; -- /* $$; SELECT 2"), 2);
	CHECK_INT_EQ(split("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $body$\n"
			   "  SELECT 1;\n  SELECT 2;\n$body$;\nGRANT EXECUTE ON FUNCTION f() TO "
			   "\"{{name}}\";"),
		     2);
	/* adjacent: the closing delimiter ends right before the next one */
	CHECK_INT_EQ(split("SELECT $$a$$$$;$$; SELECT 2"), 2);
	/* non-ASCII tag bytes, as scan.l allows */
	CHECK_INT_EQ(split("SELECT $\xc3\xa9$;$\xc3\xa9$; SELECT 2"), 2);
}

static void test_not_dollar_quotes(void)
{
	/* $1 parameters */
	CHECK_INT_EQ(split("PREPARE p AS SELECT $1; SELECT $2"), 2);
	CHECK_STR_EQ(st[0], "PREPARE p AS SELECT $1");
	CHECK_INT_EQ(split("SELECT $1$; SELECT 2"), 2);
	/* '$' inside an identifier */
	CHECK_INT_EQ(split("SELECT a$b; SELECT 2"), 2);
	CHECK_INT_EQ(split("SELECT a$$; SELECT 2$"), 2);
	CHECK_INT_EQ(split("SELECT x1$f$; SELECT 2 $f"), 2);
	/* a lone '$' and "$tag" without the closing '$' */
	CHECK_INT_EQ(split("SELECT $; SELECT $x; SELECT $ x$"), 3);
	/* after a number it is a quote again, as in scan.l */
	CHECK_INT_EQ(split("SELECT 1$$;$$; SELECT 2"), 2);
}

/* psql's rules for a ';' that does not end a statement */
static void test_psql_rules(void)
{
	/* inside parentheses: CREATE RULE with several actions */
	CHECK_INT_EQ(split("CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); "
			   "INSERT INTO b VALUES (2)); SELECT 1"),
		     2);
	CHECK_STR_EQ(st[0], "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); "
			    "INSERT INTO b VALUES (2))");
	/* an unbalanced ')' is ignored, an unbalanced '(' runs to the end */
	CHECK_INT_EQ(split("SELECT 1); SELECT 2"), 2);
	CHECK_INT_EQ(split("SELECT (1; SELECT 2"), 1);
	/* parentheses in strings, identifiers and comments do not count */
	CHECK_INT_EQ(
		split("SELECT '('; SELECT \"(\"; SELECT 1 /* ( */; -- (\nSELECT $$($$; SELECT 5"),
		5);
	/* SQL-standard function bodies */
	CHECK_INT_EQ(
		split("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; "
		      "SELECT CASE WHEN true THEN 1 END; END; GRANT EXECUTE ON FUNCTION f() TO "
		      "\"{{name}}\""),
		2);
	CHECK_STR_EQ(st[0], "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; "
			    "SELECT CASE WHEN true THEN 1 END; END");
	CHECK_INT_EQ(split("create or replace procedure p() begin atomic insert into t values (1); "
			   "end; select 1"),
		     2);
	CHECK_INT_EQ(
		split("CREATE OR REPLACE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1; END;"), 1);
	/* only after CREATE [OR REPLACE] FUNCTION|PROCEDURE */
	CHECK_INT_EQ(split("BEGIN; SELECT 1; END;"), 3);
	CHECK_INT_EQ(split("CREATE TABLE begin (x int); SELECT 1"), 2);
	CHECK_INT_EQ(split("CREATE ROLE \"{{name}}\"; BEGIN; END"), 3);
	/* the language-body form is a dollar quote, which has no BEGIN counting */
	CHECK_INT_EQ(split("CREATE FUNCTION f() RETURNS void AS $$ BEGIN NULL; END $$ LANGUAGE "
			   "plpgsql; SELECT 1"),
		     2);
	/* a number with junk stuck to it is no keyword ("1end"), no E prefix */
	CHECK_INT_EQ(split("CREATE FUNCTION f() BEGIN ATOMIC 1end; END; SELECT 1"), 2);
	CHECK_INT_EQ(split("SELECT 1e'\\'; SELECT 2"), 2);
	CHECK_INT_EQ(split("SELECT 1.5; SELECT 2"), 2);
}

static void test_unterminated(void)
{
	expect_err("SELECT 'abc", "unterminated quoted string", 1, 8);
	expect_err("SELECT 1;\nSELECT 'it''s;", "unterminated quoted string", 2, 8);
	expect_err("SELECT 'C:\\'' ", "unterminated quoted string", 1, 8);
	expect_err("SELECT E'\\'", "unterminated quoted string", 1, 8);
	expect_err("SELECT\n\n   e'abc\\\\\\'", "unterminated quoted string", 3, 4);
	expect_err("SELECT \"abc", "unterminated quoted identifier", 1, 8);
	expect_err("SELECT \"a\"\"", "unterminated quoted identifier", 1, 8);
	expect_err("SELECT 1 /* a", "unterminated /* comment", 1, 10);
	expect_err("SELECT 1;\n  /* a /* b */", "unterminated /* comment", 2, 3);
	expect_err("/*/", "unterminated /* comment", 1, 1);
	expect_err("SELECT 1; DO $$ BEGIN", "unterminated dollar-quoted string", 1, 14);
	expect_err("DO $f$ x $g$", "unterminated dollar-quoted string", 1, 4);
	expect_err("DO $f$ x $F$", "unterminated dollar-quoted string", 1, 4);
	expect_err("DO $f$ x $f", "unterminated dollar-quoted string", 1, 4);
	expect_err("DO $f$", "unterminated dollar-quoted string", 1, 4);
	expect_err("DO $$", "unterminated dollar-quoted string", 1, 4);
	expect_err("DO $$$", "unterminated dollar-quoted string", 1, 4);
	expect_err("SELECT '", "unterminated quoted string", 1, 8);
	/* the first unterminated construct is reported */
	expect_err("SELECT ' \" /*", "unterminated quoted string", 1, 8);
	expect_err("SELECT \" ' /*", "unterminated quoted identifier", 1, 8);
	/* col counts bytes, a tab is one */
	expect_err("\t\t'", "unterminated quoted string", 1, 3);
	/* a line comment at the very end is fine */
	CHECK_INT_EQ(split("SELECT 1 -- end"), 1);
	CHECK_STR_EQ(st[0], "SELECT 1 -- end");
}

static void test_lengths(void)
{
	struct parse_error err;
	const char *s = "SELECT 1; SELECT 'x;y'";
	char **out = NULL;
	size_t n = 0;

	/* only len bytes are read: the cut leaves an unterminated string */
	CHECK_INT_EQ(sqlsplit(s, 19, &out, &n, &err), -EINVAL);
	CHECK_STR_EQ(err.text, "unterminated quoted string");
	CHECK_INT_EQ(sqlsplit(s, 8, &out, &n, &err), 0);
	CHECK_INT_EQ(n, 1);
	CHECK_STR_EQ(out[0], "SELECT 1");
	sqlsplit_free(out, n);
	CHECK_INT_EQ(sqlsplit(NULL, 0, &out, &n, &err), 0);
	CHECK_INT_EQ(n, 0);
	CHECK(out != NULL);
	sqlsplit_free(out, n);
	CHECK_INT_EQ(sqlsplit(NULL, 3, &out, &n, &err), -EINVAL);
	/* a NUL byte would cut a statement short: rejected where it is */
	CHECK_INT_EQ(sqlsplit("SELECT 1;\nSELECT '\0'", 20, &out, &n, &err), -EINVAL);
	CHECK_STR_EQ(err.text, "NUL byte in SQL text");
	CHECK_INT_EQ(err.line, 2);
	CHECK_INT_EQ(err.col, 9);
	/* err may be NULL */
	CHECK_INT_EQ(sqlsplit("'", 1, &out, &n, NULL), -EINVAL);
	sqlsplit_free(NULL, 0);
}

static void test_many(void)
{
	static char text[64 * 1024];
	size_t i;

	text[0] = '\0';
	for (i = 0; i < 2000; i++)
		strcat(text, "SELECT ';';\n");
	CHECK_INT_EQ(split(text), 2000);
	CHECK_STR_EQ(st[1999], "SELECT ';'");
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	RUN(test_seed);
	RUN(test_trim_and_empty);
	RUN(test_comments);
	RUN(test_strings);
	RUN(test_identifiers);
	RUN(test_dollar_quotes);
	RUN(test_not_dollar_quotes);
	RUN(test_psql_rules);
	RUN(test_unterminated);
	RUN(test_lengths);
	RUN(test_many);
	sqlsplit_free(st, nst);
	return DONE();
}
