-- phala_cli.common: what every `teehost phala …` command shares: options, the API client, error
-- reports that quote the API's detail, --json output, confirmation, waits with progress, the
-- .env file (the one parser: phala.parse_env) and the env-set difference shown before updates.
--
-- Exit statuses: 0 ok, 1 failure (the API refused, a file is wrong, a check failed, the user
-- said no), 2 usage (bad options, or a confirmation that cannot be asked off a terminal).
-- Nothing here prints a secret value, the API key or any part of it.
local phala = require "phala"
local json = require "json"
local cli = require "teehost.cli"

local M = {}

M.PROG = "teehost phala"

-- ---- options ------------------------------------------------------------------------------------

-- parse(args, spec, help, name): spec is a list of { long, short or false, "flag"|"value" }.
-- --help/-h, --json/-j and --no-json are added. Returns a context {opts=, pos=, json=, name=,
-- help=} or nil, exit status (after printing help or a usage error).
function M.parse(args, spec, help, name)
  local flat, alias = { help = "flag", h = "flag", ["no-json"] = "flag" }, { h = "help" }
  local function add(long, short, kind)
    flat[long] = kind
    if short then
      flat[short] = kind
      alias[short] = long
    end
  end
  add("json", "j", "flag")
  for _, s in ipairs(spec) do add(s[1], s[2], s[3]) end
  local raw, pos = cli.parse(args, flat)
  if not raw then return nil, M.usage(name, pos, help) end
  local opts = {}
  for k, v in pairs(raw) do opts[alias[k] or k] = v end
  if opts.help then
    print(help)
    return nil, 0
  end
  return { opts = opts, pos = pos, json = opts.json and not opts["no-json"], name = name, help = help }
end

-- "teehost phala cvms get" for name "cvms get"; "teehost phala" for "".
local function who(name) return name ~= "" and (M.PROG .. " " .. name) or M.PROG end

function M.usage(name, message, help)
  io.stderr:write(who(name), ": ", message, "\n")
  if help then io.stderr:write("\n", help, "\n") end
  return 2
end

-- The positionals of ctx: at most max of them (else a usage error).
function M.positionals(ctx, max)
  if #ctx.pos > max then
    return nil, M.usage(ctx.name, "unexpected argument '" .. ctx.pos[max + 1] .. "'", ctx.help)
  end
  return table.unpack(ctx.pos)
end

-- A whole number from an option: nil when absent; else the number, or nil and a usage error.
function M.integer(ctx, opt, min, max)
  local s = ctx.opts[opt]
  if s == nil then return nil end
  local n = math.tointeger(tonumber(s))
  if not n or n < (min or 1) or (max and n > max) then
    local range = max and ("%d..%d"):format(min or 1, max) or ("at least %d"):format(min or 1)
    return nil, M.usage(ctx.name, ("--%s needs a whole number, %s; got '%s'"):format(opt, range, s), ctx.help)
  end
  return n
end

local YES = { ["true"] = true, yes = true, y = true, ["1"] = true, on = true }
local NO = { ["false"] = false, no = false, n = false, ["0"] = false, off = false }

-- A yes/no option value: nil when absent; true/false; or nil and a usage error.
function M.boolean(ctx, opt)
  local s = ctx.opts[opt]
  if s == nil then return nil end
  local w = tostring(s):lower()
  if YES[w] then return true end
  if NO[w] == false then return false end
  return nil, M.usage(ctx.name, ("--%s needs true or false, got '%s'"):format(opt, s), ctx.help)
end

-- ---- output -------------------------------------------------------------------------------------

function M.print_json(v)
  print(json.encode(v, { indent = 2 }))
end

-- Prints the result of a command: v as JSON with --json, else show(v) for people. Returns 0.
function M.output(ctx, v, show)
  if ctx.json then M.print_json(v) else show(v) end
  return 0
end

-- A value for people: "-" for nil/null.
function M.str(v)
  if v == nil or v == json.null then return "-" end
  return tostring(v)
end

-- Prints {label, value} rows with the values aligned.
function M.rows(rows)
  local w = 0
  for _, r in ipairs(rows) do w = math.max(w, #r[1]) end
  for _, r in ipairs(rows) do print(("%-" .. (w + 1) .. "s %s"):format(r[1] .. ":", M.str(r[2]))) end
end

-- Prints a table: headers and rows of cells, columns padded.
function M.columns(headers, rows)
  local w = {}
  for i, h in ipairs(headers) do w[i] = #h end
  for _, r in ipairs(rows) do
    for i = 1, #headers do w[i] = math.max(w[i], #M.str(r[i])) end
  end
  local function line(cells)
    local out = {}
    for i = 1, #headers do out[i] = ("%-" .. w[i] .. "s"):format(M.str(cells[i])) end
    print((table.concat(out, "  "):gsub("%s+$", "")))
  end
  line(headers)
  for _, r in ipairs(rows) do line(r) end
end

function M.note(...)
  io.stderr:write(...)
  io.stderr:write("\n")
end

function M.warn(...)
  io.stderr:write("teehost: warning: ", ...)
  io.stderr:write("\n")
end

-- A failure: the message on stderr (and, with --json, {success=false, …} on stdout). Returns 1.
function M.fail(ctx, message, code, info)
  message = tostring(message)
  if (code == "HTTP_401" or code == "HTTP_403") and not ctx.no_key_hint then
    message = message .. " (check PHALA_CLOUD_API_KEY, or run `" .. M.PROG .. " auth login`)"
  end
  io.stderr:write(M.PROG, " ", ctx.name, ": ", message, "\n")
  if ctx.json then
    local out = { success = false, error = message, code = code or json.null }
    if type(info) == "table" then
      out.status = info.status
      out.detail = info.detail
    end
    M.print_json(out)
  end
  return 1
end

-- ---- terminal -----------------------------------------------------------------------------------

local tty = {}
local function isatty(fd)
  if tty[fd] == nil then tty[fd] = os.execute("test -t " .. fd) == true end
  return tty[fd]
end

-- Whether we can ask the user (stdin and stderr are terminals).
function M.interactive() return isatty(0) and isatty(2) end

-- Whether progress may be drawn (stderr is a terminal).
function M.progress_ok() return isatty(2) end

-- The line is read with task.read_line, so the loop (and Ctrl-C) keeps working while the user
-- thinks; echo comes back on however the question ends (answer, end of input, Ctrl-C).
local RESTORE_ECHO = { __close = function()
  os.execute("stty echo 2>/dev/null")
  io.stderr:write("\n")
end }

function M.ask(prompt, hidden)
  local _ <close> = hidden and setmetatable({}, RESTORE_ECHO) or nil
  if hidden then os.execute("stty -echo 2>/dev/null") end -- before the prompt: no typing races it
  io.stderr:write(prompt)
  io.stderr:flush()
  return task.read_line()
end

local function refuse(ctx, what)
  io.stderr:write(M.PROG, " ", ctx.name, ": not on a terminal, so nobody can confirm ", what,
    ": pass --yes to go ahead\n")
  return 2
end

-- Whether a destructive step can go ahead or be asked about (else the refusal is printed):
-- call it before any request, so that a script without --yes fails fast.
function M.can_confirm(ctx, what)
  if ctx.opts.yes or ctx.opts.force or M.interactive() then return true end
  refuse(ctx, what)
  return false
end

-- Asks before a destructive step. Returns true to go on, or nil and an exit status: --yes or
-- --force go on; a terminal is asked (default no: 1 "cancelled"); off a terminal it refuses (2).
function M.confirm(ctx, question)
  if ctx.opts.yes or ctx.opts.force then return true end
  if not M.interactive() then return nil, refuse(ctx, "this (" .. question .. ")") end
  local answer = (M.ask(question .. " [y/N] ") or ""):lower()
  if answer == "y" or answer == "yes" then return true end
  io.stderr:write("Cancelled: nothing was changed.\n")
  return nil, 1
end

-- ---- the API --------------------------------------------------------------------------------------

-- The request timeout in seconds: $TEEHOST_PHALA_TIMEOUT, else the client's 30 s.
local function request_timeout()
  local t = tonumber(os.getenv("TEEHOST_PHALA_TIMEOUT") or "")
  if t and t > 0 and t <= 86400 then return t end
end

-- A client with the key of --api-key, PHALA_CLOUD_API_KEY or the key file. Returns it, or nil
-- and the exit status after reporting why.
function M.client(ctx, api_key)
  local c, msg, code = phala.client { api_key = api_key, timeout = request_timeout() }
  if not c then return nil, M.fail(ctx, msg, code) end
  return c
end

-- A client for a key to test (auth login): nothing is loaded from files.
function M.client_for(key)
  return phala.client { api_key = key, timeout = request_timeout() }
end

function M.cloud_url()
  local u = os.getenv("CLOUD_URL")
  if u and u ~= "" then return (u:gsub("/+$", "")) end
  return "https://cloud.phala.com"
end

function M.dashboard(ref)
  return M.cloud_url() .. "/dashboard/cvms/" .. ref
end

local function is_id(ref)
  local plain = ref:gsub("-", "")
  return ref:match("^app_%x+$") or ref:match("^instance_%x+$") or (#ref == 40 and ref:match("^%x+$"))
    or (#plain == 32 and plain:match("^%x+$"))
end

-- The CVM reference to put in paths: an app id (with or without app_), a UUID (with or without
-- dashes) or instance_<id> as given; a name is looked up in the list. Without a reference, a
-- terminal user picks from the list. Returns ref, or nil and an exit status.
function M.cvm_ref(ctx, c, ref)
  if ref and is_id(ref) then return ref end
  if not ref and not M.interactive() then
    return nil, M.usage(ctx.name, "give the CVM: its app id, UUID or name", ctx.help)
  end
  local list, msg, code, info = c:list_cvms()
  if not list then return nil, M.fail(ctx, msg, code, info) end
  if ref then
    local found = {}
    for _, item in ipairs(list) do
      local h = item.hosted or {}
      if h.name == ref or item.name == ref then found[#found + 1] = h.app_id end
    end
    if #found == 1 then return found[1] end
    if #found == 0 then
      return nil, M.fail(ctx, "no CVM named '" .. ref .. "' (give its app id or UUID)", "ENOTFOUND")
    end
    return nil, M.fail(ctx, ("%d CVMs are named '%s': give one of their app ids: %s"):format(#found, ref,
      table.concat(found, ", ")), "EINVAL")
  end
  if #list == 0 then return nil, M.fail(ctx, "no CVMs found", "ENOTFOUND") end
  for i, item in ipairs(list) do
    local h = item.hosted or {}
    io.stderr:write(("%2d) %s  app_%s  %s\n"):format(i, M.str(h.name), M.str(h.app_id), M.str(item.status or h.status)))
  end
  local n = math.tointeger(tonumber(M.ask("Which CVM? ") or ""))
  local pick = n and list[n]
  if not pick then return nil, M.usage(ctx.name, "no CVM chosen") end
  return pick.hosted.app_id
end

-- The CVM ref and its current app-compose (GET cvms/<ref>/compose_file), whose failure is
-- reported after why. Returns d, current, or nil and an exit status.
function M.cvm_and_compose(ctx, c, ref, why)
  local d, msg, code, info = c:get_cvm(ref)
  if not d then return nil, M.fail(ctx, msg, code, info) end
  local current
  current, msg, code, info = c:get_compose_file(ref)
  if type(current) ~= "table" then
    return nil, M.fail(ctx, why .. tostring(msg or "not a JSON object"), code or "EPROTO", info)
  end
  return d, current
end

-- ---- waiting ------------------------------------------------------------------------------------

-- --wait / --timeout: whether to wait, and for how long (seconds). Returns wait, timeout or nil,
-- nil, exit status.
function M.wait_opts(ctx)
  local t = ctx.opts.timeout
  if t == nil then return ctx.opts.wait == true, 600 end
  local n = tonumber(t)
  if not n or n <= 0 or n > 86400 then
    return nil, nil, M.usage(ctx.name, "--timeout needs seconds (0 < s <= 86400), got '" .. t .. "'", ctx.help)
  end
  return true, n
end

-- Waits until CVM ref has status want (not in progress). On a terminal a progress line is
-- redrawn on stderr; off it, one line says what is awaited. Returns the detail, or nil and the
-- exit status after reporting.
function M.wait(ctx, c, ref, want, timeout, label)
  local t0 = task.now()
  local draw = M.progress_ok()
  local function progress(d)
    if draw then
      io.stderr:write(("\r\27[K⟳ %s: %s%s (%d s)"):format(label, M.str(d.status),
        d.in_progress == true and ", in progress" or "", math.floor(task.now() - t0)))
      io.stderr:flush()
    end
  end
  if not draw then M.note(("Waiting for %s to be %s (at most %g s)…"):format(label, want, timeout)) end
  local d, msg, code, info = c:wait(ref, want, { timeout = timeout, interval = 1, progress = progress })
  if draw then io.stderr:write("\r\27[K") end
  if not d then return nil, M.fail(ctx, msg, code, info) end
  M.note(("✓ %s is %s (%d s)"):format(label, want, math.floor(task.now() - t0 + 0.5)))
  return d
end

-- The end of a command that (re)starts a CVM: with wait (nil, or the arguments ref, want,
-- timeout, label of M.wait), waits and sets result.status; then prints result as JSON (--json)
-- or, when given, show(result). Returns the exit status.
function M.finish(ctx, c, result, wait, show)
  if wait then
    local d, drc = M.wait(ctx, c, table.unpack(wait))
    if not d then return drc end
    result.status = d.status
  end
  if ctx.json then
    M.print_json(result)
  elseif show then
    show(result)
  end
  return 0
end

-- ---- env files ----------------------------------------------------------------------------------

-- Reads and parses an env file. Returns {names=, vars={{key=, value=}…}}, or nil and a message.
-- Warnings (never values) go to stderr.
function M.read_env(path)
  local text, err = cli.read_file(path)
  if not text then return nil, err end
  local vars, perr, warnings = phala.parse_env(text)
  if not vars then return nil, path .. ": " .. perr end
  for _, w in ipairs(warnings) do M.warn(path, ": ", w) end
  local env = { names = {}, vars = {} }
  for i, v in ipairs(vars) do
    env.names[i] = v.name
    env.vars[i] = { key = v.name, value = v.value }
  end
  return env
end

-- The file of -e/--env-file, read: env, or nil when none is given; or nil and an exit status.
function M.env_file(ctx)
  local path = ctx.opts["env-file"]
  if not path then return nil end
  local env, err = M.read_env(path)
  if not env then return nil, M.fail(ctx, err, "EBADDATA") end
  return env
end

-- Encrypts env to the app's public key: hex, or nil and a message.
function M.encrypt(env, pubkey)
  if type(pubkey) ~= "string" or pubkey == "" then
    return nil, "the API gave no env encryption key for this CVM"
  end
  return phala.encrypt_env(env.vars, pubkey)
end

-- Names of env that the docker-compose text never mentions as $NAME or ${NAME…}: docker compose
-- passes those to no container.
function M.unreferenced(names, compose_text)
  local out = {}
  for _, n in ipairs(names) do
    local plain = n:gsub("%p", "%%%0")
    if not (compose_text:find("%${" .. plain .. "[}:%-?]") or compose_text:find("%$" .. plain .. "%f[^%w_]")) then
      out[#out + 1] = n
    end
  end
  return out
end

-- Warns about the names that compose_text never references (M.unreferenced).
function M.warn_unreferenced(names, compose_text)
  local unref = M.unreferenced(names, compose_text)
  if #unref > 0 then
    M.warn("not referenced in the compose file (docker compose passes them to no container): ",
      table.concat(unref, ", "))
  end
end

-- The change from the allowed_envs a CVM has to the ones it will have: {added=, removed=, kept=}.
function M.env_diff(old, new)
  local in_old, in_new = {}, {}
  for _, k in ipairs(old) do in_old[k] = true end
  for _, k in ipairs(new) do in_new[k] = true end
  local d = { added = json.array {}, removed = json.array {}, kept = json.array {} }
  for _, k in ipairs(new) do table.insert(in_old[k] and d.kept or d.added, k) end
  for _, k in ipairs(old) do if not in_new[k] then table.insert(d.removed, k) end end
  return d
end

-- Shows the env difference on stderr (names only). sent: whether a new encrypted set replaces
-- the CVM's one.
function M.show_env_diff(d, sent)
  local function list(t) return #t > 0 and table.concat(t, ", ") or "none" end
  if not sent then
    M.note("Env vars: unchanged (no -e given): the CVM keeps its encrypted env and allowed_envs (",
      list(d.kept), ")")
    return
  end
  M.note("Env vars (the new set replaces the CVM's whole encrypted env):")
  M.note("  kept:    ", list(d.kept))
  M.note("  added:   ", list(d.added))
  M.note("  removed: ", list(d.removed), #d.removed > 0 and "  <- the CVM will no longer receive these" or "")
end

-- A list of strings from a decoded JSON value (nil/null -> {}).
function M.strings(v)
  local out = {}
  if type(v) == "table" then
    for _, s in ipairs(v) do if type(s) == "string" then out[#out + 1] = s end end
  end
  return out
end

function M.read_compose(ctx, path)
  local text, err = cli.read_file(path)
  if not text then return nil, M.fail(ctx, err, "ENOENT") end
  if text:match("^%s*$") then return nil, M.fail(ctx, path .. " is empty", "EINVAL") end
  return text
end

-- Runs the command of group that args[1] names in commands, with the rest of args; --help, -h
-- and help print help. Returns the exit status.
function M.dispatch(group, args, commands, help)
  local sub = args[1]
  if sub == "--help" or sub == "-h" or sub == "help" then
    print(help)
    return 0
  end
  if sub == nil then return M.usage(group, "needs a command", help) end
  local run = commands[sub]
  if not run then return M.usage(group, "unknown command '" .. sub .. "'", help) end
  return run(table.move(args, 2, #args, 1, {}))
end

return M
