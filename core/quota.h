/* SPDX-License-Identifier: MIT */
/*
 * quota.h - issue_rate (role.h): one token bucket per (role name, opener
 * uid), of capacity N refilled at N per unit, so a burst of N passes and
 * then one issue per unit/N. Pure: the time is a parameter.
 *
 * A bucket is made full on first use. Buckets that are full again are
 * equivalent to absent ones and are dropped when the set grows, so memory
 * follows the (role, uid) pairs active within one refill period.
 *
 * Thread-safety: every function locks the set.
 */
#ifndef CREDFS_QUOTA_H
#define CREDFS_QUOTA_H

#include <stdint.h>
#include <sys/types.h>

#include "role.h"

struct quota;

/* quota_new - an empty set; NULL on ENOMEM. */
struct quota *quota_new(void);

/* quota_free - NULL-safe. */
void quota_free(struct quota *q);

/*
 * quota_take - take one issue from role's (borrowed) bucket for uid at
 * now_ms under rate (borrowed; n 0 = unlimited, always 0). A rate changed
 * since the last take (the role was rewritten) keeps the bucket's credit,
 * capped at the new capacity. Returns 0 (taken), -EAGAIN (empty: nothing
 * taken) or -ENOMEM.
 */
int quota_take(struct quota *q, const char *role, uid_t uid, int64_t now_ms,
	       const struct role_rate *rate) __attribute__((warn_unused_result));

/* quota_count - buckets kept (tests). */
size_t quota_count(struct quota *q);

#endif
