-- query.lua - reading migrations: mig_list (filtered pages) and mig_stats (the tracked
-- metrics). Both are no-writes, so they may run on a replica with FCALL_RO.

local LIST_LIMIT_MAX = 500
-- LIST_EXAMINE_MAX, the most index entries one mig_list call examines when a query has
-- two or more filters, comes from core/store.h (STORE_LIST_EXAMINE_MAX, with its reason),
-- rendered ahead of this file by core/lualib.c, so the tests read the same bound.
-- Entries read from an index per ZREVRANGE of a filtered walk: a chunk, so that a walk
-- that stops early has read little past where it stopped.
local LIST_CHUNK = 128
-- Longest cursor accepted (bytes): a score, an id and a count.
local LIST_CURSOR_MAX = 80
-- Largest offset or cursor skip accepted: far past any index, small enough to be exact
-- in a Lua number.
local LIST_OFFSET_MAX = 1e12

-- A score as Redis writes and reads it back exactly: '%.17g' prints an integral double
-- (every created_at, in ms) without a point or an exponent.
local function score_text(s) return string.format('%.17g', s) end

-- The cursor "<score>:<id>:<skip>" (mig_list's next_cursor): go on after the entry
-- (score, id) in the order newest first, and skip `skip` more matches there (an offset
-- that the last call had not finished skipping). Raises INVALID when `c` is not one.
local function parse_cursor(c)
    local sc, id, skip
    if #c <= LIST_CURSOR_MAX then
        sc, id, skip = string.match(c, '^(%d+%.?%d*):([%w_.:-]+):(%d+)$')
    end
    if sc == nil or tonumber(skip) > LIST_OFFSET_MAX then raise('INVALID', 'cursor: not a cursor of this list') end
    check_id('cursor', id)
    return {score = tonumber(sc), text = sc, id = id, skip = tonumber(skip)}
end

local function make_cursor(score, id, skip)
    return score_text(score) .. ':' .. id .. ':' .. string.format('%d', skip)
end

-- True when the entry (score, id) comes after the cursor's, newest first.
local function after_cursor(cur, score, id)
    return score < cur.score or (score == cur.score and id < cur.id)
end

-- For each sorted set of a union of disjoint ones, the rank of its first entry after the
-- cursor's (score, id), newest first (score descending, then id descending): its
-- entries of a greater score, and those of the same score whose id is not less. The
-- cursor's entry need not be in the set any more.
local function ranks_after(zs, cur)
    local ranks = {}
    for i = 1, #zs do
        local r = redis.call('ZCOUNT', zs[i], '(' .. cur.text, '+inf')
        for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', zs[i], cur.text, cur.text)) do
            if id >= cur.id then r = r + 1 end -- the same millisecond: a handful at most
        end
        ranks[i] = r
    end
    return ranks
end

-- The newest of the heads of several sorted lists {id, score, id, score, ...} read at
-- pos[i]: the list's index, or nil when all are done. Ties of a millisecond go to the
-- greater id, as within one sorted set (UUIDv7 ids sort by time).
local function newest(lists, pos)
    local best, bid, bscore = nil, nil, nil
    for i = 1, #lists do
        local id = lists[i][pos[i]]
        if id then
            local sc = lists[i][pos[i] + 1]
            if best == nil or sc > bscore or (sc == bscore and id > bid) then best, bid, bscore = i, id, sc end
        end
    end
    return best
end

-- For each sorted set of a union of disjoint ones, the rank at which the union's entry
-- number `offset` (from 0, newest first) and those after it start; the ranks add up to
-- `offset` (or to the sizes, past the end). Found by halving the range of scores with
-- ZCOUNTs (about 40 rounds of one per set) instead of reading `offset` entries, so a
-- deep page costs about what the first one does: a merge of the first `offset` entries
-- read them all into Lua, a stall of its own at a million. Answers the ranks and the
-- entries read.
local function ranks_at(zs, offset)
    local k, ranks = #zs, {}
    for i = 1, k do ranks[i] = 0 end
    if offset == 0 then return ranks, 0 end
    local lo, hi -- floor of the least and ceiling of the greatest score of the union
    for i = 1, k do
        local a = redis.call('ZRANGE', zs[i], 0, 0, 'WITHSCORES')
        if a[2] then
            local b = redis.call('ZREVRANGE', zs[i], 0, 0, 'WITHSCORES')
            local x, y = math.floor(tonumber(a[2])), math.ceil(tonumber(b[2]))
            if lo == nil or x < lo then lo = x end
            if hi == nil or y > hi then hi = y end
        end
    end
    -- above(t): the union's entries of a score greater than t
    local function above(t)
        local n, tt = 0, '(' .. score_text(t)
        for i = 1, k do n = n + redis.call('ZCOUNT', zs[i], tt, '+inf') end
        return n
    end
    if lo == nil or above(lo - 1) <= offset then -- past the end
        for i = 1, k do ranks[i] = redis.call('ZCARD', zs[i]) end
        return ranks, 0
    end
    lo = lo - 1
    -- the least whole t with above(t) <= offset; then the entries of scores in
    -- (t - 1, t] hold the union's entry number `offset`
    while hi - lo > 1 do -- above(lo) > offset >= above(hi)
        local mid = math.floor((lo + hi) / 2)
        if above(mid) <= offset then hi = mid else lo = mid end
    end
    local tt, below = score_text(hi), '(' .. score_text(hi - 1)
    local skip, heads, pos, read = offset, {}, {}, 0
    for i = 1, k do
        ranks[i] = redis.call('ZCOUNT', zs[i], '(' .. tt, '+inf')
        skip = skip - ranks[i]
    end
    -- of the entries in (t - 1, t], newest first, the first `skip` come before the offset
    for i = 1, k do
        local r = redis.call('ZREVRANGEBYSCORE', zs[i], tt, below, 'WITHSCORES', 'LIMIT', 0, skip)
        for j = 2, #r, 2 do r[j] = tonumber(r[j]) end
        heads[i], pos[i], read = r, 1, read + #r / 2
    end
    for _ = 1, skip do
        local i = newest(heads, pos)
        pos[i] = pos[i] + 2
        ranks[i] = ranks[i] + 1
    end
    return ranks, read
end

-- A walk, newest first, of the union of disjoint sorted sets `zs` from rank ranks[i] of
-- each, reading `chunk` entries of a set at a time: a function that answers the next id
-- and its score, or nil at the end.
local function walker(zs, ranks, chunk)
    local k, buf, pos, at = #zs, {}, {}, {}
    for i = 1, k do buf[i], pos[i], at[i] = {}, 1, ranks[i] end
    return function()
        for i = 1, k do
            if buf[i][pos[i]] == nil and at[i] then
                local r = redis.call('ZREVRANGE', zs[i], at[i], at[i] + chunk - 1, 'WITHSCORES')
                for j = 2, #r, 2 do r[j] = tonumber(r[j]) end
                buf[i], pos[i] = r, 1
                at[i] = #r == 2 * chunk and at[i] + chunk or nil
            end
        end
        local i = newest(buf, pos)
        if i == nil then return nil end
        pos[i] = pos[i] + 2
        return buf[i][pos[i] - 2], buf[i][pos[i] - 1]
    end
end

-- mig_list(prefix; statuses, server_id, reason, limit, offset [, shape [, cursor]])
--   -> {total, examined, next_cursor, key, ...}, or {total, examined, next_cursor,
--      record, ...} when shape is 'records'
-- `statuses` is a comma-separated set ('' for any), server_id and reason '' for any.
-- Newest first by created_at, then by id. By default the page is the records' keys,
-- which the caller reads with HGETALL in a MULTI that repeats this call, so that it can
-- check the page did not change in between (core/store.c): turning 50 records into Lua
-- tables and back cost Redis 60% of a page. 'records' answers the records themselves,
-- in one call.
--
-- A query with at most one filter (an index, or the union of status indexes) is read by
-- rank: its total is exact, and a page costs about the same at any offset. A query with
-- more walks the smallest of its filters, newest first, and checks each entry against
-- the record's other fields, LIST_EXAMINE_MAX entries at most; when the bound stops the
-- walk the call answers the matches it found (perhaps none) and a cursor to go on from.
-- Its total is exact when its index is no larger than the bound, and otherwise -1
-- (unknown). `examined` is the index entries the call checked or skipped by reading.
-- `cursor` ('' for none) is a next_cursor of an earlier call with the same filters: the
-- page starts after it, and `offset` more matches on. next_cursor is '' when no match
-- follows the page.
local function mig_list(keys, args)
    local p = prefix_of(keys)
    local st, sid, reason = args[1] or '', args[2] or '', args[3] or ''
    local limit = check_num('limit', args[4] or '50', 0, LIST_LIMIT_MAX, true)
    local offset = check_num('offset', args[5] or '0', 0, LIST_OFFSET_MAX, true)
    local shape = args[6] or 'keys'
    if shape ~= 'keys' and shape ~= 'records' then raise('INVALID', 'shape: keys or records') end
    local cur = (args[7] or '') ~= '' and parse_cursor(args[7]) or nil

    local groups = {} -- each: {zsets = {...}, size = n, field = name, want = set of values}
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
            raise('INVALID', 'reason: must be one of ' .. REASON_LIST)
        end
        local z = k_reason(p, reason)
        groups[#groups + 1] = {zsets = {z}, size = redis.call('ZCARD', z), field = 'reason', want = {[reason] = true}}
    end
    if #groups == 0 then groups[1] = {zsets = {k_all(p)}, size = redis.call('ZCARD', k_all(p))} end
    table.sort(groups, function(a, b) return a.size < b.size end)
    local drive, zs = groups[1], groups[1].zsets
    if cur then offset = offset + cur.skip end

    local total, examined, page, next_cursor = drive.size, 0, {}, ''
    local last_id, last_sc -- the page's last item
    if #groups == 1 then
        -- by rank: the position of the page's first item, then the page
        local start = 0
        local ranks = cur and ranks_after(zs, cur) or nil
        if ranks then for i = 1, #zs do start = start + ranks[i] end end
        start = start + offset
        if limit > 0 and start < total then
            if #zs == 1 then
                local r = redis.call('ZREVRANGE', zs[1], start, start + limit - 1, 'WITHSCORES')
                for j = 1, #r, 2 do page[#page + 1], last_id, last_sc = r[j], r[j], tonumber(r[j + 1]) end
            else
                local read = 0
                if ranks == nil or offset > 0 then ranks, read = ranks_at(zs, start) end
                local nxt = walker(zs, ranks, limit)
                examined = read
                while #page < limit do
                    local id, sc = nxt()
                    if id == nil then break end
                    page[#page + 1], last_id, last_sc = id, id, sc
                end
            end
            examined = examined + #page
            if start + #page < total then next_cursor = make_cursor(last_sc, last_id, 0) end
        end
    else
        local fields = {}
        for i = 2, #groups do fields[#fields + 1] = groups[i].field end
        -- an index within the bound is walked whole, counting every match, and a cursor
        -- only decides where the page starts; a larger one from the cursor on
        local whole = drive.size <= LIST_EXAMINE_MAX
        local ranks = {}
        for i = 1, #zs do ranks[i] = 0 end
        if cur and not whole then ranks = ranks_after(zs, cur) end
        local nxt, ended, matched, after_page = walker(zs, ranks, LIST_CHUNK), false, 0, 0
        local id, sc
        while examined < LIST_EXAMINE_MAX and (#page < limit or whole) do
            id, sc = nxt()
            if id == nil then ended = true break end
            examined = examined + 1
            local v = redis.call('HMGET', k_m(p, id), unpack(fields))
            local ok = true
            for i = 2, #groups do
                if not groups[i].want[v[i - 1]] then ok = false break end
            end
            if ok then
                matched = matched + 1
                if cur and whole and not after_cursor(cur, sc, id) then
                    -- before the page's start: counted only
                elseif offset > 0 then
                    offset = offset - 1
                elseif #page < limit then
                    page[#page + 1], last_id, last_sc = id, id, sc
                else
                    after_page = after_page + 1
                end
            end
        end
        total = ended and (whole or cur == nil) and matched or -1
        if limit > 0 and #page == limit then
            if not ended or after_page > 0 then next_cursor = make_cursor(last_sc, last_id, 0) end
        elseif not ended and id then
            -- the bound stopped the walk: go on after the last entry it checked
            next_cursor = make_cursor(sc, id, offset)
        end
    end

    local out = {total, examined, next_cursor}
    for _, k in ipairs(page) do
        out[#out + 1] = shape == 'keys' and k_m(p, k) or redis.call('HGETALL', k_m(p, k))
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
