/* SPDX-License-Identifier: MIT */
/*
 * journal_i.h - the journal's insides, shared by journal.c (records,
 * compaction) and journal_restore.c (replay, restore, --check-state).
 */
#ifndef CREDFS_JOURNAL_I_H
#define CREDFS_JOURNAL_I_H

#include <jansson.h>

#include "journal.h"

/* The positions in a lease record (an array). */
enum {
	LREC_T,
	LREC_ID,
	LREC_ROLE,
	LREC_V,
	LREC_USER,
	LREC_ISSUED,
	LREC_TTL,
	LREC_MAX,
	LREC_VALID,
	LREC_PID,
	LREC_START,
	LREC_UID,
	LREC_GID,
	LREC_COMM,
	LREC_EXE,
	LREC_CGROUP,
	LREC_N1, /* the fields of credfs before engine v2 */
	LREC_BOOT = LREC_N1,
	LREC_CONN_V,
	LREC_LET_GO,
	LREC_REVOKE,
	LREC_ATTEMPTS,
	LREC_N2, /* the fields before namespaces (an older array: upgraded with zeros) */
	LREC_NS_PID = LREC_N2,
	LREC_NS_MNT,
	LREC_NS_USER,
	LREC_N
};

/* What replay collects (every member a new JSON reference). */
struct jn_replay {
	json_t *confs; /* name -> conf record of the current version */
	json_t *confvs; /* "name\nv" -> conf record of a retired version */
	json_t *rotates; /* name -> pending root password */
	json_t *roles; /* name -> current version */
	json_t *versions; /* "name\nv" -> role doc */
	json_t *leases; /* id -> lease record (array of LREC_N) */
	json_t *statics; /* name -> {doc, at, password, last, pending} (journal_static.c) */
	json_t *roots; /* connection name -> last root rotation (wall ms) */
	uint64_t max_version;
};

int jn_replay_init(struct jn_replay *rs);
void jn_replay_free(struct jn_replay *rs);
/* jn_replay - store_replay_fn: one record into rs. */
void jn_replay(void *ctx, json_t *rec);
void jn_version_key(const char *name, uint64_t v, char *key, size_t n);

/*
 * jn_restore - rs into g and s at now (wall ms); the ids of the leases held
 * again are appended to held (the start record lets every other one go).
 */
int jn_restore(struct jn_replay *rs, struct registry *g, struct leasesvc *s, const char *boot,
	       int64_t now, json_t *held, char *errbuf);

/* jn_replay_extra - a static role or root rotation record into rs: false if t is none of them. */
bool jn_replay_extra(struct jn_replay *rs, const char *t, const char *name, json_t *rec);

/* Records (journal.c). */
json_t *jn_conf_rec(const char *t, const char *name, uint64_t v, const struct dbconf *c,
		    const struct secret *pending);
json_t *jn_role_rec(const char *t, const struct role *ro);
json_t *jn_lease_rec(struct lease *l, const char *boot, const struct lease_fate *f, int64_t off);

#endif
