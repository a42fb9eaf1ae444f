-- wrk script: etcd v3 gateway POST /v3/kv/txn with 64 puts on unique keys, 256-byte values
-- (keys and values base64 in JSON, as the gateway wants them).
local b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local function enc(data)
  return ((data:gsub('.', function(x)
    local r, byte = '', x:byte()
    for i = 8, 1, -1 do r = r .. (byte % 2 ^ i - byte % 2 ^ (i - 1) > 0 and '1' or '0') end
    return r end) .. '0000'):gsub('%d%d?%d?%d?%d?%d?', function(x)
      if #x < 6 then return '' end
      local c = 0
      for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2 ^ (6 - i) or 0) end
      return b64:sub(c + 1, c + 1) end) .. ({ '', '==', '=' })[#data % 3 + 1])
end
local value = enc(string.rep('v', 256))
-- Keys are an 18-byte per-request prefix plus a 3-byte suffix: both multiples of 3 bytes, so
-- base64(prefix .. suffix) = base64(prefix) .. base64(suffix), and the load generator encodes
-- one prefix per request instead of 64 keys (it must not be the bottleneck).
local suffixes = {}
for i = 1, 64 do suffixes[i] = enc(string.format("/%02d", i)) end
local counter, threads = 0, 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
request = function()
  counter = counter + 1
  local prefix = enc(string.format("txn/%02d/%011d", tid or 0, counter))
  local ops = {}
  for i = 1, 64 do
    ops[i] = '{"requestPut":{"key":"' .. prefix .. suffixes[i] .. '","value":"' .. value .. '"}}'
  end
  return wrk.format("POST", "/v3/kv/txn", { ["Content-Type"] = "application/json" },
    '{"success":[' .. table.concat(ops, ",") .. ']}')
end
