/* SPDX-License-Identifier: MIT */
/*
 * store.c - the journal file (store.h): the key, creating and opening it,
 * appending with group commit, compaction. Reading it back (replay, the
 * torn-tail rule, --check-state) is in store_replay.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "crash.h"
#include "log.h"
#include "store.h"
#include "timefmt.h"
#include "store_i.h"

#define STORE_COMPACT_MIN (4 * 1024 * 1024)

void store_ad(const unsigned char *file_id, uint64_t seq, unsigned char ad[24])
{
	memcpy(ad, file_id, 16);
	for (int i = 0; i < 8; i++)
		ad[16 + i] = (unsigned char)(seq >> (8 * i));
}

/* Encrypt rec as record seq of file_id into a new buffer (*out, *len). */
static int store_seal(const struct store *s, const unsigned char *file_id, uint64_t seq,
		      json_t *rec, unsigned char **out, size_t *len)
{
	unsigned char ad[24], *buf;
	struct secret *plain;
	size_t n = json_dumpb(rec, NULL, 0, JSON_COMPACT);
	unsigned long long clen;

	if (n == 0 || n > STORE_REC_MAX - STORE_TAG)
		return -EINVAL;
	if (!(plain = secret_alloc(n)))
		return -ENOMEM;
	json_dumpb(rec, secret_buf(plain), n, JSON_COMPACT);
	if (!(buf = malloc(STORE_REC_OVERHEAD + n))) {
		secret_free(plain);
		return -ENOMEM;
	}
	store_ad(file_id, seq, ad);
	randombytes_buf(buf + 4, STORE_NONCE);
	crypto_aead_xchacha20poly1305_ietf_encrypt(
		buf + 4 + STORE_NONCE, &clen, (unsigned char *)secret_buf(plain), n, ad, sizeof(ad),
		NULL, buf + 4, (const unsigned char *)secret_str(s->key));
	secret_free(plain);
	for (int i = 0; i < 4; i++)
		buf[i] = (unsigned char)(clen >> (8 * i));
	*out = buf;
	*len = 4 + STORE_NONCE + clen;
	return 0;
}

static int store_write_all(int fd, const unsigned char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= n;
	}
	return 0;
}

static int store_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) != 0)
		r = -errno;
	close(fd);
	return r;
}

/* --- the key ------------------------------------------------------------- */

static int store_key_create(const char *path, struct secret **key, char *errbuf)
{
	unsigned char raw[STORE_KEY_LEN];
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600), r = 0;

	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, STORE_ERRLEN, "cannot create key file %s: %s", path, strerror(-r));
		return r;
	}
	randombytes_buf(raw, sizeof(raw));
	if ((r = store_write_all(fd, raw, sizeof(raw))) != 0 || fsync(fd) != 0) {
		r = r ? r : -errno;
		snprintf(errbuf, STORE_ERRLEN, "cannot write key file %s: %s", path, strerror(-r));
	}
	close(fd);
	if (r == 0 && !(*key = secret_new((char *)raw, sizeof(raw))))
		r = -ENOMEM;
	sodium_memzero(raw, sizeof(raw));
	if (r != 0)
		unlink(path);
	else
		log_info("created key file %s", path);
	return r;
}

int store_key_load(const char *path, bool may_create, struct secret **key, char *errbuf)
{
	unsigned char raw[STORE_KEY_LEN + 1];
	struct stat st;
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT && may_create)
		return store_key_create(path, key, errbuf);
	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, STORE_ERRLEN, "cannot open key file %s: %s", path, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(errbuf, STORE_ERRLEN, "key file %s is not a regular file", path);
		r = -EINVAL;
	} else if (st.st_mode & 077) {
		snprintf(errbuf, STORE_ERRLEN,
			 "key file %s is accessible by group or others (mode %04o): chmod 600 it",
			 path, (unsigned)(st.st_mode & 07777));
		r = -EPERM;
	} else if ((n = read(fd, raw, sizeof(raw))) != STORE_KEY_LEN) {
		snprintf(errbuf, STORE_ERRLEN, "key file %s must hold exactly %d bytes", path,
			 STORE_KEY_LEN);
		r = -EINVAL;
	} else if (!(*key = secret_new((char *)raw, STORE_KEY_LEN))) {
		r = -ENOMEM;
	}
	sodium_memzero(raw, sizeof(raw));
	close(fd);
	return r;
}

/* --- opening ------------------------------------------------------------- */

bool store_exists(const char *dir)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/journal", dir);
	return stat(path, &st) == 0;
}

void store_free(struct store *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->pend);
	free(s->dir);
	free(s->path);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* Write a fresh journal at fd: header, file id, key check; *size its length. */
static int store_begin_file(struct store *s, int fd, unsigned char *file_id, uint64_t *seq,
			    size_t *size)
{
	unsigned char hdr[STORE_HDR] = STORE_MAGIC, *rec = NULL;
	json_t *check = json_pack("{s:s}", "t", "key-check");
	size_t len = 0;
	int r;

	randombytes_buf(file_id, 16);
	memcpy(hdr + 16, file_id, 16);
	if (!check)
		return -ENOMEM;
	r = store_seal(s, file_id, 0, check, &rec, &len);
	json_decref(check);
	if (r == 0 && (r = store_write_all(fd, hdr, sizeof(hdr))) == 0)
		r = store_write_all(fd, rec, len);
	free(rec);
	*seq = 1;
	*size = STORE_HDR + len;
	return r;
}

static int store_create(struct store *s, char *errbuf)
{
	int fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600), r;

	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, STORE_ERRLEN, "cannot create %s: %s", s->path, strerror(-r));
		return r;
	}
	if ((r = store_begin_file(s, fd, s->file_id, &s->next_seq, &s->file_size)) != 0 ||
	    (r = fsync(fd) ? -errno : 0) != 0 || (r = store_fsync_dir(s->dir)) != 0) {
		snprintf(errbuf, STORE_ERRLEN, "cannot write %s: %s", s->path, strerror(-r));
		close(fd);
		unlink(s->path);
		return r;
	}
	s->fd = fd;
	s->snapshot_size = s->file_size;
	return 0;
}

/* A new store for dir with key (borrowed), not yet backed by a file. */
struct store *store_new(const char *dir, const struct secret *key)
{
	struct store *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	s->fd = -1;
	s->cfd = -1;
	s->key = key;
	if (!(s->dir = strdup(dir)) || asprintf(&s->path, "%s/journal", dir) < 0) {
		s->path = NULL;
		store_free(s);
		return NULL;
	}
	return s;
}

int store_open(const char *dir, const struct secret *key, store_replay_fn *fn, void *ctx,
	       struct store **out, char *errbuf)
{
	struct store *s = store_new(dir, key);
	int r;

	if (!s)
		return -ENOMEM;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		r = -errno;
		snprintf(errbuf, STORE_ERRLEN, "cannot create %s: %s", dir, strerror(-r));
		store_free(s);
		return r;
	}
	r = store_exists(dir) ? store_load(s, fn, ctx, false, NULL, errbuf)
			      : store_create(s, errbuf);
	if (r != 0) {
		store_free(s);
		return r;
	}
	*out = s;
	return 0;
}

/* --- appending ----------------------------------------------------------- */

static int store_pend_locked(struct store *s, json_t *rec)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = store_seal(s, s->file_id, s->next_seq, rec, &buf, &len)) != 0)
		return r;
	if (s->plen + len > s->pcap) {
		size_t cap = (s->plen + len) * 2;
		unsigned char *np = realloc(s->pend, cap);

		if (!np) {
			free(buf);
			return -ENOMEM;
		}
		s->pend = np;
		s->pcap = cap;
	}
	memcpy(s->pend + s->plen, buf, len);
	s->plen += len;
	s->next_seq++;
	if (s->appended == s->synced)
		s->unsynced_since = timefmt_mono_ms();
	s->appended++;
	free(buf);
	return 0;
}

/*
 * Group commit: the first waiter becomes the leader, writes everything
 * pending in one write() and one fdatasync(), and wakes the others; those
 * whose records were in that batch return without an fsync of their own.
 */
static int store_flush_locked(struct store *s, uint64_t upto, bool sync)
{
	while ((sync ? s->synced : s->written) < upto && !s->broken) {
		unsigned char *buf;
		size_t len;
		uint64_t last;
		int r;

		if (s->flushing || s->compacting) {
			pthread_cond_wait(&s->cv, &s->mu);
			continue;
		}
		s->flushing = true;
		buf = s->pend;
		len = s->plen;
		last = s->appended;
		s->pend = NULL;
		s->plen = s->pcap = 0;
		pthread_mutex_unlock(&s->mu);
		r = store_write_all(s->fd, buf, len);
		if (r == 0 && sync && fdatasync(s->fd) != 0)
			r = -errno;
		free(buf);
		pthread_mutex_lock(&s->mu);
		s->flushing = false;
		if (r != 0) {
			s->broken = true;
			log_err("state %s: write failed, refusing further changes: %s", s->path,
				strerror(-r));
		} else {
			s->written = last;
			if (sync)
				s->synced = last;
			if (s->synced == s->appended)
				s->unsynced_since = 0;
			s->file_size += len;
		}
		pthread_cond_broadcast(&s->cv);
	}
	return s->broken ? -EIO : 0;
}

int store_append(struct store *s, json_t *rec, bool durable)
{
	int r;

	pthread_mutex_lock(&s->mu);
	while (s->compacting)
		pthread_cond_wait(&s->cv, &s->mu);
	if (s->broken) {
		r = -EIO;
	} else if ((r = store_pend_locked(s, rec)) == 0) {
		if (durable)
			r = store_flush_locked(s, s->appended, true);
		else if (s->plen > 256 * 1024)
			r = store_flush_locked(s, s->appended, false);
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

int64_t store_sync_due(struct store *s, int64_t max_age_ms)
{
	int64_t left = -1, age;

	pthread_mutex_lock(&s->mu);
	if (s->unsynced_since && !s->broken && !s->compacting) {
		age = timefmt_mono_ms() - s->unsynced_since;
		if (age < max_age_ms)
			left = max_age_ms - age;
		else if (store_flush_locked(s, s->appended, true) != 0)
			log_err("state %s: cannot sync the journal", s->path);
	}
	pthread_mutex_unlock(&s->mu);
	return left;
}

/* --- compaction ---------------------------------------------------------- */

static int store_emit(struct store *s, json_t *rec)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	int r;

	if ((r = store_seal(s, s->cfile_id, s->cseq, rec, &buf, &len)) != 0)
		return r;
	r = store_write_all(s->cfd, buf, len);
	free(buf);
	s->cseq++;
	s->csize += len;
	return r;
}

bool store_wants_compaction(struct store *s)
{
	size_t min = STORE_COMPACT_MIN;
	bool yes;

#ifdef CREDFS_TEST_HOOKS
	/* CREDFS_COMPACT_BYTES: tests make compaction happen early. */
	const char *env = getenv("CREDFS_COMPACT_BYTES");

	if (env && *env)
		min = strtoull(env, NULL, 10);
#endif

	pthread_mutex_lock(&s->mu);
	yes = s->file_size > min && s->file_size > 4 * s->snapshot_size;
	pthread_mutex_unlock(&s->mu);
	return yes;
}

int store_compact(struct store *s, store_dump_fn *dump, void *ctx)
{
	char *tmp = NULL;
	int r;

	pthread_mutex_lock(&s->mu);
	/*
	 * Write out and sync what is pending, then hold appends off, in one
	 * critical section: a record sealed for the old file must never land
	 * in the new one, and nobody may be left waiting for a record that the
	 * old file will never sync.
	 */
	for (;;) {
		if (s->broken) {
			pthread_mutex_unlock(&s->mu);
			return -EIO;
		}
		if (s->flushing || s->compacting) {
			pthread_cond_wait(&s->cv, &s->mu);
			continue;
		}
		if (s->synced < s->appended || s->plen) {
			if ((r = store_flush_locked(s, s->appended, true)) != 0) {
				pthread_mutex_unlock(&s->mu);
				return r;
			}
			continue;
		}
		break;
	}
	s->compacting = true;
	pthread_mutex_unlock(&s->mu);

	r = -ENOMEM;
	if (asprintf(&tmp, "%s.tmp", s->path) < 0) {
		tmp = NULL;
		goto out;
	}
	unlink(tmp);
	if ((s->cfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600)) < 0) {
		r = -errno;
		goto out;
	}
	if ((r = store_begin_file(s, s->cfd, s->cfile_id, &s->cseq, &s->csize)) != 0 ||
	    (r = dump(ctx, s, store_emit)) != 0)
		goto out;
	if (fsync(s->cfd) != 0) {
		r = -errno;
		goto out;
	}
	crash_point("compact-before-rename");
	if (rename(tmp, s->path) != 0) {
		r = -errno;
		goto out;
	}
	crash_point("compact-after-rename");
	store_fsync_dir(s->dir);
	pthread_mutex_lock(&s->mu);
	close(s->fd);
	s->fd = s->cfd;
	s->cfd = -1;
	memcpy(s->file_id, s->cfile_id, 16);
	s->next_seq = s->cseq;
	s->file_size = s->snapshot_size = s->csize;
	s->compactions++;
	s->compacted_at = timefmt_now_ms();
	pthread_mutex_unlock(&s->mu);
	log_info("state %s: compacted to %zu bytes", s->path, s->csize);
	r = 0;
out:
	if (s->cfd >= 0) {
		close(s->cfd);
		s->cfd = -1;
		unlink(tmp);
	}
	if (r != 0)
		log_err("state %s: compaction failed: %s", s->path, strerror(-r));
	free(tmp);
	pthread_mutex_lock(&s->mu);
	s->compacting = false;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return r;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	if (s->plen)
		store_flush_locked(s, s->appended, true);
	pthread_mutex_unlock(&s->mu);
	store_free(s);
}

void store_stats(struct store *s, size_t *bytes, uint64_t *compactions, int64_t *compacted_at)
{
	pthread_mutex_lock(&s->mu);
	*bytes = s->file_size;
	*compactions = s->compactions;
	*compacted_at = s->compacted_at;
	pthread_mutex_unlock(&s->mu);
}
