#!/bin/bash
# tests/e2e/test_http_server.sh — an http.serve server in a teehost process, hit from outside
# with raw bytes (bash /dev/tcp) and curl: malformed requests get 4xx answers, the server keeps
# serving, handler errors are logged and answered 500, Ctrl-C stops it cleanly.
. "$(dirname "$0")/lib.sh"

cat >"$work/server.lua" <<'LUA'
local srv = assert(http.serve { port = 0, unix_socket = arg[2], max_header = 4096, max_body = 1024,
  handler = function(req)
    if req.path == "/boom" then error("kaboom in handler") end
    return { status = 200, json = { path = req.path, body = req.body } }
  end })
local f = assert(io.open(arg[1], "w"))
f:write(srv:port(), "\n")
f:close()
LUA
"$TEEHOST" "$work/server.lua" "$work/port" "$work/s.sock" >"$work/server.out" 2>"$work/server.err" &
server=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")

# raw REQUEST_BYTES: sends them, prints the status line of the answer (or "closed").
# The bytes go out in one write (cat of a file): if a request arrived in pieces, the server could
# answer an early error and close with bytes unread, and the kernel's reset may then discard
# the answer before we read it.
raw() {
  printf '%b' "$1" >"$work/request"
  exec 3<>"/dev/tcp/127.0.0.1/$port" || { echo "connect failed"; return; }
  cat "$work/request" >&3
  local line=""
  IFS= read -r -t 5 line <&3
  exec 3<&- 3>&-
  echo "${line%$'\r'}" | cut -c1-12
  [ -n "$line" ] || echo closed
}
expect_raw() { # NAME REQUEST WANT_STATUS_LINE_PREFIX
  got=$(raw "$2")
  case "$got" in "$3"*) pass "$1" ;; *) fail "$1" "got: $got" ;; esac
}
alive() {
  got=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/alive")
  [ "$got" = 200 ] && pass "still serving after: $1" || fail "still serving after: $1" "got: $got"
}

expect_raw "a well-formed request is answered" 'GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' "HTTP/1.1 200"
expect_raw "a garbage request line gets 400" 'GET / FOO/1.1\r\nHost: x\r\n\r\n' "HTTP/1.1 400"
alive "a garbage request line"
expect_raw "a header line without a colon gets 400" 'GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n' "HTTP/1.1 400"
alive "a header without a colon"
big=$(head -c 8000 /dev/zero | tr '\0' a)
expect_raw "oversized headers get 431" "GET / HTTP/1.1\r\nHost: x\r\nX-Big: $big\r\n\r\n" "HTTP/1.1 431"
alive "oversized headers"
expect_raw "an oversized body gets 413" 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\nabc' "HTTP/1.1 413"
alive "an oversized body"
expect_raw "a bad Content-Length gets 400" 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n' "HTTP/1.1 400"
raw 'POST /t HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly ten b' >/dev/null # then hang up
alive "a truncated body and a hang-up"
head -c 3000 /dev/urandom >"$work/noise"
{ exec 3<>"/dev/tcp/127.0.0.1/$port" && cat "$work/noise" >&3; exec 3<&- 3>&-; } 2>/dev/null
alive "3000 random bytes"

got=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$port/boom")
case "$got" in *" 500") pass "a handler error is answered 500" ;; *) fail "handler error -> 500" "$got" ;; esac
grep -q "http: GET /boom: .*kaboom in handler" "$work/server.err" && pass "a handler error is logged with its request" \
  || fail "handler error logged" "$(cat "$work/server.err")"
got=$(curl -s --unix-socket "$work/s.sock" "http://x/over-unix" -d 'hi')
[ "$got" = '{"body":"hi","path":"/over-unix"}' ] && pass "the same server answers on its Unix socket" || fail "unix socket" "$got"

kill -INT $server
wait $server
rc=$?
[ $rc = 130 ] && pass "Ctrl-C stops the server with status 130" || fail "Ctrl-C stops the server" "rc=$rc"
grep -qE "Sanitizer|runtime error:" "$work/server.err" && fail "no sanitizer report" "$(cat "$work/server.err")" || pass "no sanitizer report"
[ ! -e "$work/s.sock" ] && pass "the Unix socket file is removed on exit" || fail "socket file removed"
finish
