/* SPDX-License-Identifier: MIT */
/*
 * opts.c - the positional arguments: MOUNTPOINT, or SOURCE MOUNTPOINT.
 *
 * mount(8) runs mount.fuse3 for type fuse.credfs, which runs
 * `credfs SOURCE MOUNTPOINT -o OPTIONS` through /bin/sh (util/mount.fuse.c
 * in libfuse). credfs's own settings come in OPTIONS as state=,
 * key_file=, audit_log= (main's option table takes them out of -o); the
 * rest is FUSE's. SOURCE names nothing here (there is no device), so it is
 * only logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "svc.h"

struct opts_pos {
	char *arg[3];
	int n;
};

/* Take every non-option out of args (credfs's own options are gone already). */
static int opts_collect(void *data, const char *arg, int key, struct fuse_args *out)
{
	struct opts_pos *p = data;

	(void)out;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1; /* FUSE's: kept */
	if (p->n < 3 && !(p->arg[p->n] = strdup(arg)))
		return -1;
	p->n++;
	return 0;
}

int opts_positional(struct fuse_args *args)
{
	struct opts_pos p = { { NULL }, 0 };
	const char *mnt;
	int r = -1;

	if (fuse_opt_parse(args, &p, NULL, opts_collect) != 0)
		goto out;
	if (p.n == 0) {
		r = 0; /* fuse_parse_cmdline says what is missing */
		goto out;
	}
	if (p.n > 2) {
		fprintf(stderr, "credfs: too many arguments (usage: credfs [SOURCE] MOUNTPOINT)\n");
		goto out;
	}
	mnt = p.arg[p.n - 1];
	if (p.n == 2)
		log_debug("source %s (mount -t fuse.credfs): not used", p.arg[0]);
	if (stale_clear(mnt) != 0)
		goto out;
	if (fuse_opt_add_arg(args, mnt) != 0)
		goto out;
	r = 0;
out:
	for (int i = 0; i < 3; i++)
		free(p.arg[i]);
	return r;
}
