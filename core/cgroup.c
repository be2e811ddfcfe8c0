/* SPDX-License-Identifier: MIT */
/*
 * cgroup.c - /proc/PID/cgroup and the container runtimes' cgroup names.
 *
 * The names, as the runtimes make them (systemd driver / cgroupfs driver):
 *   podman      /machine.slice/libpod-ID.scope[/container]
 *               /user.slice/.../user@1000.service/user.slice/libpod-ID.scope
 *               /libpod_parent/libpod-ID[/ctr]
 *   docker      /system.slice/docker-ID.scope, /docker/ID
 *   containerd  /kubepods.slice/kubepods-QOS.slice/kubepods-QOS-podUID.slice/
 *               cri-containerd-ID.scope (UID with '_' for '-')
 *   CRI-O       .../kubepods-QOS-podUID.slice/crio-ID.scope
 *   Kubernetes, cgroupfs driver: /kubepods/QOS/podUID/ID (containerd, or
 *               docker through dockershim), /kubepods/QOS/podUID/crio-ID
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cgroup.h"

#define CGROUP_MAX_DEPTH 64

struct cgroup_span {
	const char *p;
	size_t n;
};

static bool cgroup_is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static bool cgroup_has_prefix(struct cgroup_span c, const char *prefix)
{
	size_t n = strlen(prefix);

	return c.n >= n && memcmp(c.p, prefix, n) == 0;
}

/* c is PREFIX ID or PREFIX ID.scope: the id (12-64 hex digits) into id. */
static bool cgroup_scope_id(struct cgroup_span c, const char *prefix, char *id)
{
	size_t n = strlen(prefix), len;

	if (!cgroup_has_prefix(c, prefix))
		return false;
	len = c.n - n;
	if (len > 6 && memcmp(c.p + c.n - 6, ".scope", 6) == 0)
		len -= 6;
	if (len < 12 || len > CGROUP_ID_LEN || !cgroup_is_hex(c.p + n, len))
		return false;
	memcpy(id, c.p + n, len);
	id[len] = '\0';
	return true;
}

/* A pod uid of 36 characters at s (dashes, or systemd's underscores) into uid. */
static bool cgroup_uid(const char *s, size_t n, char *uid)
{
	if (n != CGROUP_POD_UID_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i] == '_' ? '-' : s[i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? ch != '-' : !cgroup_is_hex(&ch, 1))
			return false;
		uid[i] = ch;
	}
	uid[n] = '\0';
	return true;
}

/* kubepods-[QOS-]podUID.slice (systemd) or podUID (cgroupfs). */
static bool cgroup_pod(struct cgroup_span c, char *uid)
{
	const char *pod = NULL;

	if (cgroup_has_prefix(c, "pod"))
		return cgroup_uid(c.p + 3, c.n - 3, uid);
	if (!cgroup_has_prefix(c, "kubepods") || c.n < 6 || memcmp(c.p + c.n - 6, ".slice", 6) != 0)
		return false;
	for (const char *s = c.p; s + 4 <= c.p + c.n; s++)
		if (memcmp(s, "-pod", 4) == 0)
			pod = s + 4;
	return pod && cgroup_uid(pod, (size_t)(c.p + c.n - 6 - pod), uid);
}

/* The container component c (its parent parent, or an empty span) names, if any. */
static const char *cgroup_runtime(struct cgroup_span c, struct cgroup_span parent, char *id)
{
	static const struct {
		const char *prefix, *runtime;
	} scopes[] = {
		{ "libpod-conmon-", NULL },
		{ "crio-conmon-", NULL },
		{ "libpod-", "podman" },
		{ "docker-", "docker" },
		{ "cri-containerd-", "containerd" },
		{ "crio-", "cri-o" },
	};

	for (size_t i = 0; i < sizeof(scopes) / sizeof(scopes[0]); i++)
		if (cgroup_has_prefix(c, scopes[i].prefix))
			return cgroup_scope_id(c, scopes[i].prefix, id) ? scopes[i].runtime : NULL;
	/* Bare ids: only a full 64-digit id, and only where a runtime puts one. */
	if (c.n != CGROUP_ID_LEN || !cgroup_is_hex(c.p, c.n))
		return NULL;
	if (parent.n == 6 && memcmp(parent.p, "docker", 6) == 0)
		goto bare;
	if (cgroup_has_prefix(parent, "pod") && parent.n == 3 + CGROUP_POD_UID_LEN)
		goto bare;
	return NULL;
bare:
	memcpy(id, c.p, c.n);
	id[c.n] = '\0';
	return parent.p[0] == 'd' ? "docker" : "cri";
}

/* Split path into its components; their number (at most CGROUP_MAX_DEPTH). */
static size_t cgroup_split(const char *path, struct cgroup_span *parts)
{
	size_t k = 0;

	while (*path && k < CGROUP_MAX_DEPTH) {
		size_t n;

		path += strspn(path, "/");
		if (!(n = strcspn(path, "/")))
			break;
		parts[k].p = path;
		parts[k++].n = n;
		path += n;
	}
	return k;
}

bool cgroup_container(const char *path, struct cgroup_container *c)
{
	struct cgroup_span parts[CGROUP_MAX_DEPTH], none = { "", 0 };
	bool kube = false;
	size_t k;

	memset(c, 0, sizeof(*c));
	c->runtime = "";
	k = cgroup_split(path ? path : "", parts);
	for (size_t i = k; i-- > 0;) {
		const char *rt = cgroup_runtime(parts[i], i ? parts[i - 1] : none, c->id);

		if (rt) {
			c->runtime = rt;
			k = i; /* the pod is above the container */
			break;
		}
		c->id[0] = '\0';
	}
	if (!c->id[0])
		return false;
	for (size_t i = 0; i < k; i++) {
		if (cgroup_has_prefix(parts[i], "kubepods"))
			kube = true;
		if (kube && cgroup_pod(parts[i], c->pod_uid))
			break;
		c->pod_uid[0] = '\0';
	}
	return true;
}

/* How much a line of /proc/PID/cgroup says (cgroup_pick's list; lower is more). */
static int cgroup_rank(bool v2, bool systemd, const char *path)
{
	struct cgroup_container c;
	bool root = strcmp(path, "/") == 0;

	if (!path[0])
		return 7;
	if (cgroup_container(path, &c))
		return v2 ? 0 : 1;
	if (root)
		return v2 ? 5 : 6;
	return v2 ? 2 : systemd ? 3 : 4;
}

int cgroup_pick(const char *text, char *out, size_t n)
{
	char best[1024] = "", path[1024];
	int best_rank = 8;

	for (const char *line = text; line && *line;) {
		const char *end = line + strcspn(line, "\n"), *c1, *c2;
		size_t len;

		c1 = memchr(line, ':', (size_t)(end - line));
		c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
		if (c2 && (len = (size_t)(end - c2 - 1)) < sizeof(path)) {
			bool v2 = c1 - line == 1 && line[0] == '0' && c2 == c1 + 1;
			bool systemd = c2 - c1 - 1 == 12 && memcmp(c1 + 1, "name=systemd", 12) == 0;
			int rank;

			memcpy(path, c2 + 1, len);
			path[len] = '\0';
			if ((rank = cgroup_rank(v2, systemd, path)) < best_rank) {
				best_rank = rank;
				memcpy(best, path, len + 1);
			}
		}
		line = *end ? end + 1 : NULL;
	}
	if (n)
		snprintf(out, n, "%s", best);
	return best_rank < 8 ? 0 : -ENOENT;
}
