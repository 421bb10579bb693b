-- query.lua - reading migrations: mig_list (filtered pages) and mig_stats (the tracked
-- metrics). Both are no-writes, so they may run on a replica with FCALL_RO.

local LIST_LIMIT_MAX = 500

-- Newest-first merge of the top `n` entries of several sorted sets (a union of
-- disjoint indexes, such as a set of statuses). Returns the ids. Each set's
-- top comes newest first, so the merge takes, n times, the newest of the k heads; ties
-- of a millisecond go to the greater id (UUIDv7 ids sort by time). A merge, not a sort
-- of all k * n entries: table.sort with a Lua comparator was half the cost of a page
-- filtered by two statuses, and every page runs this twice (core/store.c).
local function merge_top(zsets, n)
    local lists, pos, k = {}, {}, #zsets
    for i = 1, k do
        local r = redis.call('ZREVRANGE', zsets[i], 0, n - 1, 'WITHSCORES')
        for j = 2, #r, 2 do r[j] = tonumber(r[j]) end
        lists[i], pos[i] = r, 1
    end
    local all = {}
    while #all < n do
        local best, bid, bscore = nil, nil, nil
        for i = 1, k do
            local r, j = lists[i], pos[i]
            local id = r[j]
            if id then
                local sc = r[j + 1]
                if best == nil or sc > bscore or (sc == bscore and id > bid) then
                    best, bid, bscore = i, id, sc
                end
            end
        end
        if best == nil then break end
        pos[best] = pos[best] + 2
        all[#all + 1] = bid
    end
    return all
end

-- mig_list(prefix; statuses, server_id, reason, limit, offset [, shape])
--   -> {total, key, ...}, or {total, record, ...} when shape is 'records'
-- `statuses` is a comma-separated set ('' for any), server_id and reason '' for any.
-- Newest first by created_at. By default the page is the records' keys, which the
-- caller reads with HGETALL in a MULTI that repeats this call, so that it can check the
-- page did not change in between (core/store.c): turning 50 records into Lua tables and
-- back cost Redis 60% of a page. 'records' answers the records themselves, in one call. The cost grows with the page and with the smallest
-- matching index: with one filter the page is read straight off its index (or the
-- union of the status indexes); with more, the smallest is walked and each entry
-- checked against the record.
local function mig_list(keys, args)
    local p = prefix_of(keys)
    local st, sid, reason = args[1] or '', args[2] or '', args[3] or ''
    local limit = check_num('limit', args[4] or '50', 0, LIST_LIMIT_MAX, true)
    local offset = check_num('offset', args[5] or '0', 0, 1e12, true)
    local shape = args[6] or 'keys'
    if shape ~= 'keys' and shape ~= 'records' then raise('INVALID', 'shape: keys or records') end

    local groups = {} -- each: {zsets = {...}, size = n, test = function(h) -> bool}
    if st ~= '' then
        local want, zs, size = {}, {}, 0
        for s in string.gmatch(st, '[^,]+') do
            if not STATUSES[s] then raise('INVALID', 'status: unknown status "' .. s .. '"') end
            if not want[s] then
                want[s] = true
                zs[#zs + 1] = k_status(p, s)
                size = size + redis.call('ZCARD', k_status(p, s))
            end
        end
        if #zs == 0 then raise('INVALID', 'status: empty') end
        groups[#groups + 1] = {zsets = zs, size = size, field = 'status', want = want}
    end
    if sid ~= '' then
        check_id('server_id', sid)
        local z = k_srv_idx(p, sid)
        groups[#groups + 1] = {zsets = {z}, size = redis.call('ZCARD', z), field = 'server_id', want = {[sid] = true}}
    end
    if reason ~= '' then
        if not REASONS[reason] then
            raise('INVALID', 'reason: must be one of cost-optimization, manual, rebalancing, maintenance')
        end
        local z = k_reason(p, reason)
        groups[#groups + 1] = {zsets = {z}, size = redis.call('ZCARD', z), field = 'reason', want = {[reason] = true}}
    end

    local total, page = 0, {}
    if #groups <= 1 then
        local zs = #groups == 1 and groups[1].zsets or {k_all(p)}
        total = #groups == 1 and groups[1].size or redis.call('ZCARD', k_all(p))
        if limit > 0 and offset < total then
            if #zs == 1 then
                page = redis.call('ZREVRANGE', zs[1], offset, offset + limit - 1)
            else
                local m = merge_top(zs, offset + limit)
                for i = offset + 1, math.min(#m, offset + limit) do page[#page + 1] = m[i] end
            end
        end
    else
        table.sort(groups, function(a, b) return a.size < b.size end)
        local drive = groups[1]
        local cand = merge_top(drive.zsets, drive.size)
        local fields = {}
        for i = 2, #groups do fields[#fields + 1] = groups[i].field end
        for _, id in ipairs(cand) do
            local v = redis.call('HMGET', k_m(p, id), unpack(fields))
            local ok = true
            for i = 2, #groups do
                if not groups[i].want[v[i - 1]] then ok = false break end
            end
            if ok then
                total = total + 1
                if total > offset and #page < limit then page[#page + 1] = id end
            end
        end
    end

    local out = {total}
    for _, id in ipairs(page) do
        out[#out + 1] = shape == 'keys' and k_m(p, id) or redis.call('HGETALL', k_m(p, id))
    end
    return out
end

-- mig_stats(prefix) -> {stats pairs, fail_reasons pairs, ready length, leases, scheduled}
-- What the transitions keep (never a scan): totals, duration and savings sums, failures
-- by cause, and the queue depths; the count by status ("status:<name>" pairs) is the
-- size of its status index, which every transition moves the migration between, so
-- there is no second count to drift from it.
local function mig_stats(keys, args)
    local p = prefix_of(keys)
    local st = {}
    local kept = redis.call('HGETALL', k_stats(p))
    for i = 1, #kept, 2 do
        -- a library before version 2 counted by status in this hash: ignore its counts
        if string.sub(kept[i], 1, 7) ~= 'status:' then
            st[#st + 1] = kept[i]
            st[#st + 1] = kept[i + 1]
        end
    end
    for s in pairs(STATUSES) do
        st[#st + 1] = 'status:' .. s
        st[#st + 1] = str(redis.call('ZCARD', k_status(p, s)))
    end
    st[#st + 1] = 'cleanups_pending'
    st[#st + 1] = str(redis.call('ZCARD', k_cleanups(p)))
    return {
        st,
        redis.call('HGETALL', k_fail_reasons(p)),
        redis.call('LLEN', k_ready(p)),
        redis.call('ZCARD', k_leases(p)),
        redis.call('ZCARD', k_sched(p)),
    }
end

register('mig_list', mig_list, true)
register('mig_stats', mig_stats, true)
