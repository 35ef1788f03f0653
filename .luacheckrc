-- luacheck configuration: Lua 5.4, no globals except the modules teehost provides, and the one
-- field teehost adds to a standard table (package.embedded).
stds.teehost = {
  read_globals = {
    "task", "http", "json", "attest", "phala", "tee", "store",
    package = { fields = { "embedded" } },
  },
}
std = "lua54+teehost"
max_line_length = 120
