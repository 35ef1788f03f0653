-- scripts/agent/api.lua — the agent's REST API on loopback (DESIGN.md "The agent"), JSON in and out.
--
--   local api = require "agent.api"
--   local srv = assert(api.serve { agents = { agent, … }, port = 3000, host = "127.0.0.1" })
--   srv:port(); srv:close()
--
--   GET  /health                     {"status":"ok","agent":NAME,"tee":ENDPOINT_KIND}
--   GET  /api/agents                 [{"id","name"}]
--   POST /api/agents/{id}/message    {"text", "user"?, "room"?} -> {"replies":[{"text","actions","attachments"}]}
--   GET  /api/attestation?nonce=HEX  {"quote","event_log","report_data","verified":{…}}; the nonce
--                                    (1 to 64 bytes) is the quote's report data, zero-padded
--   every route of every agent's plugins (first agent first), e.g. GET /mr-tee-status
-- Errors: 400 {"error": …} for bad JSON or fields, 404 for an unknown agent or path, 405 for a
-- known path with another method, 503 when there is no TEE to quote. Each request runs in its
-- own task (http.serve), so a slow model or quote never blocks the others.
local json = require "json"
local tee_plugin = require "agent.plugins.tee"

local M = {}

local function answer(status, value) return { status = status, json = value } end
local function bad(status, msg) return answer(status, { error = msg }) end

local function find(agents, id)
  for _, a in ipairs(agents) do
    if a.id == id then return a end
  end
  return nil
end

local function message(agents, id, req)
  local agent = find(agents, id)
  if not agent then return bad(404, "no agent with id " .. id) end
  local body, why = json.decode(req.body or "")
  if body == nil then return bad(400, "the body is not JSON: " .. tostring(why)) end
  if type(body) ~= "table" or json.is_array(body) then return bad(400, "the body must be a JSON object") end
  if type(body.text) ~= "string" or body.text == "" then return bad(400, "field text: expected a non-empty string") end
  for _, k in ipairs { "user", "room" } do
    if body[k] ~= nil and type(body[k]) ~= "string" then return bad(400, "field " .. k .. ": expected a string") end
  end
  local out = agent:handle { text = body.text, user = body.user, room = body.room }
  return answer(200, { replies = json.array(out.replies) })
end

local function attestation(req)
  local nonce = req.query and req.query.nonce
  if type(nonce) ~= "string" or nonce == "" then return bad(400, "query nonce: missing (hex, 1 to 64 bytes)") end
  if #nonce % 2 == 1 or nonce:find("[^%x]") or #nonce > 128 then
    return bad(400, "query nonce: expected 2 to 128 hex digits (1 to 64 bytes)")
  end
  if tee.endpoint().kind == "none" then return bad(503, "no TEE: " .. tostring(tee.endpoint().description)) end
  local bytes = nonce:gsub("%x%x", function(b) return string.char(tonumber(b, 16)) end)
  local q, why = tee.get_quote(bytes)
  if not q then return bad(502, "the TEE gave no quote: " .. tostring(why)) end
  local verified = tee_plugin.verify(q.quote)
  verified.report_data = nil
  return answer(200, { quote = q.quote, event_log = q.event_log, report_data = q.report_data, verified = verified })
end

-- The handler for http.serve over a list of agents.
function M.handler(agents)
  return function(req)
    local path, method = req.path, req.method
    if path == "/health" then
      if method ~= "GET" then return bad(405, "use GET") end
      return answer(200, { status = "ok", agent = agents[1].name, tee = tee.endpoint().kind })
    elseif path == "/api/agents" then
      if method ~= "GET" then return bad(405, "use GET") end
      local list = {}
      for i, a in ipairs(agents) do list[i] = { id = a.id, name = a.name } end
      return answer(200, json.array(list))
    elseif path == "/api/attestation" then
      if method ~= "GET" then return bad(405, "use GET") end
      return attestation(req)
    end
    local id = path:match("^/api/agents/([^/]+)/message$")
    if id then
      if method ~= "POST" then return bad(405, "use POST") end
      return message(agents, id, req)
    end
    local other_method = false
    for _, a in ipairs(agents) do
      for _, r in ipairs(a.routes) do
        if r.path == path then
          if (r.type or "GET") == method then return r.handler(req, a) end
          other_method = true
        end
      end
    end
    if other_method then return bad(405, "method " .. method .. " not allowed on " .. path) end
    return bad(404, "no route " .. method .. " " .. path)
  end
end

function M.serve(opts)
  assert(type(opts) == "table" and type(opts.agents) == "table" and #opts.agents > 0,
    "api.serve: needs agents = {agent, …}")
  return http.serve { host = opts.host or "127.0.0.1", port = opts.port or 3000, handler = M.handler(opts.agents) }
end

return M
