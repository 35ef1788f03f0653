-- scripts/agent/models/openai.lua — the model client for any OpenAI-compatible chat endpoint
-- (OpenAI, Ollama, vLLM, RedPill ...), on the async `http` module. It replaces the offline model
-- when an endpoint is configured.
--
-- Interface (the same as agent/models/offline.lua, whose header describes ctx in full):
--
--   local openai = require "agent.models.openai"
--   local res, err, code = openai.respond(ctx)      -- configured from the environment per call
--   local model = openai.new { base_url =, api_key =, model =, timeout =, log = }
--   local res, err, code = model.respond(ctx)       -- the same with fixed settings
--     res = { thought = string, actions = { NAME... }, text = string }
--     err = "model: <status> <error.message from the body>" for an HTTP error answer, or
--           "model: ..." naming what failed (connection, timeout, bad JSON, no content); code is
--           the http error code (ETIMEDOUT, ECONNREFUSED ...), "EHTTP" or "EPROTO".
--
-- Settings (option, else environment, else default):
--   base_url  OPENAI_BASE_URL   https://api.openai.com/v1   (POST {base_url}/chat/completions)
--   api_key   OPENAI_API_KEY    none: no Authorization header (Ollama needs none); false = none
--   model     OPENAI_MODEL      gpt-4o-mini
--   timeout   OPENAI_TIMEOUT    60 seconds (0 = none)
--   log       -                 function(line) writing one line to stderr
--
-- The request: messages = [system, user]. The system message holds the character (system prompt,
-- bio, topics, adjectives, style), the actions whose validate(message) passes, the composed
-- provider text (ctx.state.text) and the elizaOS response instructions, which ask for exactly
-- `<response><thought>…</thought><actions>A,B</actions><text>…</text></response>`. The user
-- message is ctx.message.text.
--
-- The answer (choices[1].message.content) is parsed tolerantly (openai.parse): the XML may sit in
-- code fences or among other text, the <response> wrapper or any child may be missing, and an
-- unclosed <text> runs to the end. Children are entity-unescaped and trimmed; <actions> is split
-- on commas. Output that is not the requested XML is never an error: one line goes to the log
-- and the result is best effort — plain text with no XML gives { thought = "", actions = {},
-- text = <the whole content, trimmed> }; a missing <actions> gives actions = {}. An empty
-- `actions` with non-empty text means "send the text" (like REPLY).
--
-- Secrets: the API key goes only into the Authorization header; it is never logged, and any
-- error text or log line that could echo it (a server's error message) has it replaced by "***".
local M = { name = "openai" }

M.DEFAULT_BASE_URL = "https://api.openai.com/v1"
M.DEFAULT_MODEL = "gpt-4o-mini"
M.DEFAULT_TIMEOUT = 60

local INSTRUCTIONS = [[
# Instructions
You are %s. Reply to the user's message in character, following the style above.
First think briefly about what the user wants and what you will do. Then choose the actions to
take, in the order they should run: put REPLY first when you answer in words; name another action
from the list above only when the message calls for it; use IGNORE alone when you should not
answer. Then write the reply text.

Answer with exactly one XML block and nothing before or after it:
<response>
  <thought>your short reasoning</thought>
  <actions>REPLY,OTHER_ACTION</actions>
  <text>the reply the user will read</text>
</response>]]

local function env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then return nil end
  return v
end

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

local function list_text(v)
  if type(v) == "string" then return v end
  if type(v) ~= "table" then return nil end
  local lines = {}
  for _, item in ipairs(v) do lines[#lines + 1] = "- " .. tostring(item) end
  return #lines > 0 and table.concat(lines, "\n") or nil
end

local function section(out, title, body)
  if body and body ~= "" then out[#out + 1] = "# " .. title .. "\n" .. body end
end

local function actions_text(ctx)
  local lines = {}
  for _, a in ipairs(ctx.actions or {}) do
    local ok, valid = true, true
    if a.validate then ok, valid = pcall(a.validate, ctx.message) end
    if ok and valid == true then
      local line = "- " .. a.name .. ": " .. (a.description or "")
      if a.similes and #a.similes > 0 then line = line .. " (also: " .. table.concat(a.similes, ", ") .. ")" end
      lines[#lines + 1] = line
    end
  end
  return #lines > 0 and table.concat(lines, "\n") or nil
end

-- The system prompt for ctx (exported for tests and for runtimes that log prompts).
function M.system_prompt(ctx)
  local c, out = ctx.character, {}
  local name = c.name or "the agent"
  if c.system and c.system ~= "" then out[#out + 1] = c.system end
  section(out, "About " .. name, list_text(c.bio))
  section(out, "Topics", list_text(c.topics))
  section(out, "Adjectives", list_text(c.adjectives))
  local style = c.style or {}
  local rules = {}
  for _, key in ipairs { "all", "chat" } do
    for _, r in ipairs(style[key] or {}) do rules[#rules + 1] = "- " .. r end
  end
  section(out, "Style", #rules > 0 and table.concat(rules, "\n") or nil)
  section(out, "Available actions", actions_text(ctx))
  section(out, "Context", ctx.state and ctx.state.text)
  out[#out + 1] = INSTRUCTIONS:format(name)
  return table.concat(out, "\n\n")
end

local ENTITIES = { lt = "<", gt = ">", quot = '"', apos = "'", amp = "&" }

local function unescape(s)
  return (s:gsub("&(%a+);", function(e) return ENTITIES[e] end))
end

-- The inner text of the first <tag>…</tag> in s (nesting of the same tag counted); an unclosed
-- element runs to the end of s. nil when s has no <tag>.
local function element(s, tag)
  local open, close = "<" .. tag .. ">", "</" .. tag .. ">"
  local _, start = s:find(open, 1, true)
  if not start then return nil end
  local depth, pos = 1, start + 1
  while true do
    local o = s:find(open, pos, true)
    local c = s:find(close, pos, true)
    if not c then return s:sub(start + 1) end
    if o and o < c then
      depth, pos = depth + 1, o + #open
    else
      depth = depth - 1
      if depth == 0 then return s:sub(start + 1, c - 1) end
      pos = c + #close
    end
  end
end

local function split_actions(s)
  local list = {}
  for item in s:gmatch("[^,]+") do
    item = trim(item)
    if item ~= "" then list[#list + 1] = item end
  end
  return list
end

-- Parses a model's content into { thought, actions, text }. Returns the result and, when the
-- content was not the requested XML, a one-line reason (the result is then best effort).
function M.parse(content)
  content = type(content) == "string" and content or ""
  local body = element(content, "response") or content
  local thought, actions, text = element(body, "thought"), element(body, "actions"), element(body, "text")
  if not (thought or actions or text) then
    return { thought = "", actions = {}, text = trim(content) }, "no <response> XML"
  end
  local res = {
    thought = thought and trim(unescape(thought)) or "",
    actions = actions and split_actions(unescape(actions)) or {},
    text = text and trim(unescape(text)) or "",
  }
  local missing = {}
  if not content:find("<response>", 1, true) then missing[#missing + 1] = "<response>" end
  for _, tag in ipairs { "thought", "actions", "text" } do
    if not body:find("</" .. tag .. ">", 1, true) then missing[#missing + 1] = "<" .. tag .. ">" end
  end
  if #missing > 0 then return res, "missing or unclosed " .. table.concat(missing, ", ") end
  return res
end

-- Replaces the key in s (error text from a server could echo it) and keeps one short line.
local function clean(s, key)
  s = tostring(s or "")
  if key then
    local i, j = s:find(key, 1, true)
    while i do
      s = s:sub(1, i - 1) .. "***" .. s:sub(j + 1)
      i, j = s:find(key, i + 3, true)
    end
  end
  s = trim(s:gsub("%s+", " "))
  if #s > 200 then s = s:sub(1, 200) .. "…" end
  return s
end

local function http_error(res, key)
  local msg
  local doc = json.decode(res.body or "")
  if type(doc) == "table" and type(doc.error) == "table" and type(doc.error.message) == "string" then
    msg = doc.error.message
  elseif type(doc) == "table" and type(doc.error) == "string" then
    msg = doc.error
  else
    msg = res.body ~= "" and res.body or "(no error message)"
  end
  return nil, string.format("model: %d %s", res.status, clean(msg, key)), "EHTTP"
end

local function request(cfg, ctx)
  local headers = { ["content-type"] = "application/json", accept = "application/json" }
  if cfg.api_key then headers.authorization = "Bearer " .. cfg.api_key end
  local body = json.encode {
    model = cfg.model,
    messages = {
      { role = "system", content = M.system_prompt(ctx) },
      { role = "user", content = tostring(ctx.message.text or "") },
    },
  }
  local ok, res, msg, code = pcall(http.request, {
    method = "POST", url = cfg.url, headers = headers, body = body, timeout = cfg.timeout,
  })
  if not ok then return nil, "model: request to " .. cfg.shown_url .. " failed: " .. clean(res, cfg.api_key), "EIO" end
  if not res then
    return nil, "model: request to " .. cfg.shown_url .. " failed: " .. clean(msg, cfg.api_key), code
  end
  return res
end

local function respond(cfg, ctx)
  if type(ctx) ~= "table" or type(ctx.character) ~= "table" or type(ctx.message) ~= "table" then
    error("openai model: ctx needs a character and a message table", 2)
  end
  local res, msg, code = request(cfg, ctx)
  if not res then return nil, msg, code end
  if res.status < 200 or res.status > 299 then return http_error(res, cfg.api_key) end
  local doc, why = json.decode(res.body)
  if type(doc) ~= "table" then
    return nil, "model: " .. res.status .. " answer is not JSON: " .. clean(why or "not an object"), "EPROTO"
  end
  local choice = type(doc.choices) == "table" and doc.choices[1]
  local content = type(choice) == "table" and type(choice.message) == "table" and choice.message.content
  if type(content) ~= "string" then
    return nil, "model: " .. res.status .. " answer has no choices[1].message.content", "EPROTO"
  end
  local parsed, malformed = M.parse(content)
  if malformed then
    cfg.log(string.format("model: %s reply is not the requested XML (%s, %d bytes); using it as best effort",
      cfg.model, malformed, #content))
  end
  return parsed
end

local function default_log(line)
  io.stderr:write(line, "\n")
end

function M.new(opts)
  opts = opts or {}
  local base = (opts.base_url or env("OPENAI_BASE_URL") or M.DEFAULT_BASE_URL):gsub("/+$", "")
  local timeout = opts.timeout or tonumber(env("OPENAI_TIMEOUT") or "") or M.DEFAULT_TIMEOUT
  local cfg = {
    url = base .. "/chat/completions",
    shown_url = (base .. "/chat/completions"):gsub("//[^/@]*@", "//"), -- no user:password@
    api_key = opts.api_key,
    model = opts.model or env("OPENAI_MODEL") or M.DEFAULT_MODEL,
    timeout = timeout,
    log = opts.log or default_log,
  }
  if cfg.api_key == nil then cfg.api_key = env("OPENAI_API_KEY") end
  if cfg.api_key == false or cfg.api_key == "" then cfg.api_key = nil end -- false: no key, whatever the env
  return {
    name = "openai",
    model = cfg.model,
    base_url = base,
    respond = function(ctx) return respond(cfg, ctx) end,
  }
end

function M.respond(ctx)
  return M.new().respond(ctx)
end

return M
