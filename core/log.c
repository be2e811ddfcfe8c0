/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "log.h"

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static log_sink_fn *log_sink; /* set at start only */
static void *log_sink_ctx; /* set at start only */
static int log_level = LOG_INFO;

static const char *const log_names[] = { "emerg",   "alert",  "crit", "error",
					 "warning", "notice", "info", "debug" };

void log_set_sink(log_sink_fn *fn, void *ctx)
{
	log_sink = fn;
	log_sink_ctx = ctx;
}

void log_set_level(int level)
{
	log_level = level;
}

static void log_stderr(int level, const char *msg)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(stderr, "%s.%03ldZ credfs %s: %s\n", when, ts.tv_nsec / 1000000,
		log_names[level & 7], msg);
}

void log_msg(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&log_mu);
	if (log_sink)
		log_sink(log_sink_ctx, level, msg);
	else
		log_stderr(level, msg);
	pthread_mutex_unlock(&log_mu);
}
