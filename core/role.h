/* SPDX-License-Identifier: MIT */
/*
 * role.h - a role definition (roles/NAME): what to run in PostgreSQL to
 * create, renew and revoke a login, and how long its lease lives.
 *
 * Immutable once built and shared by reference count, like dbconf. A
 * lease keeps a reference to the role it was issued under, so replacing or
 * deleting the role never changes how an issued lease is renewed or
 * revoked (Vault keeps the revocation statements in the lease too).
 */
#ifndef CREDFS_ROLE_H
#define CREDFS_ROLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "perr.h"

#define ROLE_SYSTEM_MAX_TTL (768LL * 3600) /* Vault's system default and maximum */

/* issue_rate: a token bucket of n issues refilled at n per per_ms; n 0 = unlimited. */
struct role_rate {
	int64_t n;
	int64_t per_ms; /* 1000 (s), 60000 (m) or 3600000 (h) */
};

#define ROLE_RATE_MAX 1000000 /* N of issue_rate */

enum role_binding {
	ROLE_BIND_HANDLE, /* held while the open file is open and the opener lives */
	ROLE_BIND_PROCESS, /* held until the opener exits */
};

struct role {
	int refs; /* atomic */
	char *name;
	char *db_name;
	char **creation; /* statements, NULL-terminated */
	size_t n_creation;
	char **revocation; /* empty: credfs's default revocation */
	size_t n_revocation;
	char **renew; /* empty: ALTER ROLE ... VALID UNTIL */
	size_t n_renew;
	char **rollback;
	size_t n_rollback;
	int64_t default_ttl; /* seconds as written; 0 = system default */
	int64_t max_ttl; /* seconds as written; 0 = system maximum */
	enum role_binding binding;
	bool terminate_sessions; /* revocation also ends live sessions */
	uid_t creds_uid; /* owner of creds/NAME, (uid_t)-1 = the daemon's */
	gid_t creds_gid; /* group of creds/NAME, (gid_t)-1 = the daemon's */
	unsigned creds_mode; /* permission bits of creds/NAME */
	int64_t max_leases; /* live leases of the role; 0 = unlimited */
	int64_t max_leases_per_uid; /* live leases of the role per holder uid; 0 = unlimited */
	struct role_rate issue_rate; /* per opener uid */
	uint64_t version; /* which write of roles/NAME this is (durable state) */
	/* restored from a state written before transaction control was refused:
	 * its creation statements would commit early, so it issues nothing */
	bool txn_control;
};

/*
 * role_name_valid - 0 if name may be given to a new role: a valid name
 * (params_name_valid) that does not end in a suffix of creds/ (".env",
 * ".uri", ".service", ".pgpass", ".d"), whose files would be taken for
 * another role's (credfmt_role_name_clashes). -EINVAL with err set.
 */
int role_name_valid(const char *name, struct parse_error *err) __attribute__((warn_unused_result));

/*
 * role_from_params - validate params (borrowed) and build a new role.
 * flags (params.h): without PARAMS_FINAL missing required keys are not
 * checked; with PARAMS_RESTORE transaction control in statements only
 * warns (and marks the role txn_control), and a name role_name_valid
 * refuses is kept (written before the rule). Returns 0 and *out (new, refs
 * 1), or -EINVAL with err set, or -ENOMEM.
 */
int role_from_params(const char *name, json_t *params, unsigned flags, struct role **out,
		     struct parse_error *err) __attribute__((warn_unused_result));

/*
 * role_creds_options - creds_owner, creds_group and creds_mode of p (the
 * file's owner, group, read bits); each *out is left alone when absent.
 * 0 or -EINVAL with err set.
 */
int role_creds_options(json_t *p, uid_t *uid, gid_t *gid, unsigned *mode, struct parse_error *err)
	__attribute__((warn_unused_result));

/* role_to_json - a new JSON object of the definition (TTLs in seconds). */
json_t *role_to_json(const struct role *r);

/* role_rate_str - "N/s", "N/m" or "N/h" of rate (n > 0) in buf (at least 32 bytes). */
void role_rate_str(const struct role_rate *rate, char *buf, size_t len);

/* role_max_ttl - the effective maximum lease lifetime, in seconds. */
int64_t role_max_ttl(const struct role *r);

/* role_ttl - the lease duration of a new lease, capped at role_max_ttl. */
int64_t role_ttl(const struct role *r);

struct role *role_ref(struct role *r);
/* role_unref - drop a reference; the last one frees (NULL-safe). */
void role_unref(struct role *r);

#endif
