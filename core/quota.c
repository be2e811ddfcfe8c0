/* SPDX-License-Identifier: MIT */
/*
 * quota.c - issue_rate token buckets (quota.h).
 *
 * Credit is kept in integer units where one issue costs per_ms units and
 * elapsed time adds n units per millisecond: exact, no floating point
 * (n <= ROLE_RATE_MAX and per_ms <= 1 h keep n * per_ms far from overflow).
 * The set is a small array searched linearly: only roles with an
 * issue_rate reach it, and full buckets are pruned as it grows.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "quota.h"

#define QUOTA_PRUNE_MIN 64 /* below this many buckets, none are pruned */

struct quota_bucket {
	char *role;
	uid_t uid;
	int64_t n, per_ms; /* the rate of the last take */
	int64_t credit; /* units; capacity n * per_ms */
	int64_t at_ms; /* credit as of */
};

struct quota {
	pthread_mutex_t mu;
	struct quota_bucket *b; /* protected by mu */
	size_t n, cap; /* protected by mu */
	size_t prune_at; /* protected by mu: prune when n reaches it */
};

struct quota *quota_new(void)
{
	struct quota *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	pthread_mutex_init(&q->mu, NULL);
	q->prune_at = QUOTA_PRUNE_MIN;
	return q;
}

void quota_free(struct quota *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->n; i++)
		free(q->b[i].role);
	free(q->b);
	pthread_mutex_destroy(&q->mu);
	free(q);
}

/* Bring b's credit up to now under its own rate. */
static void quota_refill(struct quota_bucket *b, int64_t now_ms)
{
	int64_t full = b->n * b->per_ms, dt = now_ms - b->at_ms;

	if (dt > 0) {
		/* past a full period the bucket is full whatever it held */
		b->credit = dt >= b->per_ms ? full : b->credit + dt * b->n;
		if (b->credit > full)
			b->credit = full;
		b->at_ms = now_ms;
	}
}

/* Drop buckets that are full at now: a fresh bucket would be the same. */
static void quota_prune_locked(struct quota *q, int64_t now_ms)
{
	size_t j = 0;

	for (size_t i = 0; i < q->n; i++) {
		quota_refill(&q->b[i], now_ms);
		if (q->b[i].credit >= q->b[i].n * q->b[i].per_ms)
			free(q->b[i].role);
		else
			q->b[j++] = q->b[i];
	}
	q->n = j;
	q->prune_at = q->n * 2 > QUOTA_PRUNE_MIN ? q->n * 2 : QUOTA_PRUNE_MIN;
}

static struct quota_bucket *quota_find_locked(struct quota *q, const char *role, uid_t uid,
					      int64_t now_ms, const struct role_rate *rate)
{
	struct quota_bucket *b;

	for (size_t i = 0; i < q->n; i++)
		if (q->b[i].uid == uid && !strcmp(q->b[i].role, role))
			return &q->b[i];
	if (q->n >= q->prune_at)
		quota_prune_locked(q, now_ms);
	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 16;
		struct quota_bucket *nb = realloc(q->b, cap * sizeof(*nb));

		if (!nb)
			return NULL;
		q->b = nb;
		q->cap = cap;
	}
	b = &q->b[q->n];
	if (!(b->role = strdup(role)))
		return NULL;
	b->uid = uid;
	b->n = rate->n;
	b->per_ms = rate->per_ms;
	b->credit = rate->n * rate->per_ms;
	b->at_ms = now_ms;
	q->n++;
	return b;
}

int quota_take(struct quota *q, const char *role, uid_t uid, int64_t now_ms,
	       const struct role_rate *rate)
{
	struct quota_bucket *b;
	int r = -EAGAIN;

	if (rate->n <= 0 || rate->per_ms <= 0)
		return 0;
	pthread_mutex_lock(&q->mu);
	if (!(b = quota_find_locked(q, role, uid, now_ms, rate))) {
		r = -ENOMEM;
		goto out;
	}
	quota_refill(b, now_ms);
	if (b->n != rate->n || b->per_ms != rate->per_ms) {
		/* the role was rewritten: keep the credit, in the new units */
		int64_t full = rate->n * rate->per_ms;

		b->credit = b->credit / b->per_ms * rate->per_ms;
		b->n = rate->n;
		b->per_ms = rate->per_ms;
		if (b->credit > full)
			b->credit = full;
	}
	if (b->credit >= b->per_ms) {
		b->credit -= b->per_ms;
		r = 0;
	}
out:
	pthread_mutex_unlock(&q->mu);
	return r;
}

size_t quota_count(struct quota *q)
{
	size_t n;

	pthread_mutex_lock(&q->mu);
	n = q->n;
	pthread_mutex_unlock(&q->mu);
	return n;
}
