#!/bin/bash
# tests/e2e/test_repl_tty.sh — `teehost repl` on a real terminal (tmux): prompt, printing,
# tab completion, history file, Ctrl-C on a running line and at the prompt, Ctrl-D.
. "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null || { echo "tmux missing: scripts/install-deps.sh installs it"; exit 1; }

sock="th-test-$$"
home="$work/home"
tm() { tmux -L "$sock" "$@"; }
screen() { tm capture-pane -p -t repl; }
# wait_for TEXT: until the screen shows TEXT (5 s at most)
wait_for() {
  for _ in $(seq 50); do screen | grep -qF -- "$1" && return 0; sleep 0.1; done
  return 1
}
expect_screen() { # NAME TEXT
  if wait_for "$2"; then pass "$1"; else fail "$1" "screen lacks: $2" "$(screen)"; fi
}
cleanup() { tm kill-server 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

tm new-session -d -s repl -x 120 -y 40 \
  "TEEHOST_HOME='$home' ASAN_OPTIONS='${ASAN_OPTIONS:-}' '$TEEHOST' repl 2>'$work/err'; echo \$? >'$work/rc'; sleep 30"
expect_screen "the REPL greets and prompts" "Ctrl-D to leave"

tm send-keys -t repl '1+1' Enter
expect_screen "an expression prints its value" "2"

tm send-keys -t repl 'string.forma' Tab
expect_screen "Tab completes a field of a global table" "> string.format"
tm send-keys -t repl '("%05d", 42)' Enter
expect_screen "the completed call runs" "00042"

tm send-keys -t repl 'task.sleep(30)' Enter
sleep 0.5
tm send-keys -t repl C-c
for _ in $(seq 30); do grep -q interrupted "$work/err" && break; sleep 0.1; done
grep -q interrupted "$work/err" && pass "Ctrl-C interrupts the running line" || fail "Ctrl-C interrupts the line" "$(cat "$work/err")"
tm send-keys -t repl 'print("back" .. "again")' Enter
expect_screen "the prompt comes back after an interrupt" "backagain"

tm send-keys -t repl 'half typed line'
tm send-keys -t repl C-c
expect_screen "Ctrl-C at the prompt drops the typed line" "^C"
tm send-keys -t repl 'print("clean" .. "line")' Enter
expect_screen "the next line runs normally" "cleanline"

tm send-keys -t repl C-d
for _ in $(seq 50); do [ -s "$work/rc" ] && break; sleep 0.1; done
rc=$(cat "$work/rc" 2>/dev/null)
[ "$rc" = 0 ] && pass "Ctrl-D leaves with status 0" || fail "Ctrl-D leaves with status 0" "rc=$rc" "$(cat "$work/err")"
grep -qE "Sanitizer|runtime error:" "$work/err" && fail "no sanitizer report" "$(cat "$work/err")" || pass "no sanitizer report"

hist="$home/history"
grep -qxF '1+1' "$hist" 2>/dev/null && pass "lines are saved in \$TEEHOST_HOME/history" || fail "history saved" "$(cat "$hist" 2>&1)"
[ "$(stat -c %a "$hist")" = 600 ] && pass "the history file is 0600" || fail "history mode" "$(stat -c %a "$hist")"
[ "$(stat -c %a "$home")" = 700 ] && pass "\$TEEHOST_HOME is created 0700" || fail "home mode" "$(stat -c %a "$home")"

# A $TEEHOST_HOME that others can read is refused with a message saying how to fix it.
chmod 755 "$home"
tm kill-session -t repl 2>/dev/null
rm -f "$work/rc"
tm new-session -d -s repl -x 120 -y 40 \
  "TEEHOST_HOME='$home' '$TEEHOST' repl 2>'$work/err2'; echo \$? >'$work/rc'; sleep 30"
expect_screen "the REPL still starts" "Ctrl-D to leave"
tm send-keys -t repl C-d
for _ in $(seq 50); do [ -s "$work/rc" ] && break; sleep 0.1; done
grep -q "is accessible by group or others (mode 755).*chmod 700 $home" "$work/err2" \
  && pass "a group-readable \$TEEHOST_HOME is refused with a fix-it message" \
  || fail "open home refused" "$(cat "$work/err2")"

finish
