-- wrk script: POST prepared (signature, body) pairs from $REQUESTS, each thread its own slice.
local requests = {}
local index = 0

function setup(thread)
  thread:set("id", thread_count or 0)
  thread_count = (thread_count or 0) + 1
end

function init(args)
  local n, i = 0, 0
  for line in io.lines(os.getenv("REQUESTS")) do
    if i % tonumber(os.getenv("THREADS") or "1") == id then
      local sig, body = line:match("^([^\t]+)\t(.*)$")
      n = n + 1
      requests[n] = wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Stripe-Signature"] = sig}, body)
    end
    i = i + 1
  end
end

function request()
  index = index % #requests + 1
  return requests[index]
end
