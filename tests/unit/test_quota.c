/* SPDX-License-Identifier: MIT */
/*
 * test_quota.c - issue_rate token buckets on a fake clock: a burst of N
 * passes and the next is refused, credit comes back over time, buckets are
 * separate per uid and per role, a rewritten rate, pruning.
 */
#include <errno.h>
#include <stdio.h>

#include "quota.h"
#include "test.h"

static const struct role_rate three_per_s = { 3, 1000 };

/* How many of tries takes at now pass. */
static int takes(struct quota *q, const char *role, uid_t uid, int64_t now,
		 const struct role_rate *rate, int tries)
{
	int ok = 0;

	for (int i = 0; i < tries; i++)
		ok += quota_take(q, role, uid, now, rate) == 0;
	return ok;
}

static void test_burst(void)
{
	struct quota *q = quota_new();

	CHECK_INT_EQ(takes(q, "r", 1000, 0, &three_per_s, 3), 3);
	CHECK_INT_EQ(quota_take(q, "r", 1000, 0, &three_per_s), -EAGAIN);
	CHECK_INT_EQ(quota_take(q, "r", 1000, 10, &three_per_s), -EAGAIN);
	quota_free(q);
}

static void test_refill(void)
{
	struct quota *q = quota_new();

	CHECK_INT_EQ(takes(q, "r", 1000, 5000, &three_per_s, 10), 3);
	/* one token every 333.3 ms */
	CHECK_INT_EQ(takes(q, "r", 1000, 5333, &three_per_s, 5), 0);
	CHECK_INT_EQ(takes(q, "r", 1000, 5334, &three_per_s, 5), 1);
	CHECK_INT_EQ(takes(q, "r", 1000, 5667, &three_per_s, 5), 1);
	/* a full period later the whole burst is back, no more */
	CHECK_INT_EQ(takes(q, "r", 1000, 9000, &three_per_s, 10), 3);
	/* a clock that goes back adds nothing */
	CHECK_INT_EQ(takes(q, "r", 1000, 8000, &three_per_s, 5), 0);
	quota_free(q);
}

static void test_per_uid_and_role(void)
{
	struct quota *q = quota_new();

	CHECK_INT_EQ(takes(q, "r", 1000, 0, &three_per_s, 5), 3);
	CHECK_INT_EQ(takes(q, "r", 65534, 0, &three_per_s, 5), 3);
	CHECK_INT_EQ(takes(q, "other", 1000, 0, &three_per_s, 5), 3);
	CHECK_INT_EQ(takes(q, "r", 0, 0, &three_per_s, 5), 3);
	CHECK_INT_EQ(quota_count(q), 4);
	quota_free(q);
}

static void test_units_and_unlimited(void)
{
	const struct role_rate per_m = { 2, 60 * 1000 }, per_h = { 1, 3600 * 1000 };
	const struct role_rate none = { 0, 0 };
	struct quota *q = quota_new();

	CHECK_INT_EQ(takes(q, "m", 1, 0, &per_m, 5), 2);
	CHECK_INT_EQ(takes(q, "m", 1, 29999, &per_m, 5), 0);
	CHECK_INT_EQ(takes(q, "m", 1, 30000, &per_m, 5), 1);
	CHECK_INT_EQ(takes(q, "h", 1, 0, &per_h, 5), 1);
	CHECK_INT_EQ(takes(q, "h", 1, 3599999, &per_h, 5), 0);
	CHECK_INT_EQ(takes(q, "h", 1, 3600000, &per_h, 5), 1);
	CHECK_INT_EQ(takes(q, "none", 1, 0, &none, 100), 100);
	CHECK_INT_EQ(quota_count(q), 2); /* unlimited keeps no bucket */
	quota_free(q);
}

/* A rewritten role's rate applies at once; the credit left carries over, capped. */
static void test_rate_change(void)
{
	const struct role_rate one = { 1, 1000 }, ten = { 10, 1000 };
	struct quota *q = quota_new();

	CHECK_INT_EQ(takes(q, "r", 1, 0, &three_per_s, 2), 2); /* 1 left */
	CHECK_INT_EQ(takes(q, "r", 1, 0, &ten, 5), 1);
	CHECK_INT_EQ(takes(q, "r", 1, 1000, &ten, 20), 10);
	CHECK_INT_EQ(takes(q, "r", 1, 5000, &one, 5), 1); /* capped at 1 */
	quota_free(q);
}

/* Full buckets are dropped as the set grows; busy ones stay. */
static void test_prune(void)
{
	struct quota *q = quota_new();

	for (uid_t u = 0; u < 64; u++)
		CHECK_INT_EQ(quota_take(q, "r", u, 0, &three_per_s), 0);
	CHECK_INT_EQ(quota_count(q), 64);
	/* a second later all 64 are full again: the 65th bucket prunes them */
	CHECK_INT_EQ(quota_take(q, "r", 1000, 1000, &three_per_s), 0);
	CHECK_INT_EQ(quota_count(q), 1);
	CHECK_INT_EQ(takes(q, "r", 1000, 1000, &three_per_s, 5), 2);
	/* a pruned uid starts full */
	CHECK_INT_EQ(takes(q, "r", 5, 1000, &three_per_s, 5), 3);
	quota_free(q);
	quota_free(NULL);
}

int main(void)
{
	RUN(test_burst);
	RUN(test_refill);
	RUN(test_per_uid_and_role);
	RUN(test_units_and_unlimited);
	RUN(test_rate_change);
	RUN(test_prune);
	return DONE();
}
