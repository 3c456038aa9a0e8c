-- Test harness: runs an Argo CD health.lua the way Argo CD does, outside Argo CD.
--
-- Usage: lua5.4 argo_health.lua HEALTH_LUA OBJ_LUA
-- OBJ_LUA is a Lua chunk returning the live object as a table (written by
-- tests/unit/ship/test_gitops_health.py from each testdata YAML). The object is
-- set as the global `obj`, HEALTH_LUA runs in a sandbox without os/io (as in
-- Argo CD), and the harness prints the returned status and message, one per line.
local health_path, obj_path = arg[1], arg[2]
obj = dofile(obj_path)
local chunk = assert(loadfile(health_path, "t", setmetatable({obj = obj}, {__index = {
  ipairs = ipairs, pairs = pairs, tostring = tostring, tonumber = tonumber, type = type,
  string = string, table = table, math = math, next = next, select = select,
  error = error, pcall = pcall,
}})))
local hs = chunk()
assert(type(hs) == "table", "health.lua must return a table")
io.write(tostring(hs.status), "\n", tostring(hs.message), "\n")
