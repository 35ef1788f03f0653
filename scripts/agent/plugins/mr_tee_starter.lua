-- scripts/agent/plugins/mr_tee_starter.lua — the TEE starter's own plugin ("mr-tee-starter",
-- spec eliza-tee.md §6.3): its configuration checks run when the agent starts (agent/config.lua:
-- every bad variable is reported and the start fails) and its two status routes.
--
--   GET /mr-tee-status     {"message": "<agent name> is operational, fool!", "tee_mode": TEE_MODE or
--                           "NOT SET", "tee_vendor": TEE_VENDOR or "NOT SET", "tee": endpoint kind}
--   GET /public/tee-status {"status": "active", "tee_enabled": false only when there is no TEE,
--                           "vendor": TEE_VENDOR or "phala"}
-- The starter's keys and values are kept; "tee" is added because teehost knows which TEE really
-- answers, and tee_enabled follows that (the starter only compared TEE_MODE with "OFF").
local config = require "agent.config"

local M = {
  name = "mr-tee-starter",
  description = "Mr. TEE's starter plugin - using plugin-tee for attestation",
}

function M.init(agent)
  local ok, errors = config.check(agent.env)
  if not ok then return nil, "invalid configuration:\n  " .. table.concat(errors, "\n  ") end
  return true
end

M.routes = {
  {
    type = "GET", path = "/mr-tee-status", name = "mr-tee-status-route",
    handler = function(_, agent)
      return { status = 200, json = {
        message = agent.name .. " is operational, fool!",
        tee_mode = agent:setting("TEE_MODE") or "NOT SET",
        tee_vendor = agent:setting("TEE_VENDOR") or "NOT SET",
        tee = tee.endpoint().kind,
      } }
    end,
  },
  {
    type = "GET", path = "/public/tee-status", name = "TEE Status",
    handler = function(_, agent)
      return { status = 200, json = {
        status = "active", tee_enabled = tee.endpoint().kind ~= "none", vendor = agent:setting("TEE_VENDOR") or "phala",
      } }
    end,
  },
}

return M
