-- wrk script: Legate/Consul PUT /v1/txn with 64 `set` operations on unique keys, 256-byte
-- values. The values are base64 already (the same string for every key).
local value = string.rep('dnZ2', 85) .. 'dg=='  -- base64 of 256 'v' bytes
local counter, threads = 0, 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
request = function()
  counter = counter + 1
  local ops = {}
  for i = 1, 64 do
    ops[i] = string.format('{"KV":{"Verb":"set","Key":"txn/%02d/%011d/%02d","Value":"%s"}}',
      tid or 0, counter, i, value)
  end
  return wrk.format("PUT", "/v1/txn", { ["Content-Type"] = "application/json" },
    "[" .. table.concat(ops, ",") .. "]")
end
