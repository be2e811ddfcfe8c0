/* SPDX-License-Identifier: MIT */
/*
 * test_cgroup.c - /proc/PID/cgroup as v1, v2 and hybrid hosts write it,
 * and the container each runtime's cgroup names.
 */
#include <errno.h>
#include <string.h>

#include "cgroup.h"
#include "test.h"

#define ID   "3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a3928170f5e4d3c"
#define ID2  "9a8b7c6d5e4f30211a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7081"
#define UID  "6f0a3e2c-1b4d-4e5f-9a8b-7c6d5e4f3a2b"
#define UIDU "6f0a3e2c_1b4d_4e5f_9a8b_7c6d5e4f3a2b"

/* A v1 host (cgroupfs names) as a process in a docker container sees it from the host. */
static const char v1_docker[] = "12:pids:/docker/" ID "\n"
				"11:hugetlb:/docker/" ID "\n"
				"10:net_cls,net_prio:/docker/" ID "\n"
				"9:perf_event:/docker/" ID "\n"
				"8:memory:/docker/" ID "\n"
				"7:cpu,cpuacct:/docker/" ID "\n"
				"6:devices:/docker/" ID "\n"
				"5:freezer:/docker/" ID "\n"
				"4:blkio:/docker/" ID "\n"
				"3:cpuset:/docker/" ID "\n"
				"2:rdma:/\n"
				"1:name=systemd:/docker/" ID "\n";

/* A hybrid host: v1 controllers, systemd's tree in v1 and v2 ("0::/"). */
static const char hybrid_docker[] = "13:misc:/\n"
				    "12:pids:/system.slice/docker-" ID ".scope\n"
				    "11:memory:/system.slice/docker-" ID ".scope\n"
				    "10:cpu,cpuacct:/system.slice/docker-" ID ".scope\n"
				    "2:rdma:/\n"
				    "1:name=systemd:/system.slice/docker-" ID ".scope\n"
				    "0::/\n";

static const char hybrid_user[] = "12:pids:/user.slice/user-1000.slice/session-3.scope\n"
				  "5:memory:/user.slice/user-1000.slice/session-3.scope\n"
				  "1:name=systemd:/user.slice/user-1000.slice/session-3.scope\n"
				  "0::/user.slice/user-1000.slice/session-3.scope\n";

static const char hybrid_unused_v2[] = "9:name=systemd:/user.slice/user-0.slice/session-1.scope\n"
				       "4:memory:/user.slice\n"
				       "0::/\n";

/* This machine's kind: v1 controllers in a sandbox's own group, everything else "/". */
static const char hybrid_sandbox[] = "9:name=systemd:/\n8:pids:/\n"
				     "4:memory:/process_api/8e978b959af7c60a24d77a4bcfe556bd\n"
				     "3:cpuset:/\n0::/\n";

static void check_pick(const char *text, const char *want)
{
	char out[512];

	CHECK_INT_EQ(cgroup_pick(text, out, sizeof(out)), 0);
	CHECK_STR_EQ(out, want);
}

static void check_ctr(const char *path, const char *id, const char *runtime, const char *pod)
{
	struct cgroup_container c;

	CHECK(cgroup_container(path, &c));
	CHECK_STR_EQ(c.id, id);
	CHECK_STR_EQ(c.runtime, runtime);
	CHECK_STR_EQ(c.pod_uid, pod);
}

static void check_none(const char *path)
{
	struct cgroup_container c;

	CHECK(!cgroup_container(path, &c));
	CHECK_STR_EQ(c.id, "");
	CHECK_STR_EQ(c.runtime, "");
	CHECK_STR_EQ(c.pod_uid, "");
}

static void test_pick(void)
{
	char out[16];

	/* pure v2 */
	check_pick("0::/system.slice/sshd.service\n", "/system.slice/sshd.service");
	check_pick("0::/machine.slice/libpod-" ID ".scope/container\n",
		   "/machine.slice/libpod-" ID ".scope/container");
	check_pick("0::/", "/"); /* no final newline */
	/* v1 and hybrid hosts: the last line ("0::/") names nothing */
	check_pick(v1_docker, "/docker/" ID);
	check_pick(hybrid_docker, "/system.slice/docker-" ID ".scope");
	check_pick(hybrid_user, "/user.slice/user-1000.slice/session-3.scope");
	check_pick(hybrid_unused_v2, "/user.slice/user-0.slice/session-1.scope");
	check_pick(hybrid_sandbox, "/process_api/8e978b959af7c60a24d77a4bcfe556bd");
	check_pick("1:name=systemd:/\n0::/\n", "/");
	/* a v2 path that names a container beats v1's */
	check_pick("1:name=systemd:/docker/" ID2 "\n0::/system.slice/docker-" ID ".scope\n",
		   "/system.slice/docker-" ID ".scope");
	/* cut to fit */
	CHECK_INT_EQ(cgroup_pick("0::/a-rather-long-cgroup-name\n", out, sizeof(out)), 0);
	CHECK_STR_EQ(out, "/a-rather-long-");
	/* nothing that looks like a cgroup line */
	CHECK_INT_EQ(cgroup_pick("", out, sizeof(out)), -ENOENT);
	CHECK_STR_EQ(out, "");
	CHECK_INT_EQ(cgroup_pick("garbage\nno colons\n", out, sizeof(out)), -ENOENT);
}

static void test_podman(void)
{
	check_ctr("/machine.slice/libpod-" ID ".scope", ID, "podman", "");
	check_ctr("/machine.slice/libpod-" ID ".scope/container", ID, "podman", "");
	check_ctr("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" ID ".scope",
		  ID, "podman", "");
	/* cgroupfs manager */
	check_ctr("/libpod_parent/libpod-" ID, ID, "podman", "");
	check_ctr("/libpod_parent/libpod-" ID "/ctr", ID, "podman", "");
	/* conmon is not the container */
	check_none("/machine.slice/libpod-conmon-" ID ".scope");
	check_pick("0::/machine.slice/libpod-conmon-" ID ".scope\n",
		   "/machine.slice/libpod-conmon-" ID ".scope");
}

static void test_docker(void)
{
	check_ctr("/system.slice/docker-" ID ".scope", ID, "docker", "");
	check_ctr("/docker/" ID, ID, "docker", "");
	/* docker in docker: the innermost */
	check_ctr("/docker/" ID "/docker/" ID2, ID2, "docker", "");
	/* short ids are fine in a scope name, never bare */
	check_ctr("/system.slice/docker-0123456789ab.scope", "0123456789ab", "docker", "");
	check_none("/docker/0123456789ab");
	check_none("/system.slice/docker.service");
	check_none("/system.slice/docker-xyz.scope");
}

static void test_kubernetes(void)
{
	/* systemd driver: the uid with underscores in the slice name */
	check_ctr("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU
		  ".slice/cri-containerd-" ID ".scope",
		  ID, "containerd", UID);
	check_ctr("/kubepods.slice/kubepods-pod" UIDU ".slice/cri-containerd-" ID ".scope", ID,
		  "containerd", UID);
	check_ctr("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UIDU
		  ".slice/crio-" ID ".scope",
		  ID, "cri-o", UID);
	check_none("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" UIDU
		   ".slice/crio-conmon-" ID ".scope");
	check_ctr("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU
		  ".slice/docker-" ID ".scope",
		  ID, "docker", UID);
	/* cgroupfs driver */
	check_ctr("/kubepods/burstable/pod" UID "/" ID, ID, "cri", UID);
	check_ctr("/kubepods/pod" UID "/" ID, ID, "cri", UID);
	check_ctr("/kubepods/besteffort/pod" UID "/crio-" ID, ID, "cri-o", UID);
	/* a pod's own cgroup is no container */
	check_none("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU ".slice");
	check_none("/kubepods/burstable/pod" UID);
	/* a pod uid outside kubepods is not believed */
	check_ctr("/system.slice/pod" UID "/docker-" ID ".scope", ID, "docker", "");
	/* a whole v2 line from a containerd node */
	check_pick("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU
		   ".slice/cri-containerd-" ID ".scope\n",
		   "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" UIDU
		   ".slice/cri-containerd-" ID ".scope");
}

static void test_none(void)
{
	check_none("/");
	check_none("");
	check_none(NULL);
	check_none("/user.slice/user-1000.slice/session-3.scope");
	check_none("/process_api/8e978b959af7c60a24d77a4bcfe556bd");
	/* uppercase is not a runtime's id */
	check_none("/docker/3F1C2A9B8E7D6C5B4A39281706F5E4D3C2B1A09F8E7D6C5B4A3928170F5E4D3C");
	/* a 65-digit id is too long */
	check_none("/system.slice/docker-" ID "0.scope");
	check_none("//////");
}

int main(void)
{
	RUN(test_pick);
	RUN(test_podman);
	RUN(test_docker);
	RUN(test_kubernetes);
	RUN(test_none);
	return DONE();
}
