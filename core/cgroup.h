/* SPDX-License-Identifier: MIT */
/*
 * cgroup.h - which cgroup, and which container, a process is in: the text
 * of /proc/PID/cgroup read on cgroup v1, v2 and hybrid hosts, and the
 * container runtimes' cgroup names (podman, docker, containerd, CRI-O,
 * Kubernetes pods). Pure: no I/O, no allocation; thread-safe.
 */
#ifndef CREDFS_CGROUP_H
#define CREDFS_CGROUP_H

#include <stdbool.h>
#include <stddef.h>

#define CGROUP_ID_LEN	   64 /* a container id: hex, 12 to 64 digits */
#define CGROUP_POD_UID_LEN 36 /* a Kubernetes pod uid, with dashes */

/* A container named by a cgroup path; every string "" when unknown. */
struct cgroup_container {
	char id[CGROUP_ID_LEN + 1];
	/*
	 * "podman", "docker", "containerd", "cri-o"; "cri" for a Kubernetes
	 * container whose path does not name its runtime (the cgroupfs
	 * driver's /kubepods/QOS/podUID/ID: containerd or dockershim).
	 */
	const char *runtime; /* static, never NULL */
	char pod_uid[CGROUP_POD_UID_LEN + 1];
};

/*
 * cgroup_pick - from text, the contents of /proc/PID/cgroup (lines
 * "HIERARCHY:CONTROLLERS:PATH", v2's as "0::PATH"), copy into out (n bytes,
 * cut to fit) the path that says most about the process:
 *   1. a path that names a container (cgroup_container), v2's first;
 *   2. v2's path if it is not "/" (a pure v2 host, or a hybrid host's
 *      systemd tree);
 *   3. v1's name=systemd path, then the first other v1 path, if not "/";
 *   4. v2's "/" (a hybrid host's unused unified tree), any "/", or "".
 * Returns 0, or -ENOENT (out = "") when text has no cgroup line.
 */
int cgroup_pick(const char *text, char *out, size_t n);

/*
 * cgroup_container - the innermost container that path (a cgroup path as
 * cgroup_pick gives it) names, in *c. True if one was found; false leaves
 * c with "" strings and runtime "". Conmon's own scopes
 * (libpod-conmon-ID.scope, crio-conmon-ID.scope) are not the container.
 */
bool cgroup_container(const char *path, struct cgroup_container *c);

#endif
