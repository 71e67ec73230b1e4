package coagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Request is one message delivered to an agent served by a Runtime.
type Request struct {
	Message
	// Agent and Session address the instance the message was sent to.
	Agent, Session string
	// Extensions are the message header's extensions, as the sender set them.
	Extensions map[string]any
}

// Handler answers one message with one reply (nil: no reply) or an error.
type Handler func(ctx context.Context, req *Request) (*Message, error)

// StreamHandler answers one message with a stream: it calls send for each reply.
type StreamHandler func(ctx context.Context, req *Request, send func(Message) error) error

type agentType struct {
	name, description string
	single            Handler
	stream            StreamHandler
	connects          atomic.Int64
}

// Runtime serves agent types from Go; the gateway delivers their sessions' messages over HTTP.
//
//	rt, _ := coagent.NewRuntime("http://127.0.0.1:8000", coagent.WithAuth(token))
//	rt.Register("ponger", "answers pings", func(ctx context.Context, req *coagent.Request) (*coagent.Message, error) {
//		reply := coagent.NewMessage("Pong", map[string]any{"text": "pong"})
//		return &reply, nil
//	})
//	err := rt.Run(ctx) // serves until ctx is done; reconnects when the gateway goes away
//
// It speaks the protocol of the original Coagent's CoS clients, which every `coagent gateway`
// serves: POST /runtime/register (an SSE stream of AgentCreated events, one per new session),
// POST /runtime/channel/subscribe (an SSE stream of a session's messages), and replies posted to
// /runtime/channel/publish at each message's reply address (a stream ends with StopIteration).
// Each session handles one message at a time, in order, like an actor.
type Runtime struct {
	c     conn
	mu    sync.Mutex
	types []*agentType
	names map[string]bool
	ready chan struct{}
	once  sync.Once
}

// NewRuntime is a runtime serving through the gateway at baseURL.
func NewRuntime(baseURL string, opts ...Option) (*Runtime, error) {
	c, err := newConn(baseURL, opts)
	if err != nil {
		return nil, err
	}
	return &Runtime{c: c, names: map[string]bool{}, ready: make(chan struct{})}, nil
}

func (rt *Runtime) add(t *agentType) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if t.name == "" {
		return &Error{Code: CodeInvalidAddress, Message: "an agent type's name must not be empty"}
	}
	if rt.names[t.name] {
		return &Error{Code: CodeAgentAlreadyExists, Message: "agent type " + t.name + " is already registered here"}
	}
	rt.names[t.name] = true
	rt.types = append(rt.types, t)
	return nil
}

// Register serves an agent type whose handler answers each message with one reply.
// Call it before Run.
func (rt *Runtime) Register(name, description string, h Handler) error {
	return rt.add(&agentType{name: name, description: description, single: h})
}

// RegisterStream serves an agent type whose handler streams its replies.
func (rt *Runtime) RegisterStream(name, description string, h StreamHandler) error {
	return rt.add(&agentType{name: name, description: description, stream: h})
}

// Ready is closed once every type has been registered with the gateway the first time (or
// refused: Run then returns the error).
func (rt *Runtime) Ready() <-chan struct{} { return rt.ready }

// Connects is how many times the type has (re)registered with the gateway.
func (rt *Runtime) Connects(name string) int64 {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, t := range rt.types {
		if t.name == name {
			return t.connects.Load()
		}
	}
	return 0
}

// fatal says whether another attempt cannot succeed (a refused token, a gateway without the
// serving endpoints): Run gives up and returns the error.
func fatal(err error) bool {
	return errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrBadRequest) || errors.Is(err, ErrNotImplemented)
}

// Run serves every registered type until ctx is done (then it returns nil) or the gateway
// refuses one (then the typed error, e.g. ErrUnauthorized). When the gateway goes away it
// reconnects with exponential backoff and full jitter and serves again.
func (rt *Runtime) Run(ctx context.Context) error {
	rt.mu.Lock()
	types := append([]*agentType(nil), rt.types...)
	rt.mu.Unlock()
	if len(types) == 0 {
		return &Error{Code: CodeRuntimeNotStarted, Message: "no agent type registered"}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var registered sync.WaitGroup
	errs := make(chan error, len(types))
	for _, t := range types {
		t := t
		wg.Add(1)
		registered.Add(1)
		go func() {
			defer wg.Done()
			if err := rt.serveType(ctx, t, registered.Done); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	go func() {
		registered.Wait()
		rt.once.Do(func() { close(rt.ready) })
	}()
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func (rt *Runtime) serveType(ctx context.Context, t *agentType, registered func()) error {
	delay := rt.c.o.backoffMin
	first := true
	var sessions sync.WaitGroup
	defer sessions.Wait()
	for ctx.Err() == nil {
		resp, err := rt.c.do(ctx, http.MethodPost, "/runtime/register",
			map[string]string{"name": t.name, "description": t.description}, nil)
		if err == nil {
			t.connects.Add(1)
			delay = rt.c.o.backoffMin
			if first {
				first = false
				registered()
			}
			err = rt.readRegistrations(ctx, t, resp.Body, &sessions)
			resp.Body.Close()
			rt.c.o.logf("coagent: the registration of %s ended (%v); reconnecting", t.name, err)
		} else if fatal(err) {
			if first {
				registered()
			}
			return fmt.Errorf("the gateway refused agent type %s: %w", t.name, err)
		} else {
			rt.c.o.logf("coagent: %s: %v; retrying in %v", t.name, err, delay)
		}
		// Full jitter: clients that lost the same gateway do not all come back at once.
		wait := time.Duration(rand.Int63n(int64(delay))) + 10*time.Millisecond
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		if delay *= 2; delay > rt.c.o.backoffMax {
			delay = rt.c.o.backoffMax
		}
	}
	return nil
}

// cosAddress and cosMessage are the gateway's CoS shapes (content is a JSON string).
type cosAddress struct {
	Name string `json:"name"`
	ID   string `json:"id,omitempty"`
}

type cosHeader struct {
	Type        string         `json:"type"`
	ContentType string         `json:"content_type,omitempty"`
	Extensions  map[string]any `json:"extensions,omitempty"`
}

type cosMessage struct {
	Header  cosHeader   `json:"header"`
	Reply   *cosAddress `json:"reply,omitempty"`
	Content string      `json:"content,omitempty"`
}

func (rt *Runtime) readRegistrations(ctx context.Context, t *agentType, body io.Reader, sessions *sync.WaitGroup) error {
	sse := newSSEReader(body)
	for {
		ev, err := sse.Next()
		if err != nil {
			return err
		}
		if ev.Event != "message" {
			continue
		}
		var m cosMessage
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil || m.Header.Type != "AgentCreated" {
			continue // AgentDeleted and types this client does not know: the session stream says more
		}
		var created struct {
			Addr cosAddress `json:"addr"`
		}
		if err := json.Unmarshal([]byte(m.Content), &created); err != nil {
			rt.c.o.logf("coagent: a malformed AgentCreated for %s: %v", t.name, err)
			continue
		}
		sessions.Add(1)
		go func() {
			defer sessions.Done()
			rt.serveSession(ctx, t, created.Addr)
		}()
	}
}

func (rt *Runtime) serveSession(ctx context.Context, t *agentType, addr cosAddress) {
	resp, err := rt.c.do(ctx, http.MethodPost, "/runtime/channel/subscribe", map[string]any{"addr": addr}, nil)
	if err != nil {
		rt.c.o.logf("coagent: session %s/%s: %v", addr.Name, addr.ID, err)
		return
	}
	defer resp.Body.Close()
	sse := newSSEReader(resp.Body)
	for {
		ev, err := sse.Next()
		if err != nil {
			// The session ends with its stream; new ones come through the registration.
			return
		}
		if ev.Event != "message" {
			continue
		}
		var m cosMessage
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			rt.c.o.logf("coagent: session %s/%s: a malformed message: %v", addr.Name, addr.ID, err)
			continue
		}
		if m.Header.Type == "AgentStarted" || m.Header.Type == "AgentStopped" {
			continue
		}
		rt.handle(ctx, t, addr, m)
	}
}

func (rt *Runtime) handle(ctx context.Context, t *agentType, addr cosAddress, m cosMessage) {
	content := json.RawMessage(m.Content)
	if m.Content == "" {
		content = json.RawMessage("{}")
	}
	req := &Request{Message: Message{Type: m.Header.Type, Content: content}, Agent: addr.Name, Session: addr.ID,
		Extensions: m.Header.Extensions}
	send := func(reply Message) error {
		if m.Reply == nil {
			return nil
		}
		return rt.publish(ctx, *m.Reply, toCos(reply))
	}
	var err error
	if t.stream != nil {
		err = safely(func() error { return t.stream(ctx, req, send) })
		if err == nil && m.Reply != nil {
			err = rt.publish(ctx, *m.Reply, cosMessage{Header: cosHeader{Type: "StopIteration"}})
		}
	} else {
		var reply *Message
		err = safely(func() (e error) { reply, e = t.single(ctx, req); return e })
		if err == nil && m.Reply != nil {
			if reply == nil {
				// Nothing to say still answers, so the caller does not wait for its deadline.
				err = rt.publish(ctx, *m.Reply, cosMessage{Header: cosHeader{Type: "StopIteration"}})
			} else {
				err = rt.publish(ctx, *m.Reply, toCos(*reply))
			}
		}
	}
	if err != nil && ctx.Err() == nil {
		rt.c.o.logf("coagent: %s/%s: the handler of %s failed: %v", addr.Name, addr.ID, m.Header.Type, err)
		if m.Reply != nil {
			_ = rt.publish(ctx, *m.Reply, errorToCos(err))
		}
	}
}

// safely turns a handler's panic into an agent_crashed error: one bad message must not stop
// the whole process's agents.
func safely(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &Error{Code: CodeAgentCrashed, Message: fmt.Sprintf("panic: %v", p)}
		}
	}()
	return f()
}

func toCos(m Message) cosMessage {
	content := string(m.Content)
	if content == "" {
		content = "{}"
	}
	return cosMessage{Header: cosHeader{Type: m.Type}, Content: content}
}

// errorToCos is a failed handler's answer: a message of type Error whose extensions carry the
// stable code, so the caller learns of the failure at once instead of at its deadline.
func errorToCos(err error) cosMessage {
	e := &Error{Code: CodeAgentCrashed, Message: err.Error()}
	var typed *Error
	if errors.As(err, &typed) {
		e = typed
	}
	b, _ := json.Marshal(errorBody{Code: e.Code, Message: e.Message, Details: e.Details})
	return cosMessage{Header: cosHeader{Type: "Error", Extensions: map[string]any{"error": e.Code}}, Content: string(b)}
}

func (rt *Runtime) publish(ctx context.Context, to cosAddress, m cosMessage) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := rt.c.do(ctx, http.MethodPost, "/runtime/channel/publish", map[string]any{"addr": to, "msg": m}, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
