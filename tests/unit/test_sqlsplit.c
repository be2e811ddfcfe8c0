/* SPDX-License-Identifier: MIT */
/*
 * test_sqlsplit.c - splitting SQL into statements, finding transaction
 * control among them, and joining them into one text that splits back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "sqlsplit.h"
#include "test.h"
#include "tmpl.h"

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

/* What sqlsplit_txn_control says of stmt, "-" for NULL. */
static void expect_txn(const char *stmt, const char *want)
{
	const char *got = sqlsplit_txn_control(stmt);

	if (got == NULL)
		got = "-";
	if (strcmp(got, want) != 0) {
		fprintf(stderr, "txn_control(\"%s\") = %s, expected %s\n", stmt, got, want);
		CHECK(0);
	}
}

static void test_txn_control(void)
{
	/* every transaction-control command, as PostgreSQL's grammar has them */
	expect_txn("BEGIN", "BEGIN");
	expect_txn("begin", "BEGIN");
	expect_txn("Begin Work", "BEGIN");
	expect_txn("BEGIN TRANSACTION ISOLATION LEVEL SERIALIZABLE", "BEGIN");
	expect_txn("START TRANSACTION", "START TRANSACTION");
	expect_txn("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY",
		   "START TRANSACTION");
	expect_txn("start\n\ttransaction", "START TRANSACTION");
	expect_txn("START /* why */ TRANSACTION -- now\n", "START TRANSACTION");
	expect_txn("COMMIT", "COMMIT");
	expect_txn("CoMmIt WoRk", "COMMIT");
	expect_txn("COMMIT AND CHAIN", "COMMIT");
	expect_txn("COMMIT PREPARED 'x'", "COMMIT");
	expect_txn("END", "END");
	expect_txn("end transaction", "END");
	expect_txn("ROLLBACK", "ROLLBACK");
	expect_txn("ROLLBACK PREPARED 'x'", "ROLLBACK");
	expect_txn("rollback to savepoint s", "ROLLBACK");
	expect_txn("ABORT", "ABORT");
	expect_txn("abort work", "ABORT");
	expect_txn("SAVEPOINT s", "SAVEPOINT");
	expect_txn("savepoint x", "SAVEPOINT");
	expect_txn("RELEASE SAVEPOINT s", "RELEASE");
	expect_txn("release s", "RELEASE");
	expect_txn("PREPARE TRANSACTION 'x'", "PREPARE TRANSACTION");
	expect_txn("prepare transaction E'x'", "PREPARE TRANSACTION");
	expect_txn("PREPARE TRANSACTION $$x$$", "PREPARE TRANSACTION");
	expect_txn("PREPARE TRANSACTION", "PREPARE TRANSACTION");
	/* after blanks and comments */
	expect_txn("  \n\tCOMMIT", "COMMIT");
	expect_txn("-- the end\nCOMMIT", "COMMIT");
	expect_txn("/* c */COMMIT", "COMMIT");
	expect_txn("/**/END", "END");
	expect_txn("/* a /* nested; */ COMMIT */ rollback", "ROLLBACK");
	expect_txn("-- x\n/* y */ -- z\n  End -- fin", "END");
	expect_txn("COMMIT;", "COMMIT");
	expect_txn("begin;", "BEGIN");

	/* BEGIN and END inside a statement */
	expect_txn("DO $$BEGIN END$$", "-");
	expect_txn("DO $$ BEGIN PERFORM 1; COMMIT; END $$", "-");
	expect_txn("do $f$ begin null; end $f$", "-");
	expect_txn("CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT "
		   "1; END",
		   "-");
	expect_txn("SELECT CASE WHEN true THEN 1 END", "-");
	expect_txn("CREATE ROLE \"{{name}}\" WITH LOGIN -- then COMMIT", "-");
	/* prepared statements */
	expect_txn("PREPARE q AS SELECT 1", "-");
	expect_txn("prepare q (int) as select $1", "-");
	expect_txn("PREPARE transaction AS SELECT 1", "-");
	expect_txn("PREPARE transaction(int) AS SELECT $1", "-");
	expect_txn("PREPARE /* c */ transaction -- d\n AS SELECT 1", "-");
	expect_txn("EXECUTE q", "-");
	/* words that only start like a keyword, quoted, or in comments */
	expect_txn("COMMITTED", "-");
	expect_txn("beginning", "-");
	expect_txn("END_x", "-");
	expect_txn("end$", "-");
	expect_txn("END1", "-");
	expect_txn("\"COMMIT\"", "-");
	expect_txn("'COMMIT'", "-");
	expect_txn("-- COMMIT\nSELECT 1", "-");
	expect_txn("/* COMMIT */ SELECT 1", "-");
	expect_txn("/* unterminated COMMIT", "-");
	expect_txn("START", "-");
	expect_txn("START WITH 1", "-");
	expect_txn("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", "-");
	expect_txn("GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"commit\"", "-");
	expect_txn("ALTER ROLE \"{{name}}\" NOLOGIN", "-");
	expect_txn("", "-");
	expect_txn("  -- only a comment", "-");
	expect_txn(NULL, "-");

	/* as sqlsplit returns them */
	CHECK_INT_EQ(split("SELECT 1; begin; DO $$ BEGIN END $$; /* c */ commit; -- x\nEND;"), 5);
	if (nst == 5) {
		expect_txn(st[0], "-");
		expect_txn(st[1], "BEGIN");
		expect_txn(st[2], "-");
		expect_txn(st[3], "COMMIT");
		expect_txn(st[4], "END");
	}
}

static void test_check_txn_control(void)
{
	char *ok[] = { "CREATE ROLE x", "DO $$ BEGIN END $$", "PREPARE q AS SELECT 1", NULL };
	char *bad[] = { "CREATE ROLE x", "-- done\ncommit", "END", NULL };
	char *start[] = { "START TRANSACTION READ WRITE", NULL };
	struct parse_error err = { .line = -1, .col = -1, .text = "untouched" };

	CHECK_INT_EQ(sqlsplit_check_txn_control(ok, 3, "creation_statements", &err), 0);
	CHECK_STR_EQ(err.text, "untouched");
	CHECK_INT_EQ(sqlsplit_check_txn_control(ok, 0, "creation_statements", &err), 0);
	CHECK_INT_EQ(sqlsplit_check_txn_control(bad, 3, "creation_statements", &err), -EINVAL);
	CHECK_STR_EQ(err.text, "creation_statements: statement 2 is transaction control (COMMIT): "
			       "credfs runs the statements in its own transaction");
	CHECK_INT_EQ(err.line, 0);
	CHECK_INT_EQ(err.col, 0);
	/* only the first is named; n bounds the statements looked at */
	CHECK_INT_EQ(sqlsplit_check_txn_control(bad, 1, "revocation_statements", &err), 0);
	CHECK_INT_EQ(sqlsplit_check_txn_control(start, 1, "root_rotation_statements", &err),
		     -EINVAL);
	CHECK_STR_EQ(err.text, "root_rotation_statements: statement 1 is transaction control "
			       "(START TRANSACTION): credfs runs the statements in its own "
			       "transaction");
	/* err may be NULL */
	CHECK_INT_EQ(sqlsplit_check_txn_control(bad, 3, "renew_statements", NULL), -EINVAL);
}

/*
 * Join stmts (NULL-terminated) after prefix and split the result: it must
 * give prefix's statements (nprefix of them) and then exactly stmts.
 */
static void expect_rejoin(const char *prefix, size_t nprefix, char *const *stmts)
{
	size_t n = 0, lens[16], len = 0;
	char *sql = NULL;

	while (stmts[n] != NULL) {
		lens[n] = strlen(stmts[n]);
		n++;
	}
	CHECK_INT_EQ(sqlsplit_join(prefix, stmts, lens, n, &sql, &len), 0);
	if (sql == NULL)
		return;
	CHECK_INT_EQ(len, strlen(sql));
	CHECK_INT_EQ(split(sql), (long)(nprefix + n));
	for (size_t i = 0; i < n && nprefix + i < nst; i++) {
		if (strcmp(st[nprefix + i], stmts[i]) != 0) {
			fprintf(stderr, "rejoined statement %zu: \"%s\", expected \"%s\"\n", i,
				st[nprefix + i], stmts[i]);
			CHECK(0);
		}
	}
	free(sql);
}

static void test_join(void)
{
	char *login[] = { "CREATE ROLE x WITH LOGIN -- the login", "GRANT SELECT ON t TO x", NULL };
	char *hard[] = {
		"SELECT 1 --",
		"SELECT 2 -- ends; in a ';'",
		"SELECT 3 /* block; */",
		"-- why\nSELECT 4 -- a\n-- b",
		"DO $$ BEGIN PERFORM 1; END $$ -- done",
		"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END -- f",
		"SELECT 'a -- b', \"c -- d\" -- e",
		"SELECT (1) -- )",
		NULL
	};
	char *none[] = { NULL };
	size_t lens[] = { 5 };
	char *sql = NULL;
	size_t len = 0;

	/* what is sent: each statement, then a newline that ends a -- comment, then ';' */
	CHECK_INT_EQ(sqlsplit_join("BEGIN;\n", login,
				   (size_t[]){ strlen(login[0]), strlen(login[1]) }, 2, &sql, &len),
		     0);
	CHECK_STR_EQ(sql, "BEGIN;\nCREATE ROLE x WITH LOGIN -- the login\n;\nGRANT SELECT ON t TO "
			  "x\n;\n");
	CHECK_INT_EQ(len, strlen(sql ? sql : ""));
	free(sql);
	/* ";\n" alone, as before: the comment swallows the ';' and the GRANT */
	CHECK_INT_EQ(split("CREATE ROLE x WITH LOGIN -- the login;\nGRANT SELECT ON t TO x;\n"), 1);

	expect_rejoin("BEGIN;\n", 1, login);
	expect_rejoin("", 0, login);
	expect_rejoin("BEGIN;\n", 1, hard);
	expect_rejoin("", 0, none);
	/* only lens[i] bytes of each */
	sql = NULL;
	CHECK_INT_EQ(sqlsplit_join("", (char *[]){ "END; x" }, lens, 1, &sql, &len), 0);
	CHECK_STR_EQ(sql, "END; \n;\n");
	free(sql);
	sql = NULL;
	CHECK_INT_EQ(sqlsplit_join("", NULL, NULL, 0, &sql, &len), 0);
	CHECK_STR_EQ(sql, "");
	CHECK_INT_EQ(len, 0);
	free(sql);
}

/* Rendering as conn_render_stmts does: tmpl_render each, then sqlsplit_join. */
static void test_render_and_join(void)
{
	const char *tpl = "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL "
			  "'{{expiration}}' -- the login\n"
			  "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\" -- reads";
	/* a name and a verifier with comment markers, as they may have */
	struct tmpl_var vars[] = {
		{ "name", "v-cat--app-x", 0 },
		{ "password", "SCRAM-SHA-256$4096:c2FsdA==$a/*b:c--d", 0 },
		{ "expiration", "2026-11-28 05:00:00+0000", 0 },
	};
	char *parts[2] = { NULL, NULL }, *sql = NULL;
	size_t lens[2] = { 0, 0 }, len = 0;

	for (size_t i = 0; i < 3; i++)
		vars[i].len = strlen(vars[i].value);
	/* separate lines are one statement without a ';', to PostgreSQL too */
	CHECK_INT_EQ(split(tpl), 1);
	/* with it, the first statement ends in a comment */
	CHECK_INT_EQ(split("CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID "
			   "UNTIL '{{expiration}}' -- the login\n;"
			   "GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\" -- reads"),
		     2);
	CHECK(nst == 2 && strstr(st[0], "-- the login") != NULL);
	for (size_t i = 0; i < 2 && nst == 2; i++)
		CHECK_INT_EQ(tmpl_render(st[i], vars, 3, &parts[i], &lens[i], NULL), 0);
	if (parts[0] == NULL || parts[1] == NULL)
		goto out;
	CHECK_INT_EQ(sqlsplit_join("BEGIN;\n", parts, lens, 2, &sql, &len), 0);
	if (sql == NULL)
		goto out;
	CHECK_INT_EQ(split(sql), 3);
	if (nst == 3) {
		CHECK_STR_EQ(st[0], "BEGIN");
		CHECK_STR_EQ(st[1], parts[0]);
		CHECK_STR_EQ(st[2], parts[1]);
		CHECK(strstr(st[2], "GRANT SELECT") == st[2]);
	}
	sodium_memzero(sql, len);
	free(sql);
out:
	tmpl_free(parts[0]);
	tmpl_free(parts[1]);
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
	RUN(test_txn_control);
	RUN(test_check_txn_control);
	RUN(test_join);
	RUN(test_render_and_join);
	sqlsplit_free(st, nst);
	return DONE();
}
