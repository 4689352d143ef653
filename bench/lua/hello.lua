-- Ceiling: the bare JSON endpoint (Django + ninja + middleware, no database).
dofile("report.lua")
