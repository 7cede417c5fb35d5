-- wrk script for bench/distinct.sh: get-session where every request carries one of many sessions,
-- so concurrent requests ask for different tokens (no two connections share one).
--   COOKIES_FILE   one Cookie header value per line
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  cookies = {}
  for line in io.lines(os.getenv("COOKIES_FILE")) do cookies[#cookies + 1] = line end
  i = tid * 7919
  ok, nulls, bad = 0, 0, 0
end
function request()
  i = i + 1
  return wrk.format("GET", nil, { ["Cookie"] = cookies[(i % #cookies) + 1] })
end
function response(status, headers, body)
  if status ~= 200 then bad = bad + 1 elseif body == "null" then nulls = nulls + 1 else ok = ok + 1 end
end
function done(summary, latency, requests)
  local o, n, b = 0, 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); n = n + t:get("nulls"); b = b + t:get("bad") end
  io.write(string.format("RESULT req_s=%.1f p50_ms=%.2f p99_ms=%.2f ok=%d null=%d bad=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000, o, n, b))
end
