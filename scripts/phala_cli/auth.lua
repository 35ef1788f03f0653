-- phala_cli.auth: `teehost phala status` and `auth login [KEY] | logout | status` (spec 2, 4).
-- Better than 1.0.35: a key is saved only after GET auth/me accepted it; status exits 1 when
-- the API refuses or no key is set; the key, or any prefix of it, is never printed.
local phala = require "phala"
local common = require "phala_cli.common"

local HELP = {
  status = [[
teehost phala status [--api-key KEY] [--json]     (also: auth status)
    GET auth/me: the API URL, user, workspace and credits of the key in use. Exits 1 when no
    key is set or the API refuses it.]],
  login = [[
teehost phala auth login [KEY] [--json]
    checks KEY with GET auth/me and, only if the API accepts it, saves it (0600, in a 0700
    directory: $PHALA_CLOUD_DIR, default ~/.phala-cloud). Without KEY it is asked for on a
    terminal (not echoed) or read from the first line of stdin:
        printf '%s\n' "$KEY" | teehost phala auth login]],
  logout = [[
teehost phala auth logout [--json]
    removes the saved key. PHALA_CLOUD_API_KEY, if set, still applies.]],
}
local GROUP_HELP = "teehost phala auth login|logout|status (--help on each)\n\n"
  .. table.concat({ HELP.login, HELP.logout, HELP.status }, "\n")

-- The user fields of GET auth/me in either API shape (spec 2.1).
local function who(me)
  local user = type(me.user) == "table" and me.user or me
  local ws = type(me.workspace) == "table" and me.workspace or {}
  local credits, granted = me.credits, me.granted_credits
  if type(credits) == "table" then credits, granted = credits.balance, credits.granted_balance end
  return {
    username = user.username, email = user.email,
    team_name = me.team_name or ws.name, team_tier = me.team_tier or ws.tier,
    credits = credits, granted_credits = granted,
  }
end

local function status(args, name)
  local ctx, rc = common.parse(args, { { "api-key", false, "value" }, { "debug", "d", "flag" } },
    HELP.status, name)
  if not ctx then return rc end
  local _, extra = common.positionals(ctx, 0)
  if extra then return extra end
  local c, crc = common.client(ctx, ctx.opts["api-key"])
  if not c then return crc end
  local me, msg, code, info = c:me()
  if not me then return common.fail(ctx, msg, code, info) end
  if type(me) ~= "table" then return common.fail(ctx, "GET auth/me: the answer is not a JSON object", "EPROTO") end
  local w = who(me)
  local source = "option --api-key"
  if not ctx.opts["api-key"] then
    local k = phala.key_info()
    source = k and (k.source == "env" and "PHALA_CLOUD_API_KEY" or (k.path or k.source)) or "?"
  end
  return common.output(ctx, { apiUrl = c:base_url(), username = w.username, email = w.email, team_name = w.team_name,
    team_tier = w.team_tier, credits = w.credits, granted_credits = w.granted_credits, key_from = source }, function()
    common.rows {
      { "API", c:base_url() },
      { "Logged in as", common.str(w.username) .. (w.email and (" <" .. common.str(w.email) .. ">") or "") },
      { "Workspace", common.str(w.team_name) .. (w.team_tier and (" (" .. common.str(w.team_tier) .. ")") or "") },
      { "Credits", common.str(w.credits)
        .. (w.granted_credits and (" (granted " .. common.str(w.granted_credits) .. ")") or "") },
      { "Key from", source },
    }
  end)
end

local function login(args)
  local ctx, rc = common.parse(args, {}, HELP.login, "auth login")
  if not ctx then return rc end
  ctx.no_key_hint = true
  local key, extra = common.positionals(ctx, 1)
  if extra then return extra end
  if not key then
    key = common.interactive() and common.ask("Phala Cloud API key: ", true) or io.stdin:read("l")
  end
  key = key and key:match("^%s*(.-)%s*$")
  if not key or key == "" then
    return common.usage(ctx.name, "needs an API key (argument, prompt or stdin)", HELP.login)
  end
  local c, cmsg, ccode = common.client_for(key)
  if not c then return common.fail(ctx, cmsg .. "; the key was not saved", ccode) end
  local me, msg, code, info = c:me()
  c:close()
  if not me then return common.fail(ctx, msg .. "; the key was not saved", code, info) end
  local w = type(me) == "table" and who(me) or {}
  if type(w.username) ~= "string" then
    return common.fail(ctx, "GET auth/me gave no username; the key was not saved", "EPROTO")
  end
  local path, err, ecode = phala.save_key(key)
  if not path then return common.fail(ctx, err, ecode) end
  if os.getenv("PHALA_CLOUD_API_KEY") then
    common.warn("PHALA_CLOUD_API_KEY is set and takes precedence over the saved key")
  end
  return common.output(ctx, { success = true, username = w.username, email = w.email, team_name = w.team_name,
    saved_to = path }, function()
    print(("Welcome %s! The API key works and is saved in %s"):format(w.username, path))
  end)
end

local function logout(args)
  local ctx, rc = common.parse(args, {}, HELP.logout, "auth logout")
  if not ctx then return rc end
  local _, extra = common.positionals(ctx, 0)
  if extra then return extra end
  local dir, derr, dcode = phala.key_dir()
  if not dir then return common.fail(ctx, derr, dcode) end
  local ok, existed_or_err, code = phala.delete_key()
  if not ok then return common.fail(ctx, existed_or_err, code) end
  local path = dir .. "/api-key"
  common.output(ctx, { success = true, removed = existed_or_err, path = path }, function()
    print(existed_or_err and ("API key removed (" .. path .. ")") or ("No API key was saved (" .. path .. ")"))
  end)
  if os.getenv("PHALA_CLOUD_API_KEY") then
    common.warn("PHALA_CLOUD_API_KEY is still set in the environment")
  end
  return 0
end

local COMMANDS = {
  login = login, logout = logout,
  status = function(args) return status(args, "auth status") end,
}

return function(args, top)
  if top == "status" then return status(table.move(args, 2, #args, 1, {}), "status") end
  return common.dispatch("auth", args, COMMANDS, GROUP_HELP)
end
