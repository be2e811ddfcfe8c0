/* SPDX-License-Identifier: MIT */
/*
 * crash.h - test-only crash points. When the environment variable
 * CREDFS_CRASH_AT names a point (e.g. "issue-after-create"), the daemon
 * aborts there, so tests can check that a crash at that instant loses
 * nothing. Unset in production; checking costs one string compare.
 */
#ifndef CREDFS_CRASH_H
#define CREDFS_CRASH_H

/* crash_init - read CREDFS_CRASH_AT (call once at start). */
void crash_init(void);

/* crash_point - abort if name is the configured crash point. */
void crash_point(const char *name);

#endif
