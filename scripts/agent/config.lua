-- scripts/agent/config.lua — the TEE starter's configuration checks (spec eliza-tee.md §6.3),
-- with teehost's TEE_MODE values, run before an agent starts.
--
--   local config = require "agent.config"
--   local ok, errors = config.check(env)   -- env: a table of variables, or nil for os.getenv
--   -- ok == true, or nil and a list of messages, one per bad variable, in the order below
--
-- Rules (each variable may be unset; nil is unset, any string is "set"):
--   TEE_MODE            exactly one of config.TEE_MODES (case-sensitive, not trimmed; "" is invalid)
--   TEE_VENDOR          exactly "phala"
--   WALLET_SECRET_SALT  8 to 128 characters once leading and trailing whitespace is removed
-- Unlike the starter (which reports the first failure and rejects PHALA_DSTACK, TDX_DSTACK and
-- NONE although its own docs name them), every failure is reported and the modes are the ones the
-- teehost binary itself accepts. Messages name the variable and the valid values; a bad mode or
-- vendor is quoted, the salt never is (it is a secret).
local M = {}

M.TEE_MODES = { "PHALA_DSTACK", "TDX_DSTACK", "PRODUCTION", "LOCAL", "DOCKER", "SIMULATOR", "NONE", "OFF" }
M.TEE_VENDORS = { "phala" }
M.SALT_MIN, M.SALT_MAX = 8, 128

local function quote(v)
  if #v > 64 then v = v:sub(1, 64) .. "..." end
  return string.format("%q", v)
end

local function one_of(list, v)
  for _, x in ipairs(list) do
    if x == v then return true end
  end
  return false
end

local function check_mode(v)
  if one_of(M.TEE_MODES, v) then return nil end
  return "TEE_MODE must be one of " .. table.concat(M.TEE_MODES, ", ")
    .. " (case-sensitive, no spaces) or unset; got " .. quote(v)
end

local function check_vendor(v)
  if one_of(M.TEE_VENDORS, v) then return nil end
  return "TEE_VENDOR must be " .. table.concat(M.TEE_VENDORS, ", ")
    .. " (lower case, no spaces) or unset; got " .. quote(v)
end

local function check_salt(v)
  local trimmed = v:match("^%s*(.-)%s*$")
  local n = utf8.len(trimmed) or #trimmed
  if n < M.SALT_MIN then
    return "WALLET_SECRET_SALT is too short: it must have at least " .. M.SALT_MIN
      .. " characters, not counting leading and trailing whitespace"
  end
  if n > M.SALT_MAX then
    return "WALLET_SECRET_SALT is too long: it must have at most " .. M.SALT_MAX
      .. " characters, not counting leading and trailing whitespace"
  end
  return nil
end

local CHECKS = {
  { "TEE_MODE", check_mode },
  { "TEE_VENDOR", check_vendor },
  { "WALLET_SECRET_SALT", check_salt },
}

-- config.check(env) -> true | nil, {message, …}
function M.check(env)
  if env ~= nil and type(env) ~= "table" then
    error("config.check: env must be a table or nil, got " .. type(env), 2)
  end
  local errors = {}
  for _, c in ipairs(CHECKS) do
    local name, check = c[1], c[2]
    local v
    if env then v = env[name] else v = os.getenv(name) end
    if v ~= nil then
      local msg
      if type(v) ~= "string" then
        msg = name .. " must be a string, got " .. type(v)
      else
        msg = check(v)
      end
      errors[#errors + 1] = msg
    end
  end
  if #errors > 0 then return nil, errors end
  return true
end

return M
