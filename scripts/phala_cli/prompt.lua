-- phala_cli.prompt: the questions of an interactive (-i) command on a terminal. A question shows
-- its default in brackets and takes it on an empty line; each answer goes through the same check
-- as the flag it stands for and is asked again, with the reason, until the check accepts it; end
-- of input (Ctrl-D) is the way out and comes back as nil so the caller can stop before it sends
-- anything. Questions and lists go to stderr (stdout stays for the result and --json); answers
-- are read with common.ask, the one line reader of the phala commands.
local common = require "phala_cli.common"

local M = {}

-- Asks question until check(answer) gives a value (false is a value: "none"). An empty line is
-- the default, when there is one. Returns the value, or nil at end of input.
function M.ask(question, default, check)
  local shown = default and default ~= "" and (" [" .. default .. "]") or ""
  while true do
    local line = common.ask(question .. shown .. ": ")
    if line == nil then
      io.stderr:write("\n")
      return nil
    end
    line = line:match("^%s*(.-)%s*$")
    if line == "" and default then line = default end
    local value, why = check(line)
    if value ~= nil then return value end
    io.stderr:write("  ", why or "not a valid answer", "\n")
  end
end

-- Asks for one of items (a numbered list printed first with label(item, i)) by its number or by
-- its exact name(item); the first is the default. Returns the item, or nil at end of input.
function M.choose(question, items, label, name)
  for i, item in ipairs(items) do io.stderr:write(("  %d) %s\n"):format(i, label(item, i))) end
  return M.ask(question .. " (number or name)", "1", function(s)
    local n = math.tointeger(tonumber(s))
    if n and items[n] then return items[n] end
    for _, item in ipairs(items) do
      if name(item) == s then return item end
    end
    return nil, ("'%s' is not in the list: give a number from 1 to %d or a name"):format(s, #items)
  end)
end

-- A word as the shell reads it back: quoted when it holds anything but safe characters.
function M.shell_word(s)
  s = tostring(s)
  if s:match("^[%w%%+,./:=@_-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

return M
