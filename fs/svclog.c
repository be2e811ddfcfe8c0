/* SPDX-License-Identifier: MIT */
/*
 * svclog.c - syslog for a daemonized credfs: fuse_daemonize() points
 * stderr at /dev/null, so without this every later message would be lost.
 */
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

#include <fuse_log.h>

#include "log.h"
#include "svc.h"

static void svclog_sink(void *ctx, int level, const char *msg)
{
	(void)ctx;
	syslog(level, "%s", msg);
}

/* libfuse's messages (each ends in a newline) through the same sink. */
static void svclog_fuse(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char msg[1024];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);

	if (n > 0 && (size_t)n < sizeof(msg) && msg[n - 1] == '\n')
		msg[n - 1] = '\0';
	log_msg((int)level, "%s", msg);
}

void svclog_syslog(void)
{
	/* LOG_NDELAY: connect now, while /dev/log is reachable for certain. */
	openlog("credfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_set_sink(svclog_sink, NULL);
	fuse_set_log_func(svclog_fuse);
}
