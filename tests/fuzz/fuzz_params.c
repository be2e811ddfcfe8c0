/* SPDX-License-Identifier: MIT */
/*
 * fuzz_params.c - libFuzzer target for the parameter documents of config/
 * and roles/: params_parse in both forms (JSON and key=value), then
 * role_from_params and dbconf_from_params, each final and not final.
 *
 * Besides memory errors and leaks, checks the contracts fs/ relies on:
 *   - params_parse returns 0, 1 (only when not final) or -EINVAL; *out is
 *     written on success only; a message is a terminated, non-empty string;
 *   - a document that is accepted whole is never refused while it is being
 *     written: no prefix of it fails the not-final checks (fs_write runs
 *     them on every write(), and a refusal there fails the writer);
 *   - what a definition reads back as (role_to_json, dbconf_to_json) is
 *     itself accepted and reads back the same, so `jq` edits of a read-back
 *     definition never fail or drift.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "dbconf.h"
#include "params.h"
#include "role.h"
#include "secret.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ROLE_NAME "fuzz-role"
#define CONF_NAME "fuzz.db"

/*
 * XXX known drift, tolerated unless FUZZ_STRICT=1: max_idle_connections
 * -1 (Vault: no idle connections) is stored as 0 and reads back as 0,
 * which written back means "as many as max_open_connections".
 */
static int strict;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* sodium_init and the wiping jansson allocator, as the daemon has them */
	if (secret_init() != 0)
		abort();
	strict = getenv("FUZZ_STRICT") && !strcmp(getenv("FUZZ_STRICT"), "1");
	return 0;
}

static void check_err(int r, const struct parse_error *err)
{
	if (r == -EINVAL &&
	    (memchr(err->text, '\0', sizeof(err->text)) == NULL || err->text[0] == '\0'))
		abort();
}

/* params_parse with its contract checked; returns its result, *out as it does. */
static int parse(const char *buf, size_t len, bool final, json_t **out)
{
	struct parse_error err;
	json_t *obj = NULL;
	int r;

	memset(&err, 0, sizeof(err));
	r = params_parse(buf, len, final, &obj, &err);
	if (r != 0 && r != 1 && r != -EINVAL)
		abort();
	if ((r == 1 && final) || (r < 0 && obj != NULL) || (r == 0 && obj == NULL) ||
	    (obj != NULL && !json_is_object(obj)))
		abort();
	check_err(r, &err);
	*out = obj;
	return r;
}

/* Build both kinds from obj; 1 bit per kind accepted (role 1, dbconf 2). */
static int build(json_t *obj, bool final, struct role **rop, struct dbconf **cp)
{
	struct parse_error err;
	struct role *ro = NULL;
	struct dbconf *c = NULL;
	int r, ok = 0;

	memset(&err, 0, sizeof(err));
	r = role_from_params(ROLE_NAME, obj, final, &ro, &err);
	if ((r != 0 && r != -EINVAL && r != -ENOMEM) || (r == 0) != (ro != NULL))
		abort();
	check_err(r, &err);
	ok |= r == 0 ? 1 : 0;
	memset(&err, 0, sizeof(err));
	r = dbconf_from_params(CONF_NAME, obj, final, &c, &err);
	if ((r != 0 && r != -EINVAL && r != -ENOMEM) || (r == 0) != (c != NULL))
		abort();
	check_err(r, &err);
	ok |= r == 0 ? 2 : 0;
	if (rop)
		*rop = ro;
	else
		role_unref(ro);
	if (cp)
		*cp = c;
	else
		dbconf_unref(c);
	return ok;
}

/* The read-back text of a definition must be accepted and read back the same. */
static void check_roundtrip(json_t *shown, int kind)
{
	struct role *ro = NULL;
	struct dbconf *c = NULL;
	json_t *obj = NULL, *again;
	size_t n;
	char *text;

	/* json_dumpb into our buffer: json_dumps' result belongs to jansson's
	 * allocator (the wiping one), not to free() */
	if (!shown || !(n = json_dumpb(shown, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER)) ||
	    !(text = malloc(n)))
		abort();
	json_dumpb(shown, text, n, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (parse(text, n, true, &obj) != 0)
		abort();
	free(text);
	if (!(build(obj, true, kind == 1 ? &ro : NULL, kind == 2 ? &c : NULL) & kind))
		abort();
	again = kind == 1 ? role_to_json(ro) : dbconf_to_json(c);
	if (again && kind == 2 && !strict &&
	    json_integer_value(json_object_get(shown, "max_idle_connections")) == 0) {
		json_t *d = json_object_get(again, "connection_details");

		json_object_set(again, "max_idle_connections",
				json_object_get(shown, "max_idle_connections"));
		/* Vault's connection_details repeats it */
		if (json_is_object(d))
			json_object_set(d, "max_idle_connections",
					json_object_get(shown, "max_idle_connections"));
	}
	if (!again || !json_equal(again, shown)) {
		/* say what drifted: a replayed input shows it */
		fprintf(stderr, "%s read back as:\n", kind == 1 ? "role" : "connection");
		json_dumpf(shown, stderr, JSON_PRESERVE_ORDER);
		fprintf(stderr, "\nand written back, read back as:\n");
		if (again)
			json_dumpf(again, stderr, JSON_PRESERVE_ORDER);
		fprintf(stderr, "\n");
		abort();
	}
	json_decref(again);
	json_decref(obj);
	role_unref(ro);
	dbconf_unref(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct role *ro = NULL;
	struct dbconf *c = NULL;
	json_t *obj = NULL;
	size_t cuts[3];
	int ok;

	if (size > 64 * 1024)
		return 0;
	/* Not final: what fs_write checks after each write(). */
	if (parse(buf, size, false, &obj) >= 0 && obj)
		build(obj, false, NULL, NULL);
	json_decref(obj);
	obj = NULL;

	/* Final: what is applied at the closing brace or at close. */
	if (parse(buf, size, true, &obj) != 0)
		return 0;
	ok = build(obj, true, &ro, &c);
	json_decref(obj);

	/* Every prefix of an accepted document passes the not-final checks. */
	cuts[0] = size / 3;
	cuts[1] = size / 2;
	cuts[2] = size ? size - 1 : 0;
	for (size_t i = 0; ok && i < 3; i++) {
		json_t *part = NULL;
		int r = parse(buf, cuts[i], false, &part);

		if (r < 0)
			abort();
		if (part && (build(part, false, NULL, NULL) & ok) != ok)
			abort();
		json_decref(part);
	}

	if (ro) {
		json_t *shown = role_to_json(ro);

		check_roundtrip(shown, 1);
		json_decref(shown);
	}
	if (c) {
		json_t *shown = dbconf_to_json(c);

		check_roundtrip(shown, 2);
		json_decref(shown);
	}
	role_unref(ro);
	dbconf_unref(c);
	return 0;
}
