-- wrk script: POST single transfers of 1 point between two distinct random
-- wallets, each request with its own Idempotency-Key.
--   wrk ... -s bench/transfer.lua http://HOST:PORT/api/v1/communities/SLUG/entries -- FIRST WALLETS TAG TOKEN
-- done() prints one line "BENCH_JSON {...}" that bench/ledger.py parses.

local threads = {}

function setup(thread)
    -- Runs in the main Lua state: give every thread a number for its keys.
    thread:set("thread_no", #threads)
    table.insert(threads, thread)
end

function init(args)
    -- Runs in each thread's own Lua state (thread_no was set by setup).
    first = tonumber(args[1])
    wallets = tonumber(args[2])
    tag = args[3]
    sent = 0
    math.randomseed(os.time() * 1000 + thread_no)
    headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. args[4] }
end

function request()
    sent = sent + 1
    local a = first + math.random(0, wallets - 1)
    local b = first + (a - first + math.random(1, wallets - 1)) % wallets
    headers["Idempotency-Key"] = string.format("http:%s:%d:%d", tag, thread_no, sent)
    local body = string.format(
        '{"kind":"transfer","postings":[{"account_id":%d,"amount":-1},{"account_id":%d,"amount":1}]}', a, b)
    return wrk.format("POST", nil, headers, body)
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format(
        'BENCH_JSON {"requests":%d,"duration_us":%d,"errors":%d,"p50_us":%d,"p99_us":%d}\n',
        summary.requests, summary.duration, e.connect + e.read + e.write + e.status + e.timeout,
        latency:percentile(50), latency:percentile(99)))
end
