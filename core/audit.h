/* SPDX-License-Identifier: MIT */
/*
 * audit.h - the audit trail (--audit-log FILE): one JSON line per
 * definition change, issue, renewal, let-go, revocation (and every failed
 * attempt) and root rotation, written before the action is acknowledged.
 *
 * Never a secret: a password appears only as "password_hmac", an
 * HMAC-SHA-256 under a key derived from the state key, so that an
 * administrator can tell whether a leaked password was issued by credfs
 * (`credfs --audit-hash` computes it) without the log revealing any.
 *
 * Thread-safety: audit_event may be called from any thread; each line is
 * one write(2) to a file opened O_APPEND.
 */
#ifndef CREDFS_AUDIT_H
#define CREDFS_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lease.h"
#include "secret.h"

#define AUDIT_HMAC_HEX 65

struct audit;

/*
 * audit_open - append to path (created 0600). hmac_key (borrowed, 32
 * bytes) keys password HMACs; NULL makes a random key for this run only.
 * Returns 0 and *out, or -errno.
 */
int audit_open(const char *path, const struct secret *hmac_key, struct audit **out)
	__attribute__((warn_unused_result));

/* audit_close - NULL-safe. */
void audit_close(struct audit *a);

/*
 * audit_hmac - "hmac-sha256:<hex>" of pw under key (32 bytes) into out
 * (AUDIT_HMAC_HEX + 12 bytes).
 */
void audit_hmac(const struct secret *key, const char *pw, size_t len, char *out);

/* audit_key_derive - the audit HMAC key derived from the state key (new secret). */
struct secret *audit_key_derive(const struct secret *state_key);

struct audit_event {
	const char *action; /* "issue", "renew", "let-go", "revoke", "config-write", ... */
	const char *result; /* "ok" or "error" */
	const char *error; /* reason when failed, or NULL */
	const char *path; /* e.g. "roles/db-app", or NULL */
	const struct lease *lease; /* or NULL */
	const struct lease_holder *holder; /* who asked (or the lease's opener), or NULL */
	uid_t uid; /* who asked, when there is no holder */
	const struct secret *password; /* HMAC'd, never written; or NULL */
};

/*
 * audit_event - write one line (no-op when a is NULL). Returns 0 or -EIO:
 * a caller that must not act unaudited fails the action.
 */
int audit_event(struct audit *a, const struct audit_event *ev);

#endif
