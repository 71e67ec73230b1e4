module coagent/client

go 1.19
