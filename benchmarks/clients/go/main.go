// The Go client's figures against a gateway (run by benchmarks/clients.py):
//
//	go run . URL SECONDS
//
// Prints one JSON line: {name: per-second rate}. The floor is the same client calling the
// gateway's plain endpoint (GET /v1/health: the same stack, a small JSON answer).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"strconv"
	"time"

	coagent "coagent/client"
)

func main() {
	url := os.Args[1]
	seconds, _ := strconv.ParseFloat(os.Args[2], 64)
	span := time.Duration(seconds * float64(time.Second))
	ctx := context.Background()
	client, err := coagent.NewClient(url)
	check(err)
	rate := func(f func() int) float64 {
		for i := 0; i < 50; i++ {
			f()
		}
		n, t0 := 0, time.Now()
		for time.Since(t0) < span {
			n += f()
		}
		return float64(n) / time.Since(t0).Seconds()
	}
	rt, err := coagent.NewRuntime(url)
	check(err)
	check(rt.Register("bench-go", "", func(ctx context.Context, req *coagent.Request) (*coagent.Message, error) {
		m := coagent.NewMessage("GPong", map[string]int{"n": 1})
		return &m, nil
	}))
	check(rt.RegisterStream("bench-go-stream", "", func(ctx context.Context, req *coagent.Request, send func(coagent.Message) error) error {
		var v struct{ N int }
		_ = req.Decode(&v)
		for i := 0; i < v.N; i++ {
			if err := send(coagent.NewMessage("GTick", map[string]int{"i": i})); err != nil {
				return err
			}
		}
		return nil
	}))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- rt.Run(runCtx) }()
	<-rt.Ready()
	ping := coagent.NewMessage("GPing", map[string]int{"n": 1})
	ask := func(agent string) func() int {
		return func() int {
			_, err := client.Ask(ctx, agent, "s", ping)
			check(err)
			return 1
		}
	}
	stream := func(agent string) func() int {
		return func() int {
			st, err := client.Stream(ctx, agent, "", coagent.NewMessage("GCount", map[string]int{"n": 2000}))
			check(err)
			n := 0
			for st.Next() {
				n++
			}
			check(st.Err())
			return n
		}
	}
	out := map[string]float64{
		"floor":         rate(func() int { check(client.Health(ctx)); return 1 }),
		"ask_python":    rate(ask("echo")),
		"ask_go":        rate(ask("bench-go")),
		"stream_python": rate(stream("echo")),
		"stream_go":     rate(stream("bench-go-stream")),
	}
	stop()
	check(<-done)
	b, _ := json.Marshal(out)
	fmt.Println(string(b))
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
