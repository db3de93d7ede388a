-- wrk script for figure 8: each thread is one organizer in a community of its own, on one connection
-- (wrk -t N -c N), awarding that community's seeded activities one after another.
--   wrk -t N -c N ... -s bench/award.lua http://HOST:PORT/ -- SLUG,FIRST,COUNT,TOKEN ... (one per thread)
-- An activity past COUNT is awarded again (a replay, 200): bench/ledger.py counts the awards posted and fails
-- the run if the requests outnumber them. done() prints one line "BENCH_JSON {...}" that bench/ledger.py parses.

local threads = {}

function setup(thread)
    thread:set("thread_no", #threads)
    table.insert(threads, thread)
end

function init(args)
    local slug, from, n, token = args[thread_no + 1]:match("^([^,]+),(%d+),(%d+),(.+)$")
    prefix = "/api/v1/communities/" .. slug .. "/activities/"
    first = tonumber(from)
    count = tonumber(n)
    sent = 0
    headers = { ["Authorization"] = "Bearer " .. token }
end

function request()
    local id = first + math.min(sent, count - 1)
    sent = sent + 1
    return wrk.format("POST", prefix .. id .. "/award", headers, "")
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'BENCH_JSON {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
        summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
        latency:percentile(50), latency:percentile(99)))
end
