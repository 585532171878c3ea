-- GET with the JSON summary line of done.lua.
done = require("done")
