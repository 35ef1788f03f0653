#!/bin/bash
# tests/e2e/test_phala_deploy_interactive.sh — `teehost phala deploy -i` on a real terminal (tmux)
# against the fake Phala Cloud (tests/lua/fake_phala_cloud.lua in a child teehost, reached through
# PHALA_CLOUD_API_PREFIX): the questions and their defaults (the compose file and .env found here,
# the directory's name, the first node and image from the API), a bad answer asked again with the
# reason, the summary with the compose hash and the same command without questions, 'y' creates
# the CVM with the answers (checked in the fake and with `cvms list --json`), 'n' and Ctrl-D
# create nothing, and -i off a terminal is a usage error that names the flags to pass instead.
. "$(dirname "$0")/lib.sh"
command -v tmux >/dev/null || { echo "tmux missing: scripts/install-deps.sh installs it"; exit 1; }
T=$TEEHOST
export HOME="$work/home" PHALA_CLOUD_DIR="$work/home/.phala-cloud" PHALA_CLOUD_API_KEY=phak_test_0123456789abcdef
unset PHALA_CLOUD_CVM_UUID CLOUD_URL TEEHOST_PHALA_TIMEOUT
proj="$work/My Agent" # the default name comes from it: "my-agent"
mkdir -p "$HOME" "$proj"
cd "$proj" || exit 1

# ---- the fake, with a control server beside it (GET /requests, POST /clear, GET /cvm/<ref>) -------
cat >"$work/fake.lua" <<'LUA'
local fake = require "fake_phala_cloud"
local srv, state = fake.start { decrypt = phala.decrypt_env }
local function control(req)
  local ref = req.path:match("^/cvm/(.+)$")
  if req.path == "/clear" then
    state.requests = {}
  elseif req.path == "/requests" then
    local out = json.array {}
    for i, r in ipairs(state.requests) do out[i] = { method = r.method, path = r.path, json = r.json or json.null } end
    return { status = 200, json = out }
  elseif ref then
    local cvm = state.find(ref)
    if not cvm then return { status = 404, json = { detail = "no such CVM" } } end
    return { status = 200, json = { name = cvm.name, vcpu = cvm.vcpu, memory = cvm.memory, disk_size = cvm.disk_size,
      image = cvm.image, node = cvm.node.teepod_id, compose_hash = cvm.compose_hash, env = cvm.env or json.null } }
  end
  return { status = 200, json = { ok = true } }
end
local ctl = assert(http.serve { host = "127.0.0.1", port = 0, handler = control })
print(state.url .. " http://127.0.0.1:" .. ctl:port())
io.stdout:flush()
while srv and ctl do task.sleep(3600) end
LUA
sock="th-deploy-i-$$"
tm() { tmux -L "$sock" "$@"; }
sock_path="${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/$sock"
trap 'tm kill-server 2>/dev/null; rm -f "$sock_path"; kill "$fake_pid" 2>/dev/null; wait "$fake_pid" 2>/dev/null
  rm -rf "$work"' EXIT
start_fake "$work/fake.lua"
read -r API CTL <"$work/urls"
export PHALA_CLOUD_API_PREFIX=$API

cat >docker-compose.yml <<'YML'
services:
  app:
    image: alice/teehost-demo:0.1.0
    environment:
      - GREETING=${GREETING}
YML
printf 'GREETING=hello from a prompt\n' >.env

# ---- driving a terminal ---------------------------------------------------------------------------
# run_tty ARGS...: starts `$pre teehost phala deploy ARGS` in a fresh tmux pane; stdout goes to
# $work/out, the exit status to $work/rc; everything the terminal shows is also kept in
# $work/screen.log (for sanitizer reports, which go to the terminal with stderr).
pre=""
ses=d0
run_tty() {
  rm -f "$work/out" "$work/rc"
  # A fresh session per run, and the old one killed only after it: killing the last session
  # stops the server, and a new-session racing that exit fails ("server exited unexpectedly").
  local old=$ses
  ses="d$((${ses#d} + 1))"
  local args="" a
  for a in "$@"; do args="$args '$a'"; done
  tm new-session -d -s "$ses" -x 200 -y 50 -c "$proj" \
    "ASAN_OPTIONS='${ASAN_OPTIONS:-}' $pre '$T' phala deploy$args >'$work/out'; echo \$? >'$work/rc'; sleep 60"
  tm kill-session -t "$old" 2>/dev/null
  tm pipe-pane -t "$ses" "cat >>'$work/screen.log'"
}
screen() { tm capture-pane -p -J -S -200 -t "$ses"; }
# count TEXT: how many lines of the screen hold TEXT
count() { screen | grep -cF -- "$1"; }
# wait_for TEXT [N]: until TEXT shows on N lines (default 1), 10 s at most
wait_for() {
  for _ in $(seq 100); do [ "$(count "$1")" -ge "${2:-1}" ] && return 0; sleep 0.1; done
  return 1
}
# answer PROMPT TEXT [N]: once PROMPT shows (N times), types TEXT and Enter
answer() {
  if ! wait_for "$1" "${3:-1}"; then fail "prompt '$1' shows" "$(screen)"; return 1; fi
  tm send-keys -t "$ses" -l -- "$2"
  tm send-keys -t "$ses" Enter
}
expect_screen() { # NAME TEXT [N]
  if wait_for "$2" "${3:-1}"; then pass "$1"; else fail "$1" "screen lacks: $2" "$(screen)"; fi
}
# ended WANT_RC NAME: waits for the command's exit status and checks it
ended() {
  for _ in $(seq 150); do [ -s "$work/rc" ] && break; sleep 0.1; done
  local rc
  rc=$(cat "$work/rc" 2>/dev/null)
  if [ "$rc" = "$1" ]; then pass "$2"; else fail "$2" "exit status '$rc', want $1" "$(screen)"; fi
}
# check_py NAME PYTHON: PYTHON is true, with out = stdout parsed as JSON (or None), screen = the
# terminal's text, paths() = the requests the fake saw since the last POST /clear, cvm(ref) = the
# fake's stored CVM, cvms = `teehost phala cvms list --json`.
check_py() {
  ctl GET /requests >"$work/reqs.json"
  screen >"$work/screen.txt"
  "$T" phala cvms list --json >"$work/list.json" 2>"$work/list.err"
  if python3 - "$work" "$CTL" "$2" <<'PY' 2>"$work/pyerr"; then pass "$1"; else fail "$1" "$(cat "$work/pyerr")" "$(screen)"; fi
import json, re, sys, urllib.request
work, ctl, expr = sys.argv[1:4]
try:
    out = json.load(open(work + "/out"))
except Exception:
    out = None
screen = open(work + "/screen.txt").read()
reqs = json.load(open(work + "/reqs.json"))
cvms = json.load(open(work + "/list.json"))
def cvm(ref):
    return json.load(urllib.request.urlopen(ctl + "/cvm/" + ref))
def names():
    return [c.get("name") or (c.get("hosted") or {}).get("name") for c in cvms]
def paths(): # without the GET /cvms of the cvms list above
    return [r["method"] + " " + r["path"] for r in reqs if (r["method"], r["path"]) != ("GET", "/cvms")]
if not eval("(" + expr.strip() + ")"):
    print("false:", expr, "\nrequests:", paths(), "\nCVMs:", names(), file=sys.stderr)
    sys.exit(1)
PY
}

# ---- 1: every value asked; a bad name and a bad size asked again; 'y' creates --------------------
ctl POST /clear >/dev/null
run_tty -i --json
answer "Docker compose file [docker-compose.yml]:" ""
answer "CVM name [my-agent]:" "x"
expect_screen "a name that breaks the rule is refused with the reason" "a CVM name has 3 to 20 characters, 'x' has 1"
answer "CVM name [my-agent]:" "teehost-int" 2
answer "Env file, its names become allowed_envs ('none': no env) [.env]:" ""
answer "vCPUs [1]:" "2"
answer "Memory in MB (or a size like 4G) [2048]:" "lots"
expect_screen "a bad memory size is refused with the flag's reason" "needs MB or a size like 2G, got 'lots'"
answer "Memory in MB (or a size like 4G) [2048]:" "4G" 2
answer "Disk size in GB [40]:" ""
expect_screen "the nodes come from the API, numbered, with ids and images" "images: dstack-0.3.6, dstack-0.5.3"
check_py "… every node, in the API's order" 're.search(r"1\) prod5 +id 3 +us-west +images: dstack-0.3.6, dstack-0.5.3\n", screen)
  and re.search(r"2\) base-node-6 +id 6 +eu-central +images: dstack-0.5.3", screen)' 
answer "Node (number or name) [1]:" "7"
expect_screen "a node number out of the list is refused" "'7' is not in the list: give a number from 1 to 2 or a name"
answer "Node (number or name) [1]:" "" 2
expect_screen "the images are those of the chosen node" "2) dstack-0.5.3"
answer "Image (number or name) [1]:" "2"
expect_screen "a summary shows the compose hash before anything is created" "Compose hash:"
expect_screen "… and the same deployment without questions" \
  "teehost phala deploy -c docker-compose.yml -n teehost-int -e .env --vcpu 2 --memory 4096 --disk-size 40 --node-id 3 --image dstack-0.5.3 --json"
check_py "… after a provision only: nothing is created before the answer" \
  'paths() == ["GET /teepods/available", "POST /cvms/provision"] and "teehost-int" not in names()'
answer "Create CVM teehost-int on node prod5? [y/N]" "y"
ended 0 "'y' creates the CVM and exits 0"
check_py "… the CVM has the answers" '
  out["success"] is True and out["name"] == "teehost-int" and out["image"] == "dstack-0.5.3" and out["node_id"] == 3
  and cvm(out["app_id"])["vcpu"] == 2 and cvm(out["app_id"])["memory"] == 4096 and cvm(out["app_id"])["disk_size"] == 40
  and cvm(out["app_id"])["image"] == "dstack-0.5.3" and "teehost-int" in names()'
check_py "… with the .env encrypted to it, and the hash shown is the one committed" '
  cvm(out["app_id"])["env"] == [{"key": "GREETING", "value": "hello from a prompt"}]
  and out["allowed_envs"] == ["GREETING"] and ("Compose hash: " + out["compose_hash"]) in screen.replace("\n", "")
  and paths() == ["GET /teepods/available", "POST /cvms/provision", "POST /cvms"]'

# ---- 2: flags are not asked again; 'n' at the confirmation creates nothing --------------------------
ctl POST /clear >/dev/null
run_tty -i -n teehost-no -e .env --vcpu 1 --memory 2G --disk-size 40 --node-id 3
answer "Docker compose file [docker-compose.yml]:" "nope.yml"
expect_screen "a missing compose file is refused with the reason" "cannot read nope.yml: No such file or directory"
answer "Docker compose file [docker-compose.yml]:" "-" 2
expect_screen "'-' (stdin) is refused: stdin is the terminal" "stdin is this terminal: give a file's path"
answer "Docker compose file [docker-compose.yml]:" "docker-compose.yml" 3
answer "Image (number or name) [1]:" "dstack-0.3.6"
answer "Create CVM teehost-no on node prod5? [y/N]" "n"
ended 1 "'n' at the confirmation exits 1"
expect_screen "… saying nothing was changed" "Cancelled: nothing was changed"
check_py "… only the values no flag gave were asked" '
  "CVM name [" not in screen and "vCPUs [" not in screen and "Memory in MB" not in screen
  and "Node (number" not in screen and "Env file, " not in screen and "Docker compose file [" in screen'
check_py "… and no CVM was created" '"POST /cvms" not in paths() and "teehost-no" not in names()'

# ---- 3: Ctrl-D at a question stops with exit 2, before any request --------------------------------
ctl POST /clear >/dev/null
run_tty -i
answer "Docker compose file [docker-compose.yml]:" ""
if wait_for "CVM name [my-agent]:"; then tm send-keys -t "$ses" C-d; fi
ended 2 "Ctrl-D at a question exits 2"
expect_screen "… saying it stopped before creating anything" "no answer (end of input): stopped before creating anything"
check_py "… and sent no request" 'paths() == []'

# Ctrl-C at a question stops at once (exit 130), without waiting for Enter, and sends nothing.
ctl POST /clear >/dev/null
run_tty -i
answer "Docker compose file [docker-compose.yml]:" ""
if wait_for "CVM name [my-agent]:"; then tm send-keys -t "$ses" C-c; fi
ended 130 "Ctrl-C at a question exits 130 at once"
check_py "… and sent no request" 'paths() == []'

# ---- 4: --yes skips the confirmation; every value by flag leaves nothing to ask -------------------
ctl POST /clear >/dev/null
run_tty -i --yes -c docker-compose.yml -n teehost-yes -e .env --vcpu 1 --memory 2048 --disk-size 20 --node-id 3 \
  --image dstack-0.3.6 --json
ended 0 "-i with every value as a flag and --yes asks nothing and creates the CVM"
check_py "… no question, no confirmation, the summary still shown" '
  "? [y/N]" not in screen and "[1]:" not in screen and "About to create this CVM:" in screen
  and out["name"] == "teehost-yes" and "teehost-yes" in names()'

# ---- 5: --dry-run asks only what the app-compose holds and sends nothing ----------------------------
ctl POST /clear >/dev/null
run_tty -i --dry-run -e none.env
ended 1 "-e with a missing file fails before any question"
check_py "… naming the file" '"cannot read none.env" in screen and "Docker compose file [" not in screen'
run_tty -i --dry-run -e .env
answer "Docker compose file [docker-compose.yml]:" ""
answer "CVM name [my-agent]:" ""
ended 0 "-i --dry-run asks for the compose file and name, then shows the hash"
check_py "… no size, node or image asked, nothing sent, the default name used" '
  "vCPUs [" not in screen and "Node (number" not in screen and paths() == []
  and "Compose hash:" in open(work + "/out").read() and "my-agent" in open(work + "/out").read()'

# ---- 6: without an API key, -i says so before asking anything ------------------------------------
pre="env -u PHALA_CLOUD_API_KEY"
run_tty -i
ended 1 "-i without an API key fails before the first question"
check_py "… saying how to give one" '"no API key" in screen and "Docker compose file [" not in screen'
pre=""

# ---- off a terminal ---------------------------------------------------------------------------------
check "-i off a terminal is a usage error naming the flags to pass" 2 "" \
  "-i asks questions, so it needs a terminal (stdin and stderr); off a terminal give the values as flags" -- \
  "$T" phala deploy -i
ctl POST /clear >/dev/null
check "… also with every flag given, before any request" 2 "" "needs a terminal" -- \
  "$T" phala deploy -i -c docker-compose.yml --node-id 3 --yes
check_py "… nothing sent" 'paths() == []'
check "-i with --uuid is a usage error" 2 "" "-i asks for a new CVM's settings" -- \
  "$T" phala deploy -i --uuid teehost-int docker-compose.yml
check "-i with -c - is a usage error (stdin is the terminal)" 2 "" "not '-'" -- "$T" phala deploy -i -c -

if grep -qaE "Sanitizer|runtime error:|stack traceback" "$work/screen.log"; then
  fail "no sanitizer report or stack trace on the terminal" "$(grep -aE -m5 "Sanitizer|runtime error:|traceback" "$work/screen.log")"
else pass "no sanitizer report or stack trace on the terminal"; fi
if grep -qa "hello from a prompt\|phak_test" "$work/screen.log"; then
  fail "the terminal never shows an env value or the API key"
else pass "the terminal never shows an env value or the API key"; fi
finish
