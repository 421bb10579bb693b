-- cleanup.lua - what a completed migration could not remove: the old copy of its server
-- (its container on the source node) and its waiting room at the proxy. A durable item
-- per migration, claimed by workers under a lease with a fencing token and tried again
-- with a backoff until the agent or the proxy confirms each is gone.
--
-- A completed migration keeps the new server and its players whatever happens to the old
-- container; but an old copy left running answers anyone who connects to its node,
-- holds RAM and disk there, and keeps the node the optimizer meant to empty paid for. So
-- mig_complete, given a `cleanup_node` or a `cleanup_room`, writes the item with the
-- completion, atomically: it cannot be forgotten. Keys: `cleanups` (zset: migration id
-- -> when it may be tried next, which is also when a claim of it expires) and
-- `cleanup:<migration id>` (hash: migration_id, server_id, node_id ('' when only a room
-- is left), room ('' when none), error, attempts, created_at, lease_owner, lease_token).
-- The record keeps `cleanup_node` until the copy is gone, so the API and the dashboard
-- can say "old copy on Node-1 still running".

local function k_cleanups(p) return p .. 'cleanups' end
local function k_cleanup(p, id) return p .. 'cleanup:' .. id end

-- Writes the clean-up item of migration `h`, due now: its old copy on `node_id` and/or
-- its waiting room `room` (either may be nil). Called by mig_complete with the completion.
local function cleanup_add(p, h, node_id, room, err, now)
    redis.call('HSET', k_cleanup(p, h.id), 'migration_id', h.id, 'server_id', h.server_id, 'node_id',
        node_id or '', 'room', room or '', 'error', err, 'attempts', '0', 'created_at', str(now))
    redis.call('ZADD', k_cleanups(p), str(now), h.id)
end

local function cleanup_event(p, c, done, now)
    emit(p, {type = 'migration.cleanup', migration_id = c.migration_id, server_id = c.server_id,
        node_id = c.node_id ~= '' and c.node_id or cjson.null, room = c.room ~= '' and c.room or cjson.null,
        done = done, attempts = tonumber(c.attempts or '0'),
        error = c.error or cjson.null, timestamp = rfc3339(now)})
end

-- Reads an item and checks that `token` holds its claim, still running.
local function cleanup_own(p, id, token, now)
    local v = redis.call('HMGET', k_cleanup(p, id), 'migration_id', 'server_id', 'node_id', 'lease_token',
        'attempts', 'error', 'room')
    local until_ms = redis.call('ZSCORE', k_cleanups(p), id)
    if not v[1] or v[4] ~= token or not until_ms or tonumber(until_ms) <= now then
        raise('STALE_LEASE', 'clean-up token ' .. tostring(token) .. ' of migration ' .. id .. ' is not current')
    end
    return {migration_id = v[1], server_id = v[2], node_id = v[3] or '', attempts = v[5], error = v[6],
        room = v[7] or ''}
end

-- cleanup_claim(prefix; worker, lease_ms) -> {migration_id, server_id, node_id, token,
-- attempts, room} or nil (node_id and room '' when not to be removed). Takes the first item due and holds it for lease_ms: its score moves
-- to the lease's end, so nobody else takes it meanwhile, and a worker that dies leaves
-- it due again then. The token comes from the sequence of the migrations' leases, so it
-- is higher than any token the node agent saw for the migration.
local function cleanup_claim(keys, args)
    local p = prefix_of(keys)
    local worker = args[1]
    if not worker or worker == '' or #worker > NAME_MAX then raise('INVALID', 'worker: 1 to ' .. NAME_MAX .. ' bytes') end
    local lease_ms = check_num('lease_ms', args[2], 100, 86400000, true)
    local now = now_ms()
    local due = redis.call('ZRANGEBYSCORE', k_cleanups(p), '-inf', now, 'LIMIT', 0, 1)
    local id = due[1]
    if not id then return nil end
    local v = redis.call('HMGET', k_cleanup(p, id), 'server_id', 'node_id', 'attempts', 'room')
    if not v[1] then
        redis.call('ZREM', k_cleanups(p), id)
        return nil
    end
    local token = redis.call('INCR', k_lease_seq(p))
    redis.call('HSET', k_cleanup(p, id), 'lease_owner', worker, 'lease_token', str(token))
    redis.call('ZADD', k_cleanups(p), str(now + lease_ms), id)
    return {id, v[1], v[2] or '', str(token), v[3], v[4] or ''}
end

-- cleanup_done(prefix; id, token) -> 1. The agent confirmed the old copy is gone and
-- the proxy the room: the item goes, the record loses its cleanup_node,
-- migration.cleanup says done.
local function cleanup_done(keys, args)
    local p = prefix_of(keys)
    local id = check_id('id', args[1])
    local now = now_ms()
    local c = cleanup_own(p, id, args[2], now)
    redis.call('DEL', k_cleanup(p, id))
    redis.call('ZREM', k_cleanups(p), id)
    if redis.call('EXISTS', k_m(p, id)) == 1 then
        redis.call('HDEL', k_m(p, id), 'cleanup_node')
        redis.call('HSET', k_m(p, id), 'updated_at', str(now))
    end
    c.error = nil
    cleanup_event(p, c, true, now)
    return 1
end

-- cleanup_retry(prefix; id, token, error, backoff_ms) -> 1. A try failed: the item is
-- due again after the backoff, with the error and the count of tries, for people.
local function cleanup_retry(keys, args)
    local p = prefix_of(keys)
    local id = check_id('id', args[1])
    local err = args[3] or ''
    if err == '' or #err > NOTES_MAX then raise('INVALID', 'error: 1 to ' .. NOTES_MAX .. ' bytes') end
    local backoff = check_num('backoff_ms', args[4], 0, 1e10, true)
    local now = now_ms()
    local c = cleanup_own(p, id, args[2], now)
    c.attempts = str(tonumber(c.attempts or '0') + 1)
    c.error = err
    redis.call('HSET', k_cleanup(p, id), 'attempts', c.attempts, 'error', err)
    redis.call('HDEL', k_cleanup(p, id), 'lease_owner', 'lease_token')
    redis.call('ZADD', k_cleanups(p), str(now + backoff), id)
    cleanup_event(p, c, false, now)
    return 1
end

register('cleanup_claim', cleanup_claim)
register('cleanup_done', cleanup_done)
register('cleanup_retry', cleanup_retry)
