-- scheduler.lua - what the scheduler needs in one round trip each: the leader lease,
-- the due migrations with every fact their promotion rules read, retention, and the
-- worker's hand-back on shutdown (mig_release).

-- leader_acquire(prefix; id, ttl_ms) -> 1 when `id` leads (now or still), else 0.
local function leader_acquire(keys, args)
    local p = prefix_of(keys)
    local id = args[1]
    if not id or id == '' or #id > NAME_MAX then raise('INVALID', 'id: 1 to ' .. NAME_MAX .. ' bytes') end
    local ttl = check_num('ttl_ms', args[2], 100, 3600000, true)
    local cur = redis.call('GET', k_leader(p))
    if cur == id then
        redis.call('PEXPIRE', k_leader(p), ttl)
        return 1
    end
    if cur then return 0 end
    redis.call('SET', k_leader(p), id, 'PX', ttl)
    return 1
end

-- leader_release(prefix; id) -> 1 when `id` led and no longer does.
local function leader_release(keys, args)
    local p = prefix_of(keys)
    if redis.call('GET', k_leader(p)) == args[1] then
        redis.call('DEL', k_leader(p))
        return 1
    end
    return 0
end

-- sched_due(prefix; limit) -> {now, next_at, scaling, platform_queue, inflight, due...}
-- `next_at` is the score of the first entry not yet due (0 when none), for the
-- scheduler's timer. `inflight` is a flat list from_node, to_node of every migration in
-- flight or promoted (leases and the ready queue). Each `due` entry is {record, server,
-- target node, cooldown_left_ms} for a scheduled migration whose not_before has come;
-- server and node are empty when gone.
local function sched_due(keys, args)
    local p = prefix_of(keys)
    local limit = check_num('limit', args[1], 1, 10000, true)
    local now = now_ms()
    local nxt = redis.call('ZRANGEBYSCORE', k_sched(p), '(' .. now, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    local inflight = {}
    local function add(id)
        local v = redis.call('HMGET', k_m(p, id), 'from_node_id', 'to_node_id')
        if v[1] then
            inflight[#inflight + 1] = v[1]
            inflight[#inflight + 1] = v[2]
        end
    end
    for _, id in ipairs(redis.call('ZRANGE', k_leases(p), 0, -1)) do add(id) end
    for _, id in ipairs(redis.call('LRANGE', k_ready(p), 0, -1)) do add(id) end
    local out = {now, nxt[2] and tonumber(nxt[2]) or 0, redis.call('EXISTS', k_scaling(p)),
        redis.call('LLEN', k_platform_queue(p)), inflight}
    local due = redis.call('ZRANGEBYSCORE', k_sched(p), '-inf', now, 'WITHSCORES', 'LIMIT', 0, limit)
    for i = 1, #due, 2 do
        local id = due[i]
        local rec = redis.call('HGETALL', k_m(p, id))
        if #rec > 0 then
            local h = table_of(rec)
            local sid, to = h.server_id, h.to_node_id
            local left = redis.call('PTTL', k_cooldown(p, sid))
            out[#out + 1] = {rec, redis.call('HGETALL', k_server(p, sid)), redis.call('HGETALL', k_node(p, to)),
                left > 0 and left or 0, due[i + 1]}
        end
    end
    return out
end

-- sched_touch(prefix; server_id ...) -> number made due. The world of these servers
-- changed (a player left, a node recovered): their scheduled migrations held back by a
-- rule are looked at again now, not when their recheck time comes. "*" touches every
-- one. A touch moves the look forward, never the start: an entry is due no earlier than
-- its not_before (a retry's backoff, an operator's start time), so a player joining does
-- not cut a backoff short. An entry already due gets a new score all the same, so that a
-- verdict the scheduler reached on facts read before the touch is not written (mig_block
-- compares the score it read). Every id is checked before the first write.
local function sched_touch(keys, args)
    local p = prefix_of(keys)
    local all = false
    for _, sid in ipairs(args) do
        if sid == '*' then all = true else check_id('server_id', sid) end
    end
    local now = now_ms()
    local n = 0
    local function touch(id)
        local score = redis.call('ZSCORE', k_sched(p), id)
        if not score then return end
        local at = math.max(now, tonumber(redis.call('HGET', k_m(p, id), 'not_before') or '0') or 0)
        score = tonumber(score)
        if score > at then
            redis.call('ZADD', k_sched(p), str(at), id)
            n = n + 1
        elseif score <= now then
            -- due already, but the scheduler may be deciding on facts read before this
            -- change: a new score (never the one it read) tells its mig_block so
            redis.call('ZADD', k_sched(p), str(math.max(at, score + 1)), id)
            n = n + 1
        end
    end
    if all then
        for _, id in ipairs(redis.call('ZRANGE', k_sched(p), 0, -1)) do touch(id) end
    else
        for _, sid in ipairs(args) do
            for _, id in ipairs(redis.call('ZRANGE', k_srv_idx(p, sid), 0, -1)) do touch(id) end
        end
    end
    return n
end

-- mig_trim(prefix; before_ms, limit) -> number deleted. Retention: deletes up to `limit`
-- ended migrations created before `before_ms`, with their index entries, and trims the
-- events stream to the same age.
local function mig_trim(keys, args)
    local p = prefix_of(keys)
    local before = check_num('before_ms', args[1], 0, 1e15, true)
    local limit = check_num('limit', args[2], 1, 100000, true)
    local n = 0
    for s in pairs(TERMINAL) do
        if n >= limit then break end
        local ids = redis.call('ZRANGEBYSCORE', k_status(p, s), '-inf', '(' .. before, 'LIMIT', 0, limit - n)
        for _, id in ipairs(ids) do
            local h = table_of(redis.call('HGETALL', k_m(p, id)))
            if h.id then
                purge(p, h)
                n = n + 1
            else
                redis.call('ZREM', k_status(p, s), id)
            end
        end
    end
    redis.call('XTRIM', k_events(p), 'MINID', '~', before)
    return n
end

-- mig_release(prefix; id, token, message) -> outcome. A worker that stops (SIGTERM)
-- hands a migration it rolled back to the schedule again, due now, without counting a
-- retry: nothing failed.
local function mig_release(keys, args)
    local p = prefix_of(keys)
    local h = own(p, check_id('id', args[1]), args[2])
    local msg = args[3] or 'handed back'
    if h.status ~= 'preparing' and h.status ~= 'transferring' then
        raise('ILLEGAL_TRANSITION', 'cannot release migration ' .. h.id .. ' in status ' .. h.status)
    end
    local now = now_ms()
    local ch = {not_before = now, progress_message = msg}
    lease_clear(p, h, ch)
    redis.call('ZADD', k_sched(p), str(now), h.id)
    transition(p, h, 'scheduled', now, ch)
    return outcome(h)
end

register('leader_acquire', leader_acquire)
register('leader_release', leader_release)
register('sched_due', sched_due, true)
register('mig_trim', mig_trim)
register('sched_touch', sched_touch)
register('mig_release', mig_release)
