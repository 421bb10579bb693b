-- lease.lua - a migration from the schedule to its end: the scheduler's mig_promote and
-- mig_block, the worker's mig_claim, mig_heartbeat, mig_progress, mig_advance,
-- mig_complete and mig_fail, and mig_recover for leases whose worker died.
--
-- A worker's writes carry the fencing token mig_claim gave it. mig_recover and a new
-- claim replace the token, so a worker that lost its lease is refused (STALE_LEASE) from
-- then on, whatever it believes.

local PROGRESS_FIELDS = fields('data_sync_progress', 'progress_message', 'phase_step')
local BLOCK_FIELDS = fields('blocked_reason', 'data_sync_progress', 'phase_step', 'not_before')
local COMPLETE_FIELDS = fields('started_at', 'savings_eur_hour', 'savings_eur_month', 'players_transferred',
    'player_downtime_ms', 'warning')
local FAIL_FIELDS = fields('retry_count', 'max_retries')
local CLAIM_FIELDS = fields('recovering', 'started_at')

local function progress_event(p, h, now)
    emit(p, {type = 'migration.progress', migration_id = h.id, server_id = h.server_id,
        status = h.status, progress = tonumber(h.data_sync_progress or '0'),
        message = h.progress_message or cjson.null, phase_step = h.phase_step or cjson.null,
        timestamp = rfc3339(now)})
end

-- mig_promote(prefix; id) -> 1. Moves a due scheduled migration from the schedule to
-- the ready queue, where a worker claims it; the scheduler has checked the safety rules.
local function mig_promote(keys, args)
    local p = prefix_of(keys)
    local h = read(p, check_id('id', args[1]))
    if h.status ~= 'scheduled' or not redis.call('ZSCORE', k_sched(p), h.id) then
        raise('ILLEGAL_TRANSITION', 'cannot promote migration ' .. h.id .. ' in status ' ..
            h.status .. (h.status == 'scheduled' and ' (already queued)' or ''))
    end
    redis.call('ZREM', k_sched(p), h.id)
    redis.call('RPUSH', k_ready(p), h.id)
    apply(p, h.id, h, {blocked_reason = false, updated_at = now_ms()})
    return 1
end

-- mig_block(prefix; id, reason, recheck_ms [, seen_score]) -> 1, or 0 when the entry's
-- score is no longer `seen_score` (the one the scheduler read with sched_due: a touch
-- since then makes its verdict stale, and nothing is written). Holds a scheduled migration back:
-- records why (shown by the API and the dashboard) and when to look again. The recheck
-- time is only the entry's score in `sched`, never later than needed and never before
-- the migration's not_before: not_before is the time it must not start before (a
-- backoff, an operator's start time), which a rule's recheck must not overwrite, or a
-- touch would cut it short. Emits a progress event only when the reason changes, so a
-- long wait is one event, not one per scheduler tick.
local function mig_block(keys, args)
    local p = prefix_of(keys)
    local h = read(p, check_id('id', args[1]), BLOCK_FIELDS)
    local reason = args[2] or ''
    local recheck = check_num('recheck_at', args[3], 0, 1e15, true)
    if h.status ~= 'scheduled' then
        raise('ILLEGAL_TRANSITION', 'cannot block migration ' .. h.id .. ' in status ' .. h.status)
    end
    if #reason == 0 or #reason > NAME_MAX then raise('INVALID', 'reason: 1 to ' .. NAME_MAX .. ' bytes') end
    local seen = args[4] and check_num('seen_score', args[4], 0, 1e15, false)
    if seen and tonumber(redis.call('ZSCORE', k_sched(p), h.id) or '-1') ~= seen then
        -- touched since the scheduler read its facts (a player left, a node came back): the
        -- verdict is stale, and postponing would lose that wake-up; the next tick decides
        return 0
    end
    redis.call('ZADD', k_sched(p), str(math.max(recheck, tonumber(h.not_before or '0') or 0)), h.id)
    local changed = h.blocked_reason ~= reason
    local now = now_ms()
    apply(p, h.id, h, {blocked_reason = reason, updated_at = now})
    if changed then
        h.progress_message = reason
        progress_event(p, h, now)
    end
    return 1
end

-- mig_claim(prefix; worker, lease_ms) -> record, or nil when the queue is empty.
-- Takes the oldest entry off the ready queue. A scheduled migration becomes preparing;
-- one handed back by mig_recover (in flight, `recovering` set) keeps its status for the
-- new worker to roll back or finish. Either way it gets a lease and a fresh fencing
-- token. Entries cancelled or deleted while queued are skipped.
local function mig_claim(keys, args)
    local p = prefix_of(keys)
    local worker = args[1]
    if not worker or worker == '' or #worker > NAME_MAX then raise('INVALID', 'worker: 1 to ' .. NAME_MAX .. ' bytes') end
    local lease_ms = check_num('lease_ms', args[2], 100, 86400000, true)
    for _ = 1, CLAIM_SKIP_MAX do
        local id = redis.call('LPOP', k_ready(p))
        if not id then return nil end
        local h = read(p, id, CLAIM_FIELDS, true)
        if h then
            local fresh = h.status == 'scheduled'
            if fresh or (IN_FLIGHT[h.status] and h.recovering) then
                local now = now_ms()
                local token = redis.call('INCR', k_lease_seq(p))
                local exp = now + lease_ms
                redis.call('ZADD', k_leases(p), str(exp), id)
                local ch = {lease_owner = worker, lease_token = token, lease_expires_at = exp,
                    updated_at = now}
                if fresh then
                    ch.data_sync_progress = 0
                    ch.phase_step = false
                    ch.not_before = false
                    ch.blocked_reason = false
                    ch.progress_message = false
                    transition(p, h, 'preparing', now, ch)
                else
                    apply(p, id, h, ch)
                end
                -- the hash as it is now, straight from Redis: cheaper than rebuilding it
                return redis.call('HGETALL', k_m(p, id))
            end
        end
    end
    return nil
end

-- mig_heartbeat(prefix; id, token, lease_ms) -> new expiry (ms). Renews a lease; only
-- the current token may.
local function mig_heartbeat(keys, args)
    local p = prefix_of(keys)
    local h = own(p, check_id('id', args[1]), args[2])
    local lease_ms = check_num('lease_ms', args[3], 100, 86400000, true)
    local exp = now_ms() + lease_ms
    redis.call('ZADD', k_leases(p), str(exp), h.id)
    redis.call('HSET', k_m(p, h.id), 'lease_expires_at', str(exp))
    return exp
end

-- mig_progress(prefix; id, token, field, value, ...) -> 1. Records what a worker
-- reached (data_sync_progress, progress_message, phase_step, counts) and emits
-- migration.progress.
local function mig_progress(keys, args)
    local p = prefix_of(keys)
    local h = own(p, check_id('id', args[1]), args[2], PROGRESS_FIELDS)
    local now = now_ms()
    local ch = reported(args, 3, {updated_at = now})
    if ch.cleanup_node or ch.cleanup_room then raise('INVALID', 'cleanup_*: only with mig_complete') end
    apply(p, h.id, h, ch)
    progress_event(p, h, now)
    return 1
end

-- Moves a server in the inventory to the node it now runs on, and tells the
-- dashboard with the same event as server_put.
local function server_moved(p, server_id, node_id, now)
    local key = k_server(p, server_id)
    if redis.call('HEXISTS', key, 'node_id') == 0 then return end
    redis.call('HSET', key, 'node_id', node_id)
    inventory_event(p, 'server.updated', 'server_id', server_id, table_of(redis.call('HGETALL', key)), now)
end

-- mig_advance(prefix; id, token, to [, field, value ...]) -> 1.
-- preparing -> transferring, transferring -> completing, with optional reported fields.
-- Into completing, the players are on the new server: the inventory says so in the same
-- step (the server's node_id becomes the target), so that what the worker writes at its
-- point of no return is fenced by its token like every other write, and a recovering
-- worker finds it done.
local function mig_advance(keys, args)
    local p = prefix_of(keys)
    local h = own(p, check_id('id', args[1]), args[2], fields('to_node_id'))
    local to = args[3]
    if to ~= 'transferring' and to ~= 'completing' then
        raise('INVALID', 'to: a worker advances to transferring or completing')
    end
    check_edge(h, to, 'advance to ' .. to .. ' the')
    local ch = reported(args, 4, {})
    local now = now_ms()
    transition(p, h, to, now, ch)
    if to == 'completing' then server_moved(p, h.server_id, h.to_node_id, now) end
    return 1
end

-- mig_complete(prefix; id, token, cooldown_ms [, field, value ...]) -> outcome.
-- completing -> completed: duration from the first start, the server freed and in its
-- cooldown, the lease ended, stats counted, migration.completed emitted. A `warning`
-- field records a problem of the completing phase that did not undo the move. The
-- error of an earlier attempt is cleared: a completed record does not read as failed. A
-- `cleanup_node` names the node whose old container could not be removed: the clean-up
-- item is written with the completion (cleanup.lua).
local function mig_complete(keys, args)
    local p = prefix_of(keys)
    local h = own(p, check_id('id', args[1]), args[2], COMPLETE_FIELDS)
    local cooldown = check_num('cooldown_ms', args[3], 0, 1e10, true)
    check_edge(h, 'completed', 'complete')
    local now = now_ms()
    local ch = reported(args, 4, {})
    if ch.cleanup_node then check_id('cleanup_node', ch.cleanup_node) end
    -- the room is the clean-up item's, not a field of the record
    local room = ch.cleanup_room
    ch.cleanup_room = nil
    local started = tonumber(h.started_at or now)
    local dur = now - started
    ch.duration_seconds = string.format('%.3f', dur / 1000)
    ch.data_sync_progress = 100
    -- the record tells the outcome: an earlier attempt's error stays in the events
    -- and the logs, not on a success
    ch.error_message = false
    ch.blocked_reason = false
    lease_clear(p, h, ch)
    release_server(p, h, cooldown)
    transition(p, h, 'completed', now, ch)
    if ch.cleanup_node or room then
        cleanup_add(p, h, ch.cleanup_node, room, ch.warning or 'left after completion', now)
    end
    stat(p, 'completed_total', 1)
    stat(p, 'duration_ms_sum', dur)
    redis.call('HINCRBYFLOAT', k_stats(p), 'savings_eur_hour_sum', h.savings_eur_hour or '0')
    redis.call('HINCRBYFLOAT', k_stats(p), 'savings_eur_month_sum', h.savings_eur_month or '0')
    emit(p, {type = 'migration.completed', migration_id = h.id, server_id = h.server_id,
        duration_seconds = tonumber(h.duration_seconds),
        players_transferred = tonumber(h.players_transferred or '0'),
        player_downtime_ms = h.player_downtime_ms and tonumber(h.player_downtime_ms) or cjson.null,
        success = h.warning == nil, warning = h.warning or cjson.null,
        cleanup_node = ch.cleanup_node or cjson.null, timestamp = rfc3339(now)})
    return outcome(h)
end

-- mig_fail(prefix; id, token, error, fail_reason, rollback_success, retryable,
--          backoff_ms, cooldown_ms) -> outcome.
-- A failed preparing or transferring phase, after its rollback. With `retryable` = 1
-- and retries left it goes back to scheduled (retry_count + 1, not before now +
-- backoff, blocked_reason saying so); otherwise it ends failed with error_message, the
-- server freed and in its cooldown, and migration.failed emitted. fail_reason is a
-- short cause counted in stats:fail_reasons ("sync", "target_unhealthy", "lease_lost",
-- ...).
local function mig_fail(keys, args)
    local p = prefix_of(keys)
    local h = own(p, check_id('id', args[1]), args[2], FAIL_FIELDS)
    local err = args[3] or ''
    local why = args[4] or ''
    if err == '' or #err > NOTES_MAX then raise('INVALID', 'error: 1 to ' .. NOTES_MAX .. ' bytes') end
    if not string.match(why, ID_PATTERN) or #why > NAME_MAX then
        raise('INVALID', 'fail_reason: a short word of A-Z a-z 0-9 _ . : -')
    end
    local rb = check_num('rollback_success', args[5], 0, 1, true)
    local retryable = check_num('retryable', args[6], 0, 1, true) == 1
    local backoff = check_num('backoff_ms', args[7], 0, 1e10, true)
    local cooldown = check_num('cooldown_ms', args[8], 0, 1e10, true)
    check_edge(h, 'failed', 'fail')
    local now = now_ms()
    local ch = {error_message = err, rollback_success = rb}
    lease_clear(p, h, ch)
    if retryable and tonumber(h.retry_count or '0') < tonumber(h.max_retries or '0') then
        local nb = now + backoff
        ch.retry_count = tonumber(h.retry_count or '0') + 1
        ch.not_before = nb
        ch.progress_message = 'retry ' .. ch.retry_count .. ' of ' .. h.max_retries .. ' after: ' .. err
        -- why it waits, until the scheduler promotes it or holds it for a rule
        ch.blocked_reason = 'retry ' .. ch.retry_count .. ' of ' .. h.max_retries .. ' at ' ..
            string.sub(rfc3339(nb), 12, 19) .. ' UTC (last error: ' .. string.sub(err, 1, 200) .. ')'
        redis.call('ZADD', k_sched(p), str(nb), h.id)
        stat(p, 'retried_total', 1)
        transition(p, h, 'scheduled', now, ch)
        -- the failed attempt stays in the timeline: a completed record carries no error
        emit(p, {type = 'migration.retry', migration_id = h.id, server_id = h.server_id,
            attempt = ch.retry_count, max_retries = tonumber(h.max_retries), error = err, fail_reason = why,
            rollback_success = rb == 1, not_before = rfc3339(nb), timestamp = rfc3339(now)})
        return outcome(h)
    end
    release_server(p, h, cooldown)
    transition(p, h, 'failed', now, ch)
    stat(p, 'failed_total', 1)
    redis.call('HINCRBY', k_fail_reasons(p), why, 1)
    emit(p, {type = 'migration.failed', migration_id = h.id, server_id = h.server_id,
        error = err, fail_reason = why, rollback_success = rb == 1, timestamp = rfc3339(now)})
    return outcome(h)
end

-- mig_recover(prefix; limit) -> ids. Takes up to `limit` migrations whose lease expired
-- (their worker died or hung), replaces their fencing token so the old worker is shut
-- out, marks them `recovering` and puts them at the head of the ready queue, where
-- another worker claims them to roll back or finish their phase. Atomic: two
-- recoverers never take the same lease.
local function mig_recover(keys, args)
    local p = prefix_of(keys)
    local limit = check_num('limit', args[1], 1, 10000, true)
    local now = now_ms()
    local ids = redis.call('ZRANGEBYSCORE', k_leases(p), '-inf', now, 'LIMIT', 0, limit)
    local taken = {}
    for _, id in ipairs(ids) do
        redis.call('ZREM', k_leases(p), id)
        local r = redis.call('HGETALL', k_m(p, id))
        if #r > 0 then
            local h = table_of(r)
            if IN_FLIGHT[h.status] then
                local token = redis.call('INCR', k_lease_seq(p))
                apply(p, id, h, {recovering = 1, lease_token = token, lease_owner = false,
                    lease_expires_at = false, updated_at = now,
                    progress_message = 'worker lost in ' .. h.status .. '; waiting for recovery'})
                redis.call('LPUSH', k_ready(p), id)
                progress_event(p, h, now)
                taken[#taken + 1] = id
            end
        end
    end
    return taken
end

register('mig_promote', mig_promote)
register('mig_block', mig_block)
register('mig_claim', mig_claim)
register('mig_heartbeat', mig_heartbeat)
register('mig_progress', mig_progress)
register('mig_advance', mig_advance)
register('mig_complete', mig_complete)
register('mig_fail', mig_fail)
register('mig_recover', mig_recover)
