#!/usr/bin/env bash
# Drives the real `digis-relay tui --no-relay` in a detached tmux terminal (100x30):
# start, see the counts, select the failed row, retry it, check the database, quit, and check
# that the process exited 0 and the terminal was restored.
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
sqlite3 "$DB" <<'SQL'
INSERT INTO business_unit (id, name) VALUES (1, 'Stamina Centrum');
INSERT INTO person (id, unit_id, first_name, last_name, birth_date, sex, allow_sms, mobile_country_code, mobile_number, card_number)
VALUES (7, 1, 'Anna', 'Svensson', '1990-05-17', 'FEMALE', 1, '46', '070-123 45 67', '34231451'),
       (8, 1, 'Bo', 'Ek', '1985-01-02', 'MALE', 1, '46', '070-765 43 21', '34231452'),
       (9, 1, 'Cia', 'Lund', NULL, NULL, 1, '46', 'not a number', '34231453');
INSERT INTO subscription (id, status, start_date, max_end) VALUES (863, 'ACTIVE', '2026-01-01', '2027-12-31');
INSERT INTO subscription_user (subscription_id, person_id) VALUES (863, 7), (863, 8), (863, 9);
UPDATE digis_outbox SET state = 'failed', attempts = 1, last_http_status = 400,
       last_error = 'MobileNumber: not a valid mobile number'
 WHERE person_id = 9;
SQL
FAILED_ID="$(sqlite3 "$DB" "SELECT id FROM digis_outbox WHERE state = 'failed'")"
[ -n "$FAILED_ID" ] || die "the fixture has no failed row"

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

tmux -L "$SOCK" -f /dev/null new-session -d -s "$SESSION" -x 100 -y 30 "$WORK/run.sh quit"

wait_for "pending 2  sending 0  sent 0  failed 1"
echo "tui-e2e: counts shown"
[ -z "${E2E_SHOW:-}" ] || pane

# Filter to failed rows: all -> pending -> sending -> sent -> failed.
for _ in 1 2 3 4; do keys f; done
wait_for "[failed]"
wait_for "MobileNumber: not a valid"
keys r
wait_for "row $FAILED_ID queued again"
[ "$(state_of "$FAILED_ID")" = "pending" ] || die "row $FAILED_ID is $(state_of "$FAILED_ID"), expected pending"
wait_for "pending 3  sending 0  sent 0  failed 0"
echo "tui-e2e: row $FAILED_ID retried (database: pending)"
[ -z "${E2E_SHOW:-}" ] || pane

keys q
await_exit quit
echo "tui-e2e: quit cleanly with q ($result)"

# SIGTERM (a service manager or `kill`): the terminal is restored all the same.
tmux -L "$SOCK" kill-session -t "$SESSION"
tmux -L "$SOCK" -f /dev/null new-session -d -s "$SESSION" -x 100 -y 30 "$WORK/run.sh sigterm"
wait_for "pending 3  sending 0  sent 0  failed 0"
shell_pid="$(tmux -L "$SOCK" display-message -p -t "$SESSION" '#{pane_pid}')"
dash_pid="$(pgrep -P "$shell_pid" -x digis-relay || true)"
[ -n "$dash_pid" ] || die "cannot find the dashboard process under pane pid $shell_pid"
kill -TERM "$dash_pid"
await_exit sigterm
echo "tui-e2e: SIGTERM restored the terminal ($result)"
echo "tui-e2e: OK"
