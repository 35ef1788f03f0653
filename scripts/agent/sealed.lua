-- scripts/agent/sealed.lua — the agent's sealed memory: a `store` opened with the sealing key
-- the TEE derives for this app (tee.get_key("teehost/store", "sealing")), so the records open
-- only under the same TEE identity (another app, or the same file on another machine's TEE,
-- reads EVERIFY, never garbage).
--
--   local sealed = require "agent.sealed"
--   local st = assert(sealed.open("agent-" .. id, id))   -- $TEEHOST_HOME/store/agent-<id>.db
--   st:put("m1", text, { room = room }); st:search { room = room, limit = 20 }
--
-- open yields (it asks the TEE for the key); the store keeps its own copy of the key, and the
-- Key object is closed here so its secret does not linger until the next collection.
local store = require "store"
local tee = require "tee"

local M = {}

M.KEY_PATH = "teehost/store"
M.KEY_PURPOSE = "sealing"

-- Returns the Store, or nil, msg, code (the step that failed is named in msg).
function M.open(name, agent_id)
  local key, why, code = tee.get_key(M.KEY_PATH, M.KEY_PURPOSE)
  if not key then return nil, "sealed store " .. name .. ": sealing key: " .. tostring(why), code end
  local st, err, ecode = store.open(name, { key = key, agent_id = agent_id })
  key:close()
  return st, err, ecode
end

return M
