/* SPDX-License-Identifier: MIT */
/*
 * crash.h - test-only crash points. In a test build (CMake option
 * CREDFS_TEST_HOOKS) the daemon aborts at the point named by the
 * environment variable CREDFS_CRASH_AT (e.g. "issue-after-create"), so
 * tests can check that a crash at that instant loses nothing. In any other
 * build both functions are empty and the environment is never read.
 */
#ifndef CREDFS_CRASH_H
#define CREDFS_CRASH_H

#ifdef CREDFS_TEST_HOOKS
/* crash_init - read CREDFS_CRASH_AT (call once at start). */
void crash_init(void);

/* crash_point - abort if name is the configured crash point. */
void crash_point(const char *name);
#else
static inline void crash_init(void)
{
}

static inline void crash_point(const char *name)
{
	(void)name;
}
#endif

#endif
