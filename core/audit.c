/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "audit.h"
#include "log.h"
#include "timefmt.h"

struct audit {
	int fd;
	struct secret *key;
};

struct secret *audit_key_derive(const struct secret *state_key)
{
	struct secret *k = secret_alloc(crypto_auth_hmacsha256_KEYBYTES);

	if (k && crypto_kdf_derive_from_key((unsigned char *)secret_buf(k),
					    crypto_auth_hmacsha256_KEYBYTES, 1, "credfsau",
					    (const unsigned char *)secret_str(state_key)) != 0) {
		secret_free(k);
		return NULL;
	}
	return k;
}

void audit_hmac(const struct secret *key, const char *pw, size_t len, char *out)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret_str(key), secret_len(key));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)pw, len);
	crypto_auth_hmacsha256_final(&st, mac);
	memcpy(out, "hmac-sha256:", 12);
	sodium_bin2hex(out + 12, AUDIT_HMAC_HEX, mac, sizeof(mac));
	sodium_memzero(&st, sizeof(st));
}

int audit_open(const char *path, const struct secret *hmac_key, struct audit **out)
{
	struct audit *a = calloc(1, sizeof(*a));
	int r;

	if (!a)
		return -ENOMEM;
	a->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (a->fd < 0) {
		r = -errno;
		free(a);
		return r;
	}
	if (hmac_key) {
		a->key = secret_dup(hmac_key);
	} else if ((a->key = secret_alloc(crypto_auth_hmacsha256_KEYBYTES))) {
		randombytes_buf(secret_buf(a->key), crypto_auth_hmacsha256_KEYBYTES);
	}
	if (!a->key) {
		close(a->fd);
		free(a);
		return -ENOMEM;
	}
	*out = a;
	return 0;
}

void audit_close(struct audit *a)
{
	if (!a)
		return;
	close(a->fd);
	secret_free(a->key);
	free(a);
}

int audit_event(struct audit *a, const struct audit_event *ev)
{
	char when[TIMEFMT_LEN], lid[160], mac[AUDIT_HMAC_HEX + 12];
	json_t *j;
	char *line = NULL;
	size_t n;
	int r = 0;

	if (!a)
		return 0;
	timefmt_rfc3339(timefmt_now_ms(), when);
	j = json_pack("{s:s, s:s, s:s}", "time", when, "action", ev->action, "result",
		      ev->result ? ev->result : "ok");
	if (!j)
		return -ENOMEM;
	if (ev->error)
		json_object_set_new(j, "error", json_string(ev->error));
	if (ev->path)
		json_object_set_new(j, "path", json_string(ev->path));
	if (ev->lease) {
		snprintf(lid, sizeof(lid), "database/creds/%s/%s", ev->lease->role->name,
			 ev->lease->id);
		json_object_set_new(j, "lease_id", json_string(lid));
		json_object_set_new(j, "role", json_string(ev->lease->role->name));
		json_object_set_new(j, "db_user", json_string(ev->lease->username));
	}
	if (ev->holder)
		json_object_set_new(j, "holder", lease_holder_json(ev->holder));
	else
		json_object_set_new(j, "uid", json_integer(ev->uid));
	if (ev->password) {
		audit_hmac(a->key, secret_str(ev->password), secret_len(ev->password), mac);
		json_object_set_new(j, "password_hmac", json_string(mac));
	}
	n = json_dumpb(j, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!(line = malloc(n + 1))) {
		json_decref(j);
		return -ENOMEM;
	}
	json_dumpb(j, line, n, JSON_COMPACT | JSON_PRESERVE_ORDER);
	line[n] = '\n';
	json_decref(j);
	/* One write per line, O_APPEND: lines from threads never interleave. */
	if (write(a->fd, line, n + 1) != (ssize_t)(n + 1)) {
		r = -EIO;
		log_err("audit log write failed: %s", strerror(errno));
	}
	free(line);
	return r;
}
