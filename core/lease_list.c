/* SPDX-License-Identifier: MIT */
/*
 * lease_list.c - views of the lease table (lease.h): counts, snapshots,
 * lease ids and role names, and a lease or its holder as JSON. Each takes
 * the table's lock only to copy what it shows.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "lease.h"
#include "lease_i.h"
#include "timefmt.h"

size_t lease_table_count(struct lease_table *t)
{
	size_t n;

	pthread_mutex_lock(&t->mu);
	n = t->count;
	pthread_mutex_unlock(&t->mu);
	return n;
}

size_t lease_table_count_db(struct lease_table *t, const char *db)
{
	size_t n = 0;

	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->count; i++)
		if (t->heap[i]->role->db_name && !strcmp(t->heap[i]->role->db_name, db))
			n++;
	pthread_mutex_unlock(&t->mu);
	return n;
}

size_t lease_table_count_conn(struct lease_table *t, const char *db, uint64_t version)
{
	size_t n = 0;

	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->count; i++)
		if (t->heap[i]->conn_version == version && t->heap[i]->role->db_name &&
		    !strcmp(t->heap[i]->role->db_name, db))
			n++;
	pthread_mutex_unlock(&t->mu);
	return n;
}

void lease_table_count_role(struct lease_table *t, const char *role, uid_t uid, size_t *all,
			    size_t *of_uid)
{
	size_t n = 0, u = 0;

	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->count; i++) {
		if (strcmp(t->heap[i]->role->name, role) != 0)
			continue;
		n++;
		u += t->heap[i]->holder.uid == uid;
	}
	pthread_mutex_unlock(&t->mu);
	*all = n;
	*of_uid = u;
}

int lease_table_snapshot(struct lease_table *t, struct lease ***out, size_t *n)
{
	struct lease **a;

	pthread_mutex_lock(&t->mu);
	if (!(a = calloc(t->count ? t->count : 1, sizeof(*a)))) {
		pthread_mutex_unlock(&t->mu);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->count; i++)
		a[i] = lease_ref(t->heap[i]);
	*n = t->count;
	pthread_mutex_unlock(&t->mu);
	*out = a;
	return 0;
}

json_t *lease_table_ids(struct lease_table *t, const char *role)
{
	json_t *a = json_array();

	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; a && i < t->count; i++)
		if (!role || !strcmp(t->heap[i]->role->name, role))
			json_array_append_new(a, json_string(t->heap[i]->id));
	pthread_mutex_unlock(&t->mu);
	return a;
}

json_t *lease_table_roles(struct lease_table *t)
{
	json_t *o = json_object(), *a = json_array();
	const char *k;
	json_t *v;

	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; o && i < t->count; i++)
		json_object_set_new(o, t->heap[i]->role->name, json_true());
	pthread_mutex_unlock(&t->mu);
	json_object_foreach(o, k, v) json_array_append_new(a, json_string(k));
	json_decref(o);
	return a;
}

/* A JSON string of s with anything but printable ASCII shown as '?'. */
static json_t *lease_json_text(const char *s)
{
	char buf[256];
	size_t i;

	if (!s)
		s = "";
	for (i = 0; s[i] && i < sizeof(buf) - 1; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return json_string(buf);
}

json_t *lease_holder_json(const struct lease_holder *h)
{
	struct cgroup_container c;
	json_t *j;

	j = json_pack("{s:i, s:i, s:i, s:o, s:o, s:o}", "pid", (int)h->pid, "uid", (int)h->uid,
		      "gid", (int)h->gid, "command", lease_json_text(h->comm), "executable",
		      lease_json_text(h->exe), "cgroup", lease_json_text(h->cgroup));
	/* Derived from the cgroup, so a restored lease shows it too, and no lease stores it. */
	if (j && cgroup_container(h->cgroup, &c))
		json_object_set_new(j, "container",
				    json_pack("{s:s, s:s, s:s?}", "id", c.id, "runtime", c.runtime,
					      "pod_uid", c.pod_uid[0] ? c.pod_uid : NULL));
	if (j && (h->ns_pid || h->ns_mnt || h->ns_user))
		json_object_set_new(j, "namespaces",
				    json_pack("{s:I, s:I, s:I}", "pid", (json_int_t)h->ns_pid,
					      "mnt", (json_int_t)h->ns_mnt, "user",
					      (json_int_t)h->ns_user));
	return j;
}

json_t *lease_table_to_json(struct lease_table *t, struct lease *l, int64_t wall_off, int64_t now)
{
	char issued[TIMEFMT_LEN], expires[TIMEFMT_LEN], maxe[TIMEFMT_LEN], lid[160];
	char let_go[TIMEFMT_LEN] = "", renewed[TIMEFMT_LEN] = "";
	int64_t left;
	json_t *j;

	snprintf(lid, sizeof(lid), "database/creds/%s/%s", l->role->name, l->id);
	pthread_mutex_lock(&t->mu);
	timefmt_rfc3339(l->issued + wall_off, issued);
	timefmt_rfc3339(l->expires + wall_off, expires);
	timefmt_rfc3339(l->max_expires + wall_off, maxe);
	if (l->let_go_at)
		timefmt_rfc3339(l->let_go_at + wall_off, let_go);
	/* issue sets last_renew to the issue time; a restore to VALID UNTIL - TTL */
	if (l->last_renew > l->issued)
		timefmt_rfc3339(l->last_renew + wall_off, renewed);
	left = l->expires > now ? (l->expires - now) / 1000 : 0;
	j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:s, s:s, s:o, s:i, s:s, "
		      "s:s, s:I, s:s, s:s, s:s*}",
		      "lease_id", lid, "id", lid, "role", l->role->name, "username", l->username,
		      "issued", issued, "expires", expires, "max_expires", maxe, "ttl",
		      (json_int_t)left, "lease_duration", (json_int_t)(l->ttl_ms / 1000),
		      "renewable", lease_renewable_locked(l), "state", lease_state_name(l->state),
		      "let_go_at", let_go, "holder", lease_holder_json(&l->holder), "attempts",
		      l->attempts, "last_error", l->last_error ? l->last_error : "", "connection",
		      l->role->db_name ? l->role->db_name : "", "connection_version",
		      (json_int_t)l->conn_version, "issue_time", issued, "expire_time", expires,
		      "last_renewal", renewed[0] ? renewed : NULL);
	pthread_mutex_unlock(&t->mu);
	if (j && !json_object_get(j, "last_renewal"))
		json_object_set_new(j, "last_renewal", json_null());
	return j;
}
