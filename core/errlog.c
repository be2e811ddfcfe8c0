/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errlog.h"
#include "timefmt.h"

struct errlog_line {
	uid_t uid;
	char text[320];
};

struct errlog {
	pthread_mutex_t mu;
	struct errlog_line lines[ERRLOG_KEEP]; /* protected by mu; a ring */
	size_t next; /* protected by mu */
	size_t used; /* protected by mu */
};

struct errlog *errlog_new(void)
{
	struct errlog *e = calloc(1, sizeof(*e));

	if (e)
		pthread_mutex_init(&e->mu, NULL);
	return e;
}

void errlog_free(struct errlog *e)
{
	if (!e)
		return;
	pthread_mutex_destroy(&e->mu);
	free(e);
}

void errlog_add(struct errlog *e, int64_t now, uid_t uid, const char *path, const char *reason)
{
	char when[TIMEFMT_LEN];
	struct errlog_line *l;

	timefmt_rfc3339(now, when);
	pthread_mutex_lock(&e->mu);
	l = &e->lines[e->next];
	l->uid = uid;
	snprintf(l->text, sizeof(l->text) - 1, "%s %s: %s", when, path, reason);
	/*
	 * One event, one line: a newline inside the reason would forge another,
	 * and no control byte from a name reaches the reader's terminal.
	 */
	for (char *p = l->text; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	strcat(l->text, "\n");
	e->next = (e->next + 1) % ERRLOG_KEEP;
	if (e->used < ERRLOG_KEEP)
		e->used++;
	pthread_mutex_unlock(&e->mu);
}

int errlog_render(struct errlog *e, uid_t uid, int all_visible, char **out, size_t *len)
{
	char *buf = malloc(ERRLOG_KEEP * sizeof(e->lines[0].text) + 1);
	size_t n = 0;

	if (!buf)
		return -ENOMEM;
	pthread_mutex_lock(&e->mu);
	for (size_t i = 0; i < e->used; i++) {
		struct errlog_line *l =
			&e->lines[(e->next + ERRLOG_KEEP - e->used + i) % ERRLOG_KEEP];

		if (!all_visible && l->uid != uid)
			continue;
		memcpy(buf + n, l->text, strlen(l->text));
		n += strlen(l->text);
	}
	pthread_mutex_unlock(&e->mu);
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}
