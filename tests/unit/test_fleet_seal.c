/* SPDX-License-Identifier: MIT */
/*
 * test_fleet_seal.c - sealed definitions open only under the same key,
 * kind and name; no plaintext in the sealed text; the due time of a dead
 * node's lease.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fleet_seal.h"
#include "secret.h"
#include "test.h"

static struct secret *key_of(char c)
{
	char k[FLEET_KEY_LEN];

	memset(k, c, sizeof(k));
	return secret_new(k, sizeof(k));
}

static void test_roundtrip(void)
{
	struct secret *k = key_of('a');
	json_t *doc = json_pack("{s:s, s:s}", "username", "root", "password", "hunter2-xyz"), *back;
	char *s = fleet_seal(k, "conn", "db", doc);

	CHECK(s != NULL);
	CHECK(s && !strstr(s, "hunter2"));
	CHECK(s && !strstr(s, "username"));
	back = s ? fleet_unseal(k, "conn", "db", s) : NULL;
	CHECK(back && json_equal(back, doc));
	json_decref(back);
	free(s);
	json_decref(doc);
	secret_free(k);
}

static void test_wrong_key_or_name(void)
{
	struct secret *k = key_of('a'), *k2 = key_of('b');
	json_t *doc = json_pack("{s:s}", "password", "p");
	char *s = fleet_seal(k, "conn", "db", doc);

	CHECK(s != NULL);
	CHECK(!fleet_unseal(k2, "conn", "db", s));
	CHECK(!fleet_unseal(k, "conn", "db2", s));
	CHECK(!fleet_unseal(k, "role", "db", s));
	if (s) {
		s[10] = s[10] == 'A' ? 'B' : 'A';
		CHECK(!fleet_unseal(k, "conn", "db", s));
	}
	CHECK(!fleet_unseal(k, "conn", "db", "not base64 !"));
	CHECK(!fleet_unseal(k, "conn", "db", ""));
	free(s);
	json_decref(doc);
	secret_free(k);
	secret_free(k2);
}

static void test_two_seals_differ(void)
{
	struct secret *k = key_of('a');
	json_t *doc = json_pack("{s:s}", "password", "p");
	char *a = fleet_seal(k, "conn", "db", doc), *b = fleet_seal(k, "conn", "db", doc);

	CHECK(a && b && strcmp(a, b) != 0); /* a fresh nonce each time */
	free(a);
	free(b);
	json_decref(doc);
	secret_free(k);
}

static void test_due(void)
{
	struct fleet_due d = { .state = "held", .death_ms = 100000, .ttl_ms = 30000 };

	CHECK_INT_EQ(fleet_due_ms(&d), 130000);
	d.state = "let-go";
	d.let_go_ms = 50000;
	CHECK_INT_EQ(fleet_due_ms(&d), 80000);
	d.let_go_ms = 0; /* let go, time unknown: at death */
	CHECK_INT_EQ(fleet_due_ms(&d), 130000);
	d.state = "revoking";
	CHECK_INT_EQ(fleet_due_ms(&d), 0);
	d.state = "failed";
	CHECK_INT_EQ(fleet_due_ms(&d), 0);
	d.state = "held";
	d.revoke_requested = 1;
	CHECK_INT_EQ(fleet_due_ms(&d), 0);
}

int main(void)
{
	if (secret_init() != 0)
		return 1;
	RUN(test_roundtrip);
	RUN(test_wrong_key_or_name);
	RUN(test_two_seals_differ);
	RUN(test_due);
	return DONE();
}
