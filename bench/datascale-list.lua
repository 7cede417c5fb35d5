-- bench/datascale.sh: GET /admin/list-users, a contains-search on e-mail for a random user-number
-- prefix (3 to 5 digits), a random one of the first 10 pages, as the admin (USERS, COOKIE).
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "datascale-common.lua")
local users, cookie = tonumber(os.getenv("USERS")), os.getenv("COOKIE")
function request()
  local n = tostring(math.random(1, users))
  local prefix = n:sub(1, math.min(#n, math.random(3, 5)))
  local path = string.format("%s?searchField=email&searchOperator=contains&searchValue=user%s&limit=20&offset=%d",
    wrk.path, prefix, 20 * math.random(0, 9))
  return wrk.format("GET", path, { ["Cookie"] = cookie })
end
