#!/bin/bash
# tests/e2e/test_phala_docker.sh — `teehost phala docker login|build|push|generate`
# (shared/specs/phala-cloud.md 4.1, 4.2). No Docker daemon runs here: a stand-in `docker`, first
# on PATH, records each call's argv and stdin and exits with a chosen status. Checked: the exact
# argv of each command, that the password reaches docker on stdin only (never in an argv, an
# output or a file), the compose files generate writes (the 1.0.35 vector's .env as input), a
# missing docker, and docker's failures.
# shellcheck disable=SC2016 # ${NAME} in single quotes is compose's syntax, not the shell's
. "$(dirname "$0")/lib.sh"
T=$TEEHOST
export HOME="$work/home" PHALA_CLOUD_DIR="$work/phala"
export DOCKER_LOG="$work/docker.log"
mkdir -p "$HOME" "$work/bin" "$work/armbin" "$work/empty" "$work/proj/docker"
cd "$work/proj" || exit 1

# The stand-in: one line per call, each argument in [ ]; stdin (for --password-stdin, as docker
# reads it) in $DOCKER_LOG.stdin; `docker images` prints $FAKE_DOCKER_IMAGES; a non-zero
# $FAKE_DOCKER_RC makes it print $FAKE_DOCKER_ERR on stderr and exit with it.
cat >"$work/bin/docker" <<'SH'
#!/bin/sh
{ for a in "$@"; do printf '[%s]' "$a"; done; echo; } >>"$DOCKER_LOG"
for a in "$@"; do [ "$a" = --password-stdin ] && cat >"$DOCKER_LOG.stdin"; done
if [ "${FAKE_DOCKER_RC:-0}" != 0 ]; then
  echo "${FAKE_DOCKER_ERR:-fake docker failed}" >&2
  exit "$FAKE_DOCKER_RC"
fi
case $1 in
  login) echo "Login Succeeded" ;;
  build) echo "Step 1/1 : FROM debian:12-slim"; echo "Successfully tagged x" ;;
  push) echo "latest: digest: sha256:0123 size: 1234" ;;
  images) printf '%s\n' "${FAKE_DOCKER_IMAGES:-}" ;;
esac
SH
printf '#!/bin/sh\necho aarch64\n' >"$work/armbin/uname"
chmod +x "$work/bin/docker" "$work/armbin/uname"
export PATH="$work/bin:$PATH"

# Through the dispatcher once scripts/commands/phala.lua is there, else the module directly.
if "$T" phala docker --help 2>/dev/null | grep -q "teehost phala docker login"; then
  ph() { "$T" phala docker "$@"; }
else
  echo "# scripts/commands/phala.lua not in this build: calling require 'phala_cli.docker' directly"
  ph() { "$T" -e 'return require("phala_cli.docker")({...})' "$@"; }
fi
with_stdin() { input=$1; shift; printf '%s' "$input" | "$@"; }
reset() { rm -f "$DOCKER_LOG" "$DOCKER_LOG.stdin"; }
log() { cat "$DOCKER_LOG" 2>/dev/null; }

# check_log NAME WANT: the stand-in's argv log equals WANT (one line per call).
check_log() {
  if [ "$(log)" = "$2" ]; then pass "$1"; else fail "$1" "want: $2" "got:  $(log)"; fi
}
# check_same NAME FILE WANT_TEXT: FILE holds exactly WANT_TEXT.
check_same() {
  if printf '%s' "$3" | cmp -s - "$2"; then pass "$1"
  else fail "$1" "$(printf '%s' "$3" | diff -u - "$2" | head -40)"; fi
}
# check_absent NAME TEXT FILE...: TEXT appears in none of the files.
check_absent() {
  name=$1 text=$2
  shift 2
  if grep -rqF -- "$text" "$@" 2>/dev/null; then fail "$name" "found in: $(grep -rlF -- "$text" "$@")"
  else pass "$name"; fi
}

PW='s3cret pa$$ "word"'

# ---- login ------------------------------------------------------------------------------------
reset
check "login --password-stdin" 0 "Docker user alice saved to $PHALA_CLOUD_DIR/docker-credentials.json" "" -- \
  with_stdin "$PW" ph login -u alice --password-stdin
check_log "login runs docker login -u USER --password-stdin" "[login][-u][alice][--password-stdin]"
check_same "login gives docker the password on stdin" "$DOCKER_LOG.stdin" "$PW"
check "docker's own output is shown" 0 "Login Succeeded" "" -- with_stdin "$PW" ph login -u alice --password-stdin
check_same "login saves the user, no secret (spec 2.5)" "$PHALA_CLOUD_DIR/docker-credentials.json" \
  "$("$T" -e 'io.write(json.encode({username = "alice", registry = json.null}, {indent = 2}))')
"
check "the credentials file is 0600" 0 "600" "" -- stat -c %a "$PHALA_CLOUD_DIR/docker-credentials.json"
check "its directory is 0700" 0 "700" "" -- stat -c %a "$PHALA_CLOUD_DIR"

reset
check "login -r REGISTRY" 0 "Docker user bob for ghcr.io saved" "" -- \
  with_stdin "$PW" ph login --username bob --registry ghcr.io --password-stdin
check_log "login puts the registry before -u" "[login][ghcr.io][-u][bob][--password-stdin]"
check "and saves it" 0 '"registry": "ghcr.io"' "" -- cat "$PHALA_CLOUD_DIR/docker-credentials.json"

reset
check "login -p warns that the command line is visible" 0 "saved" "prefer --password-stdin" -- \
  ph login -u alice -p "$PW"
check_log "login -p still sends the password on stdin" "[login][-u][alice][--password-stdin]"
check_same "the -p password reached docker's stdin" "$DOCKER_LOG.stdin" "$PW"

reset
check "login --json prints data only (docker's output goes to stderr)" 0 '"username": "alice"' "Login Succeeded" -- \
  with_stdin "$PW" ph login -u alice --password-stdin --json
cp "$work/out" "$work/login.json"
check "the --json output parses" 0 "alice" "" -- \
  "$T" -e 'print(json.decode(io.open(arg[1]):read("a")).username)' "$work/login.json"
check_absent "the password is in no argv, output or saved file" 'pa$$' \
  "$DOCKER_LOG" "$work/out" "$work/err" "$PHALA_CLOUD_DIR"

reset
check "a trailing newline on stdin is not part of the password" 0 "" "" -- \
  with_stdin "$PW"$'\n' ph login -u alice --password-stdin
check_same "docker got the password without it" "$DOCKER_LOG.stdin" "$PW"

reset
check "login without a password and no terminal is a usage error" 2 "" "pipe it with --password-stdin" -- \
  ph login -u alice
check "login without -u and no terminal is a usage error" 2 "" "docker login: needs -u USER" -- \
  with_stdin "$PW" ph login --password-stdin
check "-p and --password-stdin together are refused" 2 "" "not both" -- \
  with_stdin "$PW" ph login -u alice -p x --password-stdin
check_log "docker was not run for those" ""

reset
rm -rf "$PHALA_CLOUD_DIR"
export FAKE_DOCKER_RC=1 FAKE_DOCKER_ERR="Error response from daemon: unauthorized: incorrect username or password"
check "a failing docker login exits 1 with docker's message" 1 "" "incorrect username or password" -- \
  with_stdin "$PW" ph login -u alice --password-stdin
check "and says which command failed" 1 "" "docker login failed (exit status 1)" -- \
  with_stdin "$PW" ph login -u alice --password-stdin
check "and saves nothing" 1 "" "" -- test -e "$PHALA_CLOUD_DIR/docker-credentials.json"
check_absent "not even then is the password shown" 'pa$$' "$work/out" "$work/err"
unset FAKE_DOCKER_RC FAKE_DOCKER_ERR

# ---- build ------------------------------------------------------------------------------------
reset
check "build without a saved user says how to get one" 1 "" "run \`teehost phala docker login\` first" -- \
  ph build -i teehost -t 0.1.0
with_stdin "$PW" ph login -u alice --password-stdin >/dev/null 2>&1
check "build without a Dockerfile names it" 1 "" "no Dockerfile here" -- ph build -i teehost -t 0.1.0
echo "FROM debian:12-slim" >Dockerfile
cp Dockerfile docker/Dockerfile.agent
reset
check "build" 0 "Built alice/teehost:0.1.0" "" -- ph build -i teehost -t 0.1.0
check_log "build runs docker build -t USER/IMAGE:TAG -f Dockerfile ." \
  "[build][-t][alice/teehost:0.1.0][-f][Dockerfile][.]"
reset
check "build -f, default tag" 0 "Step 1/1" "" -- ph build --image teehost --file docker/Dockerfile.agent
check_log "build -f FILE, tag latest" "[build][-t][alice/teehost:latest][-f][docker/Dockerfile.agent][.]"
reset
check "build -u overrides the saved user" 0 "" "" -- ph build -i teehost -t 2 -u bob
check_log "with bob's name" "[build][-t][bob/teehost:2][-f][Dockerfile][.]"
reset
check "build on an arm host" 0 "" "" -- env PATH="$work/armbin:$PATH" "$T" -e \
  'return require("phala_cli.docker")({...})' build -i teehost -t 1
check_log "adds --platform linux/amd64 before the context" \
  "[build][-t][alice/teehost:1][-f][Dockerfile][--platform][linux/amd64][.]"
reset
check "arguments reach docker as single words" 0 "" "" -- ph build -i "x; touch pwned" -t "it's"
check_log "even with ; and '" "[build][-t][alice/x; touch pwned:it's][-f][Dockerfile][.]"
check "and no shell ran them" 1 "" "" -- test -e pwned
reset
check "build --json" 0 '"image": "alice/teehost:3"' "Successfully tagged" -- ph build -i teehost -t 3 --json
export FAKE_DOCKER_RC=1 FAKE_DOCKER_ERR="ERROR: failed to solve: process \"/bin/sh -c make\" did not complete"
check "a failing build exits 1 with docker's message" 1 "" "failed to solve" -- ph build -i teehost -t 4
check "and says which command failed" 1 "" "docker build failed (exit status 1)" -- ph build -i teehost -t 4
export FAKE_DOCKER_RC=3
check "whatever docker's status" 1 "" "docker build failed (exit status 3)" -- ph build -i teehost -t 4
unset FAKE_DOCKER_RC FAKE_DOCKER_ERR
check "build without -i is a usage error" 2 "" "docker build: needs -i IMAGE" -- ph build -t 1

# ---- push -------------------------------------------------------------------------------------
reset
check "push -i" 0 "Pushed alice/teehost:0.1.0" "" -- ph push -i alice/teehost:0.1.0
check_log "push runs docker push IMAGE" "[push][alice/teehost:0.1.0]"
reset
export FAKE_DOCKER_IMAGES="alice/teehost:0.1.0
bob/other:1
alice/old:<none>
alice/agent:latest"
check "push without -i and no terminal lists alice's images" 2 "" \
  "local images: alice/teehost:0.1.0, alice/agent:latest" -- ph push
check_log "from docker images --format" "[images][--format][{{.Repository}}:{{.Tag}}]"
export FAKE_DOCKER_IMAGES="bob/other:1"
check "no image of the user" 1 "" "no local images of alice/" -- ph push
unset FAKE_DOCKER_IMAGES
export FAKE_DOCKER_RC=1 FAKE_DOCKER_ERR="denied: requested access to the resource is denied"
check "a failing push exits 1 with docker's message" 1 "" "requested access to the resource is denied" -- \
  ph push -i alice/teehost:0.1.0
check "and says which command failed" 1 "" "docker push failed (exit status 1)" -- ph push -i alice/teehost:0.1.0
check "with --json the failure is JSON on stdout" 1 '"success": false' "requested access" -- \
  ph push -i alice/teehost:0.1.0 --json
unset FAKE_DOCKER_RC FAKE_DOCKER_ERR
reset
check "push --json" 0 '"image": "alice/teehost:0.1.0"' "" -- ph push -i alice/teehost:0.1.0 --json

# ---- docker missing ---------------------------------------------------------------------------
for cmd in "login -u alice -p x" "build -i teehost -t 1" "push -i alice/teehost:1"; do
  # shellcheck disable=SC2086
  check "docker missing: $cmd" 1 "" "docker is not installed or not on PATH" -- \
    env PATH="$work/empty" "$T" -e 'return require("phala_cli.docker")({...})' $cmd
done
if "$T" phala docker --help >/dev/null 2>&1; then
  check "docker missing, through teehost phala docker" 1 "" "docker is not installed or not on PATH" -- \
    env PATH="$work/empty" "$T" phala docker push -i alice/teehost:1
  reset
  check "teehost tee phala docker is the same command" 0 "Pushed alice/teehost:0.1.0" "" -- \
    "$T" tee phala docker push -i alice/teehost:0.1.0
  check_log "with the same argv" "[push][alice/teehost:0.1.0]"
fi

# ---- generate ---------------------------------------------------------------------------------
# The .env of cli-1.0.35-docker-generate.json (shared/vectors/phala-cloud/).
printf '%s\n' '# comment line' 'GREETING="héllo wörld = 1"' 'API_TOKEN=sk-test-abc123  # inline comment' \
  'EMPTY=' 'QUOTED_NL="line1\nline2"' 'export EXPORTED=yes' >vector.env
ENV_LINES='      - GREETING=${GREETING}
      - API_TOKEN=${API_TOKEN}
      - EMPTY=${EMPTY}
      - QUOTED_NL=${QUOTED_NL}
      - EXPORTED=${EXPORTED}'
BASIC="version: '3.8'
services:
  app:
    image: alice/teehost-demo:0.1.0
    container_name: app
    volumes:
      - /var/run/dstack.sock:/var/run/dstack.sock
    environment:
      - TEE_MODE=PRODUCTION
$ENV_LINES
    ports:
      - '3000:3000'
    restart: always
"
# 1.0.35's output_eliza with the documented differences: the one .env parser (EMPTY kept,
# `export` dropped), dstack.sock mounted beside tappd.sock, a final newline.
ELIZA="version: '3.8'
services:
  postgres:
    image: ankane/pgvector:latest
    environment:
        - POSTGRES_PASSWORD=postgres
        - POSTGRES_USER=postgres
        - POSTGRES_DB=eliza
        - PGDATA=/var/lib/postgresql/data/pgdata
    volumes:
        - postgres-data:/var/lib/postgresql/data:rw
    ports:
        - '127.0.0.1:5432:5432'
    healthcheck:
        test: ['CMD-SHELL', 'pg_isready -U \$\${POSTGRES_USER} -d \$\${POSTGRES_DB}']
        interval: 5s
        timeout: 5s
        retries: 5
    restart: always
    networks:
      - eliza-network
  eliza:
    image: alice/teehost-demo:0.1.0
    command: bun run start
    volumes:
      - /var/run/tappd.sock:/var/run/tappd.sock
      - /var/run/dstack.sock:/var/run/dstack.sock
    environment:
$ENV_LINES
    ports:
      - '3000:3000'
      - '50000-50100:50000-50100/udp'
    depends_on:
      postgres:
        condition: service_healthy
    restart: always
    networks:
      - eliza-network


networks:
  eliza-network:
    driver: bridge

volumes:
  postgres-data:
"

reset
mkdir -p out
check "generate (the vector's argv)" 0 "Wrote out/basic-compose.yml" "" -- \
  ph generate -i alice/teehost-demo:0.1.0 -e vector.env -o out/basic-compose.yml
check_same "generate writes the teehost compose file" out/basic-compose.yml "$BASIC"
check "generate --template eliza" 0 "eliza template" "" -- \
  ph generate -i alice/teehost-demo:0.1.0 -e vector.env -o out/eliza-compose.yml --template eliza
check_same "the eliza layout of phala 1.0.35" out/eliza-compose.yml "$ELIZA"
check_log "generate runs no docker" ""
check_absent "no value of the .env reaches a compose file" "sk-test-abc123" out
check_absent "nor does an export keyword" "export" out

VECTOR=$TEEHOST_SOURCE/../shared/vectors/phala-cloud/cli-1.0.35-docker-generate.json
if [ -f "$VECTOR" ]; then
  # The expected eliza file above is the captured one, changed only as documented.
  "$T" -e '
    local v = json.decode(io.open(arg[1]):read("a"))
    local t = v.output_eliza
      :gsub("(%- API_TOKEN=%${API_TOKEN}\n)", "%1      - EMPTY=${EMPTY}\n")
      :gsub("export EXPORTED=%${export EXPORTED}", "EXPORTED=${EXPORTED}")
      :gsub("(/var/run/tappd.sock:/var/run/tappd.sock\n)", "%1      - /var/run/dstack.sock:/var/run/dstack.sock\n")
    io.write(t, "\n")' "$VECTOR" >"$work/eliza-from-vector.yml"
  check_same "the expected eliza file is the vector's, changed as documented" "$work/eliza-from-vector.yml" "$ELIZA"
  "$T" -e 'io.write(json.decode(io.open(arg[1]):read("a")).env_file)' "$VECTOR" >"$work/vector-env"
  check "the test's .env is the vector's" 0 "" "" -- cmp "$work/vector-env" vector.env
fi
if python3 -c 'import yaml' 2>/dev/null; then
  check "both files are YAML with the expected services" 0 "app|eliza,postgres" "" -- python3 -c '
import sys, yaml
print("|".join(",".join(sorted(yaml.safe_load(open(f))["services"])) for f in sys.argv[1:]))' \
    out/basic-compose.yml out/eliza-compose.yml
fi

printf 'TEE_MODE=SIMULATOR\nOPENAI_API_KEY=sk-x\n' >tee.env
check "a TEE_MODE of the env file replaces the default" 0 "" "" -- ph generate -i alice/a:1 -e tee.env -o tee.yml
check "as a reference" 0 '      - TEE_MODE=${TEE_MODE}
      - OPENAI_API_KEY=${OPENAI_API_KEY}' "" -- cat tee.yml
check "and PRODUCTION is gone" 1 "" "" -- grep -q PRODUCTION tee.yml

check "-o - writes to stdout, default template teehost" 0 "      - /var/run/dstack.sock:/var/run/dstack.sock" "" -- \
  ph generate -i alice/a:1 -e tee.env -o -
check "without -e and without ./.env: only TEE_MODE" 0 "" "" -- ph generate -i alice/a:1
check_same "into ./docker-compose.yml" docker-compose.yml "version: '3.8'
services:
  app:
    image: alice/a:1
    container_name: app
    volumes:
      - /var/run/dstack.sock:/var/run/dstack.sock
    environment:
      - TEE_MODE=PRODUCTION
    ports:
      - '3000:3000'
    restart: always
"
cp vector.env .env
check "without -e it reads ./.env and says so" 0 "5 env vars" "using the variables of ./.env" -- \
  ph generate -i alice/teehost-demo:0.1.0 -o again.yml
check_same "same file as with -e" again.yml "$BASIC"
rm .env
check "an image pinned by digest" 0 "image: alice/a@sha256:0123abcd" "" -- \
  ph generate -i alice/a@sha256:0123abcd -o -

check "--json" 0 '"output": "j.yml"' "" -- ph generate -i alice/a:1 -e vector.env -o j.yml --json
cp "$work/out" "$work/generate.json"
check "--json lists the names" 0 "GREETING,API_TOKEN,EMPTY,QUOTED_NL,EXPORTED|teehost" "" -- \
  "$T" -e 'local r = json.decode(io.open(arg[1]):read("a")) print(table.concat(r.env, ",") .. "|" .. r.template)' \
  "$work/generate.json"

printf 'GOOD=1\nmy.dotted=2\n' >dotted.env
check "a name compose cannot interpolate is left out with a warning" 0 "1 env var: GOOD" "my.dotted is left out" -- \
  ph generate -i alice/a:1 -e dotted.env -o dotted.yml
check "not in the file" 1 "" "" -- grep -q dotted dotted.yml

printf 'TOKEN=first-secret\nTOKEN=second-secret\n' >dup.env
check "a duplicate name fails, naming the line" 1 "" "line 2" -- ph generate -i alice/a:1 -e dup.env -o dup.yml
check_absent "without showing the values" "secret" "$work/err" "$work/out"
check "no file is written" 1 "" "" -- test -e dup.yml
check "a missing env file is named" 1 "" "nope.env" -- ph generate -i alice/a:1 -e nope.env -o x.yml
check "an image name that is not one is refused" 2 "" "is not an image name" -- \
  ph generate -i "alice/a:1 # x" -o x.yml
check "generate without -i" 2 "" "docker generate: needs -i IMAGE" -- ph generate -o x.yml
check "an unknown template is named" 2 "" "unknown template 'nextjs'" -- ph generate -i a -o x.yml --template nextjs
check "--json with -o - is refused" 2 "" "--json needs -o FILE" -- ph generate -i a -o - --json

# ---- help and usage ---------------------------------------------------------------------------
for sub in login build push generate; do
  check "$sub --help" 0 "teehost phala docker $sub " "" -- ph $sub --help
done
check "docker --help lists the commands" 0 "teehost phala docker login|build|push|generate" "" -- ph --help
check "docker alone is a usage error" 2 "" "teehost phala docker: needs a command" -- ph
check "an unknown docker command" 2 "" "teehost phala docker: unknown command 'run'" -- ph run
check "an unknown option" 2 "" "unknown option '--frob'" -- ph build -i a --frob
check "a stray argument" 2 "" "unexpected argument 'extra'" -- ph push -i a extra

finish
