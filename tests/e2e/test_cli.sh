#!/bin/bash
# tests/e2e/test_cli.sh — the teehost command line from the outside: commands, exit codes,
# error reports, arguments, Ctrl-C, and the REPL on a pipe.
. "$(dirname "$0")/lib.sh"
T=$TEEHOST

check "a closed stdin is no crash (fds 0-2 are reopened on /dev/null)" 0 "ok" "" -- bash -c \
  "'$T' -e 'local s = assert(http.serve{port = 0, handler = print}); s:close(); print(\"ok\")' <&-"
check "--version names teehost and Lua" 0 "teehost 0.1.0 (Lua 5.4" "" -- "$T" --version
check "-e runs a chunk" 0 "2" "" -- "$T" -e 'print(1 + 1)'
check "help lists the commands" 0 "repl" "" -- "$T" help
check "help COMMAND shows its usage" 0 "usage: teehost run SCRIPT" "" -- "$T" help run
check "help of an unknown command is a usage error" 2 "" "no command 'nope'" -- "$T" help nope
check "an unknown command lists the valid ones" 2 "" "unknown command 'frobnicate'. Commands:" -- "$T" frobnicate
check "the list names repl" 2 "" "  repl" -- "$T" frobnicate
check "an unknown flag lists the valid options" 2 "" "unknown option '--frob'. Options: -e CHUNK" -- "$T" --frob
check "-e without a chunk is a usage error" 2 "" "-e needs a chunk" -- "$T" -e
check "run without a script is a usage error" 2 "" "run needs a script" -- "$T" run

cat >"$work/args.lua" <<'LUA'
print(arg[0], arg[1], arg[2], select("#", ...), ...)
LUA
check "a script gets arg and ... like lua" 0 "$work/args.lua	one	two	2	one	two" "" -- "$T" "$work/args.lua" one two
check "teehost run SCRIPT works the same" 0 "	x	nil	1	x" "" -- "$T" run "$work/args.lua" x

printf 'local x = 1\nlocal y = 2\nerror("boom at three")\n' >"$work/err.lua"
check "a runtime error exits 1 with file:line" 1 "" "err.lua:3: boom at three" -- "$T" "$work/err.lua"
check "a runtime error prints a traceback" 1 "" "stack traceback:" -- "$T" "$work/err.lua"
printf 'local x = 1\nlocal = 2\n' >"$work/syntax.lua"
check "a non-string error object is named, exits 1" 1 "" "(error object is a table value)" -- "$T" -e 'error({})'
check "a syntax error exits 1 with file:line" 1 "" "syntax.lua:2:" -- "$T" "$work/syntax.lua"
check "a missing script exits 1 and says so" 1 "" "cannot open $work/nope.lua" -- "$T" "$work/nope.lua"
check "an error inside a spawned task is reported and exits 1" 1 "" "task failed here" -- \
  "$T" -e 'task.spawn(function() task.sleep(0.01) error("task failed here") end)'
check "the process waits for spawned tasks" 0 "late" "" -- \
  "$T" -e 'task.spawn(function() task.sleep(0.05) print("late") end)'
check "tasks that can never finish are reported" 1 "" "can never finish" -- "$T" -e '
  local a, b
  a = task.spawn(function() task.yield() b:join() end)
  b = task.spawn(function() task.yield() a:join() end)'
check "os.exit sets the exit status" 3 "" "" -- "$T" -e 'os.exit(3)'

echo 'print("from stdin")' >"$work/stdin.lua"
out=$("$T" - <"$work/stdin.lua" 2>&1)
[ "$out" = "from stdin" ] && pass "a script on stdin runs with -" || fail "a script on stdin runs with -" "$out"

# Embedded scripts work from any directory; TEEHOST_PATH overrides them from disk.
check "embedded modules load from any directory" 0 "{1, 2}" "" -- \
  sh -c "cd / && '$T' -e 'print(require(\"teehost.pretty\").format({1, 2}))'"
mkdir -p "$work/dev/scripts/teehost"
echo 'return { format = function() return "from disk" end }' >"$work/dev/scripts/teehost/pretty.lua"
check "TEEHOST_PATH overrides embedded scripts" 0 "from disk" "" -- \
  env TEEHOST_PATH="$work/dev" "$T" -e 'print(require("teehost.pretty").format({}))'

# The REPL on a pipe: no prompt, expressions print, multi-line chunks, errors don't stop it.
repl() { printf "$1" | "$T" repl 2>&1; }
[ "$(repl '1+1\n')" = "2" ] && pass "echo '1+1' | teehost repl prints 2" || fail "repl prints 2" "$(repl '1+1\n')"
out=$(repl 'function f(x)\n  return x * 3\nend\nf(4)\n')
[ "$out" = "12" ] && pass "the REPL continues incomplete chunks" || fail "repl multi-line" "$out"
out=$(repl 'error("bad line")\nprint("still here")\n')
case "$out" in *"bad line"*"still here"*) pass "an error in one line does not end the REPL" ;;
  *) fail "repl error recovery" "$out" ;; esac
out=$(repl 't = {1, "a", {x = {y = {z = {w = 1}}}}}\nt\n')
[ "$out" = '{1, "a", {x = {y = {z = {...}}}}}' ] && pass "the REPL pretty-prints tables, depth-limited" || fail "repl pretty" "$out"
out=$(repl 'c = {}; c.self = c\nc\n')
[ "$out" = '{self = <cycle>}' ] && pass "the REPL marks cycles" || fail "repl cycles" "$out"
out=$(repl 'task.sleep(0.01); return "async ok"\n')
[ "$out" = "async ok" ] && pass "async calls work at the REPL" || fail "repl async" "$out"
out=$(repl 'function g()\n')
case "$out" in *"'end' expected"*) pass "an unfinished chunk at end of input is a syntax error" ;;
  *) fail "repl unfinished chunk" "$out" ;; esac

# Ctrl-C: cancels cleanly (ASan checks leaks at exit) and exits 130.
check_interrupted "Ctrl-C while waiting exits 130" 0.5 130 "" "interrupted" -- "$T" -e 'task.sleep(30)'
check_interrupted "Ctrl-C stops a busy Lua loop" 0.5 130 "" "interrupted" -- "$T" -e 'while true do end'
cat >"$work/busy.lua" <<'LUA'
local srv = assert(http.serve{port = 0, handler = function() task.sleep(30) return "never" end})
for i = 1, 20 do
  task.spawn(function() http.request{url = "http://127.0.0.1:" .. srv:port() .. "/" .. i} end)
end
task.spawn(function() task.sleep(30) end)
print("serving")
LUA
check_interrupted "Ctrl-C with a server and requests in flight exits 130 without leaks" 1 130 "serving" "interrupted" -- "$T" "$work/busy.lua"

# Ctrl-C in the REPL interrupts only the running line.
( printf 'while true do end\n'; sleep 1.5; printf 'print("after")\n' ) | "$T" repl >"$work/out" 2>"$work/err" &
pid=$!
sleep 0.7
kill -INT $pid
wait $pid
rc=$?
if [ $rc = 0 ] && grep -q after "$work/out" && grep -q interrupted "$work/err"; then
  pass "Ctrl-C in the REPL interrupts the line, not the REPL"
else
  fail "Ctrl-C in the REPL" "rc=$rc" "$(cat "$work/out" "$work/err")"
fi

# task.read_line: stdin a line at a time without blocking the loop (pipes, files, end of input).
check "task.read_line reads lines (CRLF too), then nil at the end" 0 "1 one|2 two|3 three|4 nil" "" -- bash -c \
  "printf 'one\\ntwo\\r\\nthree' | '$T' -e 'local t = {} for i = 1, 4 do t[i] = i .. \" \" .. tostring(task.read_line()) end
   print(table.concat(t, \"|\"))'"
check "task.read_line writes its prompt and reads a regular file" 0 "p> x" "" -- bash -c \
  "printf 'x\\n' > '$work/in.txt'; '$T' -e 'print(task.read_line(\"p> \"))' < '$work/in.txt'"
check "task.read_line keeps the loop running while it waits" 0 "got	late" "" -- bash -c \
  "(sleep 0.3; echo late) | '$T' -e 'task.spawn(function() print(\"got\", task.read_line()) end)
   task.spawn(function() print(\"tick\") end) task.yield() print(pcall(task.read_line))'"
if grep -qx "tick" "$work/out" && grep -qF "another task is already reading standard input" "$work/out"; then
  pass "… other tasks ran meanwhile, and a second reader is refused"
else
  fail "… other tasks ran meanwhile, and a second reader is refused" "$(cat "$work/out")"
fi
finish
