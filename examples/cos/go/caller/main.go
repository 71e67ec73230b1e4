// Call agents through `coagent gateway` from Go: an ask, a stream, and a typed error.
//
//	cd examples/cos/go && go run ./caller [PONG_AGENT [STREAM_AGENT]]   (default: go-pong go-speaker)
//
// Any agent answers, whatever it is written in: a Python agent on the gateway's node, a
// Node.js agent served by examples/cos/node/server.mjs, a Go one served by ./server.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	coagent "coagent/client"
)

func main() {
	server := flag.String("server", "http://127.0.0.1:8000", "the gateway's URL")
	auth := flag.String("auth", os.Getenv("COAGENT_TOKEN"), "the gateway's token")
	flag.Parse()
	pongAgent, speaker := "go-pong", "go-speaker"
	if flag.NArg() > 0 {
		pongAgent = flag.Arg(0)
	}
	if flag.NArg() > 1 {
		speaker = flag.Arg(1)
	}
	client, err := coagent.NewClient(*server, coagent.WithAuth(*auth))
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, session := range []string{"alice", "alice", "bob"} {
		reply, err := client.Ask(ctx, pongAgent, session, coagent.NewMessage("Ping", map[string]string{"text": "hi from " + session}))
		if err != nil {
			log.Fatal(err)
		}
		var p struct {
			Text  string `json:"text"`
			Count int    `json:"count"`
		}
		if err := reply.Decode(&p); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %s %s (#%d)\n", session, reply.Type, p.Text, p.Count)
	}

	st, err := client.Stream(ctx, speaker, "", coagent.NewMessage("Speak", map[string]string{"text": "one two three"}))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	var words []string
	for st.Next() {
		var w struct {
			Word string `json:"word"`
		}
		if err := st.Message().Decode(&w); err != nil {
			log.Fatal(err)
		}
		words = append(words, w.Word)
	}
	if err := st.Err(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("streamed: %s\n", strings.Join(words, " "))

	_, err = client.Ask(ctx, "nobody-here", "", coagent.NewMessage("Ping", nil))
	var e *coagent.Error
	if !errors.Is(err, coagent.ErrAgentNotFound) || !errors.As(err, &e) {
		log.Fatalf("expected agent_not_found, got %v", err)
	}
	fmt.Printf("typed error: %s (HTTP %d)\n", e.Code, e.Status)
}
