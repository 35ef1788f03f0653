-- scripts/teehost/repl.lua — the REPL's Lua half: compiling lines, printing results, and
-- completing names. bindings/repl.c owns the terminal, the history and the loop.
local pretty = require "teehost.pretty"

local M = {}

-- Returns the chunk's function, or nil, "incomplete" when more lines are needed, or nil, err.
-- Like lua.c: try the line as an expression first so that `1+1` prints 2. With `final` (the
-- input ended) an incomplete chunk is reported with its real syntax error.
function M.compile(src, final)
  local fn = load("return " .. src, "=stdin", "t")
  if fn then return fn end
  local err
  fn, err = load(src, "=stdin", "t")
  if fn then return fn end
  if not final and err:sub(-5) == "<eof>" then return nil, "incomplete" end
  return nil, err
end

-- Prints a line's results: strings as they are, other values pretty-printed, tab-separated.
function M.show(...)
  local n = select("#", ...)
  if n == 0 then return end
  local parts = {}
  for i = 1, n do
    local v = select(i, ...)
    parts[i] = type(v) == "string" and v or pretty.format(v)
  end
  io.write(table.concat(parts, "\t"), "\n")
  io.flush()
end

-- The table whose keys complete after `path.` (or `path:`), without calling anything.
local function fields_of(v)
  if type(v) == "table" then return v end
  local mt = getmetatable(v)
  if type(mt) == "table" and type(rawget(mt, "__index")) == "table" then return rawget(mt, "__index") end
  return nil
end

local function resolve(path)
  local v = _G
  for name in path:gmatch("[^.]+") do
    if not name:match("^[%a_][%w_]*$") then return nil end
    local fields = fields_of(v)
    if not fields then return nil end
    v = rawget(fields, name)
    if v == nil then return nil end
  end
  return v
end

-- Completions for the word before the cursor: "string.fo" -> {"string.format"}.
function M.complete(text)
  local prefix, sep, partial = text:match("^(.-)([.:])([%w_]*)$")
  local base
  if prefix then
    base = resolve(prefix)
  else
    prefix, sep, partial, base = "", "", text, _G
  end
  local out, seen = {}, {}
  local function add_from(t)
    for k, v in pairs(t) do
      if type(k) == "string" and not seen[k] and k:sub(1, #partial) == partial
          and k:match("^[%a_][%w_]*$") and (sep ~= ":" or type(v) == "function") then
        seen[k] = true
        out[#out + 1] = prefix .. sep .. k
      end
    end
  end
  local fields = base ~= nil and fields_of(base)
  if fields then add_from(fields) end
  -- Methods reached through a table's own metatable (objects made with setmetatable).
  local mt = type(base) == "table" and getmetatable(base)
  if type(mt) == "table" and type(rawget(mt, "__index")) == "table" then add_from(rawget(mt, "__index")) end
  table.sort(out)
  return out
end

return M
