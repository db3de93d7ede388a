-- wrk script for figures 9 and 10: each thread is one counter (its own clerk's device token, one connection:
-- wrk -t N -c N) confirming 3-item baskets, each paid by a payment code seeded for this run.
--   wrk -t N -c N ... -s bench/basket.lua http://HOST:PORT/api/v1/communities/SLUG/counter/redemptions \
--       -- CODES_FILE FIRST_GOOD GOODS HOT TAG TOKEN ... (one token per thread)
-- CODES_FILE holds one 18-digit code a line; thread t uses lines t+1, t+1+N, t+1+2N... HOT = 0: three distinct
-- random goods of FIRST_GOOD .. FIRST_GOOD+GOODS-1; otherwise every basket holds good HOT and two others.
-- Past its last code a thread sends its last basket again with the same key (a replay, 200): bench/ledger.py
-- counts the receipts written and fails the run if the requests outnumber them.
-- done() prints one line "BENCH_JSON {...}" that bench/ledger.py parses.

local threads = {}

function setup(thread)
    thread:set("thread_no", #threads)
    table.insert(threads, thread)
end

function init(args)
    local counters = #args - 5
    codes = {}
    local n = 0
    for line in io.lines(args[1]) do
        if n % counters == thread_no then
            table.insert(codes, line)
        end
        n = n + 1
    end
    first = tonumber(args[2])
    goods = tonumber(args[3])
    hot = tonumber(args[4])
    tag = args[5]
    counter = string.format("%d号柜台", thread_no + 1)
    sent = 0
    math.randomseed(os.time() * 1000 + thread_no)
    headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. args[6 + thread_no] }
end

-- k distinct goods of first .. first+goods-1, none of them `except`
local function pick(k, except)
    local chosen, seen = {}, { [except] = true }
    while #chosen < k do
        local g = first + math.random(0, goods - 1)
        if not seen[g] then
            seen[g] = true
            table.insert(chosen, g)
        end
    end
    return chosen
end

function request()
    local n = math.min(sent, #codes - 1)
    sent = sent + 1
    math.randomseed(n * 64 + thread_no)  -- a replay sends the same basket as the first try
    local lines
    if hot > 0 then
        lines = pick(2, hot)
        table.insert(lines, math.random(1, 3), hot)
    else
        lines = pick(3, 0)
    end
    headers["Idempotency-Key"] = string.format("basket:%s:%d:%d", tag, thread_no, n)
    local body = string.format(
        '{"payment_code":"%s","counter":"%s","lines":[{"good_id":%d},{"good_id":%d},{"good_id":%d}]}',
        codes[n + 1], counter, lines[1], lines[2], lines[3])
    return wrk.format("POST", nil, headers, body)
end

-- The first refusal of each thread, so a failed run says why (wrk only counts them).
function response(status, headers, body)
    if status >= 300 and not shown then
        shown = true
        io.write(string.format("BENCH_REFUSED %d %s\n", status, body))
    end
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'BENCH_JSON {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
        summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
        latency:percentile(50), latency:percentile(99)))
end
