-- usage: teehost tee phala ... (the same as teehost phala ...)
-- summary: elizaos-style entry point: `teehost tee phala …` runs `teehost phala …`
local HELP = [[
teehost tee SUBCOMMAND …
  phala …   Phala Cloud commands, the same as `teehost phala …` (teehost tee phala --help)]]

local sub = ...
if sub == "phala" then return require("phala_cli")({ select(2, ...) }) end
if sub == nil or sub == "--help" or sub == "-h" or sub == "help" then
  print(HELP)
  return 0
end
io.stderr:write("teehost tee: unknown subcommand '", sub, "'\n", HELP, "\n")
return 2
