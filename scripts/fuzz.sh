#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# fuzz.sh - build and run credfs's libFuzzer targets (tests/fuzz/fuzz_*.c).
#
#   scripts/fuzz.sh                      every target for 10 s (the short run)
#   FUZZ_SECONDS=600 scripts/fuzz.sh     the long run: 10 minutes per target
#   scripts/fuzz.sh fuzz_params ...      only these targets
#
# Builds with clang (FUZZ_CC overrides) and -DCREDFS_FUZZ=ON into
# build-fuzz/: the code under test gets ASan, UBSan and coverage, each
# target -fsanitize=fuzzer. Each target runs on its corpus directory
# build-fuzz/corpus/<target>, seeded with realistic inputs the first time
# and kept across runs, so every run starts where the last one stopped.
# Prints the executions per target; exits 1 if any target crashed, leaked,
# timed out or broke one of its checks (the input is kept as
# build-fuzz/artifacts/<target>-crash-..., and `build-fuzz/<target> FILE`
# replays it), 77 without clang.
# shellcheck disable=SC2016,SC1003 # SQL and JSON in single quotes, on purpose
set -euo pipefail

cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-10}
FUZZ_CC=${FUZZ_CC:-clang}
B=build-fuzz

if ! command -v "$FUZZ_CC" >/dev/null 2>&1; then
	echo "fuzz.sh: $FUZZ_CC missing (apt-get install clang); skipped" >&2
	exit 77
fi

if [ $# -gt 0 ]; then
	targets=("$@")
else
	targets=()
	for f in tests/fuzz/fuzz_*.c; do
		targets+=("$(basename "$f" .c)")
	done
fi

echo "fuzz.sh: building ${targets[*]} into $B/ with $FUZZ_CC"
mkdir -p "$B"
cmake -S . -B "$B" -DCMAKE_C_COMPILER="$FUZZ_CC" -DCREDFS_FUZZ=ON \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >"$B/configure.log" 2>&1 || {
	cat "$B/configure.log" >&2
	exit 1
}
cmake --build "$B" -j"$(nproc)" --target "${targets[@]}"

# ---- seeds: a few inputs each target meets in real use --------------------------
# seed TARGET NAME TEXT - write TEXT as a seed unless the corpus already has it.
seed() {
	local dir=$B/corpus/$1
	mkdir -p "$dir"
	[ -e "$dir/seed-$2" ] || printf '%s' "$3" >"$dir/seed-$2"
}

CREATE='CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '"'"'{{password}}'"'"' VALID UNTIL '"'"'{{expiration}}'"'"'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{{name}}";'
URL='postgresql://{{username}}:{{password}}@127.0.0.1:5432/wizard?sslmode=disable'

seed fuzz_params role-kv "db_name=wizard
creation_statements=$CREATE
revocation_statements=ALTER ROLE \"{{name}}\" NOLOGIN;
default_ttl=1h
max_ttl=24h
"
seed fuzz_params role-kv-options "# the service's role
db_name=wizard
creation_statements=CREATE ROLE \"{{name}}\" LOGIN \\
  PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';
renew_statements=ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiration}}';
default_ttl=90s
max_ttl=1h30m
lease_binding=process
terminate_sessions=false
creds_owner=0
creds_group=0
creds_mode=0440
"
seed fuzz_params role-json "$(jq -cn --arg c "$CREATE" '{db_name: "wizard",
	creation_statements: [$c, "DO $$ BEGIN RAISE NOTICE '"'"'a;b'"'"'; END $$"],
	default_ttl: 3600, max_ttl: "24h", credential_type: "password",
	rollback_statements: [], creds_mode: "0400"}')"
seed fuzz_params config-kv "plugin_name=postgresql-database-plugin
allowed_roles=\"*\"
connection_url=$URL
username=postgres
password=password
"
seed fuzz_params config-json "$(jq -cn --arg u "$URL" '{plugin_name: "postgresql-database-plugin",
	connection_url: $u, username: "postgres", password: "p@ss w\"rd",
	allowed_roles: ["db-app", "report-*"], verify_connection: false,
	max_open_connections: 4, max_idle_connections: -1, max_connection_lifetime: "5m",
	password_authentication: "scram-sha-256", password_length: 24,
	root_rotation_statements: ["ALTER ROLE \"{{name}}\" WITH PASSWORD '"'"'{{password}}'"'"'"]}')"
seed fuzz_params config-conninfo "plugin_name=postgresql-database-plugin
allowed_roles=db-app, readonly
connection_url=host=127.0.0.1 port=5432 dbname=wizard user={{username}} password={{password}}
username=vault
password=secret
password_authentication=password
"

for d in 0 90s 30m 1h 1h30m 24h 7d 3600 1h2m3s 768h; do
	seed fuzz_dur "$d" "$d"
done

seed fuzz_tmpl create "$CREATE"
seed fuzz_tmpl spaces 'ALTER ROLE "{{ name }}" VALID UNTIL '"'"'{{ expiration }}'"'"';'
seed fuzz_tmpl array "SELECT '{{1,2},{3,4}}'::int[], '{{}}', \"{{username}}\";"
seed fuzz_tmpl url "$URL"

seed fuzz_utmpl vault '{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}'
seed fuzz_utmpl functions '{{- .RoleName | replace "o" "0" | uppercase -}}_{{ "x" | sha256 | truncate_sha256 12 }}_{{ uuid }}{{/* c */}}'
seed fuzz_utmpl strings '{{ printf "%s-%d-%v%%" `raw` 42 (unix_time_millis) | lowercase | base64 }}'

seed fuzz_sqlsplit create "$CREATE"
seed fuzz_sqlsplit quotes "COMMENT ON ROLE \"a;b\"\"c\" IS 'x''; y'; SELECT E'\\\\'';' AS \"q;\"; SELECT 1"
seed fuzz_sqlsplit dollar 'DO $body$ BEGIN RAISE NOTICE $$;$$; END $body$; SELECT $1;'
seed fuzz_sqlsplit comments '/* a; /* nested; */ b; */ SELECT 1; -- c; d
SELECT 2 -- ;'

# Dictionaries: the words the parsers look for.
mkdir -p "$B/dict"
{
	for k in db_name creation_statements revocation_statements renew_statements \
		rollback_statements default_ttl max_ttl credential_type lease_binding \
		terminate_sessions creds_owner creds_group creds_mode plugin_name plugin_version \
		connection_url username password allowed_roles verify_connection \
		max_open_connections max_idle_connections max_connection_lifetime \
		password_authentication root_rotation_statements password_length username_template \
		postgresql-database-plugin scram-sha-256 handle process '{{name}}' '{{password}}' \
		'{{expiration}}' '{{username}}' true false '$$'; do
		printf '"%s"\n' "$k"
	done
	printf '"%s"\n' '\\\x0a' '\x0a' '=' '{' '}' '[' ']' '\"' # a continuation, lines, JSON
} >"$B/dict/fuzz_params.dict"
printf '"%s"\n' '{{' '}}' '{{name}}' '{{password}}' '{{expiration}}' '{{username}}' \
	>"$B/dict/fuzz_tmpl.dict"
printf '"%s"\n' "'" '"' '$$' '$a$' "E'" '/*' '*/' '--' ';' '\\' "U&'" >"$B/dict/fuzz_sqlsplit.dict"
printf '"%s"\n' h m s d 0 9 >"$B/dict/fuzz_dur.dict"
printf '"%s"\n' '{{' '}}' '{{- ' ' -}}' '|' '(' ')' '`' '.DisplayName' '.RoleName' printf random \
	truncate truncate_sha256 sha256 base64 uppercase lowercase replace uuid unix_time \
	unix_time_millis '%s' '%d' '%v' '/*' '*/' >"$B/dict/fuzz_utmpl.dict"

# ---- run ----------------------------------------------------------------------------
mkdir -p "$B/artifacts" "$B/logs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
summary=()
for t in "${targets[@]}"; do
	log=$B/logs/$t.log
	dict=()
	[ -f "$B/dict/$t.dict" ] && dict=(-dict="$B/dict/$t.dict")
	echo "fuzz.sh: $t for ${FUZZ_SECONDS}s (log $log)"
	rc=0
	"$B/$t" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -timeout=10 \
		-rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$B/artifacts/$t-" "${dict[@]}" \
		"$B/corpus/$t" >"$log" 2>&1 || rc=$?
	execs=$(awk '/^stat::number_of_executed_units:/ { print $2 }' "$log")
	rate=$(awk '/^stat::average_exec_per_sec:/ { print $2 }' "$log")
	corpus=$(find "$B/corpus/$t" -type f | wc -l)
	if [ "$rc" -ne 0 ]; then
		failed+=("$t")
		echo "fuzz.sh: $t FAILED (status $rc):" >&2
		grep -E 'ERROR: |SUMMARY: |^    #[0-9]+ |Test unit written to|Leak|deadly signal' "$log" |
			head -n 40 >&2 || true
	fi
	summary+=("$(printf '%-16s %12s %10s %8s  %s' "$t" "${execs:-?}" "${rate:-?}" "$corpus" \
		"$([ "$rc" -eq 0 ] && echo ok || echo "FAILED ($rc)")")")
done

echo
printf '%-16s %12s %10s %8s  %s\n' target executions exec/s corpus result
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz.sh: failed: ${failed[*]} (inputs in $B/artifacts/)" >&2
	exit 1
fi
echo "fuzz.sh: no crash, no leak (${FUZZ_SECONDS}s per target)"
