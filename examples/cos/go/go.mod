module coagent/examples/cos

go 1.19

require coagent/client v0.0.0

// The client lives in this repository; there is no module proxy to fetch it from.
replace coagent/client => ../../../clients/go
