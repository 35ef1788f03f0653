-- teehost.cli: what every command script needs: option parsing, usage errors (exit 2),
-- failures (exit 1), whole-file reads and writes. Files read from "-" come from stdin.
local M = {}

-- Parses args against spec {name = "flag"|"value"}; accepts --name, --name=value, -o value.
-- Returns opts, positionals; or nil, message on an unknown or incomplete option.
function M.parse(args, spec)
  local opts, pos = {}, {}
  local i = 1
  while i <= #args do
    local a = args[i]
    local name, inline = a:match("^%-%-?([%w-]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w-]+)$") or a:match("^%-(%a)$") end
    if name and a ~= "-" then
      local kind = spec[name]
      if not kind then return nil, "unknown option '" .. a .. "'" end
      if kind == "flag" then
        if inline then return nil, "option --" .. name .. " takes no value" end
        opts[name] = true
      elseif inline then
        opts[name] = inline
      else
        i = i + 1
        if args[i] == nil then return nil, "option " .. a .. " needs a value" end
        opts[name] = args[i]
      end
    else
      pos[#pos + 1] = a
    end
    i = i + 1
  end
  return opts, pos
end

function M.usage(message, help)
  io.stderr:write("teehost: ", message, "\n", help, "\n")
  return 2
end

function M.fail(message)
  io.stderr:write("teehost: ", tostring(message), "\n")
  return 1
end

function M.read_file(path)
  if path == "-" then return io.stdin:read("a") end
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot read " .. err end
  local data = f:read("a")
  f:close()
  return data
end

function M.write_file(path, data)
  local f, err = io.open(path, "wb")
  if not f then return nil, "cannot write " .. err end
  local ok, werr = f:write(data)
  f:close()
  if not ok then return nil, "cannot write " .. path .. ": " .. tostring(werr) end
  return true
end

return M
