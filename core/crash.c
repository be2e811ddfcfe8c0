/* SPDX-License-Identifier: MIT */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crash.h"

#ifdef CREDFS_TEST_HOOKS

static const char *crash_at; /* set at start only */

void crash_init(void)
{
	crash_at = getenv("CREDFS_CRASH_AT");
	if (crash_at && !*crash_at)
		crash_at = NULL;
}

void crash_point(const char *name)
{
	if (crash_at && strcmp(crash_at, name) == 0) {
		static const char msg[] = "credfs: crash point reached\n";

		if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
			_exit(134);
		/* Like kill -9: no cleanup, no unmount, no flush. */
		raise(SIGKILL);
	}
}
#endif
