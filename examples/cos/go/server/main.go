// Two agent types served from Go through `coagent gateway`: a ping-pong agent that keeps a
// count per session, and a streaming agent that answers word by word.
//
//	coagent gateway &                                 # the hub, on 127.0.0.1:8000
//	cd examples/cos/go && go run ./server             # serves "go-pong" and "go-speaker"
//	go run ./caller go-pong go-speaker
//
// Flags: -server URL (default http://127.0.0.1:8000), -auth TOKEN (or COAGENT_TOKEN).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	coagent "coagent/client"
)

type ping struct {
	Text string `json:"text"`
}

type pong struct {
	Text  string `json:"text"`
	Count int    `json:"count"`
}

func main() {
	server := flag.String("server", "http://127.0.0.1:8000", "the gateway's URL")
	auth := flag.String("auth", os.Getenv("COAGENT_TOKEN"), "the gateway's token")
	flag.Parse()

	rt, err := coagent.NewRuntime(*server, coagent.WithAuth(*auth))
	if err != nil {
		log.Fatal(err)
	}
	var mu sync.Mutex
	counts := map[string]int{}
	must(rt.Register("go-pong", "Answers Ping with Pong, counting per session (Go).",
		func(ctx context.Context, req *coagent.Request) (*coagent.Message, error) {
			if req.Type != "Ping" {
				return nil, &coagent.Error{Code: coagent.CodeBadRequest, Message: "go-pong answers Ping, not " + req.Type}
			}
			p := ping{Text: "ping"}
			if err := req.Decode(&p); err != nil {
				return nil, err
			}
			mu.Lock()
			counts[req.Session]++
			n := counts[req.Session]
			mu.Unlock()
			reply := coagent.NewMessage("Pong", pong{Text: fmt.Sprintf("pong to %q from Go", p.Text), Count: n})
			return &reply, nil
		}))
	must(rt.RegisterStream("go-speaker", "Streams the words of a text back, one event each (Go).",
		func(ctx context.Context, req *coagent.Request, send func(coagent.Message) error) error {
			p := ping{Text: "hello from go"}
			if err := req.Decode(&p); err != nil {
				return err
			}
			for _, word := range strings.Fields(p.Text) {
				select {
				case <-ctx.Done(): // the caller cancelled, or the deadline passed
					return ctx.Err()
				case <-time.After(20 * time.Millisecond):
				}
				if err := send(coagent.NewMessage("Word", map[string]string{"word": word})); err != nil {
					return err
				}
			}
			return nil
		}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-rt.Ready()
		if rt.Dialect() != "" {
			fmt.Printf("serving go-pong and go-speaker through %s (%s); Ctrl-C stops\n", *server, rt.Dialect())
		}
	}()
	if err := rt.Run(ctx); err != nil {
		log.Fatal(err)
	}
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
