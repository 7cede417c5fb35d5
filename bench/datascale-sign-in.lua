-- bench/datascale.sh: POST /sign-in/email as a random seeded user (USERS, PASSWORD, ORIGIN).
dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "datascale-common.lua")
local users, password, origin = tonumber(os.getenv("USERS")), os.getenv("PASSWORD"), os.getenv("ORIGIN")
function request()
  local body = string.format('{"email":"user%d@scale.example","password":"%s"}', math.random(1, users), password)
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json", ["Origin"] = origin }, body)
end
