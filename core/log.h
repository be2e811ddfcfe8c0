/* SPDX-License-Identifier: MIT */
/*
 * log.h - the daemon's one global: a leveled, pluggable log sink.
 *
 * Messages are lowercase, without a final period, name the role, lease or
 * path they are about, and never contain a secret, a verifier or SQL text.
 * Levels are syslog's. Thread-safe: the sink is called under a mutex.
 */
#ifndef CREDFS_LOG_H
#define CREDFS_LOG_H

#include <string.h>
#include <syslog.h>

/* log_sink_fn - receives one formatted message (borrowed) at level. */
typedef void log_sink_fn(void *ctx, int level, const char *msg);

/* log_set_sink - route messages to fn (NULL restores stderr). Not thread-safe: call at start. */
void log_set_sink(log_sink_fn *fn, void *ctx);

/* log_set_level - drop messages above level (default LOG_INFO). */
void log_set_level(int level);

/* log_msg - format and emit one message at level. */
void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(fmt, ...)   log_msg(LOG_ERR, "%s: " fmt, __func__, ##__VA_ARGS__)
#define log_warn(fmt, ...)  log_msg(LOG_WARNING, "%s: " fmt, __func__, ##__VA_ARGS__)
#define log_info(fmt, ...)  log_msg(LOG_INFO, fmt, ##__VA_ARGS__)
#define log_debug(fmt, ...) log_msg(LOG_DEBUG, "%s: " fmt, __func__, ##__VA_ARGS__)
#define log_err_r(r, fmt, ...) \
	log_msg(LOG_ERR, "%s: " fmt ": %s", __func__, ##__VA_ARGS__, strerror(-(r)))
#define log_warn_r(r, fmt, ...) \
	log_msg(LOG_WARNING, "%s: " fmt ": %s", __func__, ##__VA_ARGS__, strerror(-(r)))

#endif
