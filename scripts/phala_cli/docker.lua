-- phala_cli.docker: `teehost phala docker login|build|push|generate` (shared/specs/phala-cloud.md
-- 4.1, 4.2). The first three drive the `docker` CLI with the argv of phala 1.0.35; generate writes
-- a docker-compose file for the teehost image (the Dockerfile at the repository root).
-- The phala_cli dispatcher (`teehost phala …`, `teehost tee phala …`) calls
-- require "phala_cli.docker"(args after "docker"); the result is the exit status: 0 ok,
-- 1 failure (docker's own status is not passed on), 2 usage error, 130 interrupted.
--
-- Where it differs from phala 1.0.35, on purpose:
--   login   always runs `docker login` (1.0.35 skips it when ~/.docker/config.json has any auth,
--           for whatever user and registry); the password reaches docker on stdin only, read from
--           our stdin (--password-stdin), a prompt without echo, or -p (warned: visible in ps);
--           no 10 s timeout.
--   build   docker's output streams to the terminal instead of a log file under ./.phala-cloud/
--           redrawn 10 lines at a time; --tag defaults to latest; -u overrides the saved user.
--   push    without -i and without a terminal to ask on, it lists the candidates and fails.
--   generate  one .env parser (phala.parse_env, via common.read_env): `export K=v` gives K (1.0.35 wrote
--           `export K=${export K}`) and empty values are kept, since they are sent too; names a
--           compose file cannot interpolate are skipped with a warning; the default template is
--           teehost's: /var/run/dstack.sock mounted (1.0.35: only the legacy tappd.sock),
--           TEE_MODE=PRODUCTION (unless the env file sets it) so that a missing socket is an
--           error rather than a silent fallback to the simulator, and port 3000 published; the
--           eliza template also mounts dstack.sock; no backup copy under ./.phala-cloud/compose/;
--           -o - writes to stdout.
local cli = require "teehost.cli"
local common = require "phala_cli.common"
local json = require "json"
local phala = require "phala"

local HELP = {
  login = [[
teehost phala docker login -u USER [--password-stdin | -p PASSWORD] [-r REGISTRY] [--json]
    runs `docker login [REGISTRY] -u USER --password-stdin`, giving it the password on stdin,
    then saves USER and REGISTRY (no secret) to $PHALA_CLOUD_DIR/docker-credentials.json
    (default ~/.phala-cloud). The password comes from stdin with --password-stdin, else from a
    prompt on a terminal; -p works but leaves it in your shell history and `ps`.]],
  build = [[
teehost phala docker build -i IMAGE [-t TAG] [-f DOCKERFILE] [-u USER] [--json]
    runs `docker build -t USER/IMAGE:TAG -f DOCKERFILE [--platform linux/amd64] .` in the
    current directory (--platform on arm hosts, since CVMs are x86-64). TAG defaults to latest,
    DOCKERFILE to Dockerfile, USER to the one saved by `docker login`.]],
  push = [[
teehost phala docker push [-i USER/IMAGE:TAG] [-u USER] [--json]
    runs `docker push IMAGE`. Without -i it lists the local USER/ images
    (`docker images --format {{.Repository}}:{{.Tag}}`) and asks which one.]],
  generate = [[
teehost phala docker generate -i IMAGE [-e ENV_FILE] [-o OUTPUT] [--template teehost|eliza] [--json]
    writes a docker-compose file (default ./docker-compose.yml; - for stdout) that runs IMAGE
    with /var/run/dstack.sock mounted and, for each variable of ENV_FILE (default ./.env when
    it exists), an entry NAME=${NAME}: values stay out of the file and reach the CVM encrypted.
    Templates: teehost (default; also "basic") runs the image's own command with
    TEE_MODE=PRODUCTION and port 3000; eliza is phala's elizaOS layout (postgres + the agent).]],
}
local ALL_HELP = "teehost phala docker login|build|push|generate (--help on each)\n\n"
  .. table.concat({ HELP.login, HELP.build, HELP.push, HELP.generate }, "\n")

local DOCKER_MISSING = "docker is not installed or not on PATH (install Docker: https://docs.docker.com/get-docker/)"

-- ---- running docker ----------------------------------------------------------------------------

-- One word for /bin/sh, whatever it contains.
local function quote(s)
  return "'" .. s:gsub("'", [['\'']]) .. "'"
end

local function command_line(argv)
  local words = {}
  for i, a in ipairs(argv) do words[i] = quote(a) end
  return table.concat(words, " ")
end

local function have_docker()
  return os.execute("command -v docker >/dev/null 2>&1") == true
end

-- Runs argv (argv[1] == "docker") with its output on ours (its stdout moved to our stderr with
-- --json, so that stdout holds only the JSON) and `input` on its stdin. Returns the command's
-- exit status: 0, 130 when interrupted, else 1 after a message naming the failure.
local function docker(ctx, argv, input)
  local cmd = command_line(argv) .. (ctx.json and " >&2" or "")
  io.stdout:flush()
  local ok, how, code
  if input then
    local p = assert(io.popen(cmd, "w"))
    p:write(input)
    ok, how, code = p:close()
  else
    ok, how, code = os.execute(cmd)
  end
  if ok then return 0 end
  if how == "signal" and code == 2 then return 130 end
  if how == "exit" and code == 127 then return common.fail(ctx, DOCKER_MISSING) end
  return common.fail(ctx, ("%s %s failed (%s %d)"):format(argv[1], argv[2],
    how == "signal" and "killed by signal" or "exit status", code))
end

-- ---- saved credentials (spec 2.5: username and registry, no secret) ------------------------------

local function credentials_path()
  local dir, err = phala.key_dir()
  if not dir then return nil, err end
  return dir .. "/docker-credentials.json", dir
end

local function save_credentials(username, registry)
  local path, dir = credentials_path()
  if not path then return nil, dir end
  if not os.execute("mkdir -p -m 700 " .. quote(dir) .. " 2>/dev/null") then return nil, "cannot create " .. dir end
  local text = json.encode({ username = username, registry = registry or json.null }, { indent = 2 })
  local ok, err = cli.write_file(path, text .. "\n")
  if not ok then return nil, err end
  os.execute("chmod 600 " .. quote(path))
  return path
end

-- The user for build/push: -u, else the one saved by login.
local function username(ctx)
  if ctx.opts.username then return ctx.opts.username end
  local path = credentials_path()
  local text = path and cli.read_file(path)
  local ok, saved = pcall(json.decode, text or "")
  if ok and type(saved) == "table" and type(saved.username) == "string" and saved.username ~= "" then
    return saved.username
  end
  return nil, "no Docker user: run `teehost phala docker login` first, or pass -u USER"
end

-- ---- commands ----------------------------------------------------------------------------------

-- common.parse plus: no positional arguments.
local function parse(args, spec, name)
  local ctx, rc = common.parse(args, spec, HELP[name], "docker " .. name)
  if not ctx then return nil, rc end
  if #ctx.pos > 0 then return nil, common.usage(ctx.name, "unexpected argument '" .. ctx.pos[1] .. "'", ctx.help) end
  return ctx, ctx.opts
end

local function login(args)
  local ctx, opts = parse(args, { { "username", "u", "value" }, { "password", "p", "value" },
    { "registry", "r", "value" }, { "password-stdin", false, "flag" } }, "login")
  if not ctx then return opts end
  if not have_docker() then return common.fail(ctx, DOCKER_MISSING) end
  local where, why = credentials_path() -- checked first, so that a login is never lost
  if not where then return common.fail(ctx, why) end
  local user, password = opts.username, opts.password
  if password and opts["password-stdin"] then
    return common.usage(ctx.name, "give the password with -p or --password-stdin, not both", ctx.help)
  end
  if not user and common.interactive() then user = common.ask("Docker username: ") end
  if not user or user == "" then return common.usage(ctx.name, "needs -u USER", ctx.help) end
  if password then
    common.warn("a password on the command line is visible in `ps` and your shell history; ",
      "prefer --password-stdin")
  elseif opts["password-stdin"] then
    password = (io.stdin:read("a") or ""):gsub("\r?\n$", "")
  elseif common.interactive() then
    password = common.ask("Docker password: ", true)
  end
  if not password or password == "" then
    return common.usage(ctx.name, "needs a password: pipe it with --password-stdin", ctx.help)
  end
  local argv = { "docker", "login" }
  if opts.registry then argv[#argv + 1] = opts.registry end
  table.move({ "-u", user, "--password-stdin" }, 1, 3, #argv + 1, argv)
  local status = docker(ctx, argv, password)
  if status ~= 0 then return status end
  local path, err = save_credentials(user, opts.registry)
  if not path then return common.fail(ctx, err) end
  if ctx.json then
    common.print_json({ username = user, registry = opts.registry or json.null, credentials = path })
  else
    print(("Docker user %s%s saved to %s"):format(user, opts.registry and (" for " .. opts.registry) or "", path))
  end
  return 0
end

local function arm_host()
  local p = io.popen("uname -m 2>/dev/null")
  local machine = p and p:read("l") or ""
  if p then p:close() end
  return machine:match("^arm") ~= nil or machine:match("^aarch64") ~= nil
end

local function build(args)
  local ctx, opts = parse(args, { { "image", "i", "value" }, { "tag", "t", "value" },
    { "file", "f", "value" }, { "username", "u", "value" } }, "build")
  if not ctx then return opts end
  local image, tag, dockerfile = opts.image, opts.tag or "latest", opts.file or "Dockerfile"
  if not image or image == "" then return common.usage(ctx.name, "needs -i IMAGE", ctx.help) end
  if not have_docker() then return common.fail(ctx, DOCKER_MISSING) end
  local user, err = username(ctx)
  if not user then return common.fail(ctx, err) end
  local f = io.open(dockerfile, "rb")
  if not f then return common.fail(ctx, "no " .. dockerfile .. " here (pass -f DOCKERFILE)") end
  f:close()
  local full = ("%s/%s:%s"):format(user, image, tag)
  local argv = { "docker", "build", "-t", full, "-f", dockerfile }
  if arm_host() then table.move({ "--platform", "linux/amd64" }, 1, 2, #argv + 1, argv) end
  argv[#argv + 1] = "."
  local status = docker(ctx, argv)
  if status ~= 0 then return status end
  if ctx.json then
    common.print_json({ image = full })
  else
    print("Built " .. full .. "; push it with: teehost phala docker push -i " .. full)
  end
  return 0
end

-- The local images of user, as `docker images` names them.
local function local_images(user)
  local p = assert(io.popen(command_line { "docker", "images", "--format", "{{.Repository}}:{{.Tag}}" }))
  local found = {}
  for line in p:lines() do
    if line:find(user .. "/", 1, true) and not line:find("<none>", 1, true) then found[#found + 1] = line end
  end
  if not p:close() then return nil, "docker images failed" end
  return found
end

local function push(args)
  local ctx, opts = parse(args, { { "image", "i", "value" }, { "username", "u", "value" } }, "push")
  if not ctx then return opts end
  if not have_docker() then return common.fail(ctx, DOCKER_MISSING) end
  local image = opts.image
  if not image then
    local user, err = username(ctx)
    if not user then return common.fail(ctx, err) end
    local found, ierr = local_images(user)
    if not found then return common.fail(ctx, ierr) end
    if #found == 0 then
      return common.fail(ctx, "no local images of " .. user .. "/; build one with `teehost phala docker build`")
    end
    if not common.interactive() then
      return common.usage(ctx.name, "needs -i IMAGE; local images: " .. table.concat(found, ", "), ctx.help)
    end
    for n, name in ipairs(found) do io.stderr:write(("  %d) %s\n"):format(n, name)) end
    image = found[math.tointeger(tonumber(common.ask("Image to push [1]: ")) or 1) or 0]
    if not image then return common.usage(ctx.name, "no such choice", ctx.help) end
  end
  local status = docker(ctx, { "docker", "push", image })
  if status ~= 0 then return status end
  if ctx.json then
    common.print_json({ image = image })
  else
    print("Pushed " .. image)
  end
  return 0
end

-- ---- generate ----------------------------------------------------------------------------------

local function env_lines(names, indent)
  local out = {}
  for _, name in ipairs(names) do out[#out + 1] = ("%s- %s=${%s}\n"):format(indent, name, name) end
  return table.concat(out)
end

-- The section "environment:" with its list, or nothing when the list is empty.
local function environment(names, indent)
  if #names == 0 then return "" end
  return indent .. "environment:\n" .. env_lines(names, indent .. "  ")
end

local TEMPLATES = {}

function TEMPLATES.teehost(image, names)
  local tee_mode = "      - TEE_MODE=PRODUCTION\n"
  for _, n in ipairs(names) do
    if n == "TEE_MODE" then tee_mode = "" end
  end
  return "version: '3.8'\n"
    .. "services:\n"
    .. "  app:\n"
    .. "    image: " .. image .. "\n"
    .. "    container_name: app\n"
    .. "    volumes:\n"
    .. "      - /var/run/dstack.sock:/var/run/dstack.sock\n"
    .. "    environment:\n"
    .. tee_mode
    .. env_lines(names, "      ")
    .. "    ports:\n"
    .. "      - '3000:3000'\n"
    .. "    restart: always\n"
end
TEMPLATES.basic = TEMPLATES.teehost

-- phala 1.0.35's DOCKER_COMPOSE_ELIZA_V2_TEMPLATE, with dstack.sock mounted beside tappd.sock.
function TEMPLATES.eliza(image, names)
  return "version: '3.8'\n"
    .. "services:\n"
    .. "  postgres:\n"
    .. "    image: ankane/pgvector:latest\n"
    .. "    environment:\n"
    .. "        - POSTGRES_PASSWORD=postgres\n"
    .. "        - POSTGRES_USER=postgres\n"
    .. "        - POSTGRES_DB=eliza\n"
    .. "        - PGDATA=/var/lib/postgresql/data/pgdata\n"
    .. "    volumes:\n"
    .. "        - postgres-data:/var/lib/postgresql/data:rw\n"
    .. "    ports:\n"
    .. "        - '127.0.0.1:5432:5432'\n"
    .. "    healthcheck:\n"
    .. "        test: ['CMD-SHELL', 'pg_isready -U $${POSTGRES_USER} -d $${POSTGRES_DB}']\n"
    .. "        interval: 5s\n"
    .. "        timeout: 5s\n"
    .. "        retries: 5\n"
    .. "    restart: always\n"
    .. "    networks:\n"
    .. "      - eliza-network\n"
    .. "  eliza:\n"
    .. "    image: " .. image .. "\n"
    .. "    command: bun run start\n"
    .. "    volumes:\n"
    .. "      - /var/run/tappd.sock:/var/run/tappd.sock\n"
    .. "      - /var/run/dstack.sock:/var/run/dstack.sock\n"
    .. environment(names, "    ")
    .. "    ports:\n"
    .. "      - '3000:3000'\n"
    .. "      - '50000-50100:50000-50100/udp'\n"
    .. "    depends_on:\n"
    .. "      postgres:\n"
    .. "        condition: service_healthy\n"
    .. "    restart: always\n"
    .. "    networks:\n"
    .. "      - eliza-network\n"
    .. "\n\n"
    .. "networks:\n"
    .. "  eliza-network:\n"
    .. "    driver: bridge\n"
    .. "\n"
    .. "volumes:\n"
    .. "  postgres-data:\n"
end

-- The names an env file defines (common.read_env: the one .env parser), in file order; names
-- docker compose cannot interpolate (${A.B}) are left out with a warning.
local function env_names(path)
  local env, err = common.read_env(path)
  if not env then return nil, err or ("cannot read " .. path) end
  local names, skipped = {}, {}
  for _, name in ipairs(env.names) do
    if name:match("^[%a_][%w_]*$") then
      names[#names + 1] = name
    else
      skipped[#skipped + 1] = name
      common.warn(path, ": ", name, " is left out: a compose file can only refer to names of",
        " letters, digits and _ (not starting with a digit)")
    end
  end
  return names, skipped
end

local function generate(args)
  local ctx, opts = parse(args, { { "image", "i", "value" }, { "env-file", "e", "value" },
    { "output", "o", "value" }, { "template", false, "value" } }, "generate")
  if not ctx then return opts end
  local image, output, template = opts.image, opts.output or "docker-compose.yml", opts.template or "teehost"
  if not image then return common.usage(ctx.name, "needs -i IMAGE", ctx.help) end
  -- The image goes into YAML unquoted: a docker reference, nothing that YAML could read otherwise.
  if not image:match("^[%w][%w._/:@-]*$") then
    return common.usage(ctx.name, "'" .. image .. "' is not an image name (like user/name:tag or name@sha256:…)",
      ctx.help)
  end
  if not TEMPLATES[template] then
    return common.usage(ctx.name, "unknown template '" .. template .. "' (teehost, basic or eliza)", ctx.help)
  end
  if output == "-" and ctx.json then return common.usage(ctx.name, "--json needs -o FILE", ctx.help) end
  local env_file = opts["env-file"]
  if not env_file and cli.read_file(".env") then
    env_file = ".env"
    common.note("teehost: using the variables of ./.env (choose another file with -e)")
  end
  local names, skipped = {}, {}
  if env_file then
    local found, why = env_names(env_file)
    if not found then return common.fail(ctx, why) end
    names, skipped = found, why
  end
  local yaml = TEMPLATES[template](image, names)
  if output == "-" then
    io.write(yaml)
    return 0
  end
  local ok, err = cli.write_file(output, yaml)
  if not ok then return common.fail(ctx, err) end
  if ctx.json then
    common.print_json({ output = output, image = image, template = template == "basic" and "teehost" or template,
      env_file = env_file or json.null, env = json.array(names), skipped = json.array(skipped) })
  else
    print(("Wrote %s (%s template, image %s, %d env var%s%s)"):format(output, template, image, #names,
      #names == 1 and "" or "s", #names > 0 and (": " .. table.concat(names, ", ")) or ""))
  end
  return 0
end

local COMMANDS = { login = login, build = build, push = push, generate = generate }

return function(args) return common.dispatch("docker", args, COMMANDS, ALL_HELP) end
