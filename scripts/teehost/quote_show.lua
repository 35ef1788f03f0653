-- teehost.quote_show: human-readable output of `teehost quote show|verify`.
local M = {}

local ORDER_TD = { "mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "reportdata", "mrconfigid", "mrowner",
  "mrownerconfig", "mrseam", "mrsignerseam", "seam_attributes", "td_attributes", "xfam", "tee_tcb_svn",
  "tee_tcb_svn2", "mrservicetd" }
local ORDER_SGX = { "mrenclave", "mrsigner", "isvprodid", "isvsvn", "reportdata", "cpusvn", "miscselect",
  "attributes", "configid", "configsvn", "isvextprodid", "isvfamilyid" }

local function field(name, value)
  print(("  %-16s %s"):format(name, tostring(value)))
end

local function report(r, tee)
  for _, k in ipairs(tee == "SGX" and ORDER_SGX or ORDER_TD) do
    if r[k] ~= nil then field(k, r[k]) end
  end
end

local BODY = { td10 = "TD report 1.0", td15 = "TD report 1.5", sgx = "SGX enclave report" }

function M.quote(q)
  print(("%s quote v%d (%s), %d bytes, %d signed%s"):format(q.tee, q.version, BODY[q.body] or q.body,
    q.size, q.signed_len, q.trailing > 0 and (", %d trailing bytes"):format(q.trailing) or ""))
  print("report:")
  report(q.report, q.tee)
  print("quoting enclave:")
  field("mrenclave", q.qe_report.mrenclave)
  field("mrsigner", q.qe_report.mrsigner)
  field("isvprodid", q.qe_report.isvprodid)
  field("isvsvn", q.qe_report.isvsvn)
  field("attestation key", q.attestation_key)
  field("user data", q.user_data)
  if q.pck then
    print("PCK certificate:")
    field("fmspc", q.pck.fmspc)
    field("ca", q.pck.ca)
    field("cpusvn", q.pck.cpusvn)
    field("pcesvn", q.pck.pcesvn)
    field("ppid", q.pck.ppid)
  else
    field("cert type", q.cert_type)
  end
end

function M.result(r, now)
  local adv = #r.advisory_ids > 0 and table.concat(r.advisory_ids, ", ") or "none"
  print(("verified: %s quote v%d (%s)"):format(r.tee, r.version, BODY[r.body] or r.body))
  print(("status:   %s (platform %s, QE %s)"):format(r.status, r.platform_status.status, r.qe_status.status))
  print(("advisories: %s"):format(adv))
  print(("platform: FMSPC %s, TCB date %s, evaluation data number %d%s"):format(r.fmspc, r.tcb_date,
    r.tcb_evaluation_data_number, now and (", checked at unix time %d"):format(now) or ""))
  print("measurements:")
  report(r.report, r.tee)
end

return M
