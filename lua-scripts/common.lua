-- common.lua - what every function of the library shares: the key layout, the clock,
-- errors, the record as a table, events, indexes and stats.
--
-- This file follows a prelude that the C side renders from its own tables (core/lualib.c):
-- LIB_VERSION, STATUSES, TERMINAL, IN_FLIGHT, EDGES (core/states.c); REASONS, TRIGGERS,
-- their lists as text (REASON_LIST, TRIGGER_LIST), the limits ID_MAX, NAME_MAX, NOTES_MAX
-- and ID_CHARS, the characters an id may hold, in words (core/migration.c); and
-- LIST_EXAMINE_MAX (core/store.h). So the transition table and the limits have one truth,
-- in C, and are tested there.
--
-- Every function takes the key prefix as KEYS[1] ("mig:" or "{mig}:" on a cluster) and
-- derives its keys from it here, the one place in Lua that names keys. A cluster routes
-- the call by that key, and a hash-tagged prefix puts every key in the same slot.

-- Entries kept in the events stream for replay on reconnect: about 300 bytes each, so
-- about 30 MB at the cap; enough for a client away for hours at a busy fleet's rate.
local EVENTS_MAXLEN = '100000'
-- An id: 1 to ID_MAX of the characters ID_CHARS names (the same rule as
-- migration_id_valid() in core/migration.c).
local ID_PATTERN = '^[%w_.:-]+$'
-- Most queue entries one mig_claim call skips (cancelled or deleted while queued) before
-- it answers; bounds the time one call can take.
local CLAIM_SKIP_MAX = 100

---------------------------------------------------------------------------- keys
local function k_m(p, id) return p .. 'm:' .. id end
local function k_all(p) return p .. 'idx:all' end
local function k_status(p, s) return p .. 'idx:status:' .. s end
local function k_srv_idx(p, sid) return p .. 'idx:server:' .. sid end
local function k_reason(p, r) return p .. 'idx:reason:' .. r end
local function k_active(p, sid) return p .. 'active:' .. sid end
local function k_cooldown(p, sid) return p .. 'cooldown:' .. sid end
local function k_sched(p) return p .. 'sched' end
local function k_ready(p) return p .. 'ready' end
local function k_leases(p) return p .. 'leases' end
local function k_lease_seq(p) return p .. 'lease_seq' end
local function k_events(p) return p .. 'events' end
local function k_stats(p) return p .. 'stats' end
local function k_fail_reasons(p) return p .. 'stats:fail_reasons' end
local function k_node(p, id) return p .. 'node:' .. id end
local function k_nodes(p) return p .. 'nodes' end
local function k_server(p, id) return p .. 'server:' .. id end
local function k_servers(p) return p .. 'servers' end
local function k_leader(p) return p .. 'scheduler:leader' end
local function k_scaling(p) return p .. 'platform:scaling' end
local function k_platform_queue(p) return p .. 'platform:queue' end
-- The pub/sub channel has the stream's name: channels and keys are separate namespaces.
local function channel(p) return p .. 'events' end

---------------------------------------------------------------------------- errors
-- Raises "<CODE> <message>"; the C side maps CODE onto its MIG_E* table (core/err.h).
-- Only ever called before the first write of a function, so a refusal changes nothing.
-- The table's field is not `err`: Redis turns an {err = ...} table into a string with
-- the script's location appended, and register() below wants the bare sentence.
local function raise(code, msg)
    error({refusal = code .. ' ' .. msg})
end

local function prefix_of(keys)
    local p = keys[1]
    if p == nil then raise('INVALID', 'the key prefix must be passed as KEYS[1]') end
    return p
end

local function check_id(field, v)
    if v == nil or v == '' then raise('INVALID', field .. ': required') end
    if #v > ID_MAX or not string.match(v, ID_PATTERN) then
        raise('INVALID', field .. ': must be 1 to ' .. ID_MAX .. ' characters of ' .. ID_CHARS)
    end
    return v
end

-- A decimal number in [lo, hi]; integer when `int`.
local function check_num(field, v, lo, hi, int)
    local n = tonumber(v)
    if n == nil or n ~= n or n < lo or n > hi or (int and n ~= math.floor(n)) then
        raise('INVALID', field .. ': must be a' .. (int and 'n integer' or ' number') ..
            ' from ' .. lo .. ' to ' .. hi)
    end
    return n
end

---------------------------------------------------------------------------- time
local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- RFC 3339 UTC with milliseconds, the same text as core/timefmt.c (both are tested
-- against the same values). Days to civil date after H. Hinnant's public algorithm.
local function rfc3339(ms)
    local s = math.floor(ms / 1000)
    local days = math.floor(s / 86400)
    local sod = s - days * 86400
    local z = days + 719468
    local era = math.floor(z / 146097)
    local doe = z - era * 146097
    local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
        - math.floor(doe / 146096)) / 365)
    local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
    local mp = math.floor((5 * doy + 2) / 153)
    local d = doy - math.floor((153 * mp + 2) / 5) + 1
    local m = mp < 10 and mp + 3 or mp - 9
    local y = yoe + era * 400 + (m <= 2 and 1 or 0)
    return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d,
        math.floor(sod / 3600), math.floor(sod % 3600 / 60), sod % 60, ms % 1000)
end

-- Text of a value for Redis. Integers go through '%d': Lua's own number-to-string is a
-- floating-point conversion, which showed up as the largest single cost in a profile of
-- the transitions.
local function str(v)
    if type(v) == 'number' and v == math.floor(v) and v > -1e15 and v < 1e15 then
        return string.format('%d', v)
    end
    return tostring(v)
end

---------------------------------------------------------------------------- records
-- A flat field, value, ... list as HGETALL gives it, as a table of strings.
local function table_of(r)
    local h = {}
    for i = 1, #r, 2 do h[r[i]] = r[i + 1] end
    return h
end

-- Reads a migration into a table of strings, or raises NOT_FOUND.
local function load(p, id)
    local r = redis.call('HGETALL', k_m(p, id))
    if #r == 0 then raise('NOT_FOUND', 'migration ' .. id .. ' not found') end
    return table_of(r)
end

-- The whole hash of one object (a migration, a node, a server) as HGETALL gives it; the
-- id checked, and refusal `code` ("<what> <id> not found") when there is none.
local function hash_of(keys, id, key_of, code, what)
    local p = prefix_of(keys)
    id = check_id('id', id)
    local r = redis.call('HGETALL', key_of(p, id))
    if #r == 0 then raise(code, what .. ' ' .. id .. ' not found') end
    return r
end

-- The reply form of a record: field, value, ... as HGETALL gives it.
local function flat(h)
    local out, n = {}, 0
    for k, v in pairs(h) do
        out[n + 1] = k
        out[n + 2] = v
        n = n + 2
    end
    return out
end

-- Writes `changes` to the hash and to `h`: a string or number sets a field, false
-- deletes it. One HSET and at most one HDEL.
local function apply(p, id, h, changes)
    local set, del = {}, {}
    for k, v in pairs(changes) do
        if v == false then
            del[#del + 1] = k -- h may hold a part of the record only: delete regardless
            h[k] = nil
        else
            v = str(v)
            set[#set + 1] = k
            set[#set + 1] = v
            h[k] = v
        end
    end
    if #set > 0 then redis.call('HSET', k_m(p, id), unpack(set)) end
    if #del > 0 then redis.call('HDEL', k_m(p, id), unpack(del)) end
end

---------------------------------------------------------------------------- events
-- Appends an event to the capped stream and publishes it with its stream id as
-- event_id, so a client can resume from it. The stream holds the JSON without event_id
-- (it is the entry's own id); the relay adds it back on replay. Returns the id.
local function emit(p, ev)
    local json = cjson.encode(ev)
    local id = redis.call('XADD', k_events(p), 'MAXLEN', '~', EVENTS_MAXLEN, '*', 'e', json)
    redis.call('PUBLISH', channel(p), '{"event_id":"' .. id .. '",' .. string.sub(json, 2))
    return id
end

-- Tells the dashboard an inventory object changed: `type` (node.updated, server.updated)
-- with every field of the object `h`, numbers as numbers, and its id as `idfield`.
local function inventory_event(p, type, idfield, id, h, now)
    local ev = {type = type, timestamp = rfc3339(now)}
    for k, v in pairs(h) do ev[k] = tonumber(v) or v end
    ev[idfield] = id
    emit(p, ev)
end

local function stat(p, field, by)
    redis.call('HINCRBY', k_stats(p), field, str(by))
end

---------------------------------------------------------------------------- transitions
-- The timestamp field the seed names for entering a status.
local STAMP = {approved = 'approved_at', scheduled = 'scheduled_at', preparing = 'started_at'}

-- Raises ILLEGAL_TRANSITION unless the table allows h.status -> to.
local function check_edge(h, to, verb)
    local from = h.status
    if not (EDGES[from] and EDGES[from][to]) then
        raise('ILLEGAL_TRANSITION', 'cannot ' .. verb .. ' migration ' .. h.id ..
            ' in status ' .. tostring(from))
    end
end

-- Moves a checked migration to `to` with `changes`: sets status, the seed's timestamp,
-- updated_at, moves it between status indexes (whose sizes are the counts by status
-- that mig_stats reports) and emits migration.status_changed. started_at keeps the first start across retries.
local function transition(p, h, to, now, changes)
    local from = h.status
    changes = changes or {}
    changes.status = to
    changes.updated_at = now
    local stamp = STAMP[to]
    if stamp and not (to == 'preparing' and h.started_at) then changes[stamp] = now end
    if TERMINAL[to] then changes.completed_at = now end
    apply(p, h.id, h, changes)
    redis.call('ZREM', k_status(p, from), h.id)
    redis.call('ZADD', k_status(p, to), h.created_at, h.id)
    emit(p, {type = 'migration.status_changed', migration_id = h.id, server_id = h.server_id,
        old_status = from, new_status = to, timestamp = rfc3339(now)})
end

-- Ends the lease of an in-flight migration: out of the lease set, lease fields gone.
local function lease_clear(p, h, changes)
    redis.call('ZREM', k_leases(p), h.id)
    changes.lease_owner = false
    changes.lease_token = false
    changes.lease_expires_at = false
    changes.recovering = false
end

-- Ends a migration that ran: frees the server's active guard and starts its cooldown.
local function release_server(p, h, cooldown_ms)
    if redis.call('GET', k_active(p, h.server_id)) == h.id then
        redis.call('DEL', k_active(p, h.server_id))
    end
    if cooldown_ms > 0 then
        redis.call('SET', k_cooldown(p, h.server_id), h.id, 'PX', str(cooldown_ms))
    end
end

-- Removes a migration and every trace of it in the indexes and queues; the caller has
-- loaded it as `h`. Totals in stats are history and stay.
local function purge(p, h)
    local id = h.id
    redis.call('DEL', k_m(p, id))
    redis.call('ZREM', k_all(p), id)
    redis.call('ZREM', k_status(p, h.status), id)
    redis.call('ZREM', k_srv_idx(p, h.server_id), id)
    redis.call('ZREM', k_reason(p, h.reason), id)
    if not TERMINAL[h.status] then
        redis.call('ZREM', k_sched(p), id)
        redis.call('LREM', k_ready(p), 0, id)
        redis.call('ZREM', k_leases(p), id)
        if redis.call('GET', k_active(p, h.server_id)) == id then
            redis.call('DEL', k_active(p, h.server_id))
        end
    end
end

-- The fields a function reads with read(): every list starts with the four that own()
-- and transition() need. Constant tables, so a call allocates no list of names.
-- (Runs while the library loads, when Redis offers no ipairs: plain loops only.)
local function fields(...)
    local t, extra = {'status', 'lease_token', 'lease_expires_at', 'server_id', 'created_at'}, {...}
    for i = 1, #extra do t[#t + 1] = extra[i] end
    return t
end
local BASE_FIELDS = fields()

-- Reads part of a migration, the fields of `names` (BASE_FIELDS when nil); raises
-- NOT_FOUND, or returns nil when `missing_ok`.
local function read(p, id, names, missing_ok)
    names = names or BASE_FIELDS
    local v = redis.call('HMGET', k_m(p, id), unpack(names))
    if not v[1] then
        if missing_ok then return nil end
        raise('NOT_FOUND', 'migration ' .. id .. ' not found')
    end
    local h = {id = id}
    for i, n in ipairs(names) do
        if v[i] then h[n] = v[i] end
    end
    return h
end

-- Checks a worker's write: the migration is in flight, `token` is its current fencing
-- token, and the lease has not expired. A worker whose lease was recovered by another
-- can never write again, and neither can one whose lease merely ran out before anyone
-- recovered it: Redis's clock is the authority, and the worker's own deadline comes
-- earlier (worker/lease.h), so only a worker that was paused or cut off meets this.
-- Reads only the fields a worker's function needs (status, token, expiry, server_id,
-- created_at and `extra`), not the whole hash: HGETALL of a record costs as much as the
-- rest of a transition together.
local function own(p, id, token, names)
    local h = read(p, id, names)
    if not IN_FLIGHT[h.status] or h.lease_token == nil or h.lease_token ~= token then
        raise('STALE_LEASE', 'lease token ' .. tostring(token) .. ' of migration ' .. id ..
            ' is not current')
    end
    if tonumber(h.lease_expires_at or '0') <= now_ms() then
        raise('STALE_LEASE', 'lease token ' .. tostring(token) .. ' of migration ' .. id ..
            ' has expired')
    end
    return h
end

-- The reply of a worker's ending call: what the worker needs to know of the outcome.
local function outcome(h)
    local out = {}
    for _, k in ipairs({'id', 'status', 'retry_count', 'not_before', 'duration_seconds', 'error_message'}) do
        if h[k] then
            out[#out + 1] = k
            out[#out + 1] = h[k]
        end
    end
    return out
end

-- Reads the optional field/value pairs a worker may report with progress, from ARGV
-- index `from` on, into `changes`.
local REPORTABLE = {
    data_sync_progress = {0, 100, true}, player_count_at_start = {0, 1e6, true},
    players_transferred = {0, 1e6, true}, player_downtime_ms = {0, 1e12, true},
    progress_message = 'text', phase_step = 'text', warning = 'text', cleanup_node = 'text',
    cleanup_room = 'text',
}
local function reported(args, from, changes)
    for i = from, #args, 2 do
        local k, v = args[i], args[i + 1]
        local rule = REPORTABLE[k]
        if rule == nil or v == nil then raise('INVALID', tostring(k) .. ': not a reportable field') end
        if rule == 'text' then
            if #v > NOTES_MAX then raise('INVALID', k .. ': longer than ' .. NOTES_MAX .. ' bytes') end
            changes[k] = v
        else
            changes[k] = check_num(k, v, rule[1], rule[2], rule[3])
        end
    end
    return changes
end

---------------------------------------------------------------------------- registration
-- Registers a function so that a refusal raised with raise() reaches the caller as the
-- bare "<CODE> <message>" reply, without the script location Redis appends to errors
-- raised from Lua. Any other error (a bug, a failed redis.call) passes through as is.
local function register(name, fn, readonly)
    local function call(keys, args)
        local ok, res = pcall(fn, keys, args)
        if ok then return res end
        if type(res) == 'table' and res.refusal then return redis.error_reply(res.refusal) end
        error(res, 0)
    end
    redis.register_function{function_name = name, callback = call,
        flags = readonly and {'no-writes'} or {}}
end
