#!/usr/bin/env bash
# Drives the real `digis-relay tui --no-relay` in a detached tmux terminal (100x30):
# start, see the counts, select the failed row, retry it, check the database; open the Failures
# view, see a gym's group and its members, retry the whole group (y/n with the count), check the
# database; at 180 columns open the detail beside the table and move the selection; filter the
# Log view; quit, and check that the process exited 0 and the terminal was restored.
#
# Needs tmux and sqlite3. BIN=path/to/digis-relay skips the build (the Rust test `tui_e2e`
# passes the binary cargo built for it).
set -euo pipefail

die() { echo "tui-e2e: FAIL: $*" >&2; [ -n "${SOCK:-}" ] && pane >&2 || true; exit 1; }
command -v tmux >/dev/null || die "tmux is not installed"
command -v sqlite3 >/dev/null || die "the sqlite3 command-line tool is not installed"

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${BIN:-}" ]; then
    (cd "$ROOT" && cargo build --quiet --bin digis-relay)
    BIN="$ROOT/target/debug/digis-relay"
fi
[ -x "$BIN" ] || die "no binary at $BIN"

WORK="$(mktemp -d)"
DB="$WORK/e2e.db"
URL="sqlite://$DB"
# A tmux server of our own, so nothing else running in tmux is touched.
SOCK="digis-e2e-$$"
SESSION="dash"
cleanup() {
    tmux -L "$SOCK" kill-server 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

pane() { tmux -L "$SOCK" capture-pane -p -t "$SESSION" 2>/dev/null || true; }

# wait_for TEXT [SECONDS]: polls the screen until TEXT shows.
wait_for() {
    local text="$1" limit="${2:-30}" start=$SECONDS
    until pane | grep -qF -- "$text"; do
        (( SECONDS - start < limit )) || die "\"$text\" did not appear within ${limit}s"
        sleep 0.2
    done
}

state_of() { sqlite3 "$DB" "SELECT state FROM digis_outbox WHERE id = $1"; }

cd "$WORK"
"$BIN" --database-url "$URL" migrate --host-schema >/dev/null
# Subscription 864 (unit 2, two landlines) is saved first, so subscription 863's failed row is
# the newest: the Outbox shows it on top. Rows 10 and 11 failed as the relay fails them (text,
# field and rule); row 9 with an older text, so it belongs to the "other" group.
sqlite3 "$DB" <<'SQL'
INSERT INTO business_unit (id, name) VALUES (1, 'Stamina Centrum'), (2, 'Stamina Väst');
INSERT INTO person (id, unit_id, first_name, last_name, birth_date, sex, allow_sms, mobile_country_code, mobile_number, card_number)
VALUES (7, 1, 'Anna', 'Svensson', '1990-05-17', 'FEMALE', 1, '46', '070-123 45 67', '34231451'),
       (8, 1, 'Bo', 'Ek', '1985-01-02', 'MALE', 1, '46', '070-765 43 21', '34231452'),
       (9, 1, 'Cia', 'Lund', NULL, NULL, 1, '46', 'not a number', '34231453'),
       (10, 2, 'Dag', 'Berg', NULL, NULL, 1, '46', '08-123 456 78', '34231460'),
       (11, 2, 'Eva', 'Holm', NULL, NULL, 1, '46', '08-123 456 79', '34231461');
INSERT INTO subscription (id, status, start_date, max_end) VALUES (864, 'ACTIVE', '2026-01-01', '2027-12-31');
INSERT INTO subscription_user (subscription_id, person_id) VALUES (864, 10), (864, 11);
INSERT INTO subscription (id, status, start_date, max_end) VALUES (863, 'ACTIVE', '2026-01-01', '2027-12-31');
INSERT INTO subscription_user (subscription_id, person_id) VALUES (863, 7), (863, 8), (863, 9);
UPDATE digis_outbox SET state = 'failed', attempts = 1, last_http_status = 400,
       last_error = 'MobileNumber: not a valid mobile number'
 WHERE person_id = 9;
UPDATE digis_outbox SET state = 'failed', attempts = 1,
       last_error = 'person ' || person_id || ' (subscription 864): MobileNumber: not a mobile number for region SE',
       fail_field = 'MobileNumber', fail_rule = 'not a mobile number for region SE'
 WHERE person_id IN (10, 11);
SQL
FAILED_ID="$(sqlite3 "$DB" "SELECT id FROM digis_outbox WHERE person_id = 9 AND state = 'failed'")"
[ -n "$FAILED_ID" ] || die "the fixture has no failed row"
GROUP_IDS="$(sqlite3 "$DB" "SELECT group_concat(id, ' ') FROM digis_outbox WHERE person_id IN (10, 11) AND state = 'failed'")"
[ "$(echo "$GROUP_IDS" | wc -w)" = 2 ] || die "the fixture's group has rows '$GROUP_IDS', expected two"

cat > run.sh <<RUN
#!/usr/bin/env bash
before=\$(stty -g)
NO_COLOR=1 "$BIN" --database-url "$URL" --log-dir "$WORK/logs" tui --no-relay
rc=\$?
after=\$(stty -g)
if [ "\$before" = "\$after" ]; then restored=yes; else restored=no; fi
echo "rc=\$rc restored=\$restored" > "$WORK/result.\$1"
echo "E2E-SHELL-AGAIN"
exec sleep 600
RUN
chmod +x run.sh

keys() { tmux -L "$SOCK" send-keys -t "$SESSION" "$@"; }
# await_exit NAME: waits for run.sh's result file and checks it.
await_exit() {
    local start=$SECONDS
    until [ -f "$WORK/result.$1" ]; do
        (( SECONDS - start < 15 )) || die "the dashboard did not exit within 15s ($1)"
        sleep 0.2
    done
    result="$(cat "$WORK/result.$1")"
    [ "$result" = "rc=0 restored=yes" ] || die "after $1: $result (expected rc=0 restored=yes)"
    wait_for "E2E-SHELL-AGAIN" 5
    ! pane | grep -qF "1 Outbox" || die "the dashboard is still on screen after $1 (alternate screen not left)"
}

# A session that outlives the dashboard's: killing the last session ends the tmux server, and a
# new session started while it is ending fails ("server exited unexpectedly").
tmux -L "$SOCK" -f /dev/null new-session -d -s keep "sleep 600"
tmux -L "$SOCK" new-session -d -s "$SESSION" -x 100 -y 30 "$WORK/run.sh quit"

wait_for "pending 2  sending 0  sent 0  failed 3"
echo "tui-e2e: counts shown"
[ -z "${E2E_SHOW:-}" ] || pane

# Filter to failed rows: all -> pending -> sending -> sent -> failed.
for _ in 1 2 3 4; do keys f; done
wait_for "[failed]"
wait_for "MobileNumber: not a valid"
keys r
wait_for "row $FAILED_ID queued again"
[ "$(state_of "$FAILED_ID")" = "pending" ] || die "row $FAILED_ID is $(state_of "$FAILED_ID"), expected pending"
wait_for "pending 3  sending 0  sent 0  failed 2"
echo "tui-e2e: row $FAILED_ID retried (database: pending)"
[ -z "${E2E_SHOW:-}" ] || pane

# The Failures view: one gym's group, its members, then the whole group retried after a y/n
# that states the count.
keys 5
wait_for "Stamina Väst"
wait_for "MobileNumber: not a mobile number for region SE"
wait_for "2 row(s) in 1 group(s)"
keys Enter
wait_for "Dag Berg"
wait_for "Eva Holm"
echo "tui-e2e: Failures view shows the group and its members"
[ -z "${E2E_SHOW:-}" ] || pane
keys r
wait_for "Are you sure?"
wait_for "2 row(s) go back"
keys n
wait_for "cancelled: nothing changed"
for id in $GROUP_IDS; do
    [ "$(state_of "$id")" = "failed" ] || die "row $id is $(state_of "$id") after n, expected failed"
done
keys r
wait_for "2 row(s) go back"
keys y
wait_for "2 row(s) back to pending"
for id in $GROUP_IDS; do
    [ "$(state_of "$id")" = "pending" ] || die "row $id is $(state_of "$id"), expected pending"
done
events="$(sqlite3 "$DB" "SELECT COUNT(*) FROM digis_event WHERE action = 'retry_failure_group'")"
[ "$events" = 2 ] || die "$events retry_failure_group event(s) recorded, expected 2"
wait_for "pending 5  sending 0  sent 0  failed 0"
keys Escape
wait_for "no failed rows: nothing to fix"
echo "tui-e2e: group of rows $GROUP_IDS retried from the Failures view (database: pending, 2 events)"
[ -z "${E2E_SHOW:-}" ] || pane

# 180 columns (tmux resizes the terminal, so the dashboard must follow a resize): Enter opens
# the detail beside the table, and it follows the selection.
read -r TOP SECOND <<<"$(sqlite3 "$DB" "SELECT group_concat(id, ' ') FROM (SELECT id FROM digis_outbox ORDER BY id DESC LIMIT 2)")"
keys 1
keys f f
wait_for "[all]"
tmux -L "$SOCK" resize-window -t "$SESSION" -x 180 -y 30
keys Enter
wait_for "Row $TOP "
pane | grep -qF "last error / note" || die "the table is not beside the detail at 180 columns"
keys Down
wait_for "Row $SECOND "
keys Escape
echo "tui-e2e: at 180 columns the detail sits beside the table and follows the selection"
[ -z "${E2E_SHOW:-}" ] || pane

# The Log view: what the dashboard did, filtered.
keys 4
wait_for "dashboard action: retry failure group"
wait_for "dashboard action: Retry"
keys f
keys -l "failure group"
keys Enter
wait_for "[failure group]"
! pane | grep -qF "dashboard action: Retry" || die "the log filter let another line through"
echo "tui-e2e: the Log view filters"
[ -z "${E2E_SHOW:-}" ] || pane

keys q
await_exit quit
echo "tui-e2e: quit cleanly with q ($result)"

# SIGTERM (a service manager or `kill`): the terminal is restored all the same.
tmux -L "$SOCK" kill-session -t "$SESSION"
tmux -L "$SOCK" new-session -d -s "$SESSION" -x 100 -y 30 "$WORK/run.sh sigterm"
wait_for "pending 5  sending 0  sent 0  failed 0"
shell_pid="$(tmux -L "$SOCK" display-message -p -t "$SESSION" '#{pane_pid}')"
dash_pid="$(pgrep -P "$shell_pid" -x digis-relay || true)"
[ -n "$dash_pid" ] || die "cannot find the dashboard process under pane pid $shell_pid"
kill -TERM "$dash_pid"
await_exit sigterm
echo "tui-e2e: SIGTERM restored the terminal ($result)"
echo "tui-e2e: OK"
