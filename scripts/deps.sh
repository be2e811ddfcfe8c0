#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# deps.sh - install what building and testing credfs needs (Debian 12).
#
# Idempotent: when every package is installed and the PostgreSQL 15 server
# binary exists, it touches nothing (no apt at all). Otherwise it runs
# `apt-get update` once and installs the whole list. Needs root for that.
#
# Installing postgresql-15 makes Debian create and start a "main" cluster on
# port 5432; credfs's scripts never use it (scripts/pg-scratch.sh runs its
# own initdb on a random port), so the install runs with a policy-rc.d that
# forbids starting services, and any cluster it started anyway is stopped.
set -euo pipefail

PG_SERVER=/usr/lib/postgresql/15/bin/postgres

PACKAGES=(
	gcc libc6-dev make cmake pkg-config clang libclang-rt-14-dev clang-format
	libfuse3-dev fuse3
	libsodium-dev libjansson-dev libpq-dev
	postgresql-15 postgresql-client-15
	jq python3 busybox-static podman runc
	util-linux mount procps psmisc
)

log() {
	printf 'deps: %s\n' "$*"
}

pkg_installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for p in "${PACKAGES[@]}"; do
	pkg_installed "$p" || missing+=("$p")
done
if [ ! -x "$PG_SERVER" ] && ! printf '%s\n' "${missing[@]}" | grep -qx postgresql-15; then
	missing+=(postgresql-15)
fi

if [ ${#missing[@]} -eq 0 ]; then
	log "all ${#PACKAGES[@]} packages present, nothing to install"
	exit 0
fi

log "missing: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	log "error: installing packages needs root; run: sudo $0" >&2
	exit 1
fi

# Keep the Debian cluster from starting during the install (see above).
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	own_policy=1
fi
cleanup() {
	if [ "$own_policy" = 1 ]; then
		rm -f "$policy"
	fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
log "apt-get update"
apt-get update -q
log "apt-get install -y ${PACKAGES[*]}"
apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"

# Stop any cluster that came up anyway (for example on a system whose own
# policy-rc.d allows it): our tests use their own data directory and port.
if command -v pg_lsclusters >/dev/null 2>&1; then
	pg_lsclusters -h 2>/dev/null | while read -r ver name _port status _rest; do
		case "$status" in
		online*)
			log "stopping Debian cluster $ver/$name (credfs uses its own)"
			pg_ctlcluster "$ver" "$name" stop || true
			;;
		esac
	done
fi

if [ ! -x "$PG_SERVER" ]; then
	log "error: $PG_SERVER still missing after install" >&2
	exit 1
fi
log "done"
