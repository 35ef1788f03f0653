-- usage: teehost quote verify|show|collateral ... (teehost quote --help for details)
-- summary: parse and verify Intel DCAP quotes (TDX v4/v5, SGX v3) offline; export simulated collateral
local attest = require "attest"
local json = require "json"
local cli = require "teehost.cli"
local show = require "teehost.quote_show"

local HELP = [[
teehost quote verify FILE|- [options]   verify a quote (binary or hex); exit 0 only if it verifies
                                         and its TCB status is UpToDate or listed in --accept
    --collateral FILE     collateral JSON (dcap-qvl's shape); default: fetch from a PCCS
    --pccs URL            PCCS or Intel PCS to fetch from (default $PCCS_URL, else Phala's)
    --root intel|simulator|FILE   trust anchor (default intel; simulator = $TEEHOST_HOME/simulator)
    --now UNIX_TIME       verification time (default: now)
    --accept LIST         comma-separated statuses also accepted (e.g. SWHardeningNeeded)
    --allow-debug         accept a debug TD or enclave
    --json                print the result as JSON
teehost quote show FILE|- [--json]      print the quote's fields
teehost quote collateral --simulator [-o FILE] [--root-out FILE] [--now UNIX_TIME]
                                         export the simulator's collateral and root CA (DER)
teehost quote collateral FILE|- [--pccs URL] [-o FILE]
                                         fetch a quote's collateral from a PCCS and save it]]

local function verify(args)
  local opts, pos = cli.parse(args, {
    collateral = "value", pccs = "value", root = "value", now = "value", accept = "value",
    ["allow-debug"] = "flag", json = "flag",
  })
  if not opts then return cli.usage(pos, HELP) end
  if #pos ~= 1 then return cli.usage("quote verify needs exactly one FILE (or -)", HELP) end
  local quote, err = cli.read_file(pos[1])
  if not quote then return cli.fail(err) end
  local vopts = { pccs = opts.pccs, allow_debug = opts["allow-debug"] or nil }
  if opts.now then
    vopts.now = math.tointeger(tonumber(opts.now))
    if not vopts.now then return cli.usage("--now needs a unix time in seconds, got '" .. opts.now .. "'", HELP) end
  end
  if opts.collateral then
    vopts.collateral, err = cli.read_file(opts.collateral)
    if not vopts.collateral then return cli.fail(err) end
  end
  if opts.root and opts.root ~= "intel" and opts.root ~= "simulator" then
    vopts.root, err = cli.read_file(opts.root)
    if not vopts.root then return cli.fail(err) end
  else
    vopts.root = opts.root
  end
  local accepted = { UpToDate = true }
  for s in (opts.accept or ""):gmatch("[^,%s]+") do accepted[s] = true end
  local result, why, code = attest.verify(quote, vopts)
  if opts.json then
    if result then
      result.verified = true
      result.accepted = accepted[result.status] or false
    end
    print(json.encode(result or { verified = false, error = why, code = code }, { indent = 2 }))
  elseif result then
    show.result(result, vopts.now)
  end
  if not result then
    if not opts.json then io.stderr:write("teehost quote verify: FAILED: ", why, "\n") end
    return 1
  end
  if not accepted[result.status] then
    if not opts.json then
      io.stderr:write(("teehost quote verify: status %s is not accepted (add --accept %s to accept it)\n")
        :format(result.status, result.status))
    end
    return 1
  end
  return 0
end

local function show_cmd(args)
  local opts, pos = cli.parse(args, { json = "flag" })
  if not opts then return cli.usage(pos, HELP) end
  if #pos ~= 1 then return cli.usage("quote show needs exactly one FILE (or -)", HELP) end
  local quote, err = cli.read_file(pos[1])
  if not quote then return cli.fail(err) end
  local q, why = attest.parse(quote)
  if not q then return cli.fail(why) end
  if opts.json then
    print(json.encode(q, { indent = 2 }))
  else
    show.quote(q)
  end
  return 0
end

local function collateral_cmd(args)
  local opts, pos = cli.parse(args, { simulator = "flag", o = "value", ["root-out"] = "value",
    now = "value", pccs = "value" })
  if not opts then return cli.usage(pos, HELP) end
  local now = opts.now and math.tointeger(tonumber(opts.now))
  if opts.now and not now then return cli.usage("--now needs a unix time in seconds", HELP) end
  local text, err
  if opts.simulator then
    if #pos ~= 0 then return cli.usage("quote collateral --simulator takes no FILE", HELP) end
    text, err = attest.simulator_collateral(now)
    if not text then return cli.fail(err) end
    if opts["root-out"] then
      local root, rerr = attest.simulator_root()
      if not root then return cli.fail(rerr) end
      local ok, werr = cli.write_file(opts["root-out"], root)
      if not ok then return cli.fail(werr) end
    end
  else
    if #pos ~= 1 then return cli.usage("quote collateral needs a quote FILE, or --simulator", HELP) end
    local quote, rerr = cli.read_file(pos[1])
    if not quote then return cli.fail(rerr) end
    local col, ferr = attest.fetch_collateral(quote, { pccs = opts.pccs, now = now })
    if not col then return cli.fail(ferr) end
    text = col:json()
  end
  if opts.o then
    local ok, werr = cli.write_file(opts.o, text)
    if not ok then return cli.fail(werr) end
  else
    io.write(text, "\n")
  end
  return 0
end

local sub = ...
local args = { select(2, ...) }
if sub == "verify" then return verify(args) end
if sub == "show" then return show_cmd(args) end
if sub == "collateral" then return collateral_cmd(args) end
if sub == "--help" or sub == "-h" or sub == "help" then
  print(HELP)
  return 0
end
return cli.usage(sub and ("unknown quote command '" .. sub .. "'") or "quote needs a command", HELP)
