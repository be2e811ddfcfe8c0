/* SPDX-License-Identifier: MIT */
/*
 * pwpool.h - passwords with their SCRAM verifiers, made ahead of time.
 *
 * A SCRAM verifier costs 4096 PBKDF2 iterations (scram.h). A pool thread
 * at low priority keeps a few password/verifier pairs ready, so that an
 * issue takes one instead of computing it while the reader waits; the
 * pool fills from idle CPU and, when the machine is busy, yields to
 * everything else, in which case issues compute their own as before.
 * Passwords stay in guarded memory (secret.h) the whole time; a pair is
 * handed out once and the pool forgets it.
 */
#ifndef CREDFS_PWPOOL_H
#define CREDFS_PWPOOL_H

#include <stddef.h>

struct secret;
struct pwpool;

/* pwpool_new - a pool of cap pairs of passwords of len characters; starts its thread. */
struct pwpool *pwpool_new(size_t cap, size_t len);

/*
 * pwpool_take - a ready pair if there is one for passwords of len
 * characters: 0 with *pw (secret_free it) and *verifier (malloc'd: wipe
 * and free it); -EAGAIN when none is ready (compute one yourself).
 */
int pwpool_take(struct pwpool *p, size_t len, struct secret **pw, char **verifier);

/* pwpool_ready - how many pairs are ready now (tests, logs). */
size_t pwpool_ready(struct pwpool *p);

/* pwpool_free - stop the thread, wipe and free every pair (NULL-safe). */
void pwpool_free(struct pwpool *p);

#endif
