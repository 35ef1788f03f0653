-- phala_cli: the `teehost phala …` (and `teehost tee phala …`) command tree, mirroring the
-- `phala` 1.0.35 CLI (shared/specs/phala-cloud.md section 4). require "phala_cli" returns
-- function(args) -> exit status; each group lives in its own module.
local common = require "phala_cli.common"

local HELP = [[
teehost phala COMMAND … (also: teehost tee phala …) — Phala Cloud, as the phala 1.0.35 CLI
  status [--api-key KEY] [--json]          who the API key belongs to
  auth login [KEY] | logout | status       check a key and save it (only once it works) / remove it
  cvms list | get | create | start | stop | restart | delete | upgrade | resize
       | attestation | network | list-nodes | replicate        manage CVMs (cvms --help)
  nodes [list]                             nodes (TEEPods), their images and KMSs
  deploy [COMPOSE] [-e .env] [--uuid ID]   provision and create a CVM, or update one (deploy --help)
  docker login | build | push | generate   build and push the image, write a compose file
  simulator start | stop | status | env    the dstack simulator (socket and --port), as teehost simulator
Every command takes --json (machine output on stdout) and --help. Failures exit 1 and quote
the API's detail; usage errors and refused confirmations exit 2.
Environment: PHALA_CLOUD_API_KEY (else the key saved by auth login in $PHALA_CLOUD_DIR,
default ~/.phala-cloud), PHALA_CLOUD_API_PREFIX (API base URL), CLOUD_URL (dashboard links),
TEEHOST_PHALA_TIMEOUT (seconds per request, default 30).]]

local function group(name)
  return function(args) return require("phala_cli." .. name)(args) end
end

local function docker(args)
  local ok, run = pcall(require, "phala_cli.docker")
  if not ok or type(run) ~= "function" then
    local why = tostring(run)
    local missing = not ok and why:find("module 'phala_cli.docker' not found", 1, true)
    io.stderr:write(common.PROG, " docker: docker commands are not available in this build",
      missing and "" or (" (" .. why .. ")"), "\n")
    return 2
  end
  return run(args)
end

local function simulator(args)
  return require("teehost.simulator_cli")(args, common.PROG .. " simulator")
end

local function prepend(word, args)
  return table.move(args, 1, #args, 2, { word })
end

local GROUPS = {
  status = function(args) return require("phala_cli.auth")(prepend("status", args), "status") end,
  auth = group("auth"),
  cvms = group("cvms"),
  cvm = group("cvms"), -- phala 1.1.x name
  nodes = group("nodes"),
  deploy = group("deploy"),
  docker = docker,
  simulator = simulator,
  -- phala 1.1.x top-level names
  login = function(args) return require("phala_cli.auth")(prepend("login", args)) end,
  logout = function(args) return require("phala_cli.auth")(prepend("logout", args)) end,
}

return function(args) return common.dispatch("", args, GROUPS, HELP) end
