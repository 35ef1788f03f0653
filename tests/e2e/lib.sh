# tests/e2e/lib.sh — sourced by the e2e tests: assertions that count, and a closing summary line.
# $TEEHOST is the binary under test (set by CTest).
set -u
: "${TEEHOST:?set TEEHOST to the teehost binary}"
passed=0
failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

pass() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "not ok - $1"; shift; for l in "$@"; do printf '  %s\n' "$l"; done; }

# check NAME WANT_RC WANT_STDOUT_SUBSTRING WANT_STDERR_SUBSTRING -- CMD...
# Runs CMD, checks its exit status and that stdout/stderr contain the given text ("" = any),
# and that no sanitizer complained.
check() {
  name=$1 want_rc=$2 want_out=$3 want_err=$4
  shift 5
  "$@" >"$work/out" 2>"$work/err" </dev/null
  rc=$?
  sanitized
  verdict "$name" "$rc" "$want_rc" "$want_out" "$want_err"
}

sanitized() {
  if grep -q -E "Sanitizer|runtime error:" "$work/err"; then san=1; else san=0; fi
}

verdict() {
  name=$1 rc=$2 want_rc=$3 want_out=$4 want_err=$5
  if [ "$rc" != "$want_rc" ]; then
    fail "$name" "exit status $rc, want $want_rc" "stdout: $(head -c 600 "$work/out")" "stderr: $(head -c 1500 "$work/err")"
  elif [ -n "$want_out" ] && ! grep -qF -- "$want_out" "$work/out"; then
    fail "$name" "stdout lacks: $want_out" "stdout: $(head -c 600 "$work/out")"
  elif [ -n "$want_err" ] && ! grep -qF -- "$want_err" "$work/err"; then
    fail "$name" "stderr lacks: $want_err" "stderr: $(head -c 1500 "$work/err")"
  elif [ "$san" = 1 ]; then
    fail "$name" "sanitizer report:" "$(head -c 3000 "$work/err")"
  else
    pass "$name"
  fi
}

# Runs CMD in the background, sends SIGINT after DELAY seconds, and records like check().
check_interrupted() {
  name=$1 delay=$2 want_rc=$3 want_out=$4 want_err=$5
  shift 6
  "$@" >"$work/out" 2>"$work/err" </dev/null &
  pid=$!
  sleep "$delay"
  kill -INT "$pid"
  wait "$pid"
  rc=$?
  sanitized
  verdict "$name" "$rc" "$want_rc" "$want_out" "$want_err"
}

finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# start_fake LUA_FILE: runs a fake server script (it prints its URLs on one line, then serves)
# in the background and waits for that line; sets fake_pid and leaves the line in $work/urls.
# The caller's EXIT trap must kill "$fake_pid".
start_fake() {
  LUA_PATH="$TEEHOST_SOURCE/tests/lua/?.lua;;" "$TEEHOST" "$1" >"$work/urls" 2>"$work/fake.err" &
  fake_pid=$!
  for _ in $(seq 100); do [ -s "$work/urls" ] && break; sleep 0.1; done
  if [ ! -s "$work/urls" ]; then echo "the fake did not start: $(cat "$work/fake.err")"; exit 1; fi
}

# ctl METHOD PATH [BODY]: a request to a fake's control port ($CTL).
ctl() { curl -sf -X "$1" "$CTL$2" ${3:+-d "$3"}; }

# ck: check, keeping every output in $work/all so a test can finally assert that none holds a
# stack trace or a secret.
: >"$work/all"
ck() {
  check "$@"
  cat "$work/out" "$work/err" >>"$work/all"
}
