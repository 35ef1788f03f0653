-- scripts/agent/models/offline.lua — the built-in offline model: answers in a character's voice
-- with no LLM and no network, so an agent runs with no API key. Deterministic: the same ctx
-- gives the same response.
--
-- The model interface (every model under agent/models/ has it; the agent runtime calls it):
--
--   local model = require "agent.models.offline"
--   local res, err = model.respond(ctx)
--     ctx = {
--       character = { name, system, bio (string or list), topics, adjectives, style = { all, chat },
--                     message_examples = { conversation... } },  -- conversation: list of
--                                                              -- { name =, content = { text =, actions? } }
--       message   = { text =, user =, room = },
--       actions   = { { name =, similes = { ... }, description =, validate = function(message) -> bool }... },
--                   -- validate may be absent (= always valid); it is called with ctx.message
--       state     = { text = "composed provider text" },
--     }
--     res = { thought = string, actions = { NAME... }, text = string }   or nil, message
--
-- `actions` lists action names in execution order. "REPLY" first means "send `text` first"; an
-- empty list with a non-empty `text` means the same (a runtime sends the text as a plain reply).
--
-- How this model decides (ownership: this file owns only its caches, keyed weakly by the
-- character and action tables it is given, so nothing outlives them):
-- 1. Actions: an action is chosen when its name or one of its similes occurs in the message as a
--    word or phrase (case-insensitive; "_" and punctuation separate words, so REMOTE_ATTESTATION
--    matches "remote attestation"; a trailing "s" on a message word is allowed: "quotes") and its
--    validate(message) returns true (an error in validate counts as false). REPLY, IGNORE and
--    NONE are never chosen by keyword. The result always starts with "REPLY".
-- 2. Text: the message example whose user turn shares the most words with the message (Jaccard
--    similarity of their word sets, common words like "the" and "you" left out; ties go to the
--    earlier example) gives the reply text, with {{user}}/{{name1}} and {{agentName}} filled in.
--    When that similarity is at least 0.5, the example's own actions are added too (only those
--    that are available and valid). With no shared word, the text is a line built from the
--    character's name, one bio entry (picked by a stable hash of the message) and its topics.
-- Choices are made in ctx.actions order, so the output never depends on table iteration order.
local M = { name = "offline" }

local STOP = {}
for w in ([[a an the and or but if of to in on at by for with from as is are was were be been am
  i me my you your yours we us our it its this that these those do does did can could would should
  will shall may might must have has had not no so just what how why when where who which please
  tell about there here hey hi hello]]):gmatch("%a+") do
  STOP[w] = true
end

local CONTROL = { REPLY = true, IGNORE = true, NONE = true }
local ACTION_EXAMPLE_MIN = 0.5

-- Words of s, lower-case, in order (letters and digits; everything else separates).
local function words(s)
  local list = {}
  for w in tostring(s or ""):lower():gmatch("%w+") do list[#list + 1] = w end
  return list
end

-- The set of content words of s and its size.
local function word_set(s)
  local set, n = {}, 0
  for _, w in ipairs(words(s)) do
    if not STOP[w] and not set[w] then set[w], n = true, n + 1 end
  end
  return set, n
end

-- Does the phrase (a list of words) occur in msg (a list of words)?
local function has_phrase(msg, phrase)
  local n = #phrase
  if n == 0 then return false end
  for i = 1, #msg - n + 1 do
    local j = 1
    while j <= n and (msg[i + j - 1] == phrase[j] or msg[i + j - 1] == phrase[j] .. "s") do j = j + 1 end
    if j > n then return true end
  end
  return false
end

local function is_agent_turn(turn, agent_name)
  local n = turn.name
  return n == agent_name or n == "{{agentName}}" or n == "{{agent}}"
end

-- The (user text, agent content) pairs of the character's examples, each with its word set.
-- Cached per character table: a character is data and does not change while an agent runs.
local pair_cache = setmetatable({}, { __mode = "k" })

local function example_pairs(character)
  local cached = pair_cache[character]
  if cached then return cached end
  local list = {}
  for _, convo in ipairs(character.message_examples or {}) do
    for i = 1, #convo - 1 do
      local ask, answer = convo[i], convo[i + 1]
      if type(ask) == "table" and type(answer) == "table" and not is_agent_turn(ask, character.name)
          and is_agent_turn(answer, character.name) and ask.content and answer.content then
        local set, n = word_set(ask.content.text)
        list[#list + 1] = { set = set, n = n, content = answer.content, index = #list + 1 }
      end
    end
  end
  pair_cache[character] = list
  return list
end

-- Phrases (word lists) of an action's name and similes, cached per action table.
local phrase_cache = setmetatable({}, { __mode = "k" })

local function action_phrases(action)
  local cached = phrase_cache[action]
  if cached then return cached end
  local list = { { words = words(action.name), label = action.name } }
  for _, s in ipairs(action.similes or {}) do list[#list + 1] = { words = words(s), label = s } end
  phrase_cache[action] = list
  return list
end

local function is_valid(action, message)
  if action.validate == nil then return true end
  local ok, yes = pcall(action.validate, message)
  return ok and yes == true
end

-- The nearest example: highest Jaccard similarity; the earlier one on a tie. nil when none
-- shares a word with the message.
local function nearest(pairs_list, msg_set, msg_n)
  local best, best_score = nil, 0
  for _, p in ipairs(pairs_list) do
    local common = 0
    for w in pairs(p.set) do
      if msg_set[w] then common = common + 1 end
    end
    if common > 0 then
      local score = common / (p.n + msg_n - common)
      if score > best_score then best, best_score = p, score end
    end
  end
  return best, best_score
end

-- A stable, platform-independent hash of a string (for picking a bio line).
local function hash(s)
  local h = 5381
  for i = 1, #s do h = (h * 33 + s:byte(i)) % 2147483647 end
  return h
end

local function fill(text, character, message)
  local user = (message.user and message.user ~= "") and message.user or "friend"
  text = text:gsub("{{agentName}}", function() return character.name or "" end)
  return (text:gsub("{{user%d*}}", function() return user end):gsub("{{name%d+}}", function() return user end))
end

-- The fallback line: "NAME here. <bio entry>" plus the character's topics when it has any.
local function fallback_text(character, message)
  local name = character.name or "I"
  local bio = character.bio
  if type(bio) == "table" then
    bio = #bio > 0 and bio[hash(table.concat(words(message.text), " ")) % #bio + 1] or nil
  end
  local line = name .. " here."
  if type(bio) == "string" and bio ~= "" then
    if #words(bio) <= 5 and not bio:find("[%.!?]$") then
      line = line .. " " .. name .. ", " .. bio .. ", at your service."
    else
      line = line .. " " .. bio .. (bio:find("[%.!?]$") and "" or ".")
    end
  end
  local topics = character.topics
  if type(topics) == "table" and #topics > 0 then
    local shown = {}
    for i = 1, math.min(3, #topics) do shown[i] = topics[i] end
    line = line .. " Ask me about " .. table.concat(shown, ", ") .. "."
  end
  return line
end

-- Actions matched by keyword, then by the example (when close enough), in ctx.actions order.
local function choose_actions(ctx, msg_words, example, score, why)
  local from_example = {}
  if example and score >= ACTION_EXAMPLE_MIN then
    for _, a in ipairs(example.content.actions or {}) do from_example[a] = true end
  end
  local chosen = { "REPLY" }
  for _, action in ipairs(ctx.actions or {}) do
    if not CONTROL[action.name] then
      local hit
      for _, p in ipairs(action_phrases(action)) do
        if has_phrase(msg_words, p.words) then hit = p.label break end
      end
      if (hit or from_example[action.name]) and is_valid(action, ctx.message) then
        chosen[#chosen + 1] = action.name
        why[#why + 1] = hit and (action.name .. " matched '" .. hit .. "'")
          or (action.name .. " from the example")
      end
    end
  end
  return chosen
end

function M.respond(ctx)
  if type(ctx) ~= "table" or type(ctx.character) ~= "table" or type(ctx.message) ~= "table" then
    error("offline model: ctx needs a character and a message table", 2)
  end
  local character, message = ctx.character, ctx.message
  local msg_words = words(message.text)
  local msg_set, msg_n = word_set(message.text)
  local example, score = nearest(example_pairs(character), msg_set, msg_n)
  local why = {}
  local actions = choose_actions(ctx, msg_words, example, score, why)
  local text
  if example and type(example.content.text) == "string" and example.content.text ~= "" then
    text = fill(example.content.text, character, message)
    why[#why + 1] = string.format("answer from example %d (similarity %.2f)", example.index, score)
  else
    text = fallback_text(character, message)
    why[#why + 1] = "no similar example; answer from the bio"
  end
  return { thought = "offline model: " .. table.concat(why, "; "), actions = actions, text = text }
end

return M
