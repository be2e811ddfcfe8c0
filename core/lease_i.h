/* SPDX-License-Identifier: MIT */
/*
 * lease_i.h - the lease table's insides, shared by lease.c (the state
 * machine and deadline heap) and lease_list.c (counts, listings, JSON).
 */
#ifndef CREDFS_LEASE_I_H
#define CREDFS_LEASE_I_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "lease.h"

struct lease_table {
	pthread_mutex_t mu;
	struct lease **buckets; /* protected by mu */
	size_t nbuckets; /* protected by mu; a power of two */
	size_t count; /* protected by mu */
	struct lease **heap; /* protected by mu; min-heap on lease_key() */
	size_t heap_cap; /* protected by mu */
};

/* lease_renewable_locked - l is held and VALID UNTIL can still move; under the table's mu. */
bool lease_renewable_locked(const struct lease *l);

#endif
