/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pwpool.h"
#include "scram.h"
#include "secret.h"

struct pwpool_pair {
	struct secret *pw;
	char *verifier;
};

struct pwpool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t thread;
	bool started, stop; /* stop: protected by mu */
	size_t cap, len;
	size_t n; /* protected by mu */
	struct pwpool_pair *pairs; /* protected by mu: a stack of n */
};

static void pwpool_pair_free(struct pwpool_pair *pp)
{
	secret_free(pp->pw);
	secret_wipe_str(pp->verifier);
	pp->pw = NULL;
	pp->verifier = NULL;
}

static void *pwpool_main(void *arg)
{
	struct pwpool *p = arg;

	/* Idle CPU only: a busy machine's readers and PostgreSQL come first. */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19);
	{
		struct sched_param sp = { 0 };
		sched_setscheduler(0, SCHED_IDLE, &sp);
	}
	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		struct pwpool_pair pp = { 0 };

		if (p->n >= p->cap) {
			pthread_cond_wait(&p->cv, &p->mu);
			continue;
		}
		pthread_mutex_unlock(&p->mu);
		if ((pp.pw = secret_password(p->len)))
			pp.verifier = scram_verifier_new(secret_str(pp.pw), p->len);
		pthread_mutex_lock(&p->mu);
		if (!pp.pw || !pp.verifier) {
			/* out of memory: try again later rather than spin */
			pwpool_pair_free(&pp);
			pthread_mutex_unlock(&p->mu);
			usleep(100 * 1000);
			pthread_mutex_lock(&p->mu);
			continue;
		}
		if (p->n < p->cap && !p->stop)
			p->pairs[p->n++] = pp;
		else
			pwpool_pair_free(&pp);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

struct pwpool *pwpool_new(size_t cap, size_t len)
{
	struct pwpool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->cap = cap;
	p->len = len;
	if (!(p->pairs = calloc(cap ? cap : 1, sizeof(*p->pairs))) ||
	    pthread_create(&p->thread, NULL, pwpool_main, p) != 0) {
		pwpool_free(p);
		return NULL;
	}
	p->started = true;
	return p;
}

int pwpool_take(struct pwpool *p, size_t len, struct secret **pw, char **verifier)
{
	int r = -EAGAIN;

	if (!p || len != p->len)
		return -EAGAIN;
	pthread_mutex_lock(&p->mu);
	if (p->n > 0) {
		struct pwpool_pair *pp = &p->pairs[--p->n];

		*pw = pp->pw;
		*verifier = pp->verifier;
		pp->pw = NULL;
		pp->verifier = NULL;
		pthread_cond_signal(&p->cv);
		r = 0;
	}
	pthread_mutex_unlock(&p->mu);
	return r;
}

size_t pwpool_ready(struct pwpool *p)
{
	size_t n;

	pthread_mutex_lock(&p->mu);
	n = p->n;
	pthread_mutex_unlock(&p->mu);
	return n;
}

void pwpool_free(struct pwpool *p)
{
	if (!p)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->stop = true;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
	}
	for (size_t i = 0; i < p->n; i++)
		pwpool_pair_free(&p->pairs[i]);
	free(p->pairs);
	pthread_cond_destroy(&p->cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
