-- wrk script: POST pre-built Telegram updates, one JSON body per line of a file.
-- Usage: wrk -t T -c C -d D -s bench/openloop.lua URL -- BODIES_FILE T SECRET
-- Thread k takes lines k, k+T, k+2T…: the file is written round by round over the same
-- visitors, so one visitor's answers stay on one thread, in order, far apart.
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local nthreads = tonumber(args[2])
  bodies = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == id then bodies[#bodies + 1] = line end
    i = i + 1
  end
  n = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["X-Telegram-Bot-Api-Secret-Token"] = args[3]
end

function request()
  n = n + 1
  if n > #bodies then
    -- out of fresh updates: replays are dropped by the bot as duplicates, which would
    -- flatter the figures, so the harness makes the file longer than any run needs
    n = 1
  end
  return wrk.format(nil, nil, nil, bodies[n])
end
