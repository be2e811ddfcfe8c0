/* SPDX-License-Identifier: MIT */
/*
 * engine.h - credfs's core as one object: the definitions (connections and
 * roles), their PostgreSQL pools, the lease table, the timer thread that
 * renews and revokes, and the watch on every lease's opener. fs/ calls
 * these functions and only translates paths and replies.
 *
 * Every function returns 0 or a negative errno meant for the FUSE reply
 * (-ENOENT unknown name, -EINVAL bad input, -EACCES refused by policy,
 * -EBUSY still needed, -EIO PostgreSQL refused or is unreachable) and, on
 * failure, a readable reason in errbuf (ENGINE_ERRLEN bytes, no secret),
 * which the engine also records in the error log (MOUNT/errors) with the
 * path and the caller's uid.
 *
 * Thread-safety: all functions may be called from any FUSE worker.
 */
#ifndef CREDFS_ENGINE_H
#define CREDFS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#include "credfmt.h"
#include "lease.h"
#include "role.h"
#include "secret.h"

#define ENGINE_ERRLEN 256

enum engine_kind {
	ENGINE_CONFIG,
	ENGINE_ROLE,
	ENGINE_STATIC, /* static-roles/NAME */
};

struct engine;

/* engine_new - an engine with no definitions; NULL on ENOMEM. */
struct engine *engine_new(void);

/*
 * engine_open_state - keep state durably in dir, encrypted under the key in
 * key_file (created 0600 when neither exists yet), and restore what an
 * earlier daemon left there: definitions, and leases, which are revoked
 * at once if expired, held again if bound to a process that still runs,
 * and otherwise let go now. Refuses damaged state, a wrong key or a key
 * others can read. Call before engine_start.
 */
int engine_open_state(struct engine *e, const char *dir, const char *key_file, char *errbuf)
	__attribute__((warn_unused_result));

/*
 * engine_open_audit - append the audit trail to path (see audit.h); call
 * after engine_open_state so password HMACs use the state's key.
 */
int engine_open_audit(struct engine *e, const char *path) __attribute__((warn_unused_result));

/*
 * engine_check_state - what engine_open_state would restore from dir, as
 * JSON on out; writes nothing. 0, or -errno with errbuf (a start would refuse).
 */
int engine_check_state(const char *dir, const char *key_file, FILE *out, char *errbuf)
	__attribute__((warn_unused_result));

/* engine_start - start the timer thread and the job workers. */
int engine_start(struct engine *e) __attribute__((warn_unused_result));

/*
 * engine_stop - shutting down: refuse new issues (-ESHUTDOWN), wait for the
 * issues in flight, then stop the timer and the workers (running jobs
 * finish, queued ones are due again after a restart). No callback (poll)
 * runs after it returns. Idempotent; NULL-safe.
 */
void engine_stop(struct engine *e);

/* engine_free - stop, drop every lease from memory (not from PostgreSQL), close the state. */
void engine_free(struct engine *e);

/*
 * engine_def_write - a document for config/NAME or roles/NAME, written by
 * uid. apply=false only validates what is there so far (the writer may
 * still be writing): 0 means nothing wrong yet, 1 "incomplete".
 * apply=true validates the complete document and replaces the definition
 * atomically; a connection with verify_connection is connected to first.
 */
int engine_def_write(struct engine *e, enum engine_kind kind, const char *name, const char *buf,
		     size_t len, bool apply, uid_t uid, char *errbuf)
	__attribute__((warn_unused_result));

/* engine_def_read - the definition as new JSON text (*out, malloc'd, *len bytes). */
int engine_def_read(struct engine *e, enum engine_kind kind, const char *name, char **out,
		    size_t *len);

/* engine_def_exists - whether the definition exists. */
bool engine_def_exists(struct engine *e, enum engine_kind kind, const char *name);

/* engine_def_delete - remove it; -EBUSY for a connection that live leases still need. */
int engine_def_delete(struct engine *e, enum engine_kind kind, const char *name, uid_t uid,
		      char *errbuf);

/* engine_def_names - the names, as a new JSON array of strings. */
json_t *engine_def_names(struct engine *e, enum engine_kind kind);

/* engine_role_get - a new reference to role name, or NULL. */
struct role *engine_role_get(struct engine *e, const char *name);

/* --- static roles (engine_static.c) ------------------------------------------
 * engine_def_* with ENGINE_STATIC are static-roles/NAME: a write of a new
 * one checks the user exists and (unless skip_import_rotation) rotates its
 * password before it returns; reads show the definition with
 * last_vault_rotation, next_rotation and last_error; delete stops managing
 * the user (it is never dropped).
 */

/* engine_static_get - a new reference to static role name, or NULL. */
struct static_role *engine_static_get(struct engine *e, const char *name);

/*
 * engine_static_creds - static-creds/NAME: Vault's JSON with the current
 * password (*body, new) and the rotation count it shows (*gen). -ENOENT.
 */
int engine_static_creds(struct engine *e, const char *name, struct secret **body, uint64_t *gen);

/*
 * engine_static_rotate - rotate-role/NAME: rotate now on the connection's
 * lane and wait (at most ENGINE_ROTATE_WAIT_MS) for the result.
 */
#define ENGINE_ROTATE_WAIT_MS 30000
int engine_static_rotate(struct engine *e, const char *name, uid_t uid, char *errbuf);

/*
 * engine_static_poll - whether name's password changed since gen; when
 * not and ph is not NULL, ph is kept (taken) under key and handed to the
 * poll function at the next change (a handle kept earlier under key is
 * returned in *old for the caller to free). When it changed, ph stays the
 * caller's.
 */
bool engine_static_poll(struct engine *e, const char *name, uint64_t gen, void *key, void *ph,
			void **old);

/* engine_static_poll_take - take back the poll handle kept under key (NULL if none). */
void *engine_static_poll_take(struct engine *e, void *key);

/*
 * engine_reset - reset/NAME: close the connection's pooled connections
 * (those in use when they come back) and connect again (SELECT 1).
 */
int engine_reset(struct engine *e, const char *name, uid_t uid, char *errbuf);

/* engine_rotate_root - rotate the root password of connection name. */
int engine_rotate_root(struct engine *e, const char *name, uid_t uid, char *errbuf);

/*
 * engine_issue - a fresh credential of role for holder: creates the login,
 * registers the lease and watches the opener. On success *lease is a new
 * reference and *body a new secret: the Vault-shaped JSON creds/ returns.
 */
int engine_issue(struct engine *e, const char *role, const struct lease_holder *holder,
		 struct lease **lease, struct secret **body, char *errbuf)
	__attribute__((warn_unused_result));

/*
 * engine_issue_done_fn - the end of an engine_issue_async: r and errbuf as
 * engine_issue; on success lease (a reference) and body (a secret) now
 * belong to the callee. Runs on an engine thread (or the caller's, for a
 * refusal found before any PostgreSQL work); may reply to FUSE from there.
 */
typedef void engine_issue_done_fn(void *arg, int r, struct lease *lease, struct secret *body,
				  const char *errbuf);

/*
 * engine_issue_async - engine_issue without holding the caller: the work
 * that waits on PostgreSQL runs on the role's connection's own workers
 * (bounded per connection), and done(arg, ...) is called exactly once when
 * it ends. holder is copied. Returns nothing: every outcome goes to done.
 */
void engine_issue_async(struct engine *e, const char *role, const struct lease_holder *holder,
			engine_issue_done_fn *done, void *arg);

/* A set of creds/ formats: ENGINE_FMT(CREDFMT_ENV) | ... */
#define ENGINE_FMT(f) (1U << (f))
#define ENGINE_NFMT   (CREDFMT_KEY_DATABASE + 1)
/* The five files of creds/ROLE.d/, from one lease. */
#define ENGINE_FMT_KEYS                                                        \
	(ENGINE_FMT(CREDFMT_KEY_USERNAME) | ENGINE_FMT(CREDFMT_KEY_PASSWORD) | \
	 ENGINE_FMT(CREDFMT_KEY_HOST) | ENGINE_FMT(CREDFMT_KEY_PORT) |         \
	 ENGINE_FMT(CREDFMT_KEY_DATABASE))

/*
 * What one issue hands out: the lease and, for each format asked for, its
 * body (the exact bytes of that creds/ file, in guarded memory).
 */
struct engine_creds {
	struct lease *lease; /* a reference */
	struct secret *body[ENGINE_NFMT]; /* indexed by enum credfmt; NULL if not asked for */
};

/* engine_creds_clear - drop the reference and wipe the bodies (not a let-go); NULL-safe. */
void engine_creds_clear(struct engine_creds *cr);

/*
 * engine_issue_fmt_done_fn - the end of an engine_issue_fmt_async: r and
 * errbuf as engine_issue; on success the contents of *cr (borrowed
 * struct) belong to the callee, which moves them out or calls
 * engine_creds_clear. On failure *cr is empty. Threads as
 * engine_issue_done_fn.
 */
typedef void engine_issue_fmt_done_fn(void *arg, int r, struct engine_creds *cr,
				      const char *errbuf);

/*
 * engine_issue_fmt_async - engine_issue_async for the creds/ files of
 * other formats (README "Credential formats"): one lease, and the body of
 * each format in fmts (ENGINE_FMT bits, not 0), rendered by credfmt from
 * the lease's username, its password and the target of the connection's
 * connection_url (never the root's user or password). A connection_url
 * that cannot be rendered in a format asked for fails with -EINVAL before
 * any login is created. file names the file for errors ("db-app.env").
 */
void engine_issue_fmt_async(struct engine *e, const char *role, unsigned fmts, const char *file,
			    const struct lease_holder *holder, engine_issue_fmt_done_fn *done,
			    void *arg);

/*
 * engine_metrics - the metrics file: Prometheus text exposition format
 * (version 0.0.4), no secret; *out malloc'd, *len bytes.
 */
int engine_metrics(struct engine *e, char **out, size_t *len);

/*
 * engine_poll_fn - wakes a poller of a creds/ file whose lease is ending
 * (poll is the handle given to engine_poll, now owned by the callee).
 */
typedef void engine_poll_fn(void *poll);

/* engine_set_poll_fn - how to wake pollers; call before engine_start. */
void engine_set_poll_fn(struct engine *e, engine_poll_fn *fn);

/*
 * engine_poll - whether lease is ending (see lease_table_is_ending); when
 * poll is not NULL it is kept (taken) and handed to the poll function once
 * the lease is ending; a poll handle kept earlier is returned in *old for
 * the caller to free (NULL if none).
 */
bool engine_poll(struct engine *e, struct lease *lease, void *poll, void **old);

/* engine_poll_take - take back the poll handle kept for lease (NULL if none). */
void *engine_poll_take(struct engine *e, struct lease *lease);

/* engine_closed - the open file of lease saw its last release. */
void engine_closed(struct engine *e, struct lease *lease);

/* engine_lease_json - a live lease as new JSON text, or -ENOENT. */
int engine_lease_read(struct engine *e, const char *role, const char *id, char **out, size_t *len);

/*
 * engine_lease_revoke - revoke a live lease now (rm leases/ROLE/ID); the
 * request is durable before it returns (-EIO when it cannot be recorded).
 */
int engine_lease_revoke(struct engine *e, const char *role, const char *id, uid_t uid);

/* engine_lease_ids - ids of role's live leases (new JSON array); role NULL: role names. */
json_t *engine_lease_ids(struct engine *e, const char *role);

/* engine_errors - the error log lines visible to uid (new malloc'd text). */
int engine_errors(struct engine *e, uid_t uid, char **out, size_t *len);

/* engine_note_error - record an error the fs layer found itself. */
void engine_note_error(struct engine *e, uid_t uid, const char *path, const char *reason);

/* --- several hosts (engine_fleet.c) ---------------------------------------------- */

/*
 * engine_open_fleet - join the fleet whose control store conninfo reaches
 * (fleet.h), as node (NULL: the host name), in schema (NULL: credfs),
 * sealing secrets under key_file (must exist, 0600); a dead node's leases
 * are claimed grace_s seconds after its last heartbeat; their rows are
 * deleted retention_s seconds after their revocation (<= 0: a day). After
 * engine_open_state, before mounting. -EBUSY: node runs elsewhere.
 */
int engine_open_fleet(struct engine *e, const char *conninfo, const char *key_file,
		      const char *node, const char *schema, int grace_s, int retention_s,
		      char *errbuf) __attribute__((warn_unused_result));

/* engine_has_fleet - whether --fleet was given. */
bool engine_has_fleet(struct engine *e);

/*
 * engine_fleet_names - the names of fleet/leases/ (role NULL), of
 * fleet/leases/ROLE/, or of fleet/nodes/ (nodes): a new array.
 */
json_t *engine_fleet_names(struct engine *e, bool nodes, const char *role);

/* engine_fleet_read - fleet/leases/ROLE/ID (id set) or fleet/nodes/NAME (role NULL) as JSON text. */
int engine_fleet_read(struct engine *e, const char *role, const char *id, char **out, size_t *len);

/* engine_fleet_revoke - rm fleet/leases/ROLE/ID: this node's lease now, another's by request. */
int engine_fleet_revoke(struct engine *e, const char *role, const char *id, uid_t uid);

#endif
