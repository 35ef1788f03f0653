-- scripts/teehost/pretty.lua — turns any Lua value into readable text for the REPL.
--
--   pretty.format(v, {depth = 4, max_items = 200, indent = "  "}) -> string
--
-- Tables print as Lua constructors with sorted keys; nesting deeper than `depth` prints as
-- {...}; a table that contains itself (a cycle on the current path) prints as <cycle>; at most
-- max_items entries of one table are shown. Tables with a __tostring metamethod and userdata
-- print through tostring.
local M = {}

local keywords = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
            repeat return then true until while]]):gmatch("%a+") do
  keywords[w] = true
end

local escapes = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

function M.quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\%03d", c:byte())
  end) .. '"'
end

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil and not keywords[k]
end

local type_order = { number = 1, string = 2, boolean = 3 }

local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then return (type_order[ta] or 9) < (type_order[tb] or 9) end
  if ta == "number" or ta == "string" then return a < b end
  return tostring(a) < tostring(b)
end

local function scalar(v)
  local t = type(v)
  if t == "string" then return M.quote(v) end
  if t == "number" and v ~= v then return "0/0" end
  if v == math.huge then return "math.huge" end
  if v == -math.huge then return "-math.huge" end
  return tostring(v)
end

local function has_tostring(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__tostring") ~= nil
end

local function format(v, opts, level, path)
  if type(v) ~= "table" or has_tostring(v) then return scalar(v) end
  if path[v] then return "<cycle>" end
  if level >= opts.depth then return next(v) == nil and "{}" or "{...}" end
  local keys, n = {}, 0
  for k in pairs(v) do
    n = n + 1
    keys[n] = k
  end
  if n == 0 then return "{}" end
  table.sort(keys, key_less)
  path[v] = true
  local seq = #v
  local items, inline, width = {}, true, 0
  for i = 1, math.min(n, opts.max_items) do
    local k = keys[i]
    local shown = format(v[k], opts, level + 1, path)
    local item
    if math.type(k) == "integer" and k >= 1 and k <= seq then
      item = shown
    elseif is_identifier(k) then
      item = k .. " = " .. shown
    else
      item = "[" .. scalar(k) .. "] = " .. shown
    end
    items[i] = item
    width = width + #item + 2
    if item:find("\n") then inline = false end
  end
  path[v] = nil
  if n > opts.max_items then items[#items + 1] = string.format("... (%d more)", n - opts.max_items) end
  if inline and width + #opts.indent * level <= 78 then
    return "{" .. table.concat(items, ", ") .. "}"
  end
  local pad = opts.indent:rep(level + 1)
  return "{\n" .. pad .. table.concat(items, ",\n" .. pad) .. "\n" .. opts.indent:rep(level) .. "}"
end

function M.format(v, opts)
  opts = opts or {}
  return format(v, {
    depth = opts.depth or 4,
    max_items = opts.max_items or 200,
    indent = opts.indent or "  ",
  }, 0, {})
end

return M
