module coagent/benchmarks/clients

go 1.19

require coagent/client v0.0.0

replace coagent/client => ../../../clients/go
