/* SPDX-License-Identifier: MIT */
/*
 * fleet_seal.h - the pure parts of the fleet (fleet.h): sealing a
 * definition under the fleet key before it goes to the control store, and
 * when a survivor revokes a dead node's lease.
 *
 * A sealed definition is base64 (URL-safe, no padding) of a 24-byte nonce
 * followed by XChaCha20-Poly1305 (libsodium's IETF AEAD) of the JSON text,
 * with "credfs-fleet-v1", the kind and the name as associated data: the
 * control store's owner cannot read it, forge it or move it to another
 * name (it can replay an older sealed version of the same name: see
 * README "Several hosts").
 *
 * Thread-safety: pure functions.
 */
#ifndef CREDFS_FLEET_SEAL_H
#define CREDFS_FLEET_SEAL_H

#include <stdint.h>

#include <jansson.h>

#include "secret.h"

#define FLEET_KEY_LEN 32

/*
 * fleet_seal - doc (borrowed) sealed under key for kind/name: a new
 * malloc'd string, or NULL on ENOMEM. The plaintext lives only in a
 * secret, wiped before return.
 */
char *fleet_seal(const struct secret *key, const char *kind, const char *name, const json_t *doc);

/*
 * fleet_unseal - the document sealed in text for kind/name: a new JSON
 * reference, or NULL when it does not open (wrong key, another name,
 * altered) or on ENOMEM.
 */
json_t *fleet_unseal(const struct secret *key, const char *kind, const char *name,
		     const char *text);

/* What a survivor knows of a dead node's lease. */
struct fleet_due {
	const char *state; /* "held", "let-go", "revoking", "failed" */
	int64_t death_ms; /* wall ms: the owner's last heartbeat */
	int64_t let_go_ms; /* wall ms, 0 if never let go */
	int64_t ttl_ms;
	int revoke_requested; /* rm fleet/leases/ROLE/ID */
};

/*
 * fleet_due_ms - when the claimer revokes it (wall ms; 0: now). A held
 * lease counts as let go at its owner's death (its holder's open file
 * died with the owner); a let-go lease keeps its due time (let go + TTL);
 * a lease being revoked, failing, or asked to be revoked is due now.
 */
int64_t fleet_due_ms(const struct fleet_due *d);

#endif
