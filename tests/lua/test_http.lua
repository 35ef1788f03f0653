-- tests/lua/test_http.lua — http.request and http.serve in one process, over TCP and Unix sockets.
local t = require "harness"

-- A private directory for the sockets, unique even across parallel runs of this file.
local sock_dir = os.tmpname()
os.remove(sock_dir)
assert(os.execute("mkdir -m 700 " .. sock_dir))

local function echo_handler(req)
  return {
    status = 200,
    headers = { ["x-method"] = req.method, ["x-path"] = req.path },
    json = { method = req.method, path = req.path, query = req.query, headers = req.headers,
             body = req.body, peer = req.peer },
  }
end

local function serve(opts)
  opts.handler = opts.handler or echo_handler
  return assert(http.serve(opts))
end

local function base(srv) return "http://127.0.0.1:" .. srv:port() end

t.test("a request over TCP reaches the handler with method, path, query, headers and body", function()
  local srv <close> = serve { port = 0 }
  local res = assert(http.request {
    method = "POST", url = base(srv) .. "/a/b?x=1&y=two%20words",
    headers = { ["X-Custom"] = "Value", ["Content-Type"] = "text/plain" }, body = "hello",
  })
  t.eq(res.status, 200)
  t.eq(res.headers["x-method"], "POST")
  t.eq(res.headers["content-type"], "application/json")
  local got = json.decode(res.body)
  t.eq(got.path, "/a/b")
  t.eq(got.query, json.object { x = "1", y = "two words" })
  t.eq(got.headers["x-custom"], "Value")
  t.eq(got.body, "hello")
  t.ok(got.peer:match("^127%.0%.0%.1:%d+$"), "peer is the client's address: " .. got.peer)
end)

t.test("a request over a Unix socket, whose file is 0600, and a GET shorthand", function()
  local path = sock_dir .. "/a.sock"
  local srv <close> = serve { unix_socket = path }
  local mode = io.popen("stat -c %a " .. path):read("l")
  t.eq(mode, "600")
  t.eq(srv:port(), nil)
  local res = assert(http.request { url = "http://localhost/u?q=1", unix_socket = path })
  t.eq(json.decode(res.body).path, "/u")
  t.eq(json.decode(res.body).peer, "unix")
  srv:close()
  t.eq(io.open(path) == nil, true, "closing removes the socket file")
  local r, msg, code = http.request { url = "http://localhost/", unix_socket = path }
  t.eq({ r, msg, code }, { nil, "connect to " .. path .. ": No such file or directory", "ECONNREFUSED" })
end)

t.test("a request inherits nothing from the one before it (handles are reused)", function()
  local path = sock_dir .. "/reuse.sock"
  local srv <close> = serve { port = 0, unix_socket = path }
  local first = json.decode(assert(http.request {
    method = "PUT", url = "http://x/first", unix_socket = path, body = "payload",
    headers = { ["x-only-first"] = "1" }, timeout = 5,
  }).body)
  t.eq({ first.method, first.body, first.headers["x-only-first"], first.peer }, { "PUT", "payload", "1", "unix" })
  local second = json.decode(assert(http.request(base(srv) .. "/second")).body)
  t.eq({ second.method, second.path, second.body }, { "GET", "/second", "" })
  t.eq(second.headers["x-only-first"], nil)
  t.ok(second.peer ~= "unix", "the second request went over TCP")
end)

t.test("string, status, header and json answers; 404 is a response, not an error", function()
  local srv <close> = serve { port = 0, handler = function(req)
    if req.path == "/text" then return "plain" end
    if req.path == "/missing" then return { status = 404, body = "nope" } end
    return { status = 201, headers = { ["set-cookie"] = { "a=1", "b=2" } }, body = "" }
  end }
  local r = assert(http.request(base(srv) .. "/text"))
  t.eq({ r.status, r.body, r.headers["content-type"] }, { 200, "plain", "text/plain; charset=utf-8" })
  r = assert(http.request(base(srv) .. "/missing"))
  t.eq({ r.status, r.body }, { 404, "nope" })
  r = assert(http.request(base(srv) .. "/multi"))
  t.eq(r.status, 201)
  t.eq(r.headers["set-cookie"], "a=1, b=2")
end)

t.test("PUT, DELETE and HEAD", function()
  local srv <close> = serve { port = 0 }
  for _, m in ipairs { "PUT", "DELETE", "PATCH" } do
    local r = assert(http.request { method = m, url = base(srv) .. "/m", body = "b" })
    t.eq(json.decode(r.body).method, m)
  end
  local r = assert(http.request { method = "HEAD", url = base(srv) .. "/h" })
  t.eq({ r.status, r.body }, { 200, "" })
end)

t.test("a 5 MB body with every byte value arrives intact both ways", function()
  local srv <close> = serve { port = 0, max_body = 16 * 1024 * 1024, handler = function(req)
    return { body = req.body }
  end }
  local bytes = {}
  for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
  local body = table.concat(bytes):rep(5 * 4096)
  local r = assert(http.request { method = "POST", url = base(srv) .. "/big", body = body })
  t.eq(#r.body, #body)
  t.ok(r.body == body, "echoed body equals what was sent")
end)

t.test("handlers run concurrently: a slow handler does not hold up a fast one", function()
  local srv <close> = serve { port = 0, handler = function(req)
    if req.path == "/slow" then task.sleep(0.3) end
    return req.path
  end }
  local order = {}
  local function fetch(path)
    local body = assert(http.request(base(srv) .. path)).body -- awaited before `order` is touched
    order[#order + 1] = body
  end
  task.all {
    function() fetch("/slow") end,
    function() task.sleep(0.02) fetch("/fast") end,
  }
  t.eq(order, { "/fast", "/slow" })
end)

t.test("a handler may itself await HTTP calls (a proxy)", function()
  local backend <close> = serve { -- luacheck: ignore 211
    unix_socket = sock_dir .. "/backend.sock", handler = function(req)
    return "backend saw " .. req.path
  end }
  local proxy <close> = serve { port = 0, handler = function(req)
    local r = assert(http.request { url = "http://x" .. req.path, unix_socket = sock_dir .. "/backend.sock" })
    return "proxy: " .. r.body
  end }
  t.eq(assert(http.request(base(proxy) .. "/deep")).body, "proxy: backend saw /deep")
end)

t.test("a handler error becomes a 500 and the server keeps serving", function()
  local srv <close> = serve { port = 0, handler = function(req)
    if req.path == "/boom" then error("handler exploded") end
    if req.path == "/nil" then return nil end
    if req.path == "/badjson" then return { json = { f = print } } end
    if req.path == "/badheader" then return { headers = { ["x-n"] = 1 }, body = "x" } end
    return "fine"
  end }
  t.eq(assert(http.request(base(srv) .. "/boom")).status, 500)
  local r = assert(http.request(base(srv) .. "/nil"))
  t.eq(r.status, 500)
  t.contains(r.body, "bad handler result")
  t.eq(assert(http.request(base(srv) .. "/badjson")).status, 500)
  t.eq(assert(http.request(base(srv) .. "/badheader")).status, 500)
  t.eq(assert(http.request(base(srv) .. "/ok")).body, "fine")
end)

t.test("body and header limits answer 413 and 431, then the server keeps serving", function()
  local srv <close> = serve { port = 0, max_body = 1000, max_header = 2048 }
  local r = assert(http.request { method = "POST", url = base(srv) .. "/", body = ("x"):rep(2000) })
  t.eq(r.status, 413)
  r = assert(http.request { url = base(srv) .. "/", headers = { ["x-big"] = ("y"):rep(4096) } })
  t.eq(r.status, 431)
  r = assert(http.request { method = "POST", url = base(srv) .. "/", body = ("x"):rep(1000) })
  t.eq(r.status, 200)
end)

t.test("a request timeout gives nil, message, ETIMEDOUT", function()
  local srv <close> = serve { port = 0, handler = function() task.sleep(2) return "late" end }
  local r, msg, code = http.request { url = base(srv) .. "/slow", timeout = 0.2 }
  t.eq(r, nil)
  t.eq(code, "ETIMEDOUT")
  t.contains(msg, "timed out")
end)

t.test("connection refused on a closed TCP port", function()
  local srv = serve { port = 0 }
  local url = base(srv)
  srv:close()
  local r, msg, code = http.request(url .. "/")
  t.eq({ r, code }, { nil, "ECONNREFUSED" })
  t.contains(msg, "connect to 127.0.0.1:")
  t.raises("attempt to use a closed server", srv.port, srv)
  t.contains(tostring(srv), "closed")
end)

t.test("a port in use is EADDRINUSE with the address in the message", function()
  local srv <close> = serve { port = 0 }
  local other, msg, code = http.serve { port = srv:port(), handler = echo_handler }
  t.eq({ other, code }, { nil, "EADDRINUSE" })
  t.contains(msg, "127.0.0.1:" .. srv:port())
end)

t.test("misuse raises with the name of what was wrong", function()
  t.raises("unknown option 'methd' (valid: method, url", http.request, { url = "http://x/", methd = "GET" })
  t.raises("option 'url' is required", http.request, {})
  t.raises("option 'body' must be a string", http.request, { url = "http://x/", body = {} })
  t.raises("header 'x-n' must be a string, got number (use tostring)", http.request,
    { url = "http://x/", headers = { ["x-n"] = 5 } })
  t.raises("header names must be strings, got number", http.request, { url = "http://x/", headers = { "v" } })
  t.raises("give port= and/or unix_socket=", http.serve, { handler = print })
  t.raises("option 'handler' must be a function", http.serve, { port = 0 })
  t.raises("port must be an integer", http.serve, { port = 70000, handler = print })
end)

local function thousand(url_for, opts)
  local fns = {}
  for i = 1, 1000 do
    fns[i] = function()
      local r = assert(http.request { url = url_for(i), unix_socket = opts.unix_socket, body = "id" .. i,
                                      method = "POST" })
      return r.body
    end
  end
  local r = task.all(fns)
  for i = 1, 1000 do
    if r[i] ~= "id" .. i then error("request " .. i .. " got " .. tostring(r[i])) end
  end
  return r.n
end

t.test("1,000 concurrent requests over a Unix socket are all answered correctly", function()
  local path = sock_dir .. "/many.sock"
  local srv <close> = serve { unix_socket = path, handler = function(req) -- luacheck: ignore 211
    task.yield()
    return req.body
  end }
  t.eq(thousand(function(i) return "http://x/" .. i end, { unix_socket = path }), 1000)
end)

t.test("1,000 concurrent requests over TCP are all answered correctly", function()
  local srv <close> = serve { port = 0, handler = function(req) return req.body end }
  t.eq(thousand(function(i) return base(srv) .. "/" .. i end, {}), 1000)
end)

t.test("closing a server while a handler still runs is harmless", function()
  local entered = false
  local srv = serve { port = 0, handler = function() entered = true task.sleep(0.1) return "x" end }
  local url = base(srv)
  local req = task.spawn(function() return http.request { url = url .. "/", timeout = 2 } end)
  while not entered do task.sleep(0.005) end
  srv:close()
  local r, _, code = req:join()
  t.ok(r == nil or r.status == 503, "the client is not left hanging")
  if not r then t.ok(code == "ECONNRESET" or code == "EIO", tostring(code)) end
  task.sleep(0.15) -- the handler finishes against a closed server
end)

t.run()
os.execute("rm -rf " .. sock_dir)
