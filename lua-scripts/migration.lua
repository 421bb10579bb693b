-- migration.lua - the life of a migration before a worker takes it, and its removal:
-- mig_create, mig_approve, mig_schedule, mig_cancel, mig_delete, mig_get.

-- Fields mig_create takes from ARGV as name, value pairs.
local CREATE_FIELDS = {
    id = true, server_id = true, from_node_id = true, to_node_id = true, reason = true,
    triggered_by = true, savings_eur_hour = true, savings_eur_month = true, notes = true,
    level = true, status = true, max_retries = true, not_before = true, start_now = true,
}

-- mig_create(prefix; field, value, ...) -> record
-- Creates a migration `suggested` (cost optimization, level 1) or `scheduled` (level 2
-- or manual). Fills from_node and the names from the inventory; refuses a server that
-- does not exist or does not run on from_node_id, an unknown target, a server with a
-- non-terminal migration (ACTIVE_EXISTS) or in its cooldown (COOLDOWN).
local function mig_create(keys, args)
    local p = prefix_of(keys)
    local a = {}
    for i = 1, #args, 2 do
        local k = args[i]
        if not CREATE_FIELDS[k] then raise('INVALID', tostring(k) .. ': unknown field') end
        a[k] = args[i + 1]
    end
    local id = check_id('id', a.id)
    local sid = check_id('server_id', a.server_id)
    local to = check_id('to_node_id', a.to_node_id)
    local reason = a.reason or 'manual'
    if not REASONS[reason] then
        raise('INVALID', 'reason: must be one of ' .. REASON_LIST)
    end
    local trig = a.triggered_by or 'admin'
    if not TRIGGERS[trig] then raise('INVALID', 'triggered_by: must be one of ' .. TRIGGER_LIST) end
    local status = a.status or 'scheduled'
    if status ~= 'suggested' and status ~= 'scheduled' then
        raise('INVALID', 'status: a migration is created suggested or scheduled')
    end
    local level = a.level and check_num('level', a.level, 0, 2, true) or 0
    local hour = a.savings_eur_hour and check_num('savings_eur_hour', a.savings_eur_hour, 0, 1e9) or 0
    local month = a.savings_eur_month and check_num('savings_eur_month', a.savings_eur_month, 0, 1e12)
    local retries = a.max_retries and check_num('max_retries', a.max_retries, 0, 20, true) or 3
    if a.notes and #a.notes > NOTES_MAX then raise('INVALID', 'notes: longer than ' .. NOTES_MAX .. ' bytes') end
    local start_now = a.start_now and check_num('start_now', a.start_now, 0, 1, true) == 1
    local nb = a.not_before and check_num('not_before', a.not_before, 0, 1e15, true)

    if redis.call('EXISTS', k_m(p, id)) == 1 then raise('EXISTS', 'migration ' .. id .. ' exists') end
    local srv = redis.call('HMGET', k_server(p, sid), 'node_id', 'name')
    if not srv[1] then raise('NO_SERVER', 'server ' .. sid .. ' not found') end
    local from = srv[1]
    if a.from_node_id and a.from_node_id ~= from then
        raise('INVALID', 'from_node_id: server ' .. sid .. ' runs on node ' .. from .. ', not ' .. a.from_node_id)
    end
    if to == from then raise('INVALID', 'to_node_id: server ' .. sid .. ' already runs on node ' .. to) end
    local to_name = redis.call('HGET', k_node(p, to), 'name')
    if not to_name then raise('NO_NODE', 'node ' .. to .. ' not found') end
    local from_name = redis.call('HGET', k_node(p, from), 'name')
    local other = redis.call('GET', k_active(p, sid))
    if other then
        local st = redis.call('HGET', k_m(p, other), 'status') or 'unknown'
        raise('ACTIVE_EXISTS', 'server ' .. sid .. ' has migration ' .. other .. ' in status ' .. st)
    end
    local left = redis.call('PTTL', k_cooldown(p, sid))
    if left > 0 then
        local s = math.ceil(left / 1000)
        raise('COOLDOWN', 'server ' .. sid .. ' is in its cooldown after a migration: ' ..
            math.ceil(s / 60) .. ' min left (retry after ' .. s .. ' s)')
    end

    -- every refusal is above: from here on, only writes
    local now = now_ms()
    local h = {
        id = id, server_id = sid, server_name = srv[2] or sid, from_node_id = from,
        from_node_name = from_name or from, to_node_id = to, to_node_name = to_name,
        status = status, reason = reason, triggered_by = trig,
        savings_eur_hour = tostring(hour),
        savings_eur_month = month and tostring(month) or string.format('%.2f', math.floor(hour * 73000 + 0.5) / 100),
        created_at = str(now), updated_at = str(now), retry_count = '0',
        max_retries = str(retries), data_sync_progress = '0',
    }
    if level > 0 then h.level = str(level) end
    if a.notes and a.notes ~= '' then h.notes = a.notes end
    if start_now then h.start_now = '1' end
    if status == 'scheduled' then
        nb = nb or now
        h.scheduled_at = str(now)
        redis.call('ZADD', k_sched(p), str(nb), id)
    end
    -- a suggestion keeps its start time for when it is scheduled (mig_schedule)
    if nb then h.not_before = str(nb) end
    local pairs_ = flat(h)
    redis.call('HSET', k_m(p, id), unpack(pairs_))
    redis.call('ZADD', k_all(p), str(now), id)
    redis.call('ZADD', k_status(p, status), str(now), id)
    redis.call('ZADD', k_srv_idx(p, sid), str(now), id)
    redis.call('ZADD', k_reason(p, reason), str(now), id)
    redis.call('SET', k_active(p, sid), id)
    stat(p, 'created_total', 1)
    emit(p, {type = 'migration.created', migration_id = id, server_id = sid,
        server_name = h.server_name, from_node_id = from, from_node_name = h.from_node_name,
        to_node_id = to, to_node_name = to_name, status = status, reason = reason,
        triggered_by = trig, savings_eur_hour = hour, savings_eur_month = tonumber(h.savings_eur_month),
        level = level, timestamp = rfc3339(now)})
    return pairs_
end

-- mig_approve(prefix; id [, not_before_ms]) -> record. suggested -> approved; with a
-- not_before, the operator's start time, kept for mig_schedule.
local function mig_approve(keys, args)
    local p = prefix_of(keys)
    local h = load(p, check_id('id', args[1]))
    local nb = args[2] and check_num('not_before', args[2], 0, 1e15, true)
    check_edge(h, 'approved', 'approve')
    transition(p, h, 'approved', now_ms(), nb and {not_before = nb} or nil)
    return flat(h)
end

-- mig_schedule(prefix; id [, not_before_ms]) -> record. suggested|approved -> scheduled;
-- the scheduler may promote it from not_before on: the one given, else the one set at
-- creation or approval, else now.
local function mig_schedule(keys, args)
    local p = prefix_of(keys)
    local h = load(p, check_id('id', args[1]))
    local nb = args[2] and check_num('not_before', args[2], 0, 1e15, true)
    nb = nb or (h.not_before and tonumber(h.not_before))
    if IN_FLIGHT[h.status] then
        raise('ILLEGAL_TRANSITION', 'cannot schedule migration ' .. h.id .. ' in status ' ..
            h.status .. '; only its worker sends it back, as a retry')
    end
    check_edge(h, 'scheduled', 'schedule')
    local now = now_ms()
    nb = nb or now
    redis.call('ZADD', k_sched(p), str(nb), h.id)
    transition(p, h, 'scheduled', now, {not_before = nb})
    return flat(h)
end

-- mig_cancel(prefix; id) -> record. suggested|approved|scheduled -> cancelled; takes it
-- off the schedule and the ready queue and frees the server. No cooldown: it never ran.
local function mig_cancel(keys, args)
    local p = prefix_of(keys)
    local h = load(p, check_id('id', args[1]))
    check_edge(h, 'cancelled', 'cancel')
    redis.call('ZREM', k_sched(p), h.id)
    redis.call('LREM', k_ready(p), 0, h.id)
    release_server(p, h, 0)
    stat(p, 'cancelled_total', 1)
    transition(p, h, 'cancelled', now_ms(), {blocked_reason = false, not_before = false})
    return flat(h)
end

-- mig_delete(prefix; id) -> 1. Removes an ended migration and its index entries;
-- NOT_ENDED while it is not terminal.
local function mig_delete(keys, args)
    local p = prefix_of(keys)
    local h = load(p, check_id('id', args[1]))
    if not TERMINAL[h.status] then
        raise('NOT_ENDED', 'migration ' .. h.id .. ' is ' .. h.status .. '; only an ended migration can be deleted')
    end
    purge(p, h)
    emit(p, {type = 'migration.deleted', migration_id = h.id, server_id = h.server_id,
        timestamp = rfc3339(now_ms())})
    return 1
end

-- mig_get(prefix; id) -> record, or NOT_FOUND.
local function mig_get(keys, args) return hash_of(keys, args[1], k_m, 'NOT_FOUND', 'migration') end

-- mig_active(prefix; server_id) -> the server's non-terminal migration, or nil; NO_SERVER
-- for an unknown server.
local function mig_active(keys, args)
    local p = prefix_of(keys)
    local sid = check_id('server_id', args[1])
    if redis.call('EXISTS', k_server(p, sid)) == 0 then raise('NO_SERVER', 'server ' .. sid .. ' not found') end
    local id = redis.call('GET', k_active(p, sid))
    if not id then return nil end
    local r = redis.call('HGETALL', k_m(p, id))
    if #r == 0 then return nil end
    return r
end

register('mig_create', mig_create)
register('mig_approve', mig_approve)
register('mig_schedule', mig_schedule)
register('mig_cancel', mig_cancel)
register('mig_delete', mig_delete)
register('mig_get', mig_get, true)
register('mig_active', mig_active, true)
