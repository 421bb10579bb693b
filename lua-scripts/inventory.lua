-- inventory.lua - nodes and servers as the platform reports them: node_put, server_put,
-- server_delete (which deletes the server's ended migrations, as the seed's ON DELETE
-- CASCADE, and refuses while one has not ended), and mig_version.

-- Field rules: 'text' (a name or address), or {lo, hi, integer}.
local NODE_FIELDS = {
    name = 'text', address = 'address', healthy = {0, 1, true}, ram_total_mb = {0, 1e9, true},
    ram_free_mb = {0, 1e9, true}, disk_free_mb = {0, 1e12, true}, eur_hour = {0, 1e6, false},
}
local SERVER_FIELDS = {
    name = 'text', node_id = 'id', players = {0, 1e6, true}, idle_since = {0, 1e15, true},
    state = 'text', ram_mb = {0, 1e9, true}, disk_mb = {0, 1e12, true},
}

-- A node's address: host[:port], host a DNS name or IPv4 address, or [IPv6]; nothing
-- else (no scheme, path, query, userinfo), since the worker puts it into the agent's URL
-- (MIG_DRIVER_NODE_URL). The same rule as inventory_address_check in core/inventory.c.
local function address_ok(v)
    if #v == 0 or #v > 261 then return false end
    local host, port
    if string.sub(v, 1, 1) == '[' then
        local inner, rest = string.match(v, '^%[([%x:.]+)%](.*)$')
        if inner == nil or #inner < 2 or #inner > 45 then return false end
        local _, colons = string.gsub(inner, ':', '')
        if colons < 2 then return false end
        if rest ~= '' then
            port = string.match(rest, '^:(%d+)$')
            if port == nil then return false end
        end
    else
        host, port = string.match(v, '^([^:]+):(%d+)$')
        if host == nil then
            if string.find(v, ':', 1, true) then return false end
            host = v
        end
        if #host > 253 or not string.match(host, '^[%w%.%-]+$') then return false end
        for label in string.gmatch(host .. '.', '([^.]*)%.') do
            if #label == 0 or #label > 63 or string.sub(label, 1, 1) == '-' or string.sub(label, -1) == '-' then
                return false
            end
        end
    end
    if port ~= nil and (#port > 5 or tonumber(port) < 1 or tonumber(port) > 65535) then return false end
    return true
end

-- Checks field/value pairs from ARGV index 2 on against `rules`; returns a table.
local function fields_of(args, rules)
    local f = {}
    for i = 2, #args, 2 do
        local k, v = args[i], args[i + 1]
        local rule = rules[k]
        if rule == nil or v == nil then raise('INVALID', tostring(k) .. ': unknown field') end
        if rule == 'text' then
            if #v > NAME_MAX then raise('INVALID', k .. ': longer than ' .. NAME_MAX .. ' bytes') end
            f[k] = v
        elseif rule == 'address' then
            if not address_ok(v) then
                raise('INVALID', k .. ': must be host[:port] (a name, an IPv4 address or [IPv6]), ' ..
                    'without scheme, path, query or user')
            end
            f[k] = v
        elseif rule == 'id' then
            f[k] = check_id(k, v)
        else
            f[k] = tostring(check_num(k, v, rule[1], rule[2], rule[3]))
        end
    end
    return f
end

-- Writes the changed fields of an inventory hash and emits `type` with the whole
-- object when anything changed. Returns the object's pairs.
local function put(p, key, set, idfield, id, f, type)
    local old = redis.call('HGETALL', key)
    local h = table_of(old)
    local w = {}
    for k, v in pairs(f) do
        if h[k] ~= v then
            w[#w + 1] = k
            w[#w + 1] = v
            h[k] = v
        end
    end
    if #w > 0 or #old == 0 then
        h[idfield] = id
        w[#w + 1] = idfield
        w[#w + 1] = id
        redis.call('HSET', key, unpack(w))
        redis.call('SADD', set, id)
        inventory_event(p, type, idfield, id, h, now_ms())
    end
    return flat(h)
end

-- node_put(prefix; id, field, value, ...) -> node. Creates or updates a node.
local function node_put(keys, args)
    local p = prefix_of(keys)
    local id = check_id('id', args[1])
    local f = fields_of(args, NODE_FIELDS)
    return put(p, k_node(p, id), k_nodes(p), 'node_id', id, f, 'node.updated')
end

-- server_put(prefix; id, field, value, ...) -> server. Creates or updates a server; its
-- node must exist.
local function server_put(keys, args)
    local p = prefix_of(keys)
    local id = check_id('id', args[1])
    local f = fields_of(args, SERVER_FIELDS)
    if f.node_id and redis.call('EXISTS', k_node(p, f.node_id)) == 0 then
        raise('NO_NODE', 'node ' .. f.node_id .. ' not found')
    end
    if not f.node_id and redis.call('HEXISTS', k_server(p, id), 'node_id') == 0 then
        raise('INVALID', 'node_id: required for a new server')
    end
    return put(p, k_server(p, id), k_servers(p), 'server_id', id, f, 'server.updated')
end

-- server_delete(prefix; id) -> number of migrations deleted with it (every one has
-- ended). Refused with ACTIVE_EXISTS, naming the migration, while the server has one
-- that has not ended: deleting it would pull the record from under the worker that
-- holds it and leave the server's players in a waiting room with nobody to bring them
-- back. Such a migration is cancelled or runs to its end first.
local function server_delete(keys, args)
    local p = prefix_of(keys)
    local id = check_id('id', args[1])
    if redis.call('EXISTS', k_server(p, id)) == 0 then raise('NO_SERVER', 'server ' .. id .. ' not found') end
    local ids = redis.call('ZRANGE', k_srv_idx(p, id), 0, -1)
    -- Every record is read and checked before the first write: a refusal changes nothing.
    local ended = {}
    for _, mid in ipairs(ids) do
        local r = redis.call('HGETALL', k_m(p, mid))
        if #r > 0 then
            local h = table_of(r)
            if not TERMINAL[h.status] then
                raise('ACTIVE_EXISTS', 'server ' .. id .. ' has migration ' .. mid .. ' in status ' ..
                    tostring(h.status) .. '; cancel it or let it end before deleting the server')
            end
            ended[#ended + 1] = h
        end
    end
    for _, h in ipairs(ended) do purge(p, h) end
    redis.call('DEL', k_server(p, id), k_srv_idx(p, id), k_active(p, id), k_cooldown(p, id))
    redis.call('SREM', k_servers(p), id)
    emit(p, {type = 'server.deleted', server_id = id, migrations_deleted = #ids,
        timestamp = rfc3339(now_ms())})
    return #ids
end

-- Every hash of a set of ids, as a list of field/value arrays, ordered by id.
local function all_of(set, key_of)
    local ids = redis.call('SMEMBERS', set)
    table.sort(ids)
    local out = {}
    for i, id in ipairs(ids) do out[i] = redis.call('HGETALL', key_of(id)) end
    return out
end

-- node_list(prefix) -> every node; server_list(prefix) -> every server.
local function node_list(keys, args)
    local p = prefix_of(keys)
    return all_of(k_nodes(p), function(id) return k_node(p, id) end)
end

local function server_list(keys, args)
    local p = prefix_of(keys)
    return all_of(k_servers(p), function(id) return k_server(p, id) end)
end

-- node_get(prefix; id) -> the node, or NO_NODE. A worker reads the two nodes of its
-- migration this way, not the whole fleet with node_list.
local function node_get(keys, args) return hash_of(keys, args[1], k_node, 'NO_NODE', 'node') end

-- server_get(prefix; id) -> the server, or NO_SERVER.
local function server_get(keys, args) return hash_of(keys, args[1], k_server, 'NO_SERVER', 'server') end

-- mig_version() -> the library's version, "<number>:<hash of its source>".
local function mig_version() return LIB_VERSION end

register('node_put', node_put)
register('server_put', server_put)
register('server_delete', server_delete)
register('mig_version', mig_version, true)
register('node_list', node_list, true)
register('server_list', server_list, true)
register('server_get', server_get, true)
register('node_get', node_get, true)
