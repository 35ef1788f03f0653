-- phala_cli.nodes: `teehost phala nodes [list|ls]` and the node listing `cvms list-nodes` shares
-- (GET teepods/available, spec 3.3). A centralized KMS entry (chain_id and contract null), which
-- broke 1.0.35's parser, is shown as such; a failure exits 1 (1.0.35 list-nodes exited 0).
local common = require "phala_cli.common"

local M = {}

M.HELP = [[
teehost phala nodes [list|ls] [--json]     (also: cvms list-nodes)
    the nodes (TEEPods) your workspace can deploy to: id, name, region, FMSPC, device id,
    on-chain KMS support, free resources and OS images; then the KMS list.]]

local function version(v)
  if type(v) ~= "table" then return common.str(v) end
  local parts = {}
  for i, n in ipairs(v) do parts[i] = tostring(n) end
  return table.concat(parts, ".")
end

function M.show(reply)
  local nodes = type(reply.nodes) == "table" and reply.nodes or {}
  if #nodes == 0 then print("No nodes available") end
  for i, n in ipairs(nodes) do
    if i > 1 then print() end
    common.rows {
      { "Node", ("%s (id %s)"):format(common.str(n.name), common.str(n.teepod_id)) },
      { "Region", n.region_identifier },
      { "FMSPC", n.fmspc },
      { "Device ID", n.device_id },
      { "On-chain KMS", n.support_onchain_kms == true and "yes" or "no" },
      { "Free", ("%s vCPU, %s MB memory, %s CVM slots"):format(common.str(n.remaining_vcpu),
        common.str(n.remaining_memory), common.str(n.remaining_cvm_slots)) },
      { "KMS", type(n.kms_list) == "table" and table.concat(common.strings(n.kms_list), ", ") or nil },
    }
    for _, img in ipairs(type(n.images) == "table" and n.images or {}) do
      print(("  image %s (v%s)%s%s"):format(common.str(img.name), version(img.version),
        img.is_dev == true and " dev" or "",
        common.str(img.os_image_hash) ~= "-" and (" os_image_hash " .. img.os_image_hash) or ""))
    end
  end
  local kms = type(reply.kms_list) == "table" and reply.kms_list or {}
  if #kms > 0 then
    print()
    print("KMS:")
    for _, k in ipairs(kms) do
      local chain = common.str(k.chain_id) ~= "-"
      print(("  %s (id %s) %s %s, %s"):format(common.str(k.slug), common.str(k.id), common.str(k.url),
        common.str(k.version), chain and ("chain " .. common.str(k.chain_id) .. ", contract "
          .. common.str(k.kms_contract_address)) or "centralized"))
    end
  end
end

-- Runs the listing for ctx (already parsed). Returns the exit status.
function M.list(ctx)
  local _, extra = common.positionals(ctx, 0)
  if extra then return extra end
  local c, crc = common.client(ctx)
  if not c then return crc end
  local reply, msg, code, info = c:nodes()
  if not reply then return common.fail(ctx, msg, code, info) end
  if type(reply) ~= "table" then
    return common.fail(ctx, "GET teepods/available: the answer is not a JSON object", "EPROTO")
  end
  return common.output(ctx, reply, M.show)
end

return setmetatable(M, { __call = function(_, args)
  if args[1] == "list" or args[1] == "ls" then args = table.move(args, 2, #args, 1, {}) end
  local ctx, rc = common.parse(args, {}, M.HELP, "nodes")
  if not ctx then return rc end
  return M.list(ctx)
end })
