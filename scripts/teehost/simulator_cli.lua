-- teehost.simulator_cli: `teehost simulator start|stop|status|env`, also reached as
-- `teehost phala simulator …` and `teehost tee phala simulator …` (elizaOS's spelling).
-- require returns function(args, prog) -> exit status. The simulator itself is core/simulator,
-- served by tee.simulator_serve; this file only manages the process: its pid file
-- ($TEEHOST_HOME/simulator/simulator.pid: pid, socket, port), its log, start and stop.
local tee = require "tee"
local http = require "http"
local task = require "task"
local cli = require "teehost.cli"

local HELP = [[
%s start [--socket PATH] [--port N] [--foreground] [--reset]
        start the dstack guest-agent simulator: both the current API and the legacy tappd
        API (/prpc/) on a Unix socket (default $TEEHOST_HOME/simulator/dstack.sock) and, with
        --port, on 127.0.0.1:N (0 = any free port). In the background unless --foreground.
        A second start reports the running one. --reset makes new keys (KMS root, app key,
        CA, quote PKI); otherwise they are kept under $TEEHOST_HOME/simulator (0600 files).
%s stop       stop it; removes its socket and pid file
%s status     whether it runs, where, and its KMS root key (exit 0 running, 3 not running)
%s env        print the export lines that point other tools (the dstack SDKs) at it]]

local function help(prog)
  return HELP:format(prog, prog, prog, prog)
end

local function read_pid_file(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local pid, socket, port = f:read("l", "l", "l")
  f:close()
  pid = math.tointeger(tonumber(pid))
  if not pid then return nil end
  port = math.tointeger(tonumber(port))
  return { pid = pid, socket = socket ~= "" and socket or nil, port = port and port >= 0 and port or nil }
end

local function running(dir)
  local info = read_pid_file(dir .. "/simulator.pid")
  if info and tee.simulator_alive(info.pid) then return info end
  return nil, info
end

local function endpoint_of(info)
  if info.socket then return info.socket end
  return "http://127.0.0.1:" .. info.port
end

local function where(info)
  local parts = {}
  if info.socket then parts[#parts + 1] = info.socket end
  if info.port then parts[#parts + 1] = "http://127.0.0.1:" .. info.port end
  return table.concat(parts, " and ")
end

-- Answers /Version? (the socket, else the port), so a start can wait until it serves.
local function answers(info)
  local req = { method = "POST", body = "{}", timeout = 1, headers = { ["content-type"] = "application/json" } }
  if info.socket then
    req.url, req.unix_socket = "http://localhost/Version", info.socket
  else
    req.url = "http://127.0.0.1:" .. info.port .. "/Version"
  end
  local res = http.request(req)
  return res and res.status == 200
end

local function tail(path, n)
  local f = io.open(path, "r")
  if not f then return "" end
  local lines = {}
  for line in f:lines() do
    lines[#lines + 1] = line
    if #lines > n then table.remove(lines, 1) end
  end
  f:close()
  return table.concat(lines, "\n")
end

local function start(args, prog)
  local opts, pos = cli.parse(args, { socket = "value", port = "value", foreground = "flag", reset = "flag" })
  if not opts then return cli.usage(pos, help(prog)) end
  if #pos > 0 then return cli.usage("start takes no arguments (got '" .. pos[1] .. "')", help(prog)) end
  local port
  if opts.port then
    port = math.tointeger(tonumber(opts.port))
    if not port or port < 0 or port > 65535 then
      return cli.usage("--port needs 0..65535, got '" .. opts.port .. "'", help(prog))
    end
  end
  local dir, err = tee.simulator_dir()
  if not dir then return cli.fail(err) end
  local socket = opts.socket or (dir .. "/dstack.sock")
  local live = running(dir)
  if live then
    print(("simulator: already running (pid %d) on %s"):format(live.pid, where(live)))
    return 0
  end
  if opts.foreground then
    local server, why = tee.simulator_serve { socket = socket, port = port, reset = opts.reset,
                                              pid_file = dir .. "/simulator.pid" }
    if not server then return cli.fail("simulator: " .. why) end
    print(("simulator: listening on %s (pid %s)"):format(
      where { socket = socket, port = server:port() }, tee.simulator_pid()))
    io.stdout:flush()
    return 0 -- the server keeps the process running until SIGTERM or Ctrl-C
  end
  local argv = { "simulator", "start", "--foreground", "--socket", socket }
  if port then table.move({ "--port", tostring(port) }, 1, 2, #argv + 1, argv) end
  if opts.reset then argv[#argv + 1] = "--reset" end
  local log = dir .. "/simulator.log"
  local pid
  pid, err = tee.simulator_spawn(argv, log)
  if not pid then return cli.fail(err) end
  for _ = 1, 500 do -- up to 10 s: the first start generates keys and the quote PKI
    local info = read_pid_file(dir .. "/simulator.pid")
    if info and info.pid == pid and answers(info) then
      print(("simulator: started (pid %d) on %s"):format(pid, where(info)))
      print("export DSTACK_SIMULATOR_ENDPOINT=" .. endpoint_of(info))
      return 0
    end
    if not tee.simulator_alive(pid) then
      return cli.fail("simulator: it exited at start:\n" .. tail(log, 5))
    end
    task.sleep(0.02)
  end
  tee.simulator_terminate(pid)
  return cli.fail("simulator: it did not answer within 10 s (log: " .. log .. ")")
end

local function stop(args, prog)
  if #args > 0 then return cli.usage("stop takes no arguments", help(prog)) end
  local dir, err = tee.simulator_dir()
  if not dir then return cli.fail(err) end
  local pid_file = dir .. "/simulator.pid"
  local live, stale = running(dir)
  if not live then
    if stale then
      os.remove(pid_file)
      if stale.socket then os.remove(stale.socket) end
      print(("simulator: not running (removed the stale pid file of pid %d)"):format(stale.pid))
    else
      print("simulator: not running")
    end
    return 0
  end
  tee.simulator_terminate(live.pid)
  for _ = 1, 250 do
    if not tee.simulator_alive(live.pid) then break end
    task.sleep(0.02)
  end
  if tee.simulator_alive(live.pid) then
    return cli.fail(("simulator: pid %d did not stop within 5 s"):format(live.pid))
  end
  -- It removes both itself on SIGTERM; a killed one leaves them behind.
  os.remove(pid_file)
  if live.socket then os.remove(live.socket) end
  print(("simulator: stopped (pid %d)"):format(live.pid))
  return 0
end

local function status(args, prog)
  if #args > 0 then return cli.usage("status takes no arguments", help(prog)) end
  local dir, err = tee.simulator_dir()
  if not dir then return cli.fail(err) end
  local live = running(dir)
  if not live then
    print("simulator: not running")
    return 3
  end
  print(("simulator: running (pid %d) on %s"):format(live.pid, where(live)))
  local root = tee.simulator_kms_root()
  if root then print("kms root: " .. root) end
  return 0
end

local function env(args, prog)
  if #args > 0 then return cli.usage("env takes no arguments", help(prog)) end
  local dir, err = tee.simulator_dir()
  if not dir then return cli.fail(err) end
  local live = running(dir)
  local target = live and endpoint_of(live) or (dir .. "/dstack.sock")
  print("export DSTACK_SIMULATOR_ENDPOINT=" .. target)
  print("export TAPPD_SIMULATOR_ENDPOINT=" .. target)
  if not live then io.stderr:write("(the simulator is not running: teehost simulator start)\n") end
  return 0
end

local COMMANDS = { start = start, stop = stop, status = status, env = env }

return function(args, prog)
  prog = prog or "teehost simulator"
  local sub = args[1]
  local run = COMMANDS[sub]
  if run then return run(table.move(args, 2, #args, 1, {}), prog) end
  if sub == nil then return cli.usage(prog .. " needs a subcommand: start, stop, status or env", help(prog)) end
  if sub == "--help" or sub == "-h" or sub == "help" then
    print(help(prog))
    return 0
  end
  return cli.usage("unknown subcommand '" .. sub .. "'", help(prog))
end
