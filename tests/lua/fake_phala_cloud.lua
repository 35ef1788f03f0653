-- tests/lua/fake_phala_cloud.lua — a faithful fake of the Phala Cloud API on http.serve
-- (shared/specs/phala-cloud.md §3.11), for running the production client unchanged against it.
--
--   local fake = require "fake_phala_cloud"
--   local srv, state = fake.start { boot_delay = 0.05 }
--   -- point the client at state.url (or PHALA_CLOUD_API_PREFIX) with key fake.API_KEY
--
-- What it does, as the real API does it:
--  * every path of spec §3.1, §3.7–3.8 (and §3.9's network/paginated) under `prefix`; CVM
--    references as app_<id>, bare 40-hex app ids, UUIDs with or without dashes;
--  * X-API-Key checked first on every route: missing or wrong -> 401 {"detail": …};
--  * request bodies validated against the spec's shapes with pydantic's lax rules ("2" is an
--    int, 2.5 is not) -> 422 with a FastAPI detail list; unknown CVM -> 404; wrong method -> 405;
--  * the auth/me and CVM detail shapes chosen by X-Phala-Version (2026-01-21 nested, else flat);
--  * state: provision + commit (compose hash checked) or the legacy create add a CVM that goes
--    creating -> running after `boot_delay` seconds (or on state.advance(id) when false);
--    start/stop/restart pass through starting/stopping/restarting; delete removes; resize,
--    upgrade and compose updates change what is stored;
--  * the app-compose it stores is json.encode'd (sorted keys, compact: spec §6.2), hashed with
--    an independent pure-Lua SHA-256, app_id = first 40 hex; attestation returns that text;
--  * encrypted_env: kept as sent; with opts.decrypt(hex, private_key_hex) -> plaintext JSON
--    (core/phala_env, or a test's stand-in) it is decrypted with the vector server key and
--    every key must be in allowed_envs on dstack >= 0.5 images (else 422; strict_env = false
--    only records them in cvm.dropped_envs, which is what dstack would silently do);
--  * faults, consumed in order: state.fail { method=, path= (Lua pattern on the path after the
--    prefix), times = 1, status =, json =, body =, delay = s (slow answer), stall = s (answer
--    only after s seconds), malformed = true (truncated JSON), html = true (a proxy's 502) }.
-- state.requests lists every request (method, path, query, headers, body, json); state.count
-- counts them by method and path pattern.
local M = {}

-- The key of api-key-storage.json; the env-encryption server key pair of env-encryption.json
-- (the private key is sha256 of its derivation string, checked in test_phala_api.lua).
M.API_KEY = "phak_test_0123456789abcdef"
M.ENV_PUBKEY = "ac58c3ae2647dcc6c3f400e090329700517915c125f85525712846a98e9b437f"
M.ENV_PRIVKEY_DERIVATION = "teehost phala-cloud env-encryption test vector: server key"

-- ---- SHA-256, written out so that the fake does not share code with what it checks --------

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

local function rrot(x, n) return ((x >> n) | (x << (32 - n))) & 0xffffffff end

local function sha256_block(H, msg, at)
  local w = {}
  for i = 0, 15 do w[i] = string.unpack(">I4", msg, at + 4 * i) end
  for i = 16, 63 do
    local s0 = rrot(w[i - 15], 7) ~ rrot(w[i - 15], 18) ~ (w[i - 15] >> 3)
    local s1 = rrot(w[i - 2], 17) ~ rrot(w[i - 2], 19) ~ (w[i - 2] >> 10)
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & 0xffffffff
  end
  local a, b, c, d, e, f, g, h = table.unpack(H)
  for i = 0, 63 do
    local t1 = (h + (rrot(e, 6) ~ rrot(e, 11) ~ rrot(e, 25)) + ((e & f) ~ (~e & g)) + K[i + 1] + w[i])
      & 0xffffffff
    local t2 = ((rrot(a, 2) ~ rrot(a, 13) ~ rrot(a, 22)) + ((a & b) ~ (a & c) ~ (b & c))) & 0xffffffff
    h, g, f, e, d, c, b, a = g, f, e, (d + t1) & 0xffffffff, c, b, a, (t1 + t2) & 0xffffffff
  end
  for i, v in ipairs { a, b, c, d, e, f, g, h } do H[i] = (H[i] + v) & 0xffffffff end
end

function M.sha256_hex(msg)
  local len = #msg
  msg = msg .. "\128" .. string.rep("\0", (55 - len) % 64) .. string.pack(">I8", len * 8)
  local H = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 }
  for at = 1, #msg, 64 do sha256_block(H, msg, at) end
  return string.format(string.rep("%08x", 8), table.unpack(H))
end

-- ---- vector data (api-responses.json) --------------------------------------------------------

local DEMO_APP_ID = "4af78467e1a2c4e43abe77926f3792c631a308f2"
local DEMO_COMPOSE = '{"allowed_envs":["GREETING","API_TOKEN"],"default_gateway_domain":null,'
  .. '"docker_compose_file":"services:\\n  app:\\n    image: alice/teehost-demo:0.1.0\\n    ports:\\n'
  .. '      - \\"3000:3000\\"\\n    volumes:\\n      - /var/run/tappd.sock:/var/run/tappd.sock\\n",'
  .. '"docker_config":{},"features":["kms","tproxy-net"],"gateway_enabled":true,"kms_enabled":true,'
  .. '"local_key_provider_enabled":false,"manifest_version":2,"name":"teehost-demo","no_instance_id":false,'
  .. '"public_logs":true,"public_sysinfo":true,"runner":"docker-compose","salt":"e7c1f0d2b3a4",'
  .. '"tproxy_enabled":true,"version":"1.0.0"}'
M.DEMO_APP_ID, M.DEMO_COMPOSE = DEMO_APP_ID, DEMO_COMPOSE
M.DEMO_COMPOSE_HASH = "4af78467e1a2c4e43abe77926f3792c631a308f2d60e2265c017f605c119d55d"

local function image(name, v, hash)
  return { name = name, is_dev = false, version = json.array(v), os_image_hash = hash or json.null }
end

local OS_HASH = "3e1a5d9f6b2c4e8a0d7f1b3c5e9a2d4f6b8c0e1a3d5f7b9c2e4a6d8f0b1c3e5a"
local NODES = {
  { teepod_id = 3, name = "prod5", listed = true, resource_score = 0.92, remaining_vcpu = 48,
    remaining_memory = 196608, remaining_cvm_slots = 40,
    images = json.array { image("dstack-0.3.6", { 0, 3, 6 }), image("dstack-0.5.3", { 0, 5, 3 }, OS_HASH) },
    support_onchain_kms = false, fmspc = "90c06f000000",
    device_id = "e5a0c70bb6503de2d31c11d85914fe3776ed5b33a078ed856327c371a60fe0fd",
    region_identifier = "us-west", default_kms = "phala-prod5", kms_list = json.array { "phala-prod5" } },
  { teepod_id = 6, name = "base-node-6", listed = true, resource_score = 0.5, remaining_vcpu = 16,
    remaining_memory = 65536, remaining_cvm_slots = 8,
    images = json.array { image("dstack-0.5.3", { 0, 5, 3 }, OS_HASH) },
    support_onchain_kms = true, fmspc = "00806f050000",
    device_id = "7a3b5c9d1e2f4a6b8c0d2e4f6a8b0c1d3e5f7a9b1c3d5e7f9a0b2c4d6e8f0a1b",
    region_identifier = "eu-central", default_kms = "base-prod5", kms_list = json.array { "base-prod5" } },
}
local KMS_LIST = {
  { id = "kms_base_prod5", slug = "base-prod5", url = "https://kms.base-prod5.phala.network", version = "v0.5.3",
    chain_id = 8453, kms_contract_address = "0xbfd2d557118fc650ea25a0e7d85355d335f259d8",
    gateway_app_id = "0x75537828f2ce51be7289709686a69cbfdbb714f1" },
}
local PHALA_KMS = { id = "kms_phala_prod5", slug = "phala-prod5", url = "https://kms.dstack-prod5.phala.network",
                    version = "v0.5.3", chain_id = json.null, kms_contract_address = json.null,
                    gateway_app_id = json.null }

local function event(imr, digest, name, payload)
  return { imr = imr, event_type = imr == 3 and 134217729 or 2147483651, digest = digest, event = name or "",
           event_payload = payload or "" }
end

-- The attestation sample's TCB info: RTMR3 replays from this log for DEMO_COMPOSE.
local DEMO_TCB = {
  mrtd = "898dbafbc5577344ae112dbfbb312b4000f0882bec1a783fa2283d2678b8ecc50b7d5f139f1cfec4c050851a8de27513",
  rootfs_hash = "3c47ef972d531d524daa15fa33dd885dd23de6221bbd10a29eb42ecfcf2ef422",
  rtmr0 = "ab6eabcc45059ee33be376c6586f1bb55c52fccfd6f936d3c7344aeff1ba5ea20ab6203d2e0bc9d5db2e89afada48b77",
  rtmr1 = "4eeccad3420dafd2ae091be57bacfa3ef97e57cc9532c851fa1d457fe0087fe626fed243bb94edbb974c4a9d89df3f63",
  rtmr2 = "69022bab89b47bfe56c2f952efb92bc22b65ccbc2e688057de3a49be4de3ec47e7bcb02ba38c8bdb97a1a279dfbbb320",
  rtmr3 = "5a628edb47fe110e28d27e3cc184e2c530ea88129a900e947dd3f23b1db73ca67b0f2553a45ecbb28c5923f1bbe70446",
  event_log = json.array {
    event(0, "1bdb8285ce5d3bfb3c89006197b7e262af95dafec4783c3e07ef7d28a3e7dd636f085a12fd0a4807ab7b076426d0e7c2"),
    event(0, "955160d48e0174622abf3b2afd4ba45d596b3aaebc53931237f9c75ef1dc3ad8afb08a911b06b799abd4a6d287dd3037"),
    event(1, "da5ee909dd26c571c6190c2affae676de0298442c01892395942383b41bfbede037030831d7fd636a564981efae65ae5"),
    event(2, "57a32a0f5f85ff930383ddc151002e81057f1b2f73a4d2b6d631b24c9db8c4bf451cf5f3ff629b82a6cd8fa412545278"),
    event(2, "0ea077a251cb5b89108623041521d525aa49452a84239b04232bd69ad66b2885b792748e445082253569dd304c50a110"),
    event(3, "f9974020ef507068183313d0ca808e0d1ca9b2d1ad0c61f5784e7157c362c06536f5ddacdad4451693f48fcc72fff624",
      "system-preparing"),
    event(3, "25a46936c308b701177d6d4924fff4cf25598da0604624bc7ea4529a3b8f2c3a4ac7faea2652fac87295ca1c27016746",
      "app-id", DEMO_APP_ID),
    event(3, "40521b9943b9ac0d9620c8051aa4795c9814fa3a6ffe3a5644b55d3273eb04deb8226dfc928768405dfd2ddc58abd786",
      "compose-hash", M.DEMO_COMPOSE_HASH),
    event(3, "8a5a80fbf64f379b3e9358f9b736430851d6fc68f3c609c27083803ba5141e1c348c38c531eb8db154763fc37a739bc3",
      "ca-cert-hash", "bb4e1c54b9473157ff8d09aeb0ef0348b5cf8e3c04f5deb4b5e76085766be867"),
    event(3, "35b598fd35a48457835c9622cf566675aea372925b924c68c45bbbfab9aef595ab9a68797b303b98b5e40940c4b6b93f",
      "instance-id", "a1b2c3d4e5f60718293a4b5c6d7e8f9011223344"),
    event(3, "98bd7e6bd3952720b65027fd494834045d06b4a714bf737a06b874638b3ea00ff402f7f583e3e3b05e921c8570433ac6",
      "boot-mr-done"),
    event(3, "1a76b2a80a0be71eae59f80945d876351a7a3fb8e9fd1ff1cede5734aa84ea11fd72b4edfbb6f04e5a85edd114c751bd",
      "system-ready"),
  },
}

local function certificate(app_id, cn, issuer, position, is_ca)
  return {
    subject = { common_name = cn, organization = is_ca and "Dstack" or json.null, country = json.null,
                state = json.null, locality = json.null },
    issuer = { common_name = issuer, organization = "Dstack", country = json.null },
    serial_number = is_ca and "0x01" or "0x5f1e2d3c4b5a6978",
    not_before = "2025-10-01T11:58:00Z", not_after = "2026-10-01T11:58:00Z", version = "v3",
    fingerprint = M.sha256_hex(cn .. app_id), signature_algorithm = "ecdsa-with-SHA256",
    sans = json.null, is_ca = is_ca, position_in_chain = position, quote = json.null,
  }
end

-- ---- request bodies: FastAPI/pydantic's lax validation ---------------------------------------

local CHECK = {}

function CHECK.str(v)
  if type(v) == "string" then return v end
  return nil, "string_type", "Input should be a valid string"
end

function CHECK.int(v)
  if math.type(v) == "integer" then return v end
  if math.type(v) == "float" then
    if v == math.floor(v) then return math.tointeger(v) end
    return nil, "int_from_float", "Input should be a valid integer, got a number with a fractional part"
  end
  if type(v) == "string" then
    if v:match("^%s*[-+]?%d+%s*$") then return math.tointeger(tonumber(v)) end
    return nil, "int_parsing", "Input should be a valid integer, unable to parse string as an integer"
  end
  return nil, "int_type", "Input should be a valid integer"
end

local TRUE_WORDS = { ["true"] = true, ["1"] = true, yes = true, on = true, t = true, y = true }
local FALSE_WORDS = { ["false"] = false, ["0"] = false, no = false, off = false, f = false, n = false }

function CHECK.bool(v)
  if type(v) == "boolean" then return v end
  if v == 0 or v == 1 then return v == 1 end
  if type(v) == "string" then
    local w = v:lower()
    if TRUE_WORDS[w] ~= nil then return true end
    if FALSE_WORDS[w] ~= nil then return false end
    return nil, "bool_parsing", "Input should be a valid boolean, unable to interpret input"
  end
  return nil, "bool_type", "Input should be a valid boolean"
end

function CHECK.list_str(v)
  if type(v) ~= "table" or not json.is_array(v) then return nil, "list_type", "Input should be a valid list" end
  for i, item in ipairs(v) do
    if type(item) ~= "string" then return nil, "string_type", "Input should be a valid string", i - 1 end
  end
  return v
end

function CHECK.object(v)
  if type(v) == "table" and (next(v) == nil or not json.is_array(v)) then return v end
  return nil, "model_attributes_type", "Input should be a valid dictionary or object to extract fields from"
end

local function loc_of(loc, ...)
  local out = json.array {}
  for _, p in ipairs(loc) do out[#out + 1] = p end
  for _, p in ipairs { ... } do out[#out + 1] = p end
  return out
end

-- fields: list of { name, type, required, fields = nested }. Appends FastAPI error items.
local function validate(obj, fields, loc, errors)
  for _, f in ipairs(fields) do
    local name, kind, required = f[1], f[2], f[3]
    local v = obj[name]
    if v == nil or (v == json.null and not required) then
      if required then
        errors[#errors + 1] = { type = "missing", loc = loc_of(loc, name), msg = "Field required", input = obj }
      end
    else
      local got, etype, msg, index = CHECK[kind](v)
      if got == nil then
        local where = index and loc_of(loc, name, index) or loc_of(loc, name)
        errors[#errors + 1] = { type = etype, loc = where, msg = msg, input = index and v[index + 1] or v }
      elseif f.fields then
        validate(v, f.fields, loc_of(loc, name), errors)
      end
    end
  end
  return errors
end

local COMPOSE_FIELDS = {
  { "docker_compose_file", "str", true }, { "allowed_envs", "list_str" }, { "name", "str" },
  { "kms_enabled", "bool" }, { "public_logs", "bool" }, { "public_sysinfo", "bool" },
  { "gateway_enabled", "bool" }, { "tproxy_enabled", "bool" }, { "pre_launch_script", "str" },
  { "storage_fs", "str" }, { "manifest_version", "int" }, { "features", "list_str" },
}
local MANIFEST_FIELDS = {
  { "docker_compose_file", "str", true }, { "docker_config", "object" }, { "features", "list_str" },
  { "kms_enabled", "bool" }, { "manifest_version", "int" }, { "name", "str" }, { "public_logs", "bool" },
  { "public_sysinfo", "bool" }, { "tproxy_enabled", "bool" }, { "runner", "str" }, { "version", "str" },
  { "allowed_envs", "list_str" },
}
local VM_CONFIG_FIELDS = {
  { "teepod_id", "int", true }, { "name", "str", true }, { "image", "str", true }, { "vcpu", "int", true },
  { "memory", "int", true }, { "disk_size", "int", true },
  { "compose_manifest", "object", true, fields = MANIFEST_FIELDS }, { "listed", "bool" },
}
local SCHEMAS = {
  provision = {
    { "name", "str", true }, { "compose_file", "object", true, fields = COMPOSE_FIELDS }, { "vcpu", "int" },
    { "memory", "int" }, { "disk_size", "int" }, { "image", "str" }, { "teepod_id", "int" }, { "node_id", "int" },
    { "kms_id", "str" }, { "instance_type", "str" }, { "listed", "bool" }, { "env_keys", "list_str" },
    { "region", "str" }, { "nonce", "int" }, { "app_id", "str" },
  },
  commit = {
    { "app_id", "str", true }, { "compose_hash", "str", true }, { "encrypted_env", "str" }, { "kms_id", "str" },
    { "contract_address", "str" }, { "deployer_address", "str" }, { "env_keys", "list_str" },
  },
  pubkey = VM_CONFIG_FIELDS,
  create = (function()
    local f = { { "encrypted_env", "str" }, { "app_env_encrypt_pubkey", "str", true }, { "app_id_salt", "str", true } }
    for _, x in ipairs(VM_CONFIG_FIELDS) do f[#f + 1] = x end
    return f
  end)(),
  upgrade = {
    { "compose_manifest", "object", true, fields = MANIFEST_FIELDS }, { "encrypted_env", "str" },
    { "allow_restart", "bool" }, { "env_keys", "list_str" },
  },
  resize = { { "vcpu", "int" }, { "memory", "int" }, { "disk_size", "int" }, { "allow_restart", "bool" },
             { "instance_type", "str" } },
  compose_provision = COMPOSE_FIELDS,
  compose_commit = { { "compose_hash", "str", true }, { "encrypted_env", "str" }, { "env_keys", "list_str" } },
  replicate = { { "teepod_id", "int" }, { "node_id", "int" }, { "encrypted_env", "str" } },
}

local function unprocessable(errors) return { status = 422, json = { detail = json.array(errors) } } end

-- The decoded body checked against SCHEMAS[name]: the body, or nil and a 422 answer.
local function body_of(req, name)
  local ok, v = pcall(json.decode, req.body)
  if req.body == "" then
    return nil, unprocessable { { type = "missing", loc = json.array { "body" }, msg = "Field required",
                                  input = json.null } }
  elseif not ok then
    return nil, unprocessable { { type = "json_invalid", loc = json.array { "body", 0 }, msg = "JSON decode error",
                                  input = json.object {}, ctx = { error = tostring(v) } } }
  end
  local _, etype, msg = CHECK.object(v)
  if etype then return nil, unprocessable { { type = etype, loc = json.array { "body" }, msg = msg, input = v } } end
  local errors = validate(v, SCHEMAS[name], { "body" }, {})
  if #errors > 0 then return nil, unprocessable(errors) end
  return v
end

-- ---- answers ---------------------------------------------------------------------------------

local REASONS = { [400] = "Bad Request", [401] = "Unauthorized", [404] = "Not Found",
                  [405] = "Method Not Allowed", [409] = "Conflict", [429] = "Too Many Requests",
                  [500] = "Internal Server Error", [502] = "Bad Gateway", [503] = "Service Unavailable",
                  [504] = "Gateway Timeout" }

local function ok(t, status) return { status = status or 200, json = t } end
local function fail(status, detail) return { status = status, json = { detail = detail } } end

-- A 0.2.x-era structured error (spec §1.3).
local function business(status, code, message, suggestion)
  return fail(status, { error_code = code, message = message, details = json.array {},
                        suggestions = json.array { suggestion }, links = json.array {} })
end

local function null(v) if v == nil then return json.null end return v end

local function uuid_for(seed)
  local h = M.sha256_hex(seed)
  return string.format("%s-%s-4%s-8%s-%s", h:sub(1, 8), h:sub(9, 12), h:sub(14, 16), h:sub(18, 20), h:sub(21, 32))
end

local function gateway_domain(cvm) return "dstack-" .. cvm.node.name .. ".phala.network" end

local function public_urls(cvm)
  if not cvm.instance_id then return json.array {} end
  local d = gateway_domain(cvm)
  return json.array { { app = "https://" .. cvm.app_id .. "-3000." .. d,
                        instance = "https://" .. cvm.instance_id .. "-3000." .. d } }
end

local function compose_obj(cvm) return json.decode(cvm.app_compose) end

-- ---- the shapes of spec §3.2 (API 2025-05-31), and 2026-01-21's where they differ -----------

local function vm_reply(cvm)
  local c = compose_obj(cvm)
  return {
    id = cvm.id, name = cvm.name, status = cvm.status, teepod_id = cvm.node.teepod_id,
    teepod = { id = cvm.node.teepod_id, name = cvm.node.name }, user_id = 1001, app_id = cvm.app_id,
    vm_uuid = cvm.vm_uuid, instance_id = null(cvm.instance_id),
    app_url = cvm.instance_id and ("https://" .. cvm.app_id .. "-8090." .. gateway_domain(cvm)) or json.null,
    base_image = cvm.image, vcpu = cvm.vcpu, memory = cvm.memory, disk_size = cvm.disk_size,
    manifest_version = c.manifest_version or 2, version = c.version or "1.0.0", runner = c.runner or "docker-compose",
    docker_compose_file = c.docker_compose_file, features = c.features or json.null, created_at = cvm.created_at,
    encrypted_env_pubkey = M.ENV_PUBKEY,
  }
end

local function detail_legacy(cvm)
  return {
    id = cvm.id, teepod_id = cvm.node.teepod_id,
    teepod = { id = cvm.node.teepod_id, name = cvm.node.name, region_identifier = cvm.node.region_identifier },
    name = cvm.name, status = cvm.status, in_progress = cvm.in_progress, app_id = cvm.app_id,
    vm_uuid = cvm.vm_uuid, instance_id = null(cvm.instance_id), vcpu = cvm.vcpu, memory = cvm.memory,
    disk_size = cvm.disk_size, base_image = cvm.image, encrypted_env_pubkey = M.ENV_PUBKEY, listed = cvm.listed,
    project_id = "prj_" .. cvm.app_id:sub(1, 4), project_type = json.null, public_sysinfo = true, public_logs = true,
    dapp_dashboard_url = json.null, syslog_endpoint = json.null, kms_info = json.null,
    contract_address = json.null, deployer_address = json.null, scheduled_delete_at = json.null,
    public_urls = public_urls(cvm), gateway_domain = gateway_domain(cvm),
  }
end

local function detail_2026(cvm)
  local major, minor, patch = cvm.image:match("(%d+)%.(%d+)%.(%d+)$")
  return {
    id = "cvm_" .. cvm.app_id:sub(1, 8), name = cvm.name, app_id = cvm.app_id, vm_uuid = cvm.vm_uuid,
    instance_id = null(cvm.instance_id),
    resource = { instance_type = "tdx.small", vcpu = cvm.vcpu, memory_in_gb = cvm.memory // 1024,
                 disk_in_gb = cvm.disk_size, gpus = 0, compute_billing_price = "0.058", billing_period = "hourly" },
    node_info = { object_type = "node", id = cvm.node.teepod_id, name = cvm.node.name,
                  region = cvm.node.region_identifier, device_id = cvm.node.device_id, ppid = json.null,
                  status = "online", version = string.format("%s.%s.%s", major, minor, patch) },
    os = { name = cvm.image, version = string.format("%s.%s.%s", major, minor, patch), is_dev = false,
           os_image_hash = OS_HASH },
    kms_type = "phala",
    kms_info = { chain_id = json.null, dstack_kms_address = json.null, dstack_app_address = json.null,
                 deployer_address = json.null, rpc_endpoint = json.null, encrypted_env_pubkey = M.ENV_PUBKEY },
    status = cvm.status,
    progress = cvm.in_progress and { target = cvm.pending.after, started_at = cvm.created_at,
                                     correlation_id = cvm.vm_uuid } or json.null,
    compose_hash = cvm.compose_hash, gateway = { base_domain = gateway_domain(cvm), cname = json.null },
    services = json.array {}, endpoints = public_urls(cvm), public_logs = true, public_sysinfo = true,
    public_tcbinfo = true, gateway_enabled = true, secure_time = false, listed = cvm.listed, storage_fs = "ext4",
    workspace = { object_type = "workspace", id = "ws_31c0", name = "alice-team", slug = "alice-team",
                  avatar_url = json.null },
    creator = { object_type = "user", id = "usr_1001", username = "alice", avatar_url = json.null },
    compose_file = cvm.app_compose,
  }
end

local function list_item(cvm)
  return {
    hosted = { id = cvm.vm_uuid, name = cvm.name, status = cvm.status, uptime = cvm.instance_id and "2h 3m" or "",
               app_url = vm_reply(cvm).app_url, app_id = cvm.app_id, instance_id = null(cvm.instance_id),
               configuration = { name = cvm.name, image = cvm.image, compose_file = json.null, vcpu = cvm.vcpu,
                                 memory = cvm.memory, disk_size = cvm.disk_size, ports = json.array {} },
               exited_at = json.null, boot_progress = cvm.in_progress and "booting" or "done", boot_error = json.null,
               shutdown_progress = json.null, image_version = cvm.image },
    name = cvm.name, managed_user = { id = 1001, username = "alice" },
    node = { id = cvm.node.teepod_id, name = cvm.node.name, region_identifier = cvm.node.region_identifier },
    listed = cvm.listed, status = cvm.status, in_progress = cvm.in_progress, dapp_dashboard_url = json.null,
    syslog_endpoint = "https://" .. cvm.app_id .. "-8090." .. gateway_domain(cvm) .. "/logs", allow_upgrade = true,
    project_id = json.null, project_type = json.null, billing_period = "hourly", kms_info = json.null,
    vcpu = cvm.vcpu, memory = cvm.memory, disk_size = cvm.disk_size, gateway_domain = gateway_domain(cvm),
    public_urls = public_urls(cvm),
  }
end

local AUTH_ME = {
  username = "alice", email = "alice@example.com", credits = 10.5, granted_credits = 0, avatar = "",
  team_name = "alice-team", team_tier = "free",
}
local AUTH_ME_2026 = {
  user = { username = "alice", email = "alice@example.com", role = "user", avatar = "", email_verified = true,
           totp_enabled = false, has_backup_codes = false, flag_has_password = true },
  workspace = { id = "ws_31c0", name = "alice-team", slug = "alice-team", tier = "free", role = "owner",
                avatar = json.null },
  credits = { balance = "10.50", granted_balance = "0", is_post_paid = false, outstanding_amount = json.null },
}

-- ---- state -----------------------------------------------------------------------------------

-- The CVM a path's reference names: app_<id>, a bare app id, a UUID with or without dashes.
local function find(state, ref)
  local app = ref:match("^app_(%x+)$") or (#ref == 40 and ref:match("^%x+$") and ref)
  local plain = ref:gsub("-", ""):lower()
  for _, cvm in ipairs(state.cvms) do
    if (app and cvm.app_id == app:lower()) or cvm.vm_uuid:gsub("-", "") == plain then return cvm end
  end
end

local function node_by_id(id)
  for _, n in ipairs(NODES) do if n.teepod_id == id then return n end end
end

local function has_image(node, name)
  for _, img in ipairs(node.images) do if img.name == name then return true end end
end

-- dstack >= 0.5 keeps only the env keys listed in allowed_envs.
local function filters_env(image_name)
  local major, minor = image_name:match("(%d+)%.(%d+)")
  return major and (tonumber(major) > 0 or tonumber(minor) >= 5)
end

local function advance(state, cvm)
  if not cvm or not cvm.pending then return false end
  cvm.status, cvm.in_progress, cvm.pending = cvm.pending.after, false, nil
  if cvm.status == "running" and not cvm.instance_id then
    cvm.instance_id = M.sha256_hex("instance " .. cvm.vm_uuid):sub(1, 40)
  end
  state.transitions = state.transitions + 1
  return true
end

-- Starts a transition: `during` now (in_progress), `after` once boot_delay has passed.
local function transition(state, cvm, during, after)
  local token = {}
  cvm.status, cvm.in_progress, cvm.pending = during, true, { after = after, token = token }
  local delay = state.opts.boot_delay
  if delay == nil then delay = 0.05 end
  if delay then
    task.spawn(function()
      task.sleep(delay)
      if cvm.pending and cvm.pending.token == token then advance(state, cvm) end
    end)
  end
end

local function add_cvm(state, t)
  state.serial = state.serial + 1
  local cvm = {
    id = 4242 + state.serial, name = t.name, app_id = t.app_id, vm_uuid = uuid_for(t.app_id .. state.serial),
    node = t.node, image = t.image, vcpu = t.vcpu or 1, memory = t.memory or 2048, disk_size = t.disk_size or 40,
    listed = t.listed or false, app_compose = t.app_compose, compose_hash = M.sha256_hex(t.app_compose),
    created_at = "2025-10-01T12:00:00Z", kms_id = t.kms_id,
  }
  state.cvms[#state.cvms + 1] = cvm
  return cvm
end

local function name_taken(state, name)
  for _, cvm in ipairs(state.cvms) do if cvm.name == name then return true end end
end

-- The salt the server adds to every app-compose (spec §10 item 11: the client cannot predict it).
local function next_salt(state)
  state.salts = state.salts + 1
  return M.sha256_hex("salt " .. state.salts):sub(1, 12)
end

-- The app-compose the server stores for a provision's compose_file (spec §6.5 fields).
local function app_compose_text(state, cf, name)
  local gateway = cf.gateway_enabled
  if gateway == nil then gateway = cf.tproxy_enabled end
  if gateway == nil then gateway = true end
  local t = {
    allowed_envs = json.array(cf.allowed_envs or {}), default_gateway_domain = json.null,
    docker_compose_file = cf.docker_compose_file, docker_config = json.object {},
    features = json.array { "kms", "tproxy-net" }, gateway_enabled = CHECK.bool(gateway),
    kms_enabled = cf.kms_enabled == nil or CHECK.bool(cf.kms_enabled), local_key_provider_enabled = false,
    manifest_version = cf.manifest_version and CHECK.int(cf.manifest_version) or 2, name = cf.name or name,
    no_instance_id = false, public_logs = cf.public_logs == nil or CHECK.bool(cf.public_logs),
    public_sysinfo = cf.public_sysinfo == nil or CHECK.bool(cf.public_sysinfo), runner = cf.runner or "docker-compose",
    salt = cf.salt or next_salt(state), tproxy_enabled = CHECK.bool(gateway), version = cf.version or "1.0.0",
    pre_launch_script = cf.pre_launch_script,
  }
  return json.encode(t)
end

-- Opens encrypted_env (spec §5): {env = list or nil when it stays encrypted, dropped = keys not
-- in allowed_envs}, or nil and the error answer.
local function open_env(state, hex, app_compose, image_name)
  if hex == nil or hex == json.null then return { dropped = {} } end
  if #hex < 120 or #hex % 2 ~= 0 or not hex:match("^%x+$") then
    return nil, fail(400, "encrypted_env must be hex of ephemeral key, IV, ciphertext and tag")
  end
  if not state.opts.decrypt then return { dropped = {} } end
  local plain, err = state.opts.decrypt(hex, state.env_private_key)
  if not plain then return nil, fail(400, "cannot decrypt encrypted_env: " .. tostring(err)) end
  local okd, doc = pcall(json.decode, plain)
  if not okd or type(doc) ~= "table" or type(doc.env) ~= "table" then
    return nil, fail(400, 'encrypted_env does not hold {"env":[{"key":…,"value":…}]}')
  end
  local allowed, dropped = {}, {}
  for _, k in ipairs(json.decode(app_compose).allowed_envs or {}) do allowed[k] = true end
  for _, e in ipairs(doc.env) do if not allowed[e.key] then dropped[#dropped + 1] = e.key end end
  if #dropped > 0 and filters_env(image_name) and state.opts.strict_env ~= false then
    return nil, unprocessable { { type = "value_error", loc = json.array { "body", "encrypted_env" },
      msg = "Value error, env keys not listed in allowed_envs (dstack would drop them): "
        .. table.concat(dropped, ", "), input = json.null } }
  end
  return { env = doc.env, dropped = dropped }
end

local function store_env(cvm, hex, opened)
  cvm.encrypted_env = hex
  cvm.env = opened.env
  cvm.dropped_envs = opened.dropped
end

-- ---- handlers --------------------------------------------------------------------------------

local H = {}

local function version_2026(req) return req.headers["x-phala-version"] == "2026-01-21" end

function H.me(_, req) return ok(version_2026(req) and AUTH_ME_2026 or AUTH_ME) end

function H.list(state, req)
  if req.query.user_id == nil then
    return unprocessable { { type = "missing", loc = json.array { "query", "user_id" }, msg = "Field required",
                             input = json.null } }
  end
  local items = json.array {}
  for _, cvm in ipairs(state.cvms) do items[#items + 1] = list_item(cvm) end
  return ok(items)
end

function H.paginated(state, req)
  local page, size = tonumber(req.query.page) or 1, tonumber(req.query.page_size) or 50
  local items = json.array {}
  local shape = version_2026(req) and detail_2026 or list_item -- 2026-01-21 lists the new CVM shape
  for i = (page - 1) * size + 1, math.min(page * size, #state.cvms) do items[#items + 1] = shape(state.cvms[i]) end
  return ok { items = items, total = #state.cvms, page = page, page_size = size,
              pages = math.max(1, (#state.cvms + size - 1) // size) }
end

-- Wraps a handler that needs the CVM named by the path's first capture: 404 when unknown.
local function with_cvm(fn)
  return function(state, req, ref, ...)
    local cvm = find(state, ref)
    if not cvm then return fail(404, "CVM not found") end
    return fn(state, req, cvm, ...)
  end
end

H.get = with_cvm(function(_, req, cvm) return ok(version_2026(req) and detail_2026(cvm) or detail_legacy(cvm)) end)

H.action = with_cvm(function(state, req, cvm, action)
  if req.body ~= "" then state.bodies_on_actions = state.bodies_on_actions + 1 end
  local during = { start = "starting", stop = "stopping", restart = "restarting" }
  transition(state, cvm, during[action], action == "stop" and "stopped" or "running")
  return ok(vm_reply(cvm))
end)

H.delete = with_cvm(function(state, _, cvm)
  for i, c in ipairs(state.cvms) do if c == cvm then table.remove(state.cvms, i) break end end
  cvm.pending = nil
  return { status = 204, body = "" }
end)

function H.nodes(_, req)
  local nodes = json.array {}
  for _, n in ipairs(NODES) do
    local legacy = false
    for _, img in ipairs(n.images) do legacy = legacy or img.version[2] == 3 end
    if req.query.v03x_only ~= "1" or legacy then nodes[#nodes + 1] = n end
  end
  return ok { tier = "free", capacity = { max_instances = 1, max_vcpu = 4, max_memory = 8192, max_disk = 100 },
              nodes = nodes, kms_list = json.array(KMS_LIST) }
end

H.network = with_cvm(function(_, _, cvm)
  return ok { is_online = cvm.status == "running", is_public = true, error = json.null,
              internal_ip = "10.0.3." .. (cvm.id % 250), latest_handshake = "2025-10-01T11:59:42Z",
              public_urls = public_urls(cvm) }
end)

H.attestation = with_cvm(function(state, _, cvm)
  if state.opts.attestation then return ok(state.opts.attestation(cvm)) end
  local tcb = {}
  for k, v in pairs(DEMO_TCB) do tcb[k] = v end
  tcb.app_compose = cvm.app_compose
  local cn = cvm.app_id .. "." .. gateway_domain(cvm)
  return ok { name = cvm.name, is_online = cvm.status == "running", is_public = true, error = json.null,
              app_certificates = json.array { certificate(cvm.app_id, cn, "Dstack App CA", 0, false),
                                              certificate(cvm.app_id, "Dstack App CA", "Dstack KMS CA", 1, true) },
              tcb_info = tcb, compose_file = cvm.app_compose }
end)

function H.kms_pubkey(state, _, slug, app_id)
  for _, k in ipairs(KMS_LIST) do
    if k.slug == slug or k.id == slug then
      if not app_id:match("^0x%x+$") and not app_id:match("^%x+$") then return fail(400, "Invalid app id") end
      if state.opts.kms_pubkey then return ok(state.opts.kms_pubkey(slug, app_id)) end
      return ok { public_key = M.ENV_PUBKEY, signature = "8542c49081fbf4e03f62034f13fbf70630bdf256a53032e38465a27c36fd6"
        .. "bed7a5e7111652004aef37f7fd92fbfc1285212c4ae6a6154203a48f5e16cad2cef00" }
    end
  end
  return fail(404, "KMS not found")
end

-- The node and image a request asks for, or nil and the error answer.
local function placement(body)
  local id = body.teepod_id or body.node_id
  local node = id and node_by_id(CHECK.int(id)) or (not id and NODES[1])
  if not node then
    return nil, business(400, "ERR-01-001", "Node not found", "List nodes with GET /teepods/available")
  end
  local img = body.image or node.images[1].name
  if not has_image(node, img) then
    return nil, business(400, "ERR-02-010", "Image " .. img .. " not found on node " .. node.name,
                         "Pick one of the node's images")
  end
  return node, img
end

-- The KMS_LIST entry of an on-chain KMS named by slug or id, else nil.
local function chain_kms(id)
  for _, k in ipairs(KMS_LIST) do
    if id and (k.slug == id or k.id == id) and k.chain_id ~= json.null then return k end
  end
end

-- With an on-chain kms_id the app id is the contract the client deploys next (spec 3.7): the
-- reply has none, and the commit names it (app_id = contract_address, with deployer_address).
function H.provision(state, req)
  local body, err = body_of(req, "provision")
  if not body then return err end
  local node, img = placement(body)
  if not node then return img end
  local text = app_compose_text(state, body.compose_file, body.name)
  local hash = M.sha256_hex(text)
  local chain = chain_kms(body.kms_id)
  local app_id = chain and json.null or hash:sub(1, 40)
  state.provisions[chain and ("onchain:" .. hash) or app_id] = { body = body, node = node, image = img,
                                                                 app_compose = text, compose_hash = hash }
  return ok { app_id = app_id, app_env_encrypt_pubkey = chain and json.null or M.ENV_PUBKEY, compose_hash = hash,
              fmspc = node.fmspc, device_id = node.device_id, os_image_hash = json.null, teepod_id = node.teepod_id,
              kms_id = null(body.kms_id), kms_info = chain or PHALA_KMS, instance_type = "tdx.small" }
end

function H.commit(state, req)
  local body, err = body_of(req, "commit")
  if not body then return err end
  local key = body.app_id
  if body.contract_address or body.deployer_address then
    if type(body.contract_address) ~= "string" or type(body.deployer_address) ~= "string"
        or body.contract_address:lower():gsub("^0x", "") ~= body.app_id:lower():gsub("^0x", "") then
      return business(400, "ERR-01-007", "On-chain commit needs contract_address = app_id and deployer_address",
                      "Deploy the app contract first")
    end
    key = "onchain:" .. body.compose_hash
  end
  local p = state.provisions[key]
  if not p then return fail(404, "No provision for app_id " .. body.app_id .. " (POST /cvms/provision first)") end
  if body.compose_hash ~= p.compose_hash then
    return business(400, "ERR-01-006", "Compose hash invalid or expired", "Provision again and commit its compose_hash")
  end
  if name_taken(state, p.body.name) then
    return business(409, "ERR-01-004", "A CVM named " .. p.body.name .. " already exists", "Choose another name")
  end
  local opened, eerr = open_env(state, body.encrypted_env, p.app_compose, p.image)
  if not opened then return eerr end
  state.provisions[key] = nil
  local b = p.body
  local cvm = add_cvm(state, { name = b.name, app_id = body.app_id, node = p.node, image = p.image,
                               vcpu = CHECK.int(b.vcpu or 1), memory = CHECK.int(b.memory or 2048),
                               disk_size = CHECK.int(b.disk_size or 40), listed = b.listed and CHECK.bool(b.listed),
                               app_compose = p.app_compose, kms_id = body.kms_id })
  store_env(cvm, body.encrypted_env, opened)
  transition(state, cvm, "creating", "running")
  return ok(vm_reply(cvm))
end

-- Legacy create (spec §3.4), step 1: the env key and the salt for this configuration.
function H.pubkey(state, req)
  local body, err = body_of(req, "pubkey")
  if not body then return err end
  local node, img = placement(body)
  if not node then return img end
  return ok { app_env_encrypt_pubkey = M.ENV_PUBKEY, app_id_salt = next_salt(state) }
end

function H.create(state, req)
  local body, err = body_of(req, "create")
  if not body then return err end
  local node, img = placement(body)
  if not node then return img end
  if name_taken(state, body.name) then
    return business(409, "ERR-01-004", "A CVM named " .. body.name .. " already exists", "Choose another name")
  end
  local m = body.compose_manifest
  m.salt = body.app_id_salt
  local text = app_compose_text(state, m, body.name)
  local opened, eerr = open_env(state, body.encrypted_env, text, img)
  if not opened then return eerr end
  local cvm = add_cvm(state, { name = body.name, app_id = M.sha256_hex(text):sub(1, 40), node = node, image = img,
                               vcpu = CHECK.int(body.vcpu), memory = CHECK.int(body.memory),
                               disk_size = CHECK.int(body.disk_size), app_compose = text })
  store_env(cvm, body.encrypted_env, opened)
  transition(state, cvm, "creating", "running")
  return ok(vm_reply(cvm))
end

-- Keys the old allowed_envs listed and the new one does not: secrets dstack stops passing.
local function revoked(cvm, text)
  local now, out = {}, {}
  for _, k in ipairs(json.decode(text).allowed_envs or {}) do now[k] = true end
  for _, k in ipairs(compose_obj(cvm).allowed_envs or {}) do if not now[k] then out[#out + 1] = k end end
  return out
end

-- Replaces the CVM's app-compose (and env when sent); restarts it when allowed.
local function apply_update(state, cvm, text, hex, restart)
  local opened, err = open_env(state, hex, text, cvm.image)
  if not opened then return nil, err end
  cvm.revoked_envs = revoked(cvm, text)
  cvm.app_compose, cvm.compose_hash = text, M.sha256_hex(text)
  if hex then store_env(cvm, hex, opened) end
  if restart then transition(state, cvm, "restarting", "running") end
  return true
end

H.upgrade = with_cvm(function(state, req, cvm)
  local body, err = body_of(req, "upgrade")
  if not body then return err end
  local m = body.compose_manifest
  m.salt = compose_obj(cvm).salt
  local done, uerr = apply_update(state, cvm, app_compose_text(state, m, cvm.name), body.encrypted_env,
                                  body.allow_restart == nil or CHECK.bool(body.allow_restart))
  if not done then return uerr end
  return ok { detail = "Compose file updated" }
end)

H.resize = with_cvm(function(state, req, cvm)
  local body, err = body_of(req, "resize")
  if not body then return err end
  for _, k in ipairs { "vcpu", "memory", "disk_size" } do
    if body[k] then cvm[k] = CHECK.int(body[k]) end
  end
  if body.allow_restart == nil or CHECK.bool(body.allow_restart) then
    transition(state, cvm, "restarting", "running")
  end
  return { status = 202, body = "" }
end)

H.compose_file = with_cvm(function(_, _, cvm) return ok(compose_obj(cvm)) end)

-- The fields SDK 0.0.9 sends back (spec §3.8); the server keeps the rest (salt, features …).
local UPDATABLE = { "docker_compose_file", "allowed_envs", "name", "kms_enabled", "public_logs", "public_sysinfo",
                    "pre_launch_script", "gateway_enabled", "tproxy_enabled" }

H.compose_provision = with_cvm(function(state, req, cvm)
  local body, err = body_of(req, "compose_provision")
  if not body then return err end
  local c = compose_obj(cvm)
  for _, k in ipairs(UPDATABLE) do if body[k] ~= nil then c[k] = body[k] end end
  local text = app_compose_text(state, c, cvm.name)
  cvm.update = { app_compose = text, compose_hash = M.sha256_hex(text) }
  return ok { app_id = cvm.app_id, device_id = cvm.node.device_id, compose_hash = cvm.update.compose_hash,
              kms_info = chain_kms(cvm.kms_id) or json.null, compose_hash_registered = false }
end)

H.compose_commit = with_cvm(function(state, req, cvm)
  local body, err = body_of(req, "compose_commit")
  if not body then return err end
  if not cvm.update or cvm.update.compose_hash ~= body.compose_hash then
    return business(400, "ERR-01-006", "Compose hash invalid or expired",
                    "POST …/compose_file/provision first and commit its compose_hash")
  end
  local done, uerr = apply_update(state, cvm, cvm.update.app_compose, body.encrypted_env, true)
  if not done then return uerr end
  cvm.update = nil
  return { status = 202, body = "" }
end)

H.compose = with_cvm(function(_, _, cvm)
  local c = compose_obj(cvm)
  return ok { compose_file = c, env_pubkey = M.ENV_PUBKEY, salt = c.salt }
end)

H.replicate = with_cvm(function(state, req, cvm)
  local body = {}
  if req.body ~= "" then
    local err
    body, err = body_of(req, "replicate")
    if not body then return err end
  end
  local node = node_by_id(CHECK.int(body.teepod_id or body.node_id or cvm.node.teepod_id))
  if not node then return business(400, "ERR-01-001", "Node not found", "List nodes with GET /teepods/available") end
  local opened, eerr = open_env(state, body.encrypted_env or cvm.encrypted_env, cvm.app_compose, cvm.image)
  if not opened then return eerr end
  local copy = add_cvm(state, { name = cvm.name, app_id = cvm.app_id, node = node, image = cvm.image, vcpu = cvm.vcpu,
                                memory = cvm.memory, disk_size = cvm.disk_size, app_compose = cvm.app_compose })
  store_env(copy, body.encrypted_env or cvm.encrypted_env, opened)
  transition(state, copy, "creating", "running")
  return ok(vm_reply(copy))
end)

-- ---- routing ---------------------------------------------------------------------------------

-- { method, pattern on the path after the prefix, handler }; the first match wins, a path that
-- matches with another method answers 405.
local ROUTES = {
  { "GET", "^/auth/me$", H.me },
  { "GET", "^/cvms$", H.list },
  { "POST", "^/cvms$", H.commit },
  { "GET", "^/cvms/paginated$", H.paginated },
  { "POST", "^/cvms/provision$", H.provision },
  { "POST", "^/cvms/pubkey/from_cvm_configuration$", H.pubkey },
  { "POST", "^/cvms/from_cvm_configuration$", H.create },
  { "GET", "^/teepods/available$", H.nodes },
  { "GET", "^/kms/([^/]+)/pubkey/([^/]+)$", H.kms_pubkey },
  { "GET", "^/cvms/([^/]+)$", H.get },
  { "DELETE", "^/cvms/([^/]+)$", H.delete },
  { "POST", "^/cvms/([^/]+)/(start)$", H.action },
  { "POST", "^/cvms/([^/]+)/(stop)$", H.action },
  { "POST", "^/cvms/([^/]+)/(restart)$", H.action },
  { "PUT", "^/cvms/([^/]+)/compose$", H.upgrade },
  { "GET", "^/cvms/([^/]+)/compose$", H.compose },
  { "PATCH", "^/cvms/([^/]+)/resources$", H.resize },
  { "GET", "^/cvms/([^/]+)/attestation$", H.attestation },
  { "GET", "^/cvms/([^/]+)/network$", H.network },
  { "GET", "^/cvms/([^/]+)/compose_file$", H.compose_file },
  { "PATCH", "^/cvms/([^/]+)/compose_file$", H.compose_commit },
  { "POST", "^/cvms/([^/]+)/compose_file/provision$", H.compose_provision },
  { "POST", "^/cvms/([^/]+)/replicas$", H.replicate },
}

local function route(state, req, path)
  local known = false
  for _, r in ipairs(ROUTES) do
    local caps = { path:match(r[2]) }
    if #caps > 0 then
      if r[1] == req.method then
        if caps[1] == path then caps = {} end -- a pattern without captures returns the match
        return r[3](state, req, table.unpack(caps))
      end
      known = true
    end
  end
  if known then return fail(405, "Method Not Allowed") end
  return fail(404, "Not Found")
end

local function take_fault(state, req, path)
  for i, f in ipairs(state.faults) do
    if (not f.method or f.method == req.method) and (not f.path or path:match(f.path)) then
      f.times = (f.times or 1) - 1
      if f.times <= 0 then table.remove(state.faults, i) end
      return f
    end
  end
end

-- The answer a fault gives, or nil to answer normally (after its delay or stall).
local function apply_fault(f)
  if f.delay or f.stall then task.sleep(f.delay or f.stall) end
  if f.malformed then
    return { status = f.status or 200, headers = { ["content-type"] = "application/json" },
             body = '{"username": "alice", "email":' }
  elseif f.html then
    return { status = f.status or 502, headers = { ["content-type"] = "text/html" },
             body = "<html><body><h1>502 Bad Gateway</h1></body></html>\n" }
  elseif f.body then
    return { status = f.status or 200, headers = f.headers, body = f.body }
  elseif f.status then
    return { status = f.status, headers = f.headers, json = f.json or { detail = REASONS[f.status] or "error" } }
  end
end

local function record(state, req, path)
  local ok_json, decoded = pcall(json.decode, req.body)
  state.requests[#state.requests + 1] = {
    method = req.method, path = path, query_string = req.query_string, query = req.query,
    headers = req.headers, body = req.body, json = req.body ~= "" and ok_json and decoded or nil,
  }
end

local function handle(state, req)
  local prefix = state.prefix
  if req.path:sub(1, #prefix) ~= prefix then return fail(404, "Not Found") end
  local path = req.path:sub(#prefix + 1)
  record(state, req, path)
  local f = take_fault(state, req, path)
  local answer = f and apply_fault(f)
  if answer then return answer end
  local key = req.headers["x-api-key"]
  if not key or key == "" then return fail(401, "Not authenticated") end
  if key ~= state.api_key then return fail(401, "Invalid API key") end
  return route(state, req, path)
end

-- ---- the server ------------------------------------------------------------------------------

local function seed(state)
  local cvm = add_cvm(state, { name = "teehost-demo", app_id = DEMO_APP_ID, node = NODES[1], image = "dstack-0.3.6",
                               app_compose = DEMO_COMPOSE })
  cvm.id, cvm.vm_uuid = 4242, "3e9b5f1c-7a2d-4c8e-9f01-2b3c4d5e6f70"
  cvm.instance_id = "a1b2c3d4e5f60718293a4b5c6d7e8f9011223344"
  cvm.status, cvm.in_progress = "running", false
end

-- start{ prefix = "/api/v1", api_key = M.API_KEY, boot_delay = 0.05 (false: on state.advance),
--        decrypt = fn, strict_env = true, attestation = fn(cvm) -> body, seed = true, port = 0,
--        kms_pubkey = fn(slug, app_id) -> {public_key=, signature=} (default: a fixed reply) }
-- -> server, state
function M.start(opts)
  opts = opts or {}
  local state = {
    opts = opts, prefix = opts.prefix or "/api/v1", api_key = opts.api_key or M.API_KEY,
    cvms = {}, provisions = {}, requests = {}, faults = {}, serial = 0, salts = 0, transitions = 0,
    bodies_on_actions = 0, env_private_key = M.sha256_hex(M.ENV_PRIVKEY_DERIVATION),
  }
  if opts.seed ~= false then seed(state) end
  function state.fail(f) state.faults[#state.faults + 1] = f end
  function state.find(ref) return find(state, ref) end
  function state.advance(ref) return advance(state, type(ref) == "table" and ref or find(state, ref)) end
  function state.count(method, pattern)
    local n = 0
    for _, r in ipairs(state.requests) do
      if (not method or r.method == method) and (not pattern or r.path:match(pattern)) then n = n + 1 end
    end
    return n
  end
  function state.last() return state.requests[#state.requests] end
  local srv = assert(http.serve { host = "127.0.0.1", port = opts.port or 0,
                                  handler = function(req) return handle(state, req) end })
  state.url = "http://127.0.0.1:" .. srv:port() .. state.prefix
  return srv, state
end

return M
