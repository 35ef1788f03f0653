-- tests/lua/test_json.lua — the json module (bindings/json.c): decode, encode, null, array,
-- object, is_array; exact error texts and offsets, round trips, canonical output.
local t = require "harness"
local json = require "json"

-- decode's failure: nil plus the message, exactly.
local function fails(text, message)
  local v, err = json.decode(text)
  t.eq(v, nil, "decode " .. string.format("%q", text))
  t.eq(err, message, "message for " .. string.format("%q", text))
end

local function nested(depth)
  return string.rep("[", depth) .. string.rep("]", depth)
end

-- ---------------------------------------------------------------------------------------------
-- decode: values

t.test("decode scalars", function()
  t.eq(json.decode("true"), true)
  t.eq(json.decode("false"), false)
  t.eq(json.decode('"hi"'), "hi")
  t.eq(json.decode("  42  "), 42)
  t.ok(json.decode("null") == json.null, "null is json.null")
  t.eq(select("#", json.decode("1")), 1, "one result on success")
end)

t.test("decode numbers: integers stay integers, the rest are floats", function()
  t.eq(math.type(json.decode("1")), "integer")
  t.eq(json.decode("-17"), -17)
  t.eq(math.type(json.decode("1.5")), "float")
  t.eq(json.decode("1.5"), 1.5)
  t.eq(math.type(json.decode("1.0")), "float")
  t.eq(math.type(json.decode("1e2")), "float")
  t.eq(json.decode("1e2"), 100.0)
  t.eq(json.decode("-2.5E-3"), -2.5e-3)
  local z = json.decode("-0")
  t.eq(z, 0)
  t.eq(1 / z, -math.huge, "-0 keeps its sign")
end)

t.test("decode int64 edges exactly", function()
  t.eq(json.decode("9223372036854775807"), math.maxinteger)
  t.eq(math.type(json.decode("9223372036854775807")), "integer")
  t.eq(json.decode("-9223372036854775808"), math.mininteger)
  t.eq(math.type(json.decode("-9223372036854775808")), "integer")
  t.eq(json.decode("9007199254740993"), 9007199254740993, "2^53 + 1 is not rounded")
  local big = json.decode("9223372036854775808")
  t.eq(math.type(big), "float", "one past maxinteger")
  t.eq(big, 2.0 ^ 63)
  t.eq(json.decode("-9223372036854775809"), -(2.0 ^ 63))
end)

t.test("decode arrays and objects carry their metatables", function()
  local a = json.decode("[1, 2, 3]")
  t.eq(a, { 1, 2, 3 })
  t.ok(getmetatable(a) == json.array_mt)
  local o = json.decode('{"x": {"y": [true]}}')
  t.eq(o, { x = { y = { true } } })
  t.ok(getmetatable(o) == json.object_mt)
  t.ok(getmetatable(o.x) == json.object_mt)
  t.ok(getmetatable(o.x.y) == json.array_mt)
  t.ok(getmetatable(json.decode("[]")) == json.array_mt)
  t.ok(getmetatable(json.decode("{}")) == json.object_mt)
  t.ok(json.is_array(json.decode("[]")))
  t.ok(not json.is_array(json.decode("{}")))
end)

t.test("decode null keeps array positions and object keys", function()
  local a = json.decode("[1, null, 3, null]")
  t.eq(#a, 4)
  t.ok(a[2] == json.null and a[4] == json.null)
  t.eq(a[3], 3)
  local o = json.decode('{"a": null}')
  t.ok(o.a == json.null)
  t.eq(json.encode(o), '{"a":null}')
end)

t.test("decode duplicate keys: the last wins", function()
  t.eq(json.decode('{"a": 1, "b": 2, "a": 3}'), { a = 3, b = 2 })
end)

t.test("decode string escapes", function()
  t.eq(json.decode([["a\"b\\c\/d\b\f\n\r\t"]]), 'a"b\\c/d\b\f\n\r\t')
  t.eq(json.decode([["\u00e9"]]), "é")
  t.eq(json.decode([["\u00E9"]]), "\xC3\xA9")
  t.eq(json.decode([["\u20ac"]]), "\u{20AC}")
  local s = json.decode([["\ud83d\ude00"]])
  t.eq(s, "\u{1F600}")
  t.eq(#s, 4, "a surrogate pair is one 4-byte UTF-8 sequence")
  t.eq(json.decode([["a\u0000b"]]), "a\0b", "\\u0000 is kept, not truncated")
  t.eq(json.decode([[{"k\u0000ey": 1}]]), { ["k\0ey"] = 1 })
end)

t.test("decode passes string bytes through", function()
  t.eq(json.decode('"héllo ✓"'), "héllo ✓")
  t.eq(json.decode('"\xff\xfe"'), "\xff\xfe", "invalid UTF-8 is not checked")
  t.eq(json.decode('"\x7f"'), "\x7f")
end)

t.test("decode skips a UTF-8 byte order mark", function()
  t.eq(json.decode("\xEF\xBB\xBF[1]"), { 1 })
end)

t.test("decode accepts 1000 levels of nesting", function()
  local v = json.decode(nested(1000))
  local depth = 0
  while type(v) == "table" do
    depth = depth + 1
    v = v[1]
  end
  t.eq(depth, 1000)
end)

-- ---------------------------------------------------------------------------------------------
-- decode: malformed text returns nil, message

t.test("decode errors: exact messages and offsets", function()
  fails('{"a":1,}', "json: unexpected '}' at offset 7")
  fails("[1,2", "json: unexpected end of input at offset 4")
  fails("[1,2,]", "json: unexpected ']' at offset 5")
  fails("", "json: empty input")
  fails("   ", "json: unexpected end of input at offset 3")
  fails("[1] x", "json: unexpected 'x' at offset 4")
  fails('{"a":1} {}', "json: unexpected '{' at offset 8")
  fails('{"a" 1}', "json: unexpected '1' at offset 5")
  fails("{1:2}", "json: unexpected '1' at offset 1")
  fails("[1 2]", "json: unexpected '2' at offset 3")
  fails("tru", "json: unexpected end of input at offset 3")
  fails("nul]", "json: unexpected ']' at offset 3")
  fails("True", "json: unexpected 'T' at offset 0")
  fails("'a'", "json: unexpected ''' at offset 0")
end)

t.test("decode errors: non-printable bytes shown as \\xNN", function()
  fails("[1,\1 2]", "json: unexpected '\\x01' at offset 3")
  fails("1\0", "json: unexpected '\\x00' at offset 1")
  fails("\xff", "json: unexpected '\\xFF' at offset 0")
  fails('"a\nb"', "json: unescaped control character '\\x0A' in string at offset 2")
end)

t.test("decode errors: nesting deeper than 1000", function()
  fails(nested(1001), "json: nesting deeper than 1000 at offset 1000")
  fails(string.rep('{"a":', 1000) .. "{}" .. string.rep("}", 1000),
    "json: nesting deeper than 1000 at offset 5000")
  fails(string.rep("[", 100000), "json: nesting deeper than 1000 at offset 1000")
end)

t.test("decode errors: strings", function()
  fails('"abc', "json: unterminated string at offset 0")
  fails('["a", "b', "json: unterminated string at offset 6")
  fails('"ab\\"', "json: unterminated string at offset 0")
  fails([["a\qb"]], "json: invalid escape '\\q' at offset 2")
  fails([["\u12"]], "json: invalid escape '\\u12' at offset 1")
  fails([["\u00zz"]], "json: invalid escape '\\u00zz' at offset 1")
  fails([["\ud800"]], "json: unpaired surrogate '\\ud800' at offset 1")
  fails([["\ud800\u0041"]], "json: unpaired surrogate '\\ud800' at offset 1")
  fails([["x\udc00"]], "json: unpaired surrogate '\\udc00' at offset 2")
end)

t.test("decode errors: numbers", function()
  fails("01", "json: unexpected '1' at offset 1")
  fails("1.", "json: unexpected end of input at offset 2")
  fails("[1.]", "json: unexpected ']' at offset 3")
  fails("1.e5", "json: unexpected 'e' at offset 2")
  fails("-", "json: unexpected end of input at offset 1")
  fails("+1", "json: unexpected '+' at offset 0")
  fails(".5", "json: unexpected '.' at offset 0")
  fails("1e999", "json: number out of range at offset 0")
  fails("[0, -1e400]", "json: number out of range at offset 4")
  fails(string.rep("1", 64), "json: number longer than 63 characters at offset 0")
  t.eq(json.decode(string.rep("1", 63)), 1.1111111111111111e62, "63 characters are fine")
  t.eq(json.decode("1e-400"), 0.0, "underflow is not an error")
end)

t.test("decode misuse raises", function()
  t.raises("string expected, got number", json.decode, 5)
  t.raises("string expected, got no value", json.decode)
  t.raises("string expected, got table", json.decode, {})
end)

-- ---------------------------------------------------------------------------------------------
-- encode

t.test("encode scalars", function()
  t.eq(json.encode(nil), "null")
  t.eq(json.encode(json.null), "null")
  t.eq(json.encode(true), "true")
  t.eq(json.encode(false), "false")
  t.eq(json.encode(0), "0")
  t.eq(json.encode(-42), "-42")
  t.eq(json.encode("x"), '"x"')
  t.raises("value expected", json.encode)
end)

t.test("encode int64 extremes exactly", function()
  t.eq(json.encode(math.maxinteger), "9223372036854775807")
  t.eq(json.encode(math.mininteger), "-9223372036854775808")
  t.eq(json.encode(9007199254740993), "9007199254740993")
  t.eq(json.decode(json.encode(math.maxinteger)), math.maxinteger)
  t.eq(json.decode(json.encode(math.mininteger)), math.mininteger)
end)

t.test("encode floats: shortest text that reads back exactly", function()
  t.eq(json.encode(0.1), "0.1")
  t.eq(json.encode(-2.5), "-2.5")
  t.eq(json.encode(1e300), "1e+300")
  t.eq(json.encode(1 / 3), "0.3333333333333333")
  t.eq(json.encode(3.0), "3.0", "an integral float keeps a .0")
  t.eq(json.encode(-0.0), "-0.0")
  t.eq(json.encode(2.0 ^ 53), "9007199254740992.0")
  for _, x in ipairs { 0.1, 1e300, -2.5, 1 / 3, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
    123456.789, -0.0, 3.0, 2.0 ^ 63, 0.1 + 0.2 } do
    local back = json.decode(json.encode(x))
    t.eq(back, x, "round trip of " .. string.format("%.17g", x))
    t.eq(math.type(back), "float")
  end
end)

t.test("encode NaN and inf raise", function()
  t.raises("json: cannot encode NaN/inf", json.encode, 0 / 0)
  t.raises("json: cannot encode NaN/inf", json.encode, math.huge)
  t.raises("json: cannot encode NaN/inf", json.encode, -math.huge)
  local err = t.raises("json: cannot encode NaN/inf", json.encode, { a = { 1, 0 / 0 } })
  t.contains(err, "json: cannot encode NaN/inf at $.a[2]")
end)

t.test("encode strings: escapes", function()
  t.eq(json.encode('a"b\\c/d'), [["a\"b\\c/d"]])
  t.eq(json.encode("\b\f\n\r\t"), [["\b\f\n\r\t"]])
  t.eq(json.encode("\1\31\127"), '"\\u0001\\u001f\127"')
  t.eq(json.encode("a\0b"), [["a\u0000b"]])
  t.eq(json.decode(json.encode("a\0b")), "a\0b")
  t.eq(json.encode("é✓\u{1F600}"), '"é✓\u{1F600}"', "UTF-8 is written as is")
  t.eq(json.encode("\xff"), '"\xff"', "other bytes too")
end)

t.test("encode tables: arrays and objects", function()
  t.eq(json.encode({ 1, 2, 3 }), "[1,2,3]")
  t.eq(json.encode({}), "{}")
  t.eq(json.encode(json.array()), "[]")
  t.eq(json.encode(json.object()), "{}")
  t.eq(json.encode(json.object { 1, 2 }), '{"1":1,"2":2}')
  t.eq(json.encode({ 1, nil, 3 }), '{"1":1,"3":3}', "a plain table with a hole is an object")
  t.eq(json.encode({ 1, x = 2 }), '{"1":1,"x":2}')
  t.eq(json.encode({ [0] = "a" }), '{"0":"a"}')
  t.eq(json.encode({ [-5] = "a", [2] = "b" }), '{"-5":"a","2":"b"}')
  t.eq(json.encode(json.array { 1, nil, 3 }), "[1,null,3]")
  t.eq(json.encode(json.array { [4] = true }), "[null,null,null,true]")
  t.eq(json.encode({ json.null, false }), "[null,false]")
  t.eq(json.encode({ a = {}, b = json.array(), c = { {} } }), '{"a":{},"b":[],"c":[{}]}')
end)

t.test("encode object keys sorted bytewise", function()
  t.eq(json.encode({ b = 1, a = 2, c = { z = 1, y = 2 } }), '{"a":2,"b":1,"c":{"y":2,"z":1}}')
  t.eq(json.encode({ a = 1, B = 2, _ = 3, ab = 4, [""] = 5 }), '{"":5,"B":2,"_":3,"a":1,"ab":4}')
  t.eq(json.encode({ [10] = 1, [9] = 2, x = 3 }), '{"10":1,"9":2,"x":3}')
  local keys = {}
  for i = 1, 200 do keys["k" .. (i * 7919 % 1000)] = i end
  local text = json.encode(keys)
  t.eq(json.encode(json.decode(text)), text, "canonical: re-encoding gives the same text")
  local last = ""
  for k in text:gmatch('"(k%d+)"') do
    t.ok(k > last, "sorted: " .. last .. " < " .. k)
    last = k
  end
end)

t.test("encode raises for keys JSON cannot have", function()
  t.raises("json: cannot encode key of type boolean", json.encode, { [true] = 1 })
  t.raises("json: cannot encode key of type table", json.encode, { [{}] = 1 })
  t.raises("json: cannot encode float key 1.5", json.encode, { [1.5] = 1 })
  t.raises('json: duplicate key "1" (integer and string)', json.encode, { [1] = "a", ["1"] = "b" })
  t.raises('json: array has non-index key "n"', json.encode, json.array { 1, n = 1 })
  t.raises("json: array has non-index key 0", json.encode, json.array { [0] = 1 })
  local err = t.raises("json: cannot encode key of type boolean", json.encode, { x = { ["a b"] = { [false] = 1 } } })
  t.eq(err, 'json: cannot encode key of type boolean at $.x["a b"]')
end)

t.test("encode refuses very sparse arrays", function()
  t.raises("json: array too sparse (largest index 5000, 1 elements)", json.encode, json.array { [5000] = 1 })
  t.eq(#json.encode(json.array { [1000] = 1 }), 1 + 999 * 5 + 1 + 1, "up to 1000 any holes are fine")
end)

t.test("encode raises for functions, userdata, threads", function()
  t.eq(t.raises("json: cannot encode a function", json.encode, print), "json: cannot encode a function")
  t.raises("json: cannot encode a thread", json.encode, coroutine.create(print))
  t.raises("json: cannot encode a userdata", json.encode, io.stdout)
  t.eq(t.raises("json: cannot encode a function", json.encode, { a = { b = { print } } }),
    "json: cannot encode a function at $.a.b[1]")
end)

t.test("encode detects cycles", function()
  local a = {}
  a.self = a
  t.eq(t.raises("json: cannot encode a cycle", json.encode, a), "json: cannot encode a cycle (at depth 2) at $.self")
  local b = json.array()
  b[1] = { b }
  t.eq(t.raises("json: cannot encode a cycle", json.encode, b), "json: cannot encode a cycle (at depth 3) at $[1][1]")
  local shared = { 1 }
  t.eq(json.encode({ a = shared, b = shared }), '{"a":[1],"b":[1]}', "a shared table is not a cycle")
end)

t.test("encode nesting limit is the decoder's", function()
  t.eq(json.encode(json.decode(nested(1000))), nested(1000))
  local v = json.array()
  for _ = 1, 1000 do v = json.array { v } end -- 1001 levels
  t.eq(t.raises("json: nesting deeper than 1000", json.encode, v), "json: nesting deeper than 1000")
end)

t.test("encode indent: exact text", function()
  local v = { name = "x", list = { 1, { a = true } }, empty = {}, none = json.array() }
  t.eq(json.encode(v, { indent = 2 }), [[
{
  "empty": {},
  "list": [
    1,
    {
      "a": true
    }
  ],
  "name": "x",
  "none": []
}]])
  t.eq(json.encode({ 1, { 2 } }, { indent = "\t" }), "[\n\t1,\n\t[\n\t\t2\n\t]\n]")
  t.eq(json.encode({ a = 1 }, { indent = 0 }), '{\n"a": 1\n}', "0: newlines only")
  t.eq(json.encode("s", { indent = 4 }), '"s"')
  t.eq(json.encode(v), '{"empty":{},"list":[1,{"a":true}],"name":"x","none":[]}', "compact: no whitespace")
  t.eq(json.encode(v, {}), json.encode(v))
  t.eq(json.decode(json.encode(v, { indent = 2 })), v, "pretty output decodes to the same value")
end)

t.test("encode options misuse raises", function()
  t.raises("unknown option 'ident'", json.encode, {}, { ident = 2 })
  t.raises("indent must be", json.encode, {}, { indent = -1 })
  t.raises("indent must be", json.encode, {}, { indent = 33 })
  t.raises("indent must be", json.encode, {}, { indent = 1.5 })
  t.raises("indent must be", json.encode, {}, { indent = "x" })
  t.raises("table expected, got number", json.encode, {}, 2)
end)

t.test("encode ignores foreign metatables and reads raw", function()
  local obj = setmetatable({}, { __index = function() return 1 end, __pairs = error })
  t.eq(json.encode(obj), "{}")
  t.eq(json.encode(setmetatable({ 1, 2 }, {})), "[1,2]")
end)

-- ---------------------------------------------------------------------------------------------
-- round trips

t.test("round trip of nested values", function()
  local v = {
    users = { { id = 1, name = "ann", tags = json.array(), meta = json.object() },
      { id = math.maxinteger, name = "bob\0\n", score = 0.1, ok = false, extra = json.null } },
    matrix = { { 1, 2 }, { 3, 4 } },
    unicode = "é\u{1F600}",
  }
  local text = json.encode(v)
  local back = json.decode(text)
  t.eq(back, v)
  t.eq(json.encode(back), text)
  t.eq(json.encode(back.users[1].tags), "[]")
  t.eq(json.encode(back.users[1].meta), "{}")
end)

t.test("round trip of canonical text", function()
  for _, s in ipairs {
    "[]", "{}", '{"a":[],"b":{}}', "[[],[{}]]", "[1,null,3]", '{"a":null}', "[1.5,-0.0,1e+300,100.0]",
    '"\\u0000\\u001f\\"\\\\"', '{"":1,"a":{"b":[true,false,null]}}', "-9223372036854775808",
  } do
    t.eq(json.encode(json.decode(s)), s)
  end
end)

-- ---------------------------------------------------------------------------------------------
-- null, array, object, is_array

t.test("json.null", function()
  t.ok(json.null == json.null)
  t.ok(json.null ~= nil)
  t.eq(tostring(json.null), "json.null")
  t.eq(type(json.null), "userdata")
end)

t.test("json.array and json.object", function()
  local a = {}
  t.ok(json.array(a) == a, "returns its argument")
  t.ok(getmetatable(a) == json.array_mt)
  t.ok(getmetatable(json.array()) == json.array_mt)
  t.ok(getmetatable(json.object()) == json.object_mt)
  t.ok(getmetatable(json.object(a)) == json.object_mt, "an array can become an object")
  t.eq(json.encode(a), "{}")
  t.raises("table expected, got number", json.array, 5)
  t.raises("table already has a metatable", json.object, setmetatable({}, {}))
  t.contains(tostring(json.array()), "json.array")
end)

t.test("json.is_array", function()
  t.eq(json.is_array({ 1, 2 }), true)
  t.eq(json.is_array({}), false)
  t.eq(json.is_array(json.array()), true)
  t.eq(json.is_array({ 1, nil, 3 }), false)
  t.eq(json.is_array(json.object { 1 }), false)
  t.eq(json.is_array("x"), false)
  t.eq(json.is_array(nil), false)
  t.raises("value expected", json.is_array)
end)

-- ---------------------------------------------------------------------------------------------
-- size

t.test("1 MB documents are fast", function()
  local items = json.array()
  for i = 1, 12000 do
    items[i] = { id = i, name = "item " .. i, tags = { "a", "b\n" }, price = i / 7, ok = i % 2 == 0 }
  end
  local start = os.clock()
  local text = json.encode(items)
  t.ok(#text > 1000000, "at least 1 MB: " .. #text)
  local back = json.decode(text)
  t.eq(#back, 12000)
  t.eq(json.encode(back), text)
  local big = string.rep('a\\"\\u00e9', 150000)
  t.eq(#json.decode('"' .. big .. '"'), 150000 * 4)
  local wide = {}
  for i = 1, 50000 do wide["key" .. i] = i end
  t.eq(json.decode(json.encode(wide)), wide)
  local elapsed = os.clock() - start
  t.ok(elapsed < 10, "took " .. elapsed .. " s")
end)

t.run()
