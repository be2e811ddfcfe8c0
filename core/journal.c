/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crash.h"
#include "holder.h"
#include "journal.h"
#include "journal_i.h"
#include "log.h"
#include "store.h"
#include "timefmt.h"

struct journal {
	struct store *store;
	struct secret *key;
	struct registry *g; /* borrowed */
	struct leasesvc *s; /* borrowed */
	char boot_id[HOLDER_BOOT_ID_LEN];
	struct journal_extra x; /* set once, after opening */
	json_t *extra; /* replayed static and root rotation records, until taken */
};

/* --- records ----------------------------------------------------------------- */

static int jn_put(struct journal *j, json_t *rec, bool durable)
{
	int r;

	if (!rec)
		return -ENOMEM;
	r = store_append(j->store, rec, durable);
	json_decref(rec);
	return r;
}

json_t *jn_conf_rec(const char *t, const char *name, uint64_t v, const struct dbconf *c,
		    const struct secret *pending)
{
	json_t *doc = dbconf_to_json(c), *rec;

	if (doc && c->password)
		json_object_set_new(doc, "password", json_string(secret_str(c->password)));
	rec = json_pack("{s:s, s:s, s:I, s:o?}", "t", t, "name", name, "v", (json_int_t)v, "doc",
			doc);
	if (rec && pending)
		json_object_set_new(rec, "pending", json_string(secret_str(pending)));
	return rec;
}

json_t *jn_role_rec(const char *t, const struct role *ro)
{
	return json_pack("{s:s, s:s, s:I, s:o?}", "t", t, "name", ro->name, "v",
			 (json_int_t)ro->version, "doc", role_to_json(ro));
}

json_t *jn_lease_rec(struct lease *l, const char *boot, const struct lease_fate *f, int64_t off)
{
	const struct lease_holder *h = &l->holder;

	return json_pack("[s, s, s, I, s, I, I, I, I, i, I, i, i, s, s, s, s, I, I, I, i, I, I, I]",
			 "lease", l->id, l->role->name, (json_int_t)l->role->version, l->username,
			 (json_int_t)(l->issued + off), (json_int_t)l->ttl_ms,
			 (json_int_t)(l->max_expires + off), (json_int_t)(f->valid_until + off),
			 (int)h->pid, (json_int_t)h->start_time, (int)h->uid, (int)h->gid, h->comm,
			 h->exe ? h->exe : "", h->cgroup ? h->cgroup : "", boot,
			 (json_int_t)l->conn_version,
			 (json_int_t)(f->let_go_at ? f->let_go_at + off : 0),
			 (json_int_t)(f->revoke ? leasesvc_now() + off : 0), f->attempts,
			 (json_int_t)h->ns_pid, (json_int_t)h->ns_mnt, (json_int_t)h->ns_user);
}

static int jn_conn_put(void *ctx, const char *name, uint64_t v, const struct dbconf *c,
		       const struct secret *pending)
{
	return jn_put(ctx, jn_conf_rec("conf", name, v, c, pending), true);
}

static int jn_role_put(void *ctx, const struct role *ro)
{
	return jn_put(ctx, jn_role_rec("role", ro), true);
}

static int jn_deleted(void *ctx, enum registry_kind kind, const char *name)
{
	return jn_put(ctx,
		      json_pack("{s:s, s:s}", "t", kind == REGISTRY_CONN ? "conf-del" : "role-del",
				"name", name),
		      true);
}

static int jn_rotate_intent(void *ctx, const char *name, const struct secret *pw)
{
	return jn_put(ctx,
		      json_pack("{s:s, s:s, s:s}", "t", "rotate", "name", name, "password",
				secret_str(pw)),
		      true);
}

static int jn_lease_event(void *ctx, struct lease *l, enum leasesvc_rec what, int64_t at)
{
	struct journal *j = ctx;

	switch (what) {
	case LEASESVC_REC_LET_GO:
		return jn_put(j,
			      json_pack("{s:s, s:s, s:I}", "t", "letgo", "id", l->id, "at",
					(json_int_t)at),
			      true);
	case LEASESVC_REC_REVOKE:
		return jn_put(j,
			      json_pack("{s:s, s:s, s:I}", "t", "revoke", "id", l->id, "at",
					(json_int_t)at),
			      true);
	case LEASESVC_REC_RENEWED:
		return jn_put(j,
			      json_pack("{s:s, s:s, s:I}", "t", "renew", "id", l->id, "valid",
					(json_int_t)at),
			      true);
	case LEASESVC_REC_FAILED:
		return jn_put(
			j, json_pack("{s:s, s:s, s:i}", "t", "fail", "id", l->id, "n", l->attempts),
			false);
	case LEASESVC_REC_REVOKED:
		return jn_put(j, json_pack("{s:s, s:s}", "t", "gone", "id", l->id), false);
	}
	return 0;
}

int journal_put(struct journal *j, json_t *rec, bool durable)
{
	if (!j) {
		json_decref(rec);
		return 0;
	}
	return jn_put(j, rec, durable);
}

void journal_set_extra(struct journal *j, const struct journal_extra *x)
{
	if (j)
		j->x = *x;
}

json_t *journal_take_extra(struct journal *j)
{
	json_t *x = j ? j->extra : NULL;

	if (j)
		j->extra = NULL;
	return x;
}

int journal_lease(struct journal *j, struct lease *l)
{
	struct lease_fate f = { .valid_until = l->valid_until };

	if (!j)
		return 0;
	return jn_put(j, jn_lease_rec(l, j->boot_id, &f, leasesvc_wall_off()), true);
}

void journal_gone(struct journal *j, struct lease *l)
{
	if (j && jn_put(j, json_pack("{s:s, s:s}", "t", "gone", "id", l->id), false) != 0)
		log_warn("lease %s: revocation not recorded", l->id);
}

int64_t journal_sync_due(struct journal *j)
{
	return j ? store_sync_due(j->store, JOURNAL_SYNC_MS) : -1;
}

const struct secret *journal_key(struct journal *j)
{
	return j ? j->key : NULL;
}

/* --- compaction ----------------------------------------------------------------- */

struct jn_dump {
	struct journal *j;
	struct store *st;
	store_emit_fn *emit;
	json_t *seen; /* role versions and leases written */
	int64_t off;
	int r;
};

static void jn_emit(struct jn_dump *d, json_t *rec)
{
	if (!rec)
		d->r = -ENOMEM;
	else if (d->r == 0)
		d->r = d->emit(d->st, rec);
	json_decref(rec);
}

static void jn_dump_conn(void *ctx, const char *name, uint64_t v, bool current,
			 const struct dbconf *c, const struct secret *pending)
{
	struct jn_dump *d = ctx;

	jn_emit(d, jn_conf_rec(current ? "conf" : "confv", name, v, c, current ? pending : NULL));
}

static void jn_dump_role(void *ctx, const struct role *ro)
{
	struct jn_dump *d = ctx;
	char key[128];

	jn_version_key(ro->name, ro->version, key, sizeof(key));
	json_object_set_new(d->seen, key, json_true());
	jn_emit(d, jn_role_rec("role", ro));
}

static void jn_dump_lease(struct jn_dump *d, struct lease *l)
{
	struct lease_fate f;
	char key[128];

	/* A lease can be both in flight and in the table: written once. */
	snprintf(key, sizeof(key), "lease:%s", l->id);
	if (json_object_get(d->seen, key))
		return;
	json_object_set_new(d->seen, key, json_true());
	jn_version_key(l->role->name, l->role->version, key, sizeof(key));
	if (!json_object_get(d->seen, key)) {
		json_object_set_new(d->seen, key, json_true());
		jn_emit(d, jn_role_rec("rolev", l->role));
	}
	lease_table_fate(leasesvc_table(d->j->s), l, leasesvc_now(), &f);
	jn_emit(d, jn_lease_rec(l, d->j->boot_id, &f, d->off));
}

static int jn_emit_extra(void *ectx, json_t *rec)
{
	struct jn_dump *d = ectx;

	jn_emit(d, json_incref(rec));
	return d->r;
}

static int jn_dump_all(void *ctx, struct store *st, store_emit_fn *emit)
{
	struct jn_dump d = { .j = ctx, .st = st, .emit = emit, .seen = json_object() };
	struct lease **leases = NULL;
	size_t n = 0;

	d.off = leasesvc_wall_off();
	if (!d.seen)
		return -ENOMEM;
	/* Roles first: a lease whose version is current needs no "rolev". */
	registry_foreach(d.j->g, jn_dump_conn, jn_dump_role, &d);
	if (d.r == 0 && d.j->x.dump)
		d.r = d.j->x.dump(d.j->x.ctx, jn_emit_extra, &d) ?: d.r;
	if (d.r == 0 && (d.r = leasesvc_snapshot(d.j->s, &leases, &n)) != 0)
		n = 0;
	for (size_t i = 0; i < n; i++) {
		jn_dump_lease(&d, leases[i]);
		lease_unref(leases[i]);
	}
	free(leases);
	json_decref(d.seen);
	return d.r;
}

void journal_maybe_compact(struct journal *j)
{
	if (!j || !store_wants_compaction(j->store))
		return;
	/* No definition or lease change between its record and its effect meanwhile. */
	registry_hold(j->g, true);
	leasesvc_gate(j->s, true);
	if (j->x.hold)
		j->x.hold(j->x.ctx, true);
	if (store_compact(j->store, jn_dump_all, j) != 0)
		log_warn("compaction failed; the journal keeps growing");
	if (j->x.hold)
		j->x.hold(j->x.ctx, false);
	leasesvc_gate(j->s, false);
	registry_hold(j->g, false);
}

/* --- opening ------------------------------------------------------------------------ */

int journal_open(const char *dir, const char *key_file, struct registry *g, struct leasesvc *s,
		 struct journal **out, char *errbuf)
{
	struct journal *j = calloc(1, sizeof(*j));
	int64_t now = timefmt_now_ms();
	json_t *held = NULL;
	struct jn_replay rs;
	int r;

	if (!j || jn_replay_init(&rs) != 0) {
		free(j);
		snprintf(errbuf, JOURNAL_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	j->g = g;
	j->s = s;
	holder_boot_id("/proc", j->boot_id);
	if ((r = store_key_load(key_file, !store_exists(dir), &j->key, errbuf)) != 0 ||
	    (r = store_open(dir, j->key, jn_replay, &rs, &j->store, errbuf)) != 0)
		goto out;
	/* Restoring may write records (a let-go of an opener it cannot watch): observe first. */
	registry_set_observer(g, &(struct registry_observer){ .conn_put = jn_conn_put,
							      .role_put = jn_role_put,
							      .deleted = jn_deleted,
							      .rotate_intent = jn_rotate_intent,
							      .ctx = j });
	leasesvc_set_observer(s, &(struct leasesvc_observer){ .record = jn_lease_event, .ctx = j });
	if (!(held = json_array()) ||
	    (r = jn_restore(&rs, g, s, j->boot_id, now, held, errbuf)) != 0) {
		r = held ? r : -ENOMEM;
		goto out;
	}
	/*
	 * The start record lets go, as of now, every lease not held again (its
	 * open file died with the old daemon): a later restart keeps that
	 * let-go. Durable, with what restoring wrote, before anything is served.
	 */
	if ((r = jn_put(j,
			json_pack("{s:s, s:s, s:I, s:O}", "t", "start", "boot", j->boot_id, "at",
				  (json_int_t)now, "held", held),
			true)) != 0) {
		snprintf(errbuf, JOURNAL_ERRLEN, "cannot write the state in %s", dir);
		goto out;
	}
	j->extra = json_pack("{s:O, s:O}", "static", rs.statics, "root", rs.roots);
	*out = j;
	j = NULL; /* transferred */
out:
	json_decref(held);
	jn_replay_free(&rs);
	journal_close(j);
	return r;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	store_close(j->store);
	json_decref(j->extra);
	secret_free(j->key);
	free(j);
}

void journal_stats(struct journal *j, size_t *bytes, uint64_t *compactions, int64_t *compacted_at)
{
	*bytes = 0;
	*compactions = 0;
	*compacted_at = 0;
	if (j && j->store)
		store_stats(j->store, bytes, compactions, compacted_at);
}
