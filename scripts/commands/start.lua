-- usage: teehost start [--character FILE] [--port N] [--host ADDR] [--tee URL|PATH]
-- summary: run an agent (default: Mr. TEE) with attestation and sealed memory, on a loopback REST API
--
-- Steps: load the character (a file, or the copy of characters/mr_tee.lua compiled into the
-- binary), pick the model (an OpenAI-compatible endpoint when OPENAI_BASE_URL or OPENAI_API_KEY
-- is set, else the built-in offline model), open the sealed store (in memory, said loudly, when
-- the TEE gives no sealing key), register the character's plugins (agent/plugins/<name>.lua; the
-- starter plugin's configuration checks run here and stop the start with every error), serve
-- the REST API of agent/api.lua, print one line with the URL, and run until Ctrl-C (exit 130).
local cli = require "teehost.cli"
local character = require "agent.character"
local runtime = require "agent.runtime"
local sealed = require "agent.sealed"
local api = require "agent.api"

local HELP = [[
teehost start [--character FILE] [--port N] [--host ADDR] [--tee URL|PATH]
    --character FILE   a character file (default: the built-in characters/mr_tee.lua)
    --port N           TCP port of the REST API (default 3000; 0 = any free port)
    --host ADDR        address to listen on (default 127.0.0.1)
    --tee URL|PATH     the dstack agent to use (as `teehost --tee`; default: see README "Which TEE")
Environment: TEE_MODE, WALLET_SECRET_SALT, TEE_VENDOR, TEE_ATTESTATION_UPLOAD_URL,
OPENAI_BASE_URL / OPENAI_API_KEY / OPENAI_MODEL (else the offline model).]]

local DEFAULT_CHARACTER = "characters/mr_tee.lua"

-- A path on disk, else a character compiled into the binary under that path (so
-- `--character characters/mr_tee.lua` works from any directory), else the default.
local function load_character(path)
  if path then
    local f = io.open(path, "r")
    if f then
      f:close()
      return character.load(path)
    end
    local text = package.embedded(path)
    if text then return character.load_text(text, path) end
    return character.load(path) -- says why the file cannot be read
  end
  local text, why = package.embedded(DEFAULT_CHARACTER)
  if not text then return nil, why end
  return character.load_text(text, DEFAULT_CHARACTER)
end

local function plugin_names(c)
  local names, seen = {}, {}
  for _, n in ipairs(c.plugins or {}) do
    if not seen[n] then names[#names + 1], seen[n] = n, true end
  end
  -- The starter's plugin belongs to the Mr. TEE project rather than to the character (§6.1).
  if c.name == "Mr. TEE" and not seen["mr-tee-starter"] then names[#names + 1] = "mr-tee-starter" end
  return names
end

local function pick_model()
  local base, key = os.getenv("OPENAI_BASE_URL"), os.getenv("OPENAI_API_KEY")
  if (base and base ~= "") or (key and key ~= "") then return require "agent.models.openai" end
  return require "agent.models.offline"
end

local function open_store(id)
  local st, why = sealed.open("agent-" .. id, id)
  if st then return st end
  io.stderr:write("teehost start: memory is NOT sealed and NOT kept (", tostring(why), ")\n")
  return runtime.memory_store()
end

-- Chat on the terminal: a task reads lines with task.read_line (the loop keeps serving while
-- it waits) and hands each to the agent in this process. Only when stdin is a terminal; Ctrl-D
-- ends the chat, the server keeps running until Ctrl-C.
local function start_chat(agent)
  if not os.execute("test -t 0") then return end
  task.spawn(function()
    while true do
      local line = task.read_line("you> ")
      if not line then return end
      if line:match("%S") then
        local out = agent:handle { text = line, user = "you", room = "terminal" }
        for _, r in ipairs(out.replies or {}) do print(agent.name .. ": " .. r.text) end
      end
    end
  end)
end

local function main(args)
  local opts, pos = cli.parse(args, { character = "value", port = "value", host = "value", tee = "value",
                                      help = "flag" })
  if not opts then return cli.usage(pos, HELP) end
  if opts.help then print(HELP) return 0 end
  if #pos > 0 then return cli.usage("start takes no arguments, got '" .. pos[1] .. "'", HELP) end
  local port = math.tointeger(tonumber(opts.port or "3000"))
  if not port or port < 0 or port > 65535 then
    return cli.usage("--port needs a number from 0 to 65535, got '" .. tostring(opts.port) .. "'", HELP)
  end
  if opts.tee then tee.use(opts.tee) end
  local c, err = load_character(opts.character)
  if not c then return cli.fail(err) end
  local model = pick_model()
  local agent = runtime.new { character = c, model = model, store = open_store(character.id(c.name)) }
  for _, name in ipairs(plugin_names(c)) do
    local plugin, perr = runtime.plugin(name)
    if not plugin then return cli.fail("character " .. c.name .. ": " .. perr) end
    local done, why = agent:register_plugin(plugin)
    if not done then return cli.fail(why) end
  end
  local srv, serr = api.serve { agents = { agent }, port = port, host = opts.host }
  if not srv then return cli.fail("cannot listen on port " .. port .. ": " .. tostring(serr)) end
  io.stderr:write("teehost start: model: ", model.name or "?", ", plugins: ", table.concat(plugin_names(c), ", "), "\n")
  io.stdout:write(string.format("agent %s listening on http://%s:%d (tee: %s)\n", agent.name,
    opts.host or "127.0.0.1", srv:port(), require("agent.plugins.tee").describe()))
  io.stdout:flush()
  start_chat(agent)
  -- The open server keeps the process running until Ctrl-C.
  return nil
end

return main({ ... })
