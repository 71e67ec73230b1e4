package coagent

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Request is one message delivered to an agent served by a Runtime.
type Request struct {
	Message
	// Agent and Session address the instance the message was sent to.
	Agent, Session string
	// Kind is "ask", "stream" or "tell" ("" over the CoS protocol, which does not say).
	Kind string
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

// Protocols a Runtime can serve with.
const (
	// ProtocolAuto uses /v1/serve, or the CoS endpoints when the gateway has no /v1/serve.
	ProtocolAuto = "auto"
	// ProtocolV1 is the gateway's own serving API: deliveries with call ids, deadlines,
	// cancellation and typed error answers, one stream for every type.
	ProtocolV1 = "v1"
	// ProtocolCoS is the original Coagent's: /runtime/register, /runtime/channel/subscribe
	// and replies published to /runtime/channel/publish.
	ProtocolCoS = "cos"
)

// WithProtocol picks the serving protocol (ProtocolAuto by default).
func WithProtocol(p string) Option { return func(o *options) { o.protocol = p } }

// WithNode names this process in the gateway's tree and agent list (/v1/serve only; 1-64 of
// [A-Za-z0-9_-]; default go-<host>-<pid>-<random>). The name is kept across reconnects, so the
// gateway replaces a stream of this process left half-open at once instead of refusing the types.
func WithNode(name string) Option { return func(o *options) { o.node = name } }

// Runtime serves agent types from Go; the gateway delivers their sessions' messages over HTTP.
//
//	rt, _ := coagent.NewRuntime("http://127.0.0.1:8000", coagent.WithAuth(token))
//	rt.Register("ponger", "answers pings", func(ctx context.Context, req *coagent.Request) (*coagent.Message, error) {
//		reply := coagent.NewMessage("Pong", map[string]any{"text": "pong"})
//		return &reply, nil
//	})
//	err := rt.Run(ctx) // serves until ctx is done; reconnects when the gateway goes away
//
// A handler's context is cancelled when the caller cancels or the call's deadline passes; an
// error it returns reaches the caller typed (its code when it is an *Error, else agent_crashed);
// a panic is an agent_crashed error. Each session handles one message at a time, in order.
type Runtime struct {
	c       conn
	mu      sync.Mutex
	types   []*agentType
	names   map[string]bool
	ready   chan struct{}
	once    sync.Once
	pending atomic.Int64
	dialect atomic.Value
}

// NewRuntime is a runtime serving through the gateway at baseURL.
func NewRuntime(baseURL string, opts ...Option) (*Runtime, error) {
	c, err := newConn(baseURL, opts)
	if err != nil {
		return nil, err
	}
	switch c.o.protocol {
	case "":
		c.o.protocol = ProtocolAuto
	case ProtocolAuto, ProtocolV1, ProtocolCoS:
	default:
		return nil, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("protocol must be auto, v1 or cos, got %q", c.o.protocol)}
	}
	if c.o.node == "" {
		c.o.node = defaultNodeName()
	}
	return &Runtime{c: c, names: map[string]bool{}, ready: make(chan struct{})}, nil
}

func defaultNodeName() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			return r
		}
		return '-'
	}, host)
	if len(host) > 24 {
		host = host[:24]
	}
	b := make([]byte, 3)
	_, _ = crand.Read(b)
	return fmt.Sprintf("go-%s-%d-%x", host, os.Getpid(), b)
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

// RegisterStream serves an agent type whose handler streams its replies. Call it before Run.
func (rt *Runtime) RegisterStream(name, description string, h StreamHandler) error {
	return rt.add(&agentType{name: name, description: description, stream: h})
}

// Ready is closed once every type has been registered with the gateway the first time (or
// refused: Run then returns the error).
func (rt *Runtime) Ready() <-chan struct{} { return rt.ready }

// Dialect is the protocol in use once connected: "v1" or "cos" ("" before).
func (rt *Runtime) Dialect() string {
	d, _ := rt.dialect.Load().(string)
	return d
}

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

// registered counts the types through; Ready closes when all are.
func (rt *Runtime) registered(types []*agentType, first *bool) {
	for _, t := range types {
		t.connects.Add(1)
	}
	if *first {
		*first = false
		if rt.pending.Add(-int64(len(types))) <= 0 {
			rt.once.Do(func() { close(rt.ready) })
		}
	}
}

// fatal says whether another attempt cannot succeed (a refused token, a malformed request, a
// gateway without the serving endpoints): Run gives up and returns the error.
func fatal(err error) bool {
	return errors.Is(err, ErrUnauthorized) || errors.Is(err, ErrBadRequest) || errors.Is(err, ErrNotImplemented) ||
		errors.Is(err, ErrEndpointNotFound) || errors.Is(err, ErrMethodNotAllowed)
}

// Run serves every registered type until ctx is done (then it returns nil) or the gateway
// refuses them (then the typed error, e.g. ErrUnauthorized). When the gateway goes away it
// reconnects with exponential backoff and full jitter and serves again.
func (rt *Runtime) Run(ctx context.Context) error {
	rt.mu.Lock()
	types := append([]*agentType(nil), rt.types...)
	rt.mu.Unlock()
	if len(types) == 0 {
		return &Error{Code: CodeRuntimeNotStarted, Message: "no agent type registered"}
	}
	rt.pending.Store(int64(len(types)))
	defer rt.once.Do(func() { close(rt.ready) }) // Run is over: nobody waits for Ready in vain
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if rt.c.o.protocol != ProtocolCoS {
		first := true
		err := rt.loop(ctx, func() (bool, error) {
			return rt.serveV1(ctx, types, func() { rt.dialect.Store(ProtocolV1); rt.registered(types, &first) })
		})
		notThere := errors.Is(err, ErrEndpointNotFound) || errors.Is(err, ErrMethodNotAllowed)
		if err == nil || rt.c.o.protocol == ProtocolV1 || !notThere || !first {
			if err != nil {
				err = fmt.Errorf("the gateway refused the agent types: %w", err)
			}
			return err
		}
		rt.c.o.logf("coagent: %s has no /v1/serve; serving over the CoS endpoints", rt.c.base)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(types))
	for _, t := range types {
		t := t
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			err := rt.loop(ctx, func() (bool, error) {
				return rt.serveCos(ctx, t, func() { rt.dialect.Store(ProtocolCoS); rt.registered([]*agentType{t}, &first) })
			})
			if err != nil {
				errs <- fmt.Errorf("the gateway refused agent type %s: %w", t.name, err)
				cancel()
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

// loop connects again and again. connect says whether it got through (its stream has ended
// since) and the error it met; a fatal error before getting through ends the loop with it.
func (rt *Runtime) loop(ctx context.Context, connect func() (bool, error)) error {
	delay := rt.c.o.backoffMin
	for ctx.Err() == nil {
		ok, err := connect()
		switch {
		case ctx.Err() != nil:
			return nil
		case ok:
			delay = rt.c.o.backoffMin
			rt.c.o.logf("coagent: the gateway's stream ended (%v); reconnecting", err)
		case fatal(err):
			return err
		default:
			rt.c.o.logf("coagent: %v; retrying within %v", err, delay)
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

// safely turns a handler's panic into an agent_crashed error: one bad message must not stop
// the process's other agents.
func safely(f func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &Error{Code: CodeAgentCrashed, Message: fmt.Sprintf("panic: %v", p)}
		}
	}()
	return f()
}

// errorOf is the typed error body for a handler's failure.
func errorOf(err error) errorBody {
	var typed *Error
	if errors.As(err, &typed) {
		return errorBody{Code: typed.Code, Message: typed.Message, Details: typed.Details}
	}
	return errorBody{Code: CodeAgentCrashed, Message: err.Error()}
}

// serial runs each session's messages one at a time, in order (an actor's mailbox).
type serial struct {
	mu    sync.Mutex
	queue map[string][]func()
}

func (s *serial) run(key string, job func()) {
	s.mu.Lock()
	if s.queue == nil {
		s.queue = map[string][]func(){}
	}
	q, busy := s.queue[key]
	s.queue[key] = append(q, job)
	s.mu.Unlock()
	if busy {
		return
	}
	go func() {
		for {
			s.mu.Lock()
			q := s.queue[key]
			if len(q) == 0 {
				delete(s.queue, key)
				s.mu.Unlock()
				return
			}
			next := q[0]
			s.queue[key] = q[1:]
			s.mu.Unlock()
			next()
		}
	}()
}
