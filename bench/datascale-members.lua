-- bench/datascale.sh: GET /organization/list-members of a random organization (ORGS, COOKIE).
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "datascale-common.lua")
local orgs, cookie = tonumber(os.getenv("ORGS")), os.getenv("COOKIE")
function request()
  return wrk.format("GET", string.format("%s?organizationId=o%d", wrk.path, math.random(1, orgs)), { ["Cookie"] = cookie })
end
