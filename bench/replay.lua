-- wrk script: each thread replays its own file of pre-signed WeChat pushes, one request per push.
-- Requests are separated by a line "\n--8<--\n"; every push has a unique MsgId.
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local prefix = args[1]
  local f = assert(io.open(prefix .. "-" .. id .. ".txt", "rb"))
  local data = f:read("*a")
  f:close()
  reqs = {}
  for chunk in string.gmatch(data, "(.-)\n%-%-8<%-%-\n") do
    table.insert(reqs, chunk)
  end
  index = 0
end

function request()
  index = index + 1
  if index > #reqs then index = 1 end
  return reqs[index]
end

function done(summary, latency, requests)
  io.write(string.format('WRK_JSON {"requests": %d, "duration_us": %d, "errors": %d, "non2xx": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
