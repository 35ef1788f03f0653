-- tests/lua/test_tee.lua — the tee module through the real bindings, on the built-in simulator
-- (in-process, the default when no real TEE exists) and on the same simulator served over a Unix
-- socket and TCP (so the production client code and HTTP path run): keys and their chain,
-- quotes that verify under the simulated root and replay from their event log, EmitEvent,
-- Info's consistency, TLS keys, Sign/Verify, the legacy calls, and 1,000 concurrent calls.
local t = require "harness"
local tee = require "tee"

t.test("the built-in simulator is the default endpoint here", function()
  local ep = tee.endpoint()
  t.eq(ep.kind, "builtin")
  t.ok(ep.description:find("built-in simulator", 1, true), ep.description)
end)

t.test("get_key is deterministic, per path, and its chain verifies to the KMS root", function()
  local a = assert(tee.get_key("wallet/eth", "ethereum"))
  local b = assert(tee.get_key("wallet/eth", "ethereum"))
  local c = assert(tee.get_key("wallet/other", "ethereum"))
  t.eq(a:public_key(), b:public_key())
  t.ok(a:public_key() ~= c:public_key(), "different paths give different keys")
  t.eq(#a:public_key(), 66)
  t.eq(a:algorithm(), "secp256k1")
  t.eq(a:path(), "wallet/eth")
  t.eq(a:purpose(), "ethereum")
  t.ok(a:evm_address():match("^0x%x+$") and #a:evm_address() == 42, a:evm_address())
  t.ok(a:evm_address():find("%u") and a:evm_address():find("[a-f]"), "EIP-55 mixes case")
  t.ok(a:solana_address():match("^[1-9A-HJ-NP-Za-km-z]+$"), a:solana_address())
  t.eq(#a:signature_chain(), 2)
  t.eq(a:verify_chain(), true)
  t.eq(a:verify_chain(tee.simulator_kms_root()), true)
  t.raises("invalid public key", a.verify_chain, a, "02" .. string.rep("11", 32))
  local ok, why, code = a:verify_chain(c:public_key()) -- a real point, not the root
  t.eq(ok, nil)
  t.eq(code, "EVERIFY")
  t.ok(why:find("not the trusted root", 1, true) or why:find("does not recover", 1, true), why)
  local s = tostring(a)
  t.ok(s:find("secp256k1", 1, true) and s:find(a:public_key(), 1, true), s)
  t.ok(not s:find(a:secret_hex(), 1, true), "tostring never shows the secret")
  t.eq(#a:secret_hex(), 64)
end)

t.test("ed25519 keys use the same 32 bytes; the Solana address is the same", function()
  local k = assert(tee.get_key("wallet/sol", "solana", "ed25519"))
  local s = assert(tee.get_key("wallet/sol", "solana"))
  t.eq(k:algorithm(), "ed25519")
  t.eq(#k:public_key(), 64)
  t.eq(k:secret_hex(), s:secret_hex())
  t.eq(k:solana_address(), s:solana_address())
  t.eq(k:verify_chain(), true)
end)

t.test("a closed key says so; misuse raises", function()
  local k = assert(tee.get_key("x"))
  k:close()
  t.eq(tostring(k), "tee.Key<closed>")
  t.raises("closed key", function() return k:public_key() end)
  t.raises("algorithm must be", tee.get_key, "x", "y", "rsa")
  t.raises("at most 64", tee.get_quote, string.rep("a", 65))
  t.raises("must not be empty", tee.emit_event, "")
end)

t.test("key:sign gives signatures that tee.verify accepts", function()
  local k = assert(tee.get_key("signer"))
  local sig = k:sign("hello")
  t.eq(#sig, 128)
  t.eq(tee.verify("secp256k1", "hello", sig, k:public_key()), true)
  t.eq(tee.verify("secp256k1", "hellO", sig, k:public_key()), false)
  local e = assert(tee.get_key("signer", "", "ed25519"))
  t.eq(tee.verify("ed25519", "hello", e:sign("hello"), e:public_key()), true)
end)

t.test("get_quote: padded report data, verifies under the simulated root, replays", function()
  local q = assert(tee.get_quote("hello"))
  t.eq(q.report_data, ("hello"):gsub(".", function(c) return ("%02x"):format(c:byte()) end)
    .. string.rep("00", 59))
  local r = assert(attest.verify(q.quote, { root = "simulator" }))
  t.eq(r.status, "UpToDate")
  t.eq(r.report.reportdata, q.report_data)
  t.eq(attest.check_event_log(q.quote, q.event_log), true)
  local ok, why = attest.verify(q.quote, { collateral = attest.simulator_collateral() }) -- Intel's root
  t.eq(ok, nil)
  t.ok(why:find("untrusted root", 1, true), why)
end)

t.test("emit_event extends RTMR3; later quotes and Info show it", function()
  local before = assert(tee.get_quote(""))
  t.eq(assert(tee.emit_event("test-event", "payload")), true)
  local after = assert(tee.get_quote(""))
  local rb, ra = attest.parse(before.quote).report, attest.parse(after.quote).report
  t.ok(rb.rtmr3 ~= ra.rtmr3, "RTMR3 changed")
  t.eq(rb.rtmr0, ra.rtmr0)
  t.eq(attest.check_event_log(after.quote, after.event_log), true)
  local log = json.decode(after.event_log)
  t.eq(log[#log].event, "test-event")
  t.eq(log[#log].event_payload, "7061796c6f6164")
  local info = assert(tee.info())
  t.eq(info.tcb_info.rtmr3, ra.rtmr3)
end)

t.test("Info is consistent with the event log and the quote", function()
  local info = assert(tee.info())
  local q = assert(tee.get_quote(""))
  local rep = attest.parse(q.quote).report
  t.eq(info.tcb_info.mrtd, rep.mrtd)
  t.eq(info.tcb_info.rtmr0, rep.rtmr0)
  local payload = {}
  for _, e in ipairs(info.tcb_info.event_log) do
    if e.imr == 3 and not payload[e.event] then payload[e.event] = e.event_payload end
  end
  t.eq(info.app_id, payload["app-id"])
  t.eq(info.instance_id, payload["instance-id"])
  t.eq(info.compose_hash, payload["compose-hash"])
  t.eq(rep.mrconfigid:sub(1, 66), "01" .. info.compose_hash)
  t.eq(info.device_id, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
  t.ok(#info.tcb_info.app_compose > 0 and json.decode(info.tcb_info.app_compose).name, "app_compose")
end)

t.test("get_tls_key issues a P-256 key and a two-certificate chain", function()
  local r = assert(tee.get_tls_key { subject = "example.com", alt_names = { "example.com", "127.0.0.1" },
                                     ra_tls = true })
  t.ok(r.key:find("-----BEGIN PRIVATE KEY-----", 1, true), "PKCS#8 PEM")
  t.eq(#r.certificate_chain, 2)
  t.ok(r.certificate_chain[1]:find("BEGIN CERTIFICATE", 1, true))
  local ok, why = tee.get_tls_key { not_before = 2000, not_after = 1000 }
  t.eq(ok, nil)
  t.ok(why:find("not_before must be earlier than not_after", 1, true), why)
end)

t.test("the legacy calls: derive_key, tdx_quote, raw_quote", function()
  local d = assert(tee.derive_key("ratls-example", "example.com"))
  local d2 = assert(tee.derive_key("ratls-example", "example.com"))
  t.eq(d.key, d2.key) -- derived from the app key and the path, so stable
  local q = assert(tee.tdx_quote("hello dstack"))
  t.eq(q.hash_algorithm, "sha512")
  t.eq(q.prefix, "app-data")
  local raw = assert(tee.raw_quote(string.rep("\1", 64)))
  t.eq(attest.parse(raw.quote).report.reportdata, string.rep("01", 64))
  local bad, why = tee.tdx_quote("x", "md5")
  t.eq(bad, nil)
  t.ok(why:find("invalid hash algorithm", 1, true), why)
end)

t.test("eliza_derive gives plugin-tee's two addresses, stable per salt", function()
  local a = assert(tee.eliza_derive("salt-1"))
  local b = assert(tee.eliza_derive("salt-1"))
  local c = assert(tee.eliza_derive("salt-2"))
  t.eq(a, b)
  t.ok(a.evm_address ~= c.evm_address and a.solana_public_key ~= c.solana_public_key)
  t.ok(a.evm_address:match("^0x%x+$"))
end)

t.test("an unknown method gets the agent's answer", function()
  local r, why = tee.call("NoSuchMethod")
  t.eq(r, nil)
  t.ok(why:find("Service not found: NoSuchMethod", 1, true), why)
end)

t.test("over a Unix socket and TCP: 1,000 concurrent calls, deterministic keys", function()
  local dir = os.getenv("TEEHOST_HOME") .. "/sock-" .. tee.simulator_pid()
  os.execute("mkdir -p " .. dir)
  local server = assert(tee.simulator_serve { socket = dir .. "/dstack.sock", port = 0 })
  local want = assert(tee.get_key("concurrent/4", "p")):public_key()
  for _, target in ipairs { dir .. "/dstack.sock", "http://127.0.0.1:" .. server:port() } do
    tee.use(target)
    t.eq(tee.endpoint().kind, "agent")
    local results, tasks = {}, {}
    for i = 1, 1000 do
      tasks[i] = task.spawn(function()
        if i % 2 == 0 then
          results[i] = assert(tee.get_key("concurrent/" .. (i % 20), "p")):public_key()
        else
          results[i] = assert(tee.get_quote(tostring(i))).report_data
        end
      end)
    end
    for _, tk in ipairs(tasks) do tk:join() end
    for i = 1, 1000 do
      t.ok(results[i], target .. ": call " .. i .. " answered")
      if i % 2 == 0 and i > 20 then t.eq(results[i], results[i - 20], "same path, same key") end
      if i % 2 == 1 then t.eq(results[i]:sub(1, #tostring(i) * 2), (tostring(i):gsub(".", function(c)
        return ("%02x"):format(c:byte()) end))) end
    end
    t.eq(results[4], want, "the socket serves the same keys as in-process")
  end
  tee.use("builtin")
  server:close()
end)

t.test("TEE none: calls fail with a clear message", function()
  tee.use("none")
  local k, why = tee.get_key("x")
  t.eq(k, nil)
  t.ok(why:find("no TEE", 1, true), why)
  tee.use("builtin")
end)

t.run()
