/* SPDX-License-Identifier: MIT */
/*
 * main.c - credfs: command line, hardening, the engine and the FUSE loop.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "fs.h"
#include "svc.h"
#include "doc.h"
#include "audit.h"
#include "crash.h"
#include "log.h"
#include "store.h"
#include "secret.h"

struct opts {
	char *state;
	char *key_file;
	char *audit_log;
	int audit_hash;
	int check_state;
	int show_help;
	int show_version;
	char *metrics_mode;
	char *fleet; /* the control store's conninfo */
	char *fleet_key;
	char *node;
	char *fleet_schema;
	char *fleet_grace;
	char *fleet_retention;
};

#define OPT(t, p)                              \
	{                                      \
		t, offsetof(struct opts, p), 1 \
	}
static const struct fuse_opt opt_spec[] = {
	OPT("--state %s", state),
	OPT("--state=%s", state),
	OPT("--key-file %s", key_file),
	OPT("--key-file=%s", key_file),
	OPT("--audit-log %s", audit_log),
	OPT("--audit-log=%s", audit_log),
	/* mount -t fuse.credfs and /etc/fstab pass them in -o (svc.h) */
	OPT("state=%s", state),
	OPT("key_file=%s", key_file),
	OPT("audit_log=%s", audit_log),
	OPT("metrics_mode=%s", metrics_mode),
	OPT("--fleet=%s", fleet),
	OPT("--fleet-key=%s", fleet_key),
	OPT("--node=%s", node),
	OPT("--fleet-schema=%s", fleet_schema),
	OPT("--fleet-grace=%s", fleet_grace),
	OPT("--fleet-retention=%s", fleet_retention),
	OPT("fleet=%s", fleet),
	OPT("fleet_key=%s", fleet_key),
	OPT("node=%s", node),
	OPT("fleet_schema=%s", fleet_schema),
	OPT("fleet_grace=%s", fleet_grace),
	OPT("fleet_retention=%s", fleet_retention),
	OPT("--audit-hash", audit_hash),
	OPT("--check-state", check_state),
	OPT("--metrics-mode %s", metrics_mode),
	OPT("--metrics-mode=%s", metrics_mode),
	OPT("-h", show_help),
	OPT("--help", show_help),
	OPT("-V", show_version),
	OPT("--version", show_version),
	FUSE_OPT_END,
};

static void usage(const char *prog)
{
	printf("usage: %s [options] [SOURCE] MOUNTPOINT\n"
	       "       mount -t fuse.credfs SOURCE MOUNTPOINT -o state=DIR,key_file=FILE,...\n"
	       "\n"
	       "Dynamic, leased PostgreSQL credentials as files.\n"
	       "\n"
	       "  MOUNTPOINT/config/NAME       connection: write parameters, read back (no password)\n"
	       "  MOUNTPOINT/roles/NAME        role: write parameters, read back\n"
	       "  MOUNTPOINT/creds/NAME        each open() issues a fresh login, leased to the opener\n"
	       "  MOUNTPOINT/rotate-root/NAME  any write rotates the connection's root password\n"
	       "  MOUNTPOINT/leases/ROLE/ID    live leases (JSON, no password); rm revokes now\n"
	       "  MOUNTPOINT/errors            why recent writes and opens failed: tail -n 1 errors\n"
	       "  MOUNTPOINT/metrics           Prometheus text: counters and gauges, never a secret\n"
	       "\n"
	       "options:\n"
	       "  --state DIR        encrypted state directory (default /var/lib/credfs for\n"
	       "                     root, ~/.local/state/credfs otherwise; none: memory only)\n"
	       "  --key-file FILE    32-byte state key, 0600 (default STATE/key; created on\n"
	       "                     first start)\n"
	       "  --audit-log FILE   append one JSON line per action (never a secret)\n"
	       "  -o state=DIR,key_file=FILE,audit_log=FILE  the same, as mount(8) options\n"
	       "  --audit-hash       read a password on stdin, print its audit-log HMAC\n"
	       "  --check-state      print what a start would restore (JSON), mount nothing\n"
	       "  --metrics-mode MODE  permission bits of MOUNTPOINT/metrics, octal read bits\n"
	       "                     (default 0400: the daemon's user; 0444: everyone)\n"
	       "  --fleet CONNINFO   several hosts: share definitions, root secrets and leases\n"
	       "                     through a schema in this PostgreSQL database\n"
	       "  --fleet-key FILE   32-byte key, 0600, identical on every node (must exist)\n"
	       "  --node NAME        this node's name in the fleet (default: the host name)\n"
	       "  --fleet-schema S   the control store's schema (default credfs)\n"
	       "  --fleet-grace SEC  a node silent this long is dead (default 10)\n"
	       "  --fleet-retention SEC  rows of leases revoked for dead nodes are deleted\n"
	       "                     this long after (default 86400)\n"
	       "  -f                 stay in the foreground\n"
	       "  -d                 debug: foreground and FUSE tracing\n"
	       "  -s                 single-threaded\n"
	       "  -o OPT[,OPT...]    FUSE mount options (allow_other, ...)\n"
	       "  -h, --help         this text\n"
	       "  -V, --version      the version\n",
	       prog);
}

/* Make *path absolute against the working directory (it need not exist). */
static int absolute(char **path)
{
	char cwd[4096], *abs = NULL;

	if ((*path)[0] == '/')
		return 0;
	if (!getcwd(cwd, sizeof(cwd)) || asprintf(&abs, "%s/%s", cwd, *path) < 0) {
		fprintf(stderr, "credfs: cannot make %s absolute: %s\n", *path, strerror(errno));
		return -1;
	}
	free(*path);
	*path = abs;
	return 0;
}

/*
 * --state defaults to /var/lib/credfs for root and to
 * $XDG_STATE_HOME/credfs (~/.local/state/credfs) for others; --key-file to
 * STATE/key. "--state none" keeps everything in memory.
 */
static int default_state(struct opts *o)
{
	const char *base = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

	if (!o->state) {
		int n;

		if (getuid() == 0)
			n = asprintf(&o->state, "/var/lib/credfs");
		else if (base && *base)
			n = asprintf(&o->state, "%s/credfs", base);
		else
			n = asprintf(&o->state, "%s/.local/state/credfs", home ? home : ".");
		if (n < 0)
			return -1;
	}
	if (!o->key_file && asprintf(&o->key_file, "%s/key", o->state) < 0)
		return -1;
	if (!strcmp(o->state, "none"))
		return 0;
	/* The key file may be created inside the state directory on first start. */
	if (!o->check_state && mkdir(o->state, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "credfs: cannot create %s: %s\n", o->state, strerror(errno));
		return -1;
	}
	/* The daemon runs in / once daemonized: every path is made absolute now. */
	if (absolute(&o->state) != 0 || absolute(&o->key_file) != 0 ||
	    (o->audit_log && absolute(&o->audit_log) != 0))
		return -1;
	return 0;
}

/*
 * --audit-hash: read a password on stdin and print the HMAC that the audit
 * log would show for it, under the key of --key-file/--state. An
 * administrator greps the audit log for it to learn whether, when and to
 * whom credfs issued a leaked password.
 */
static int audit_hash(struct opts *o)
{
	char errbuf[STORE_ERRLEN], line[1024], out[AUDIT_HMAC_HEX + 12];
	struct secret *key = NULL, *ak = NULL;
	size_t n;
	int r = 1;

	if (store_key_load(o->key_file, false, &key, errbuf) != 0) {
		fprintf(stderr, "credfs: %s\n", errbuf);
		return 1;
	}
	if (fgets(line, sizeof(line), stdin) && (ak = audit_key_derive(key))) {
		n = strcspn(line, "\r\n");
		audit_hmac(ak, line, n, out);
		printf("%s\n", out);
		r = 0;
	}
	secret_wipe(line, sizeof(line));
	secret_free(ak);
	secret_free(key);
	return r;
}

/* --metrics-mode: octal read bits only (the file is read-only). */
static int parse_metrics_mode(const char *s, mode_t *mode)
{
	char *end = NULL;
	unsigned long v;

	if (!s) {
		*mode = 0400;
		return 0;
	}
	errno = 0;
	v = strtoul(s, &end, 8);
	if (errno || !*s || *end || (v & ~0444UL)) {
		fprintf(stderr,
			"credfs: --metrics-mode %s: want octal read bits (0400, 0440, 0444)\n", s);
		return -1;
	}
	*mode = (mode_t)v;
	return 0;
}

/*
 * No core dumps, no ptrace attach, private files: before anything secret
 * exists. And as many descriptors as allowed: each opener holding a lease
 * is watched through a pidfd, and an opener that cannot be watched gets no
 * credential.
 */
static int harden(void)
{
	struct rlimit no_core = { 0, 0 }, files;

	if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
		files.rlim_cur = files.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &files) != 0)
			fprintf(stderr, "credfs: cannot raise the open file limit: %s\n",
				strerror(errno));
	}
	umask(077);
	if (setrlimit(RLIMIT_CORE, &no_core) != 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		fprintf(stderr, "credfs: cannot disable core dumps: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* --fleet: join before mounting; a node that runs elsewhere, or no key, refuses to start. */
static int open_fleet(struct opts *o, struct engine *e)
{
	char errbuf[256] = "", *end = NULL;
	long grace = 10, retention = 0; /* 0: the default, FLEET_RETENTION_S */
	int r;

	if (!o->fleet_key) {
		fprintf(stderr,
			"credfs: --fleet needs --fleet-key FILE (the same key on every node)\n");
		return -1;
	}
	if (o->fleet_grace) {
		errno = 0;
		grace = strtol(o->fleet_grace, &end, 10);
		if (errno || !*o->fleet_grace || *end || grace < 1 || grace > 86400) {
			fprintf(stderr, "credfs: --fleet-grace %s: want seconds (1..86400)\n",
				o->fleet_grace);
			return -1;
		}
	}
	if (o->fleet_retention) {
		errno = 0;
		retention = strtol(o->fleet_retention, &end, 10);
		if (errno || !*o->fleet_retention || *end || retention < 1 ||
		    retention > 366 * 86400) {
			fprintf(stderr,
				"credfs: --fleet-retention %s: want seconds (1..31622400)\n",
				o->fleet_retention);
			return -1;
		}
	}
	if (absolute(&o->fleet_key) != 0)
		return -1;
	r = engine_open_fleet(e, o->fleet, o->fleet_key, o->node, o->fleet_schema, (int)grace,
			      (int)retention, errbuf);
	if (r == -EBUSY)
		fprintf(stderr, "credfs: %s\n", errbuf);
	else if (r != 0)
		fprintf(stderr, "credfs: refusing to start: fleet: %s\n", errbuf);
	return r;
}

/*
 * "--fleet VALUE" becomes "--fleet=VALUE" (and so for the other fleet
 * options): fuse_opt matches a "--fleet %s" template by prefix, so it
 * would take "--fleet-key" for "--fleet". Only the "=" forms are templates.
 */
static char **fleet_argv(int *argc, char *argv[])
{
	static const char *const names[] = {
		"--fleet",	  "--fleet-key",   "--node",
		"--fleet-schema", "--fleet-grace", "--fleet-retention"
	};
	char **out = calloc((size_t)*argc + 1, sizeof(*out));
	int n = 0;

	if (!out)
		return NULL;
	for (int i = 0; i < *argc; i++) {
		bool joined = false;

		for (size_t k = 0; i > 0 && i + 1 < *argc && k < sizeof(names) / sizeof(names[0]);
		     k++) {
			if (!strcmp(argv[i], names[k])) {
				if (asprintf(&out[n], "%s=%s", names[k], argv[i + 1]) < 0)
					return NULL;
				n++;
				i++;
				joined = true;
				break;
			}
		}
		if (!joined && !(out[n++] = strdup(argv[i])))
			return NULL;
	}
	*argc = n;
	return out;
}

int main(int argc, char *argv[])
{
	char **av = fleet_argv(&argc, argv);
	struct fuse_args args = FUSE_ARGS_INIT(argc, av ? av : argv);
	struct fuse_cmdline_opts cmd = { 0 };
	struct fuse_loop_config *loop = NULL;
	struct opts o = { 0 };
	struct fs_ctx ctx = { 0 };
	struct fuse_session *se = NULL;
	int ret = 1, mounted = 0;

	if (!av || harden() != 0 || secret_init() != 0)
		return 1;
	/*
	 * No fastbins: a restart parses every journal record into small JSON
	 * nodes and frees them, and glibc then spends a fifth of it
	 * consolidating fastbins (measured: 100,000 leases restart ~25% faster
	 * without). Small blocks still come from the per-thread cache.
	 */
	mallopt(M_MXFAST, 0);
	crash_init();
	if (fuse_opt_parse(&args, &o, opt_spec, NULL) != 0)
		return 1;
	if (o.show_help) {
		usage(argv[0]);
		ret = 0;
		goto out;
	}
	if (o.show_version) {
		printf("credfs %s (libfuse %s)%s\n", CREDFS_VERSION, fuse_pkgversion(),
#ifdef CREDFS_TEST_HOOKS
		       " test hooks"
#else
		       ""
#endif
		);
		ret = 0;
		goto out;
	}
	if (default_state(&o) != 0)
		goto out;
	if (o.audit_hash) {
		ret = audit_hash(&o);
		goto out;
	}
	if (o.check_state) {
		char errbuf[STORE_ERRLEN] = "";

		ret = engine_check_state(o.state, o.key_file, stdout, errbuf) != 0;
		if (ret)
			fprintf(stderr, "credfs: a start would refuse: %s\n", errbuf);
		goto out;
	}
	if (parse_metrics_mode(o.metrics_mode, &ctx.metrics_mode) != 0)
		goto out;
	if (opts_positional(&args) != 0 || fuse_parse_cmdline(&args, &cmd) != 0)
		goto out;
	if (!cmd.mountpoint) {
		fprintf(stderr, "credfs: no mount point (see --help)\n");
		goto out;
	}
	/* Secure defaults; later -o options may add to them (allow_other). */
	if (fuse_opt_add_arg(&args, "-odefault_permissions,nodev,nosuid,noexec,fsname=credfs,"
				    "subtype=credfs") != 0)
		goto out;
	ctx.uid = getuid();
	ctx.gid = getgid();
	if (fs_ctx_init(&ctx) != 0 || !(ctx.engine = engine_new()) || !(ctx.docs = docset_new())) {
		fprintf(stderr, "credfs: cannot start: out of memory\n");
		goto out;
	}
	if (strcmp(o.state, "none") != 0) {
		char errbuf[STORE_ERRLEN] = "";

		/* Before mounting: never serve an empty tree over state we cannot read. */
		if (engine_open_state(ctx.engine, o.state, o.key_file, errbuf) != 0) {
			fprintf(stderr, "credfs: refusing to start: %s\n", errbuf);
			goto out;
		}
		/* Replaying the journal parsed all of it: give that memory back. */
		malloc_trim(0);
	} else {
		log_warn("--state none: nothing survives a restart, and a crash can leave logins "
			 "behind");
	}
	if (o.fleet && open_fleet(&o, ctx.engine) != 0)
		goto out;
	if (o.audit_log && engine_open_audit(ctx.engine, o.audit_log) != 0) {
		fprintf(stderr, "credfs: cannot open audit log %s: %s\n", o.audit_log,
			strerror(errno));
		goto out;
	}
	fs_install_poll(&ctx);
	if (!(se = fuse_session_new(&args, &fs_ll_ops, sizeof(fs_ll_ops), &ctx)))
		goto out;
	ctx.se = se;
	if (fuse_session_mount(se, cmd.mountpoint) != 0)
		goto out;
	mounted = 1;
	if (!cmd.foreground)
		svclog_syslog(); /* stderr is about to become /dev/null */
	if (fuse_daemonize(cmd.foreground) != 0)
		goto out;
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	{
		/* Only the FUSE loop's thread takes SIGINT/SIGTERM/SIGHUP. */
		sigset_t all, old;

		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		ret = engine_start(ctx.engine) != 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (ret) {
			fprintf(stderr, "credfs: cannot start threads\n");
			goto out;
		}
	}
	log_info("mounted at %s", cmd.mountpoint);
	notify_send("READY=1"); /* systemd Type=notify: the mount is up */
	/*
	 * Enough threads that slow requests never starve the rest: issuance
	 * does not hold one (engine_issue_async), but applying a config/
	 * document with verify_connection and rotate-root/ writes wait on
	 * PostgreSQL in the FUSE thread.
	 */
	if (cmd.singlethread) {
		ret = fuse_session_loop(se);
	} else {
		loop = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(loop, cmd.clone_fd);
		fuse_loop_cfg_set_max_threads(loop, cmd.max_threads ? cmd.max_threads : 64);
		ret = fuse_session_loop_mt(se, loop);
	}
	notify_send("STOPPING=1");
	fuse_remove_signal_handlers(se);
	/* The loop reports the signal that ended it: a requested stop is a clean exit. */
	if (ret == SIGTERM || ret == SIGINT || ret == SIGHUP)
		ret = 0;
	log_info("unmounting %s", cmd.mountpoint);
out:
	/*
	 * The FUSE loop has returned, so no request is running: no new issue,
	 * none in flight. Stop the engine's threads (their poll notifications
	 * use the session) before the session goes, then unmount.
	 */
	fs_closer_stop(&ctx);
	engine_stop(ctx.engine);
	if (mounted)
		fuse_session_unmount(se);
	if (se)
		fuse_session_destroy(se);
	fs_ctx_free(&ctx);
	engine_free(ctx.engine);
	docset_free(ctx.docs);
	fuse_loop_cfg_destroy(loop);
	free(cmd.mountpoint);
	free(o.state);
	free(o.key_file);
	free(o.audit_log);
	free(o.metrics_mode);
	free(o.fleet);
	free(o.fleet_key);
	free(o.node);
	free(o.fleet_schema);
	free(o.fleet_grace);
	free(o.fleet_retention);
	fuse_opt_free_args(&args);
	for (int i = 0; av && i < argc; i++)
		free(av[i]);
	free(av);
	return ret ? 1 : 0;
}
