//go:build gateway

// The Go client against a real `coagent gateway` (COAGENT_URL, with --auth COAGENT_TOKEN):
// built with -tags gateway and run by tests/clients/test_go.py, one test at a time.
package coagent

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func gatewayClient(t *testing.T, token string) *Client {
	t.Helper()
	c, err := NewClient(os.Getenv("COAGENT_URL"), WithAuth(token), WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func content(t *testing.T, m *Message) map[string]any {
	t.Helper()
	var v map[string]any
	if m == nil {
		t.Fatal("no reply")
	}
	if err := m.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAnAskAnswersWithTheReply(t *testing.T) {
	c := gatewayClient(t, os.Getenv("COAGENT_TOKEN"))
	reply, err := c.Ask(testContext(t), "echo", "s1", NewMessage("GPing", map[string]int{"n": 7}))
	if err != nil || reply.Type != "GPong" || content(t, reply)["n"] != float64(7) {
		t.Fatalf("got %+v, %v", reply, err)
	}
}

func TestAStreamYieldsEveryReplyInOrderAndAFailureMidwayIsTyped(t *testing.T) {
	c := gatewayClient(t, os.Getenv("COAGENT_TOKEN"))
	st, err := c.Stream(testContext(t), "echo", "", NewMessage("GCount", map[string]int{"n": 4, "fail_at": 2}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var seen []float64
	for st.Next() {
		seen = append(seen, content(t, ptr(st.Message()))["i"].(float64))
	}
	if len(seen) != 2 || seen[1] != 1 || !errors.Is(st.Err(), ErrAgentCrashed) {
		t.Fatalf("got %v, %v", seen, st.Err())
	}
}

func ptr(m Message) *Message { return &m }

func TestErrorsAreTypedByTheGatewaysCodes(t *testing.T) {
	c := gatewayClient(t, os.Getenv("COAGENT_TOKEN"))
	ctx := testContext(t)
	_, err := c.Ask(ctx, "echo", "", NewMessage("Nope", nil))
	var e *Error
	if !errors.Is(err, ErrUnknownMessage) || !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("unknown message: %v", err)
	}
	if _, err := c.Ask(ctx, "nobody", "", NewMessage("GPing", nil)); !errors.Is(err, ErrAgentNotFound) {
		t.Fatalf("unknown agent: %v", err)
	}
	bad := gatewayClient(t, "wrong-token")
	if _, err := bad.Ask(ctx, "echo", "", NewMessage("GPing", nil)); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("bad token: %v", err)
	}
	gone, _ := NewClient("http://127.0.0.1:9")
	if _, err := gone.Ask(ctx, "echo", "", NewMessage("GPing", nil)); !errors.Is(err, ErrTransportError) {
		t.Fatalf("no gateway: %v", err)
	}
}

func TestTheContextsDeadlineTravelsAndCancellingItCancelsTheCall(t *testing.T) {
	c := gatewayClient(t, os.Getenv("COAGENT_TOKEN"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err := c.Ask(ctx, "echo", "", NewMessage("GSleep", map[string]float64{"seconds": 20}))
	if !errors.Is(err, ErrDeadlineExceeded) || time.Since(t0) > 5*time.Second {
		t.Fatalf("deadline: %v after %v", err, time.Since(t0))
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	id := newCallID()
	time.AfterFunc(200*time.Millisecond, cancel2)
	_, err = c.Ask(ctx2, "echo", "", NewMessage("GSleep", map[string]float64{"seconds": 20}), WithCallID(id))
	if !errors.Is(err, ErrCallCancelled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %v", err)
	}
	state, err := c.Cancel(testContext(t), id)
	if err != nil || state == "" {
		t.Fatalf("cancel again: %q, %v", state, err)
	}
}

func TestATellWithAnIdempotencyKeyIsDeliveredOnce(t *testing.T) {
	c := gatewayClient(t, os.Getenv("COAGENT_TOKEN"))
	ctx := testContext(t)
	session := newCallID() // fresh on every run, as the key
	for i, want := range []bool{false, true} {
		r, err := c.Tell(ctx, "echo", session, NewMessage("GNote", map[string]string{"text": "once"}), WithIdempotencyKey(session))
		if err != nil || r.Replayed != want || r.Session != session {
			t.Fatalf("tell %d: %+v, %v", i, r, err)
		}
	}
	reply, err := c.Ask(ctx, "echo", session, NewMessage("GNoted", nil))
	if err != nil || string(reply.Content) != `{"texts":["once"]}` {
		t.Fatalf("got %+v, %v", reply, err)
	}
}

func serveFor(t *testing.T, rt *Runtime) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-rt.Ready():
	case <-time.After(15 * time.Second):
		t.Fatal("not registered within 15s")
	}
}

func newRuntime(t *testing.T, opts ...Option) *Runtime {
	rt, err := NewRuntime(os.Getenv("COAGENT_URL"), append([]Option{WithAuth(os.Getenv("COAGENT_TOKEN"))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

func registerEcho(t *testing.T, rt *Runtime, prefix string) {
	err := rt.Register(prefix+"-echo", "echoes", func(ctx context.Context, req *Request) (*Message, error) {
		switch req.Type {
		case "Fail":
			return nil, errors.New("broken")
		case "Panic":
			panic("oh no")
		case "Full":
			return nil, &Error{Code: CodeTooManySessions, Message: "no room"}
		case "Quiet":
			return nil, nil
		}
		var v map[string]any
		_ = req.Decode(&v)
		v["session"] = req.Session
		m := NewMessage("Echoed", v)
		return &m, nil
	})
	if err == nil {
		err = rt.RegisterStream(prefix+"-count", "counts", func(ctx context.Context, req *Request, send func(Message) error) error {
			var v struct{ N int }
			_ = req.Decode(&v)
			for i := 0; i < v.N; i++ {
				if err := send(NewMessage("Tick", map[string]int{"i": i})); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		t.Fatal(err)
	}
}

func checkServed(t *testing.T, prefix string) {
	c := gatewayClient(t, os.Getenv("COAGENT_TOKEN"))
	ctx := testContext(t)
	reply, err := c.Ask(ctx, prefix+"-echo", "x", NewMessage("Hi", map[string]int{"a": 1}))
	if err != nil || reply.Type != "Echoed" || content(t, reply)["session"] != "x" {
		t.Fatalf("ask: %+v, %v", reply, err)
	}
	st, err := c.Stream(ctx, prefix+"-count", "", NewMessage("Go", map[string]int{"n": 30}))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for st.Next() {
		if content(t, ptr(st.Message()))["i"] != float64(n) {
			t.Fatalf("item %d: %s", n, st.Message().Content)
		}
		n++
	}
	if st.Err() != nil || n != 30 {
		t.Fatalf("stream: %d items, %v", n, st.Err())
	}
}

func TestARuntimeServesSingleAndStreamedRepliesAndFailuresReachTheCallerTyped(t *testing.T) {
	rt := newRuntime(t)
	registerEcho(t, rt, "g")
	serveFor(t, rt)
	checkServed(t, "g")
	if rt.Dialect() != ProtocolV1 {
		t.Fatalf("dialect %q", rt.Dialect())
	}
	c := gatewayClient(t, os.Getenv("COAGENT_TOKEN"))
	ctx := testContext(t)
	if reply, err := c.Ask(ctx, "g-echo", "x", NewMessage("Quiet", nil)); err != nil || reply != nil {
		t.Fatalf("quiet: %+v, %v", reply, err)
	}
	if _, err := c.Ask(ctx, "g-echo", "x", NewMessage("Fail", nil)); !errors.Is(err, ErrAgentCrashed) || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("fail: %v", err)
	}
	if _, err := c.Ask(ctx, "g-echo", "x", NewMessage("Panic", nil)); !errors.Is(err, ErrAgentCrashed) || !strings.Contains(err.Error(), "oh no") {
		t.Fatalf("panic: %v", err)
	}
	if _, err := c.Ask(ctx, "g-echo", "x", NewMessage("Full", nil)); !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("typed: %v", err)
	}
}

func TestARuntimeOnTheCoSProtocolServesAsTheOriginalClientsDo(t *testing.T) {
	rt := newRuntime(t, WithProtocol(ProtocolCoS))
	registerEcho(t, rt, "gc")
	serveFor(t, rt)
	checkServed(t, "gc")
	if rt.Dialect() != ProtocolCoS {
		t.Fatalf("dialect %q", rt.Dialect())
	}
}

func TestACallerThatCancelsCancelsTheHandlersContext(t *testing.T) {
	rt := newRuntime(t)
	var once sync.Once
	cancelled := make(chan struct{})
	err := rt.RegisterStream("g-slow", "", func(ctx context.Context, req *Request, send func(Message) error) error {
		for i := 0; ; i++ {
			if err := send(NewMessage("Tick", map[string]int{"i": i})); err != nil {
				return err
			}
			select {
			case <-ctx.Done():
				once.Do(func() { close(cancelled) })
				return ctx.Err()
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	serveFor(t, rt)
	c := gatewayClient(t, os.Getenv("COAGENT_TOKEN"))
	st, err := c.Stream(testContext(t), "g-slow", "", NewMessage("Go", nil))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3 && st.Next(); i++ {
	}
	st.Close()
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's context was not cancelled within 5s")
	}
}

func TestARuntimeWithAWrongTokenReturnsUnauthorized(t *testing.T) {
	rt, _ := NewRuntime(os.Getenv("COAGENT_URL"), WithAuth("wrong-token"))
	_ = rt.Register("g-never", "", func(ctx context.Context, req *Request) (*Message, error) { return nil, nil })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := rt.Run(ctx); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("got %v", err)
	}
}

func TestAServingStreamThatGoesSilentIsTakenForDeadAndReconnected(t *testing.T) {
	// A real HTTP server that accepts /v1/serve, says ready, then never sends another byte
	// (a gateway that vanished without closing the connection).
	var opened atomic.Int64
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		opened.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = w.Write([]byte("event: ready\ndata: {}\n\n"))
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	rt, _ := NewRuntime(srv.URL, WithIdleTimeout(300*time.Millisecond), WithBackoff(50*time.Millisecond, 100*time.Millisecond))
	_ = rt.Register("g-silent", "", func(ctx context.Context, req *Request) (*Message, error) { return nil, nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for opened.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil || opened.Load() < 3 || rt.Connects("g-silent") < 2 {
		t.Fatalf("opened %d, connects %d, Run: %v", opened.Load(), rt.Connects("g-silent"), err)
	}
}
