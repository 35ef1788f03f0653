-- luacheck configuration: Lua 5.4, no globals except the modules teehost provides.
std = "lua54"
read_globals = { "task", "http", "json", "attest", "phala" }
max_line_length = 120
