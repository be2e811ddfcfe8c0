/* SPDX-License-Identifier: MIT */
/*
 * journal_restore.c - replaying the journal, and what a start makes of it:
 * the definitions and every lease with the deadline it had (journal.h),
 * or, for --check-state, a report of that without touching anything.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "holder.h"
#include "journal_i.h"
#include "log.h"
#include "params.h"
#include "store.h"
#include "timefmt.h"

void jn_version_key(const char *name, uint64_t v, char *key, size_t n)
{
	snprintf(key, n, "%s\n%llu", name, (unsigned long long)v);
}

int jn_replay_init(struct jn_replay *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->confs = json_object();
	rs->confvs = json_object();
	rs->rotates = json_object();
	rs->roles = json_object();
	rs->versions = json_object();
	rs->leases = json_object();
	rs->statics = json_object();
	rs->roots = json_object();
	if (!rs->statics || !rs->roots || !rs->confs || !rs->confvs || !rs->rotates || !rs->roles ||
	    !rs->versions || !rs->leases) {
		jn_replay_free(rs);
		return -ENOMEM;
	}
	return 0;
}

void jn_replay_free(struct jn_replay *rs)
{
	json_decref(rs->confs);
	json_decref(rs->confvs);
	json_decref(rs->rotates);
	json_decref(rs->roles);
	json_decref(rs->versions);
	json_decref(rs->leases);
	json_decref(rs->statics);
	json_decref(rs->roots);
	memset(rs, 0, sizeof(*rs));
}

/* A lease record as an array of LREC_N: older arrays and objects are upgraded. */
static json_t *jn_lease_upgrade(json_t *rec)
{
	static const char *const keys[] = { NULL,     "id",  "role", "v",    "user",
					    "issued", "ttl", "max",  "valid" };
	static const char *const hkeys[] = { "pid", "start", "uid", "gid", "comm", "exe", "cgroup" };
	json_t *a;

	/* Longer arrays (a later credfs) keep what this one knows. */
	if (json_is_array(rec) && json_array_size(rec) >= LREC_N)
		return json_incref(rec);
	if (json_is_array(rec) && json_array_size(rec) == LREC_N2) {
		/* Before namespaces: unknown (0). */
		if (!(a = json_copy(rec)))
			return NULL;
		for (size_t i = LREC_N2; i < LREC_N; i++)
			json_array_append_new(a, json_integer(0));
		return a;
	}
	if (!(a = json_array()))
		return NULL;
	json_array_append_new(a, json_string("lease"));
	for (size_t i = 1; i < LREC_N1; i++) {
		json_t *v = json_is_array(rec) ? json_array_get(rec, i)
			    : i < LREC_PID     ? json_object_get(rec, keys[i])
					       : json_object_get(json_object_get(rec, "holder"),
								 hkeys[i - LREC_PID]);
		json_array_append(a, v ? v : json_null());
	}
	json_array_append_new(a, json_string("")); /* boot: unknown */
	for (size_t i = LREC_CONN_V; i < LREC_N; i++)
		json_array_append_new(a, json_integer(0));
	return a;
}

static int64_t jn_int(json_t *rec, size_t pos)
{
	return json_integer_value(json_array_get(rec, pos));
}

static const char *jn_str(json_t *rec, size_t pos)
{
	const char *s = json_string_value(json_array_get(rec, pos));

	return s ? s : "";
}

static void jn_replay_conf(struct jn_replay *rs, const char *name, json_t *rec)
{
	json_t *cur = json_object_get(rs->confs, name), *pending = json_object_get(rec, "pending");
	uint64_t v = json_integer_value(json_object_get(rec, "v")) ?: 1;
	char key[300];

	if (cur) {
		uint64_t cv = json_integer_value(json_object_get(cur, "v")) ?: 1;

		/* Another server: the old version is kept while leases need it. */
		jn_version_key(name, cv, key, sizeof(key));
		if (cv != v)
			json_object_set(rs->confvs, key, cur);
	}
	json_object_set(rs->confs, name, rec);
	if (pending)
		json_object_set(rs->rotates, name, pending);
	else
		json_object_del(rs->rotates, name);
}

static void jn_replay_conf_del(struct jn_replay *rs, const char *name)
{
	size_t n = strlen(name);
	const char *k;
	json_t *v;
	void *tmp;

	json_object_del(rs->confs, name);
	json_object_del(rs->rotates, name);
	json_object_foreach_safe(rs->confvs, tmp, k, v)
	{
		if (!strncmp(k, name, n) && k[n] == '\n')
			json_object_del(rs->confvs, k);
	}
}

/* An event of lease id: renew, letgo, revoke, fail, gone. */
static void jn_replay_lease_event(struct jn_replay *rs, const char *t, const char *id, json_t *rec)
{
	json_t *l = json_object_get(rs->leases, id);
	int64_t v;

	if (!l)
		return;
	if (!strcmp(t, "gone")) {
		json_object_del(rs->leases, id);
	} else if (!strcmp(t, "renew")) {
		/* Only ever later: what PostgreSQL holds is at least this. */
		v = json_integer_value(json_object_get(rec, "valid"));
		if (v > jn_int(l, LREC_VALID))
			json_array_set_new(l, LREC_VALID, json_integer(v));
	} else if (!strcmp(t, "letgo")) {
		if (!jn_int(l, LREC_LET_GO))
			json_array_set(l, LREC_LET_GO, json_object_get(rec, "at"));
	} else if (!strcmp(t, "revoke")) {
		if (!jn_int(l, LREC_REVOKE))
			json_array_set(l, LREC_REVOKE, json_object_get(rec, "at"));
	} else if (!strcmp(t, "fail")) {
		json_array_set(l, LREC_ATTEMPTS, json_object_get(rec, "n"));
	}
}

/*
 * A start: every lease it did not hold again (its open file had died with
 * the daemon before) was let go at that start, unless already let go or
 * asked to be revoked. One record instead of one per lease: a restart with
 * 100,000 leases writes one.
 */
static void jn_replay_start(struct jn_replay *rs, json_t *rec)
{
	json_t *held = json_object_get(rec, "held"), *at = json_object_get(rec, "at"), *set, *l, *v;
	const char *id;
	size_t i;

	if (!json_is_array(held) || !json_integer_value(at) || !(set = json_object()))
		return;
	json_array_foreach(held, i, v) if (json_is_string(v))
		json_object_set(set, json_string_value(v), json_true());
	json_object_foreach(rs->leases, id, l)
	{
		if (!jn_int(l, LREC_LET_GO) && !jn_int(l, LREC_REVOKE) && !json_object_get(set, id))
			json_array_set(l, LREC_LET_GO, at);
	}
	json_decref(set);
}

void jn_replay(void *ctx, json_t *rec)
{
	struct jn_replay *rs = ctx;
	const char *t = NULL, *name, *id;
	char key[300];

	if (json_is_array(rec) ||
	    ((t = json_string_value(json_object_get(rec, "t"))) && !strcmp(t, "lease"))) {
		json_t *a = jn_lease_upgrade(rec);

		if (a && *jn_str(a, LREC_ID))
			json_object_set(rs->leases, jn_str(a, LREC_ID), a);
		json_decref(a);
		return;
	}
	name = json_string_value(json_object_get(rec, "name"));
	id = json_string_value(json_object_get(rec, "id"));
	if (!t)
		return;
	if (id) {
		jn_replay_lease_event(rs, t, id, rec);
	} else if (!strcmp(t, "start")) {
		jn_replay_start(rs, rec);
	} else if (!name || jn_replay_extra(rs, t, name, rec)) {
		return; /* anything newer, or static roles */
	} else if (!strcmp(t, "conf")) {
		jn_replay_conf(rs, name, rec);
	} else if (!strcmp(t, "confv")) {
		jn_version_key(name, json_integer_value(json_object_get(rec, "v")), key,
			       sizeof(key));
		json_object_set(rs->confvs, key, rec);
	} else if (!strcmp(t, "conf-del")) {
		jn_replay_conf_del(rs, name);
	} else if (!strcmp(t, "role") || !strcmp(t, "rolev")) {
		uint64_t v = json_integer_value(json_object_get(rec, "v"));

		jn_version_key(name, v, key, sizeof(key));
		json_object_set(rs->versions, key, json_object_get(rec, "doc"));
		if (!strcmp(t, "role"))
			json_object_set_new(rs->roles, name, json_integer(v));
		if (v > rs->max_version)
			rs->max_version = v;
	} else if (!strcmp(t, "role-del")) {
		json_object_del(rs->roles, name);
	} else if (!strcmp(t, "rotate")) {
		json_object_set(rs->rotates, name, json_object_get(rec, "password"));
	} else if (!strcmp(t, "rotate-abort")) {
		json_object_del(rs->rotates, name);
	}
}

/* --- what a start makes of a lease ---------------------------------------------- */

enum jn_fate {
	JN_HELD,
	JN_LET_GO, /* at *at (wall ms) */
	JN_LET_GO_NOW, /* its open file died with the old daemon: let go now (the start record) */
	JN_REVOKE,
};

static const char *const jn_fate_names[] = { "held", "let go", "let go", "revoke now" };

static enum jn_fate jn_plan(json_t *rec, bool process_bound, const char *boot, int64_t now,
			    int64_t *at)
{
	const char *rboot = jn_str(rec, LREC_BOOT);
	pid_t pid = (pid_t)jn_int(rec, LREC_PID);

	*at = now;
	if (jn_int(rec, LREC_REVOKE) || now >= jn_int(rec, LREC_MAX))
		return JN_REVOKE;
	if (jn_int(rec, LREC_LET_GO)) {
		*at = jn_int(rec, LREC_LET_GO);
		/* Due at min(let-go + TTL, max_ttl): past it, revoked at once. */
		return now >= *at + jn_int(rec, LREC_TTL) ? JN_REVOKE : JN_LET_GO;
	}
	/* A pid and a start time name one process within one boot. */
	if (process_bound && pid > 0 && (!*rboot || !strcmp(rboot, boot)) &&
	    holder_start_time("/proc", pid) == (uint64_t)jn_int(rec, LREC_START))
		return JN_HELD;
	return now >= jn_int(rec, LREC_VALID) ? JN_REVOKE : JN_LET_GO_NOW;
}

/* A role object for version v of name, shared by every lease that uses it. */
static struct role *jn_role(struct jn_replay *rs, json_t *cache, const char *name, uint64_t v,
			    char *errbuf)
{
	struct parse_error pe = { 0 };
	struct role *ro = NULL;
	char key[300];
	json_t *doc, *hit;

	jn_version_key(name, v, key, sizeof(key));
	if ((hit = json_object_get(cache, key)))
		return role_ref((struct role *)(uintptr_t)json_integer_value(hit));
	if (!(doc = json_object_get(rs->versions, key)) ||
	    role_from_params(name, doc, PARAMS_FINAL | PARAMS_RESTORE, &ro, &pe) != 0) {
		snprintf(errbuf, JOURNAL_ERRLEN, "role %s version %llu cannot be restored: %s",
			 name, (unsigned long long)v, doc ? pe.text : "missing");
		return NULL;
	}
	ro->version = v;
	json_object_set_new(cache, key, json_integer((json_int_t)(uintptr_t)role_ref(ro)));
	return ro;
}

static void jn_role_cache_free(json_t *cache)
{
	const char *k;
	json_t *v;

	json_object_foreach(cache, k, v)
		role_unref((struct role *)(uintptr_t)json_integer_value(v));
	json_decref(cache);
}

static int jn_conf(const char *name, json_t *rec, struct dbconf **c, char *errbuf)
{
	struct parse_error pe = { 0 };

	if (dbconf_from_params(name, json_object_get(rec, "doc"), PARAMS_FINAL | PARAMS_RESTORE, c,
			       &pe) != 0) {
		snprintf(errbuf, JOURNAL_ERRLEN, "connection %s cannot be restored: %s", name,
			 pe.text);
		return -EINVAL;
	}
	return 0;
}

/* --- restoring ----------------------------------------------------------------------- */

static int jn_restore_conns(struct jn_replay *rs, struct registry *g, char *errbuf)
{
	const char *name;
	json_t *rec;
	int r = 0;

	json_object_foreach(rs->confs, name, rec)
	{
		json_t *pw = json_object_get(rs->rotates, name);
		struct dbconf *c = NULL;

		if ((r = jn_conf(name, rec, &c, errbuf)) != 0 ||
		    (r = registry_restore_conn(
			     g, name, json_integer_value(json_object_get(rec, "v")) ?: 1, true, c,
			     pw ? secret_new(json_string_value(pw), json_string_length(pw))
				: NULL)) != 0)
			return r;
	}
	json_object_foreach(rs->confvs, name, rec)
	{
		const char *cname = json_string_value(json_object_get(rec, "name"));
		struct dbconf *c = NULL;

		if (!cname || (r = jn_conf(cname, rec, &c, errbuf)) != 0 ||
		    (r = registry_restore_conn(g, cname,
					       json_integer_value(json_object_get(rec, "v")) ?: 1,
					       false, c, NULL)) != 0)
			return r ? r : -EINVAL;
	}
	return 0;
}

static int jn_restore_lease(struct jn_replay *rs, json_t *cache, struct registry *g,
			    struct leasesvc *s, const char *boot, int64_t now, json_t *held,
			    json_t *rec, char *errbuf)
{
	static const enum leasesvc_restore how[] = { LEASESVC_RESTORE_HELD, LEASESVC_RESTORE_LET_GO,
						     LEASESVC_RESTORE_LET_GO,
						     LEASESVC_RESTORE_REVOKE };
	int64_t off = leasesvc_wall_off(), at;
	struct holder_buf h;
	struct lease *l;
	struct role *ro;
	enum jn_fate fate;
	int r;

	if (!(ro = jn_role(rs, cache, jn_str(rec, LREC_ROLE), jn_int(rec, LREC_V), errbuf)))
		return -EINVAL;
	memset(&h, 0, sizeof(h));
	h.h.exe = h.exe;
	h.h.cgroup = h.cgroup;
	h.h.pid = (pid_t)jn_int(rec, LREC_PID);
	h.h.start_time = jn_int(rec, LREC_START);
	h.h.uid = (uid_t)jn_int(rec, LREC_UID);
	h.h.gid = (gid_t)jn_int(rec, LREC_GID);
	h.h.ns_pid = jn_int(rec, LREC_NS_PID);
	h.h.ns_mnt = jn_int(rec, LREC_NS_MNT);
	h.h.ns_user = jn_int(rec, LREC_NS_USER);
	snprintf(h.h.comm, sizeof(h.h.comm), "%s", jn_str(rec, LREC_COMM));
	snprintf(h.exe, sizeof(h.exe), "%s", jn_str(rec, LREC_EXE));
	snprintf(h.cgroup, sizeof(h.cgroup), "%s", jn_str(rec, LREC_CGROUP));
	fate = jn_plan(rec, ro->binding == ROLE_BIND_PROCESS, boot, now, &at);
	/* Times on the service's clock: monotonic = wall - off. */
	l = lease_restore(ro, jn_str(rec, LREC_ID), jn_str(rec, LREC_USER), &h.h,
			  jn_int(rec, LREC_ISSUED) - off, jn_int(rec, LREC_TTL),
			  jn_int(rec, LREC_MAX) - off, jn_int(rec, LREC_VALID) - off);
	role_unref(ro);
	if (!l) {
		snprintf(errbuf, JOURNAL_ERRLEN, "out of memory");
		return -ENOMEM;
	}
	l->conn_version = jn_int(rec, LREC_CONN_V);
	if (!l->conn_version) /* recorded before versions: the current one */
		conn_pool_unref(registry_pool(g, l->role->db_name, 0, &l->conn_version));
	/* The others are let go now by the start record (jn_replay_start). */
	if (fate == JN_HELD)
		json_array_append_new(held, json_string(l->id));
	if ((r = leasesvc_restore(s, l, how[fate], at - off)) == 0) {
		lease_table_set_attempts(leasesvc_table(s), l, (int)jn_int(rec, LREC_ATTEMPTS));
		if (fate == JN_HELD)
			log_info("lease %s: opener %d still runs, held again", l->id, (int)h.h.pid);
	} else {
		snprintf(errbuf, JOURNAL_ERRLEN, "out of memory");
	}
	lease_unref(l);
	return r;
}

int jn_restore(struct jn_replay *rs, struct registry *g, struct leasesvc *s, const char *boot,
	       int64_t now, json_t *held, char *errbuf)
{
	json_t *cache = json_object(), *rec, *v;
	const char *name, *id;
	size_t n = 0;
	int r;

	if (!cache)
		return -ENOMEM;
	if ((r = jn_restore_conns(rs, g, errbuf)) != 0)
		goto out;
	json_object_foreach(rs->roles, name, v)
	{
		struct role *ro = jn_role(rs, cache, name, json_integer_value(v), errbuf);

		if (!ro || (r = registry_restore_role(g, ro)) != 0) {
			r = ro ? r : -EINVAL;
			goto out;
		}
	}
	json_object_foreach(rs->leases, id, rec)
	{
		if ((r = jn_restore_lease(rs, cache, g, s, boot, now, held, rec, errbuf)) != 0)
			goto out;
		n++;
	}
	registry_restore_done(g, rs->max_version);
	log_info("state: %zu connection(s), %zu role(s), %zu lease(s) restored",
		 json_object_size(rs->confs), json_object_size(rs->roles), n);
out:
	jn_role_cache_free(cache);
	return r;
}

/* --- --check-state --------------------------------------------------------------------- */

static json_t *jn_check_lease(struct jn_replay *rs, json_t *cache, const char *boot, json_t *rec,
			      char *errbuf)
{
	char due[TIMEFMT_LEN];
	struct role *ro = jn_role(rs, cache, jn_str(rec, LREC_ROLE), jn_int(rec, LREC_V), errbuf);
	int64_t now = timefmt_now_ms(), at, end;
	enum jn_fate fate;
	json_t *j;

	if (!ro)
		return NULL;
	fate = jn_plan(rec, ro->binding == ROLE_BIND_PROCESS, boot, now, &at);
	role_unref(ro);
	/* When it is (or became) due: let go + TTL, VALID UNTIL, max_ttl, or the request. */
	end = (jn_int(rec, LREC_LET_GO) ? jn_int(rec, LREC_LET_GO) : at) + jn_int(rec, LREC_TTL);
	if (fate == JN_HELD || (fate == JN_REVOKE && !jn_int(rec, LREC_LET_GO)))
		end = jn_int(rec, LREC_VALID);
	end = end < jn_int(rec, LREC_MAX) ? end : jn_int(rec, LREC_MAX);
	if (fate == JN_REVOKE && jn_int(rec, LREC_REVOKE))
		end = jn_int(rec, LREC_REVOKE);
	timefmt_rfc3339(end, due);
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", jn_str(rec, LREC_ID), "role",
		      jn_str(rec, LREC_ROLE), "username", jn_str(rec, LREC_USER), "state",
		      jn_int(rec, LREC_REVOKE)	 ? "revoking"
		      : jn_int(rec, LREC_LET_GO) ? "let go"
						 : "held",
		      "on_start", jn_fate_names[fate], "due", due);
	if (!j)
		snprintf(errbuf, JOURNAL_ERRLEN, "out of memory");
	return j;
}

static json_t *jn_check_report(struct jn_replay *rs, const char *dir,
			       const struct store_report *rep, char *errbuf)
{
	char boot[HOLDER_BOOT_ID_LEN];
	json_t *o, *conns = json_array(), *roles = json_array(), *leases = json_array();
	json_t *cache = json_object(), *rec, *v;
	const char *name;

	holder_boot_id("/proc", boot);
	o = json_pack("{s:s, s:I, s:I, s:I, s:o, s:o, s:o}", "state", dir, "records",
		      (json_int_t)rep->records, "bytes", (json_int_t)rep->bytes, "dropped_bytes",
		      (json_int_t)rep->dropped_bytes, "connections", conns, "roles", roles,
		      "leases", leases);
	if (!o || !cache)
		goto fail;
	json_object_foreach(rs->confs, name, rec)
	{
		struct dbconf *c = NULL;

		if (jn_conf(name, rec, &c, errbuf) != 0)
			goto fail;
		dbconf_unref(c);
		json_array_append_new(conns,
				      json_pack("{s:s, s:I, s:b, s:b}", "name", name, "version",
						json_integer_value(json_object_get(rec, "v")) ?: 1,
						"current", 1, "pending_rotation",
						json_object_get(rs->rotates, name) != NULL));
	}
	json_object_foreach(rs->confvs, name, rec) json_array_append_new(
		conns,
		json_pack("{s:O, s:O, s:b, s:b}", "name", json_object_get(rec, "name"), "version",
			  json_object_get(rec, "v"), "current", 0, "pending_rotation", 0));
	json_object_foreach(rs->roles, name, v)
	{
		struct role *ro = jn_role(rs, cache, name, json_integer_value(v), errbuf);

		if (!ro)
			goto fail;
		role_unref(ro);
		json_array_append_new(roles, json_string(name));
	}
	json_object_foreach(rs->leases, name, rec)
	{
		json_t *lj = jn_check_lease(rs, cache, boot, rec, errbuf);

		if (!lj)
			goto fail;
		json_array_append_new(leases, lj);
	}
	jn_role_cache_free(cache);
	return o;
fail:
	jn_role_cache_free(cache);
	json_decref(o);
	return NULL;
}

int journal_check(const char *dir, const char *key_file, FILE *out, char *errbuf)
{
	struct store_report rep = { 0 };
	struct secret *key = NULL;
	struct jn_replay rs;
	json_t *report = NULL;
	int r;

	if ((r = jn_replay_init(&rs)) != 0)
		return r;
	if ((r = store_key_load(key_file, false, &key, errbuf)) != 0 ||
	    (r = store_check(dir, key, jn_replay, &rs, &rep, errbuf)) != 0)
		goto out;
	if (!(report = jn_check_report(&rs, dir, &rep, errbuf))) {
		r = -EINVAL;
		goto out;
	}
	json_dumpf(report, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', out);
out:
	json_decref(report);
	jn_replay_free(&rs);
	secret_free(key);
	return r;
}
