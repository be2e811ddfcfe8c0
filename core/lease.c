/* SPDX-License-Identifier: MIT */
/*
 * lease.c - the lease table's state machine (lease.h): leases, the
 * deadline heap, lifecycle transitions and jobs. Listing and JSON views of
 * the table are in lease_list.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease.h"
#include "lease_i.h"
#include "uname.h"

const char *lease_state_name(enum lease_state s)
{
	switch (s) {
	case LEASE_HELD:
		return "held";
	case LEASE_LET_GO:
		return "let go";
	case LEASE_REVOKING:
		return "revoking";
	case LEASE_FAILED:
		return "failed";
	case LEASE_REVOKED:
		return "revoked";
	}
	return "unknown";
}

struct lease *lease_new(struct role *role, const char *username, const struct lease_holder *holder,
			int64_t now)
{
	const char *exe = holder && holder->exe ? holder->exe : "";
	const char *cgroup = holder && holder->cgroup ? holder->cgroup : "";
	size_t ne = strlen(exe) + 1, nc = strlen(cgroup) + 1;
	struct lease *l = calloc(1, sizeof(*l) + ne + nc);

	if (!l)
		return NULL;
	uname_random(l->id, LEASE_ID_LEN);
	l->role = role_ref(role);
	snprintf(l->username, sizeof(l->username), "%s", username);
	if (holder)
		l->holder = *holder;
	memcpy(l->strings, exe, ne);
	memcpy(l->strings + ne, cgroup, nc);
	l->holder.exe = l->strings;
	l->holder.cgroup = l->strings + ne;
	l->refs = 1;
	l->state = LEASE_HELD;
	l->issued = now;
	l->ttl_ms = role_ttl(role) * 1000;
	l->max_expires = now + role_max_ttl(role) * 1000;
	l->expires = now + l->ttl_ms;
	l->valid_until = l->expires;
	l->last_renew = now;
	l->heap_idx = (size_t)-1;
	return l;
}

struct lease *lease_restore(struct role *role, const char *id, const char *username,
			    const struct lease_holder *holder, int64_t issued, int64_t ttl_ms,
			    int64_t max_expires, int64_t valid_until)
{
	struct lease *l = lease_new(role, username, holder, issued);

	if (!l)
		return NULL;
	snprintf(l->id, sizeof(l->id), "%s", id);
	l->ttl_ms = ttl_ms > 0 ? ttl_ms : l->ttl_ms;
	l->max_expires = max_expires;
	l->valid_until = valid_until;
	l->expires = valid_until;
	l->last_renew = valid_until - l->ttl_ms;
	return l;
}

struct lease *lease_ref(struct lease *l)
{
	__atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
	return l;
}

void lease_unref(struct lease *l)
{
	if (!l || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	role_unref(l->role);
	free(l->last_error);
	free(l);
}

/* --- deadlines --------------------------------------------------------- */

static int64_t lease_backoff(int attempts)
{
	int64_t d = LEASE_BACKOFF_MIN_MS;

	while (--attempts > 0 && d < LEASE_BACKOFF_MAX_MS)
		d *= 2;
	return d < LEASE_BACKOFF_MAX_MS ? d : LEASE_BACKOFF_MAX_MS;
}

bool lease_renewable_locked(const struct lease *l)
{
	return l->state == LEASE_HELD && l->valid_until < l->max_expires;
}

/* When this lease next needs a job; INT64_MAX for none. */
static int64_t lease_key(const struct lease *l)
{
	int64_t k;

	if (l->busy)
		return INT64_MAX;
	switch (l->state) {
	case LEASE_HELD:
		if (!lease_renewable_locked(l))
			return l->expires;
		k = l->retry_at ? l->retry_at : l->last_renew + l->ttl_ms * 2 / 3;
		return k < l->expires ? k : l->expires;
	case LEASE_LET_GO:
		if (!l->want_renew)
			return l->expires;
		/*
		 * VALID UNTIL must reach the lease's end before it passes: on the
		 * schedule a held lease would keep (2/3 into it), not at once, so
		 * that a restart's let-go of every lease is no storm of ALTER ROLE,
		 * and a lease revoked early never needs it.
		 */
		k = l->valid_until - l->ttl_ms / 3;
		return k > l->let_go_at ? k : l->let_go_at;
	case LEASE_FAILED:
		return l->retry_at;
	default:
		return INT64_MAX;
	}
}

static void heap_swap(struct lease **h, size_t a, size_t b)
{
	struct lease *x = h[a];

	h[a] = h[b];
	h[b] = x;
	h[a]->heap_idx = a;
	h[b]->heap_idx = b;
}

static void heap_fix(struct lease_table *t, size_t i)
{
	struct lease **h = t->heap;

	while (i > 0 && lease_key(h[i]) < lease_key(h[(i - 1) / 2])) {
		heap_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
	for (;;) {
		size_t c = 2 * i + 1, m = i;

		if (c < t->count && lease_key(h[c]) < lease_key(h[m]))
			m = c;
		if (c + 1 < t->count && lease_key(h[c + 1]) < lease_key(h[m]))
			m = c + 1;
		if (m == i)
			return;
		heap_swap(h, i, m);
		i = m;
	}
}

/* --- the table ----------------------------------------------------------- */

static size_t lease_hash(const char *id, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ULL;
	return h & (n - 1);
}

struct lease_table *lease_table_new(void)
{
	struct lease_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->nbuckets = 1024;
	if (!(t->buckets = calloc(t->nbuckets, sizeof(*t->buckets)))) {
		free(t);
		return NULL;
	}
	pthread_mutex_init(&t->mu, NULL);
	return t;
}

void lease_table_free(struct lease_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->count; i++)
		lease_unref(t->heap[i]);
	free(t->heap);
	free(t->buckets);
	pthread_mutex_destroy(&t->mu);
	free(t);
}

static int lease_table_grow_locked(struct lease_table *t)
{
	struct lease **nb, *l, *next;
	size_t n;

	if (t->count + 1 > t->heap_cap) {
		size_t cap = t->heap_cap ? t->heap_cap * 2 : 256;
		struct lease **h = realloc(t->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		t->heap = h;
		t->heap_cap = cap;
	}
	if (t->count < t->nbuckets)
		return 0;
	n = t->nbuckets * 2;
	if (!(nb = calloc(n, sizeof(*nb))))
		return 0; /* longer chains, still correct */
	for (size_t i = 0; i < t->nbuckets; i++) {
		for (l = t->buckets[i]; l; l = next) {
			size_t b = lease_hash(l->id, n);

			next = l->hnext;
			l->hnext = nb[b];
			nb[b] = l;
		}
	}
	free(t->buckets);
	t->buckets = nb;
	t->nbuckets = n;
	return 0;
}

int lease_table_add(struct lease_table *t, struct lease *l)
{
	size_t b;
	int r;

	pthread_mutex_lock(&t->mu);
	if ((r = lease_table_grow_locked(t)) == 0) {
		b = lease_hash(l->id, t->nbuckets);
		l->hnext = t->buckets[b];
		t->buckets[b] = lease_ref(l);
		l->heap_idx = t->count;
		t->heap[t->count++] = l;
		heap_fix(t, l->heap_idx);
	}
	pthread_mutex_unlock(&t->mu);
	return r;
}

static void lease_table_remove_locked(struct lease_table *t, struct lease *l)
{
	struct lease **pp = &t->buckets[lease_hash(l->id, t->nbuckets)];
	size_t i = l->heap_idx;

	while (*pp && *pp != l)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = l->hnext;
	if (i < t->count) {
		heap_swap(t->heap, i, t->count - 1);
		t->count--;
		if (i < t->count)
			heap_fix(t, i);
	}
	l->heap_idx = (size_t)-1;
	lease_unref(l); /* the table's reference */
}

static struct lease *lease_table_find_locked(struct lease_table *t, const char *id)
{
	struct lease *l = t->buckets[lease_hash(id, t->nbuckets)];

	while (l && strcmp(l->id, id) != 0)
		l = l->hnext;
	return l;
}

bool lease_table_drop(struct lease_table *t, struct lease *l)
{
	bool dropped = false;

	pthread_mutex_lock(&t->mu);
	if (lease_table_find_locked(t, l->id) == l && !l->busy) {
		l->state = LEASE_REVOKED;
		lease_table_remove_locked(t, l); /* the caller's reference keeps l alive */
		dropped = true;
	}
	pthread_mutex_unlock(&t->mu);
	return dropped;
}

struct lease *lease_table_get(struct lease_table *t, const char *id)
{
	struct lease *l;

	pthread_mutex_lock(&t->mu);
	l = lease_table_find_locked(t, id);
	if (l)
		lease_ref(l);
	pthread_mutex_unlock(&t->mu);
	return l;
}

static bool lease_let_go_locked(struct lease_table *t, struct lease *l, int64_t at)
{
	int64_t e;

	if (l->state != LEASE_HELD)
		return false;
	l->state = LEASE_LET_GO;
	l->let_go_at = at;
	l->retry_at = 0;
	l->attempts = 0; /* from now on it counts failed revocations */
	e = at + l->ttl_ms;
	l->expires = e < l->max_expires ? e : l->max_expires;
	/* PostgreSQL must not refuse the login before the lease ends (beyond a second). */
	l->want_renew = l->expires > l->valid_until + 1000;
	if (l->heap_idx < t->count)
		heap_fix(t, l->heap_idx);
	return true;
}

bool lease_table_let_go_at(struct lease_table *t, struct lease *l, int64_t at)
{
	bool let_go;

	pthread_mutex_lock(&t->mu);
	let_go = lease_let_go_locked(t, l, at);
	pthread_mutex_unlock(&t->mu);
	return let_go;
}

void lease_table_hold_restored(struct lease_table *t, struct lease *l, int64_t now)
{
	int64_t e;

	pthread_mutex_lock(&t->mu);
	if (l->state == LEASE_HELD && l->valid_until - l->ttl_ms / 3 <= now) {
		e = now + l->ttl_ms / 3;
		l->expires = e < l->max_expires ? e : l->max_expires;
		l->retry_at = now;
		if (l->heap_idx < t->count)
			heap_fix(t, l->heap_idx);
	}
	pthread_mutex_unlock(&t->mu);
}

void lease_table_set_attempts(struct lease_table *t, struct lease *l, int attempts)
{
	pthread_mutex_lock(&t->mu);
	l->attempts = attempts;
	pthread_mutex_unlock(&t->mu);
}

/* Without a known opener a process binding has nothing to watch. */
static bool lease_close_lets_go_locked(const struct lease *l)
{
	return l->state == LEASE_HELD &&
	       (l->role->binding == ROLE_BIND_HANDLE || l->holder.pid <= 0 || l->exited);
}

bool lease_table_close_lets_go(struct lease_table *t, struct lease *l)
{
	bool yes;

	pthread_mutex_lock(&t->mu);
	yes = lease_close_lets_go_locked(l);
	pthread_mutex_unlock(&t->mu);
	return yes;
}

bool lease_table_closed(struct lease_table *t, struct lease *l, int64_t now)
{
	bool let_go = false;

	pthread_mutex_lock(&t->mu);
	if (lease_close_lets_go_locked(l))
		let_go = lease_let_go_locked(t, l, now);
	l->closed = true;
	pthread_mutex_unlock(&t->mu);
	return let_go;
}

bool lease_table_exited(struct lease_table *t, struct lease *l, int64_t now)
{
	bool let_go;

	pthread_mutex_lock(&t->mu);
	l->exited = true;
	let_go = lease_let_go_locked(t, l, now);
	pthread_mutex_unlock(&t->mu);
	return let_go;
}

void lease_table_revoke_now(struct lease_table *t, struct lease *l, int64_t now)
{
	pthread_mutex_lock(&t->mu);
	if (l->state == LEASE_HELD || l->state == LEASE_LET_GO || l->state == LEASE_FAILED) {
		l->state = LEASE_LET_GO;
		if (!l->let_go_at)
			l->let_go_at = now;
		l->expires = now;
		l->want_renew = false;
		l->retry_at = 0;
		if (l->heap_idx < t->count)
			heap_fix(t, l->heap_idx);
	}
	pthread_mutex_unlock(&t->mu);
}

int64_t lease_table_next_deadline(struct lease_table *t)
{
	int64_t k;

	pthread_mutex_lock(&t->mu);
	k = t->count ? lease_key(t->heap[0]) : INT64_MAX;
	pthread_mutex_unlock(&t->mu);
	return k;
}

/* The job due for l at now (l is at the top of the heap and due). */
static void lease_job_for_locked(struct lease *l, int64_t now, struct lease_job *job)
{
	int64_t e;

	job->lease = lease_ref(l);
	job->expires = 0;
	if (l->state == LEASE_HELD && now < l->expires) {
		e = now + l->ttl_ms;
		job->action = LEASE_JOB_RENEW;
		job->expires = e < l->max_expires ? e : l->max_expires;
	} else if (l->state == LEASE_LET_GO && l->want_renew && now < l->expires) {
		job->action = LEASE_JOB_RENEW;
		job->expires = l->expires;
	} else {
		job->action = LEASE_JOB_REVOKE;
		l->state = LEASE_REVOKING;
	}
	l->busy = true;
}

size_t lease_table_due(struct lease_table *t, int64_t now, struct lease_job *jobs, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&t->mu);
	while (n < max && t->count && lease_key(t->heap[0]) <= now) {
		lease_job_for_locked(t->heap[0], now, &jobs[n++]);
		heap_fix(t, 0);
	}
	pthread_mutex_unlock(&t->mu);
	return n;
}

static void lease_renew_done_locked(struct lease *l, struct lease_job *job, int r, int64_t now)
{
	if (r == 0) {
		l->valid_until = job->expires;
		l->last_renew = now;
		l->attempts = 0;
		l->retry_at = 0;
		if (l->state == LEASE_HELD)
			l->expires = job->expires;
		else /* let go while this renewal ran: one more may be needed */
			l->want_renew = l->expires > l->valid_until + 1000;
		return;
	}
	if (l->state == LEASE_HELD) {
		l->attempts++;
		l->retry_at = now + lease_backoff(l->attempts);
	} else {
		/* Let go: attempts counts failed revocations only; it still comes at expires. */
		l->want_renew = false;
	}
}

void lease_table_job_done(struct lease_table *t, struct lease_job *job, int r, const char *errmsg,
			  int64_t now)
{
	struct lease *l = job->lease;
	bool drop = false;

	pthread_mutex_lock(&t->mu);
	l->busy = false;
	if (r != 0) {
		free(l->last_error);
		l->last_error = strdup(errmsg ? errmsg : strerror(-r)); /* NULL: no reason kept */
	}
	if (job->action == LEASE_JOB_RENEW) {
		lease_renew_done_locked(l, job, r, now);
	} else if (r == 0) {
		l->state = LEASE_REVOKED;
		drop = l->heap_idx < t->count;
	} else {
		l->state = LEASE_FAILED;
		l->attempts++;
		l->retry_at = now + lease_backoff(l->attempts);
	}
	if (drop)
		lease_table_remove_locked(t, l); /* the job's reference keeps l alive */
	else if (l->heap_idx < t->count)
		heap_fix(t, l->heap_idx);
	pthread_mutex_unlock(&t->mu);
	job->lease = NULL;
	lease_unref(l);
}

size_t lease_table_renew_held_now(struct lease_table *t, int64_t now)
{
	size_t n = 0;

	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->count; i++) {
		struct lease *l = t->heap[i];

		if (l->busy || !lease_renewable_locked(l))
			continue;
		l->retry_at = now;
		n++;
	}
	/* Every key may have moved: rebuild the heap. */
	for (size_t i = t->count / 2 + 1; i-- > 0;)
		if (i < t->count)
			heap_fix(t, i);
	pthread_mutex_unlock(&t->mu);
	return n;
}

bool lease_table_is_ending(struct lease_table *t, struct lease *l)
{
	bool ending;

	pthread_mutex_lock(&t->mu);
	ending = l->state != LEASE_HELD || l->valid_until >= l->max_expires;
	pthread_mutex_unlock(&t->mu);
	return ending;
}

void lease_table_fate(struct lease_table *t, struct lease *l, int64_t now, struct lease_fate *f)
{
	pthread_mutex_lock(&t->mu);
	f->valid_until = l->valid_until;
	f->let_go_at = l->state == LEASE_HELD ? 0 : l->let_go_at;
	f->revoke = l->state == LEASE_REVOKING || l->state == LEASE_FAILED ||
		    ((l->state == LEASE_LET_GO || l->state == LEASE_HELD) && l->expires <= now);
	f->attempts = l->attempts;
	pthread_mutex_unlock(&t->mu);
}

bool lease_table_is_held(struct lease_table *t, struct lease *l)
{
	bool held;

	pthread_mutex_lock(&t->mu);
	held = l->state == LEASE_HELD;
	pthread_mutex_unlock(&t->mu);
	return held;
}

bool lease_table_note_let_go(struct lease_table *t, struct lease *l, bool exited)
{
	bool yes;

	pthread_mutex_lock(&t->mu);
	yes = !l->let_go_noted && (exited ? l->state == LEASE_HELD : lease_close_lets_go_locked(l));
	if (yes)
		l->let_go_noted = true;
	pthread_mutex_unlock(&t->mu);
	return yes;
}

void *lease_table_swap_poll(struct lease_table *t, struct lease *l, void *poll)
{
	void *old;

	pthread_mutex_lock(&t->mu);
	old = l->poll;
	l->poll = poll;
	pthread_mutex_unlock(&t->mu);
	return old;
}

void lease_table_retry_db(struct lease_table *t, const char *db, int64_t now)
{
	pthread_mutex_lock(&t->mu);
	for (size_t i = 0; i < t->count; i++) {
		struct lease *l = t->heap[i];

		if (l->busy || !l->role->db_name || strcmp(l->role->db_name, db) != 0)
			continue;
		if ((l->state == LEASE_FAILED || (l->state == LEASE_HELD && l->retry_at)) &&
		    l->retry_at > now) {
			l->retry_at = now;
			heap_fix(t, i);
		}
	}
	pthread_mutex_unlock(&t->mu);
}
