-- tests/lua/test_attest.lua — the attest module through the real bindings: parsing and verifying
-- the real Intel-signed vectors, collateral objects, a loopback PCCS speaking the v4 API (so the
-- production fetch code runs), the simulator's quotes under its own root and under Intel's, and
-- event-log replay against a real dstack quote.
local t = require "harness"

local VEC = os.getenv("TEEHOST_SOURCE") .. "/tests/vectors/"
local function read(rel)
  local f = assert(io.open(VEC .. rel, "rb"))
  local d = f:read("a")
  f:close()
  return d
end

local TDX, TDX_COL = read("dcap/tdx_quote"), read("dcap/tdx_quote_collateral.json")
local SGX, SGX_COL = read("dcap/sgx_quote"), read("dcap/sgx_quote_collateral.json")
local NOW = 1752000000
local REPORT = json.decode(read("dstack/quote-report.json"))

local function unhex(h)
  return (h:gsub("%x%x", function(b) return string.char(tonumber(b, 16)) end))
end

t.test("parse gives the fields of the v4 TDX vector", function()
  local q = assert(attest.parse(TDX))
  t.eq(q.version, 4)
  t.eq(q.tee, "TDX")
  t.eq(q.body, "td10")
  t.eq(q.size, 5006)
  t.eq(q.trailing, 70)
  t.eq(q.report.mrtd, "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407"
    .. "de03ae6dc5f87f27428b2538873118b7")
  t.eq(q.report.td_attributes, "0000001000000000")
  t.eq(q.qe_report.isvsvn, 6)
  t.eq(q.pck.fmspc, "b0c06f000000")
  t.eq(q.pck.ca, "platform")
  t.eq(q.pck.pcesvn, 11)
end)

t.test("parse accepts hex text and reads the v5 TD 1.5 body", function()
  local q = assert(attest.parse(read("dcap/tdx-quote.hex")))
  t.eq(q.report.tee_tcb_svn, "05010200000000000000000000000000")
  local q5 = assert(attest.parse(read("dcap/tdx_quote_outdated")))
  t.eq(q5.version, 5)
  t.eq(q5.body, "td15")
  t.eq(q5.report.tee_tcb_svn2, "0d010300000000000000000000000000")
end)

t.test("parse of a malformed quote returns nil, a message naming the field, EBADDATA", function()
  local q, msg, code = attest.parse(TDX:sub(1, 1000))
  t.eq(q, nil)
  t.eq(code, "EBADDATA")
  t.contains(msg, "quote: truncated")
end)

t.test("verify: the TDX vector is UpToDate, the SGX vector needs configuration", function()
  local r = assert(attest.verify(TDX, { collateral = TDX_COL, now = NOW }))
  t.eq(r.status, "UpToDate")
  t.eq(r.advisory_ids, json.array {})
  t.eq(r.qe_status.status, "UpToDate")
  t.eq(r.fmspc, "b0c06f000000")
  t.eq(r.report.rtmr0, "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c"
    .. "48aca29b220b80b6a540cf994b9bc9c0")
  t.contains(json.encode(r), '"advisory_ids":[]')
  local s = assert(attest.verify(SGX, { collateral = SGX_COL, now = NOW }))
  t.eq(s.status, "ConfigurationAndSWHardeningNeeded")
  t.eq(s.advisory_ids, json.array { "INTEL-SA-00289", "INTEL-SA-00615" })
  t.eq(s.report.mrenclave, "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb")
end)

t.test("verify failures name the check: time, tampering, wrong collateral", function()
  local r, expired, code = attest.verify(TDX, { collateral = TDX_COL, now = 1752920164 })
  t.eq(r, nil)
  t.eq(code, "EVERIFY")
  t.contains(expired, "TCB info: expired")
  local _, msg, bad
  bad = TDX:sub(1, 568) .. string.char(TDX:byte(569) ~ 1) .. TDX:sub(570)
  _, msg = attest.verify(bad, { collateral = TDX_COL, now = NOW })
  t.contains(msg, "quote signature:")
  _, msg = attest.verify(TDX, { collateral = SGX_COL, now = NOW })
  t.contains(msg, "QE identity:")
  _, msg = attest.verify(TDX, { collateral = "{}", now = NOW })
  t.contains(msg, "collateral")
end)

t.test("a collateral object is parsed once and reused", function()
  local c <close> = assert(attest.collateral(TDX_COL))
  t.eq(c.fmspc, "b0c06f000000")
  t.eq(c.tee, "TDX")
  t.contains(tostring(c), "fmspc b0c06f000000")
  for _ = 1, 3 do t.eq(assert(attest.verify(TDX, { collateral = c, now = NOW })).status, "UpToDate") end
  local again = assert(attest.collateral(c:json()))
  t.eq(again.tcb_info, c.tcb_info)
end)

t.test("misuse raises", function()
  t.raises("unknown option 'colateral' (valid: collateral, root, pccs, now, allow_debug, allow_service_td)",
    attest.verify, TDX, { colateral = TDX_COL })
  t.raises("now must be an integer", attest.verify, TDX, { now = "soon" })
  t.raises("collateral must be", attest.verify, TDX, { collateral = 42 })
  local c = assert(attest.collateral(TDX_COL))
  getmetatable(c).__close(c)
  t.raises("closed", attest.verify, TDX, { collateral = c })
end)

-- A loopback PCCS serving the tdx_quote collateral exactly as the v4 API does (spec 2.5).
local function mock_pccs(col, hits)
  local function urlencode(s)
    return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
  end
  local routes = {
    ["/sgx/certification/v4/pckcrl"] = function()
      return { status = 200, body = unhex(col.pck_crl),
               headers = { ["SGX-PCK-CRL-Issuer-Chain"] = urlencode(col.pck_crl_issuer_chain) } }
    end,
    ["/tdx/certification/v4/tcb"] = function(req)
      if not req.query_string:find("fmspc=B0C06F000000", 1, true) then return { status = 404 } end
      return { status = 200, body = '{"tcbInfo":' .. col.tcb_info .. ',"signature":"' .. col.tcb_info_signature .. '"}',
               headers = { ["TCB-Info-Issuer-Chain"] = urlencode(col.tcb_info_issuer_chain) } }
    end,
    ["/tdx/certification/v4/qe/identity"] = function()
      return { status = 200,
               body = '{"enclaveIdentity":' .. col.qe_identity .. ',"signature":"' .. col.qe_identity_signature .. '"}',
               headers = { ["SGX-Enclave-Identity-Issuer-Chain"] = urlencode(col.qe_identity_issuer_chain) } }
    end,
    ["/sgx/certification/v4/rootcacrl"] = function()
      return { status = 200, body = col.root_ca_crl }
    end,
  }
  return assert(http.serve { port = 0, handler = function(req)
    hits[#hits + 1] = req.path
    local route = routes[req.path]
    return route and route(req) or { status = 404, body = "no such endpoint" }
  end })
end

t.test("verify fetches collateral from a PCCS once per platform", function()
  local hits = {}
  local srv <close> = mock_pccs(json.decode(TDX_COL), hits)
  local url = "http://127.0.0.1:" .. srv:port() .. "/sgx/certification/v4/"
  local r = assert(attest.verify(TDX, { pccs = url, now = NOW }))
  t.eq(r.status, "UpToDate")
  t.eq(#hits, 4)
  assert(attest.verify(TDX, { pccs = url, now = NOW }))
  t.eq(#hits, 4, "served from the cache")
  local col = assert(attest.fetch_collateral(TDX, { pccs = url, now = NOW }))
  t.eq(col.fmspc, "b0c06f000000")
  t.eq(col.tcb_info, json.decode(TDX_COL).tcb_info)
end)

t.test("a verification abandoned while the PCCS stalls is cancelled cleanly", function()
  local srv <close> = assert(http.serve { port = 0, handler = function()
    task.sleep(1.5)
    return { status = 500 }
  end })
  local url = "http://127.0.0.1:" .. srv:port()
  local r, msg, code = task.timeout(0.2, attest.verify, TDX, { pccs = url, now = NOW })
  t.eq(r, nil)
  t.eq(code, "ETIMEDOUT")
  t.contains(msg, "timed out")
  -- the next verification with the collateral at hand is unaffected
  t.eq(assert(attest.verify(TDX, { collateral = TDX_COL, now = NOW })).status, "UpToDate")
end)

t.test("an unreachable PCCS gives a clear offline error", function()
  local r, msg, code = attest.verify(TDX, { pccs = "http://127.0.0.1:1", now = NOW })
  t.eq(r, nil)
  t.eq(code, "ECONNREFUSED")
  t.contains(msg, "--collateral")
end)

local MRTD = ("ab"):rep(48)

t.test("simulated quotes verify under the simulated root and not under Intel's", function()
  local q = assert(attest.simulator_quote { mrtd = MRTD, rtmr3 = ("cd"):rep(48), reportdata = "1234" })
  local parsed = assert(attest.parse(q))
  t.eq(parsed.report.mrtd, MRTD)
  t.eq(parsed.report.reportdata, "1234" .. ("00"):rep(62))
  local r = assert(attest.verify(q, { root = "simulator" }))
  t.eq(r.status, "UpToDate")
  t.eq(r.report.rtmr3, ("cd"):rep(48))
  local col = assert(attest.simulator_collateral())
  local bad, msg = attest.verify(q, { collateral = col })
  t.eq(bad, nil)
  t.contains(msg, "untrusted root")
  local v5 = assert(attest.simulator_quote { mrtd = MRTD, version = 5 })
  t.eq(assert(attest.verify(v5, { root = "simulator" })).body, "td15")
  -- the exported root verifies like root = "simulator"
  t.eq(assert(attest.verify(q, { root = attest.simulator_root(), collateral = col })).status, "UpToDate")
end)

t.test("simulated variants: an old TDX late microcode is OutOfDate, a debug TD is refused", function()
  local old = assert(attest.simulator_quote { tee_tcb_svn = "06010200000000000000000000000000" })
  local r = assert(attest.verify(old, { root = "simulator" }))
  t.eq(r.status, "OutOfDate")
  t.eq(#r.advisory_ids, 1)
  local dbg = assert(attest.simulator_quote { td_attributes = "0100001000000000" })
  local _, msg = attest.verify(dbg, { root = "simulator" })
  t.contains(msg, "attributes: debug mode is enabled")
  t.eq(assert(attest.verify(dbg, { root = "simulator", allow_debug = true })).status, "UpToDate")
  t.raises("mrtd must be 48 bytes of hex", attest.simulator_quote, { mrtd = "abcd" })
end)

t.test("replay of a real dstack event log gives the quote's RTMRs", function()
  local q = assert(attest.parse(REPORT.quote))
  local rtmr = assert(attest.replay(REPORT.event_log))
  for i = 0, 3 do t.eq(rtmr["rtmr" .. i], q.report["rtmr" .. i]) end
  t.eq(attest.check_event_log(REPORT.quote, REPORT.event_log), true)
  local events = json.decode(REPORT.event_log)
  events[#events].digest = ""
  t.eq(attest.check_event_log(REPORT.quote, events), true, "runtime digests are recomputed")
  events[#events].event_payload = "00"
  local ok, msg, code = attest.check_event_log(REPORT.quote, events)
  t.eq(ok, nil)
  t.eq(code, "EVERIFY")
  t.contains(msg, "RTMR3")
end)

t.test("the dstack quote with its platform's collateral is UpToDate and binds its report data", function()
  local r = assert(attest.verify(REPORT.quote, { collateral = read("dcap/tdx_quote_outdated_collateral.json"),
                                                now = 1773000000 }))
  t.eq(r.status, "UpToDate")
  t.eq(r.report.reportdata, REPORT.report_data)
end)

t.run()
