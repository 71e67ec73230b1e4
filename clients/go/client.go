// Package coagent is the Go client of the Coagent HTTP gateway: call any agent (Client) and
// serve agent types from Go (Runtime). Standard library only.
//
//	client := coagent.NewClient("http://127.0.0.1:8000", coagent.WithAuth(os.Getenv("COAGENT_TOKEN")))
//	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
//	defer cancel()
//	reply, err := client.Ask(ctx, "server", "alice", coagent.NewMessage("Ping", map[string]any{"text": "hi"}))
//	if errors.Is(err, coagent.ErrAgentNotFound) { ... }
//	fmt.Println(reply.Type, string(reply.Content))
//
// The context's deadline travels to the gateway (Coagent-Timeout) and bounds the call here;
// cancelling the context cancels the call and its handler. Every error is an *Error with the
// gateway's stable code.
package coagent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Message is what agents exchange: a type and its JSON content.
type Message struct {
	Type    string            `json:"type"`
	Content json.RawMessage   `json:"content,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
}

// NewMessage builds a message whose content is v encoded as JSON (nil: an empty object).
// It panics only if v cannot be encoded as JSON, which is a programming error.
func NewMessage(typ string, v any) Message {
	if v == nil {
		return Message{Type: typ, Content: json.RawMessage("{}")}
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("coagent.NewMessage(%q): content is not JSON: %v", typ, err))
	}
	return Message{Type: typ, Content: b}
}

// Decode unmarshals the content into v.
func (m Message) Decode(v any) error {
	content := m.Content
	if len(content) == 0 || string(content) == "null" {
		content = json.RawMessage("{}")
	}
	if err := json.Unmarshal(content, v); err != nil {
		return &Error{Code: CodeMessageDecodeError, Message: fmt.Sprintf("%s content: %v", m.Type, err), Err: err}
	}
	return nil
}

// Option configures a Client or a Runtime.
type Option func(*options)

type options struct {
	auth        string
	httpClient  *http.Client
	timeout     time.Duration
	backoffMin  time.Duration
	backoffMax  time.Duration
	logf        func(format string, args ...any)
	protocol    string
	node        string
	idleTimeout time.Duration
}

// WithAuth sends "Authorization: Bearer <token>" with every request (nothing when empty).
func WithAuth(token string) Option { return func(o *options) { o.auth = token } }

// WithHTTPClient uses c instead of a client of its own (for TLS settings or a proxy).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithTimeout is the deadline of calls whose context has none (default 60s).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithBackoff bounds the Runtime's reconnection delays (default 100ms doubling up to 5s).
func WithBackoff(min, max time.Duration) Option {
	return func(o *options) { o.backoffMin, o.backoffMax = min, max }
}

// WithIdleTimeout is how long a Runtime's stream may stay silent (no event, no keep-alive;
// the gateway sends one every 15s) before it is taken for dead and reconnected (default 45s;
// 0: never).
func WithIdleTimeout(d time.Duration) Option { return func(o *options) { o.idleTimeout = d } }

// WithLogger receives the Runtime's log lines (default: none).
func WithLogger(logf func(format string, args ...any)) Option {
	return func(o *options) { o.logf = logf }
}

func newOptions(opts []Option) options {
	o := options{timeout: 60 * time.Second, backoffMin: 100 * time.Millisecond, backoffMax: 5 * time.Second,
		idleTimeout: 45 * time.Second,
		logf:        func(string, ...any) {}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.httpClient == nil {
		// No overall timeout here: streams stay open; every call has its context's deadline.
		o.httpClient = &http.Client{}
	}
	return o
}

// deadlineGrace is how long the client waits past the deadline it sent, so the gateway's own
// 504 (with its message) arrives before the client gives up by itself.
const deadlineGrace = time.Second

type conn struct {
	base string
	o    options
}

func newConn(baseURL string, opts []Option) (conn, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return conn{}, &Error{Code: CodeBadRequest, Message: fmt.Sprintf("the gateway's URL must be http(s)://host:port, got %q", baseURL)}
	}
	return conn{base: strings.TrimRight(baseURL, "/"), o: newOptions(opts)}, nil
}

// do sends a request; a non-2xx answer comes back as its typed error (the body closed).
func (c conn) do(ctx context.Context, method, path string, body any, header map[string]string) (*http.Response, error) {
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, &Error{Code: CodeBadRequest, Message: "the request body is not JSON: " + err.Error(), Err: err}
		}
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, reader)
	if err != nil {
		return nil, &Error{Code: CodeBadRequest, Message: err.Error(), Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if c.o.auth != "" {
		req.Header.Set("Authorization", "Bearer "+c.o.auth)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.o.httpClient.Do(req)
	if err != nil {
		return nil, c.failure(ctx, path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, errorFromBody(resp.StatusCode, b, resp.Header)
	}
	return resp, nil
}

// failure names an error met while sending or reading: the deadline, a cancel, or the network.
func (c conn) failure(ctx context.Context, path string, err error) error {
	var typed *Error
	if errors.As(err, &typed) {
		return typed
	}
	switch ctx.Err() {
	case context.DeadlineExceeded:
		return &Error{Code: CodeDeadlineExceeded, Message: "no answer from " + path + " within the deadline", Err: ctx.Err()}
	case context.Canceled:
		return &Error{Code: CodeCallCancelled, Message: "the call to " + path + " was cancelled", Err: ctx.Err()}
	}
	return &Error{Code: CodeTransportError, Message: fmt.Sprintf("cannot reach the gateway at %s: %v", c.base, err), Err: err}
}

// Client calls agents through the gateway's /v1 API. It is safe for concurrent use.
type Client struct {
	c conn
}

// NewClient is a client of the gateway at baseURL (http://host:port); an *Error if the URL is bad.
func NewClient(baseURL string, opts ...Option) (*Client, error) {
	c, err := newConn(baseURL, opts)
	if err != nil {
		return nil, err
	}
	return &Client{c: c}, nil
}

// CallOption adjusts one call.
type CallOption func(*callOptions)

type callOptions struct {
	callID         string
	idempotencyKey string
}

// WithCallID names the call, so another process can cancel it (Client.Cancel).
func WithCallID(id string) CallOption { return func(o *callOptions) { o.callID = id } }

// WithIdempotencyKey makes a Tell deliver at most once per key.
func WithIdempotencyKey(key string) CallOption {
	return func(o *callOptions) { o.idempotencyKey = key }
}

func newCallID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func agentPath(agent, session, verb string) (string, error) {
	if agent == "" {
		return "", &Error{Code: CodeInvalidAddress, Message: "the agent's name must not be empty"}
	}
	p := "/v1/agents/" + url.PathEscape(agent)
	if session != "" {
		p += "/sessions/" + url.PathEscape(session)
	}
	return p + "/" + verb, nil
}

// prepare gives the call's context (bounded by the deadline plus the grace), its headers and id.
func (cl *Client) prepare(ctx context.Context, opts []CallOption) (context.Context, context.CancelFunc, map[string]string, callOptions) {
	var co callOptions
	for _, opt := range opts {
		opt(&co)
	}
	if co.callID == "" {
		co.callID = newCallID()
	}
	timeout := cl.c.o.timeout
	var cancel context.CancelFunc
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline)
		if timeout <= 0 {
			timeout = time.Millisecond
		}
		ctx, cancel = context.WithCancel(ctx)
	} else {
		ctx, cancel = context.WithTimeout(ctx, timeout+deadlineGrace)
	}
	header := map[string]string{
		"Coagent-Timeout": strconv.FormatFloat(timeout.Seconds(), 'f', 3, 64),
		"Coagent-Call-Id": co.callID,
	}
	return ctx, cancel, header, co
}

// cancelQuietly tells the gateway to cancel a call whose caller gave up (best effort, bounded).
func (cl *Client) cancelQuietly(callID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = cl.Cancel(ctx, callID)
}

// Ask sends msg to the agent's session and waits for the reply; nil when the handler returns
// nothing. An empty session starts a fresh one.
func (cl *Client) Ask(ctx context.Context, agent, session string, msg Message, opts ...CallOption) (*Message, error) {
	path, err := agentPath(agent, session, "call")
	if err != nil {
		return nil, err
	}
	parent := ctx
	ctx, cancel, header, co := cl.prepare(ctx, opts)
	defer cancel()
	resp, err := cl.c.do(ctx, http.MethodPost, path, msg, header)
	if err != nil {
		if parent.Err() == context.Canceled {
			cl.cancelQuietly(co.callID)
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNoContent {
		return nil, nil
	}
	var reply Message
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		return nil, cl.c.failure(ctx, path, err)
	}
	return &reply, nil
}

// Stream is the replies of a streamed call:
//
//	st, err := client.Stream(ctx, "speaker", "", coagent.NewMessage("StreamPing", nil))
//	if err != nil { ... }
//	defer st.Close()
//	for st.Next() { fmt.Println(st.Message().Type) }
//	if err := st.Err(); err != nil { ... }
type Stream struct {
	cl     *Client
	ctx    context.Context
	cancel context.CancelFunc
	body   io.ReadCloser
	sse    *sseReader
	path   string
	callID string
	msg    Message
	err    error
	done   bool
}

// Stream starts a streamed call; an error before the first reply comes back here.
func (cl *Client) Stream(ctx context.Context, agent, session string, msg Message, opts ...CallOption) (*Stream, error) {
	path, err := agentPath(agent, session, "stream")
	if err != nil {
		return nil, err
	}
	parent := ctx
	ctx, cancel, header, co := cl.prepare(ctx, opts)
	resp, err := cl.c.do(ctx, http.MethodPost, path, msg, header)
	if err != nil {
		cancel()
		if parent.Err() == context.Canceled {
			cl.cancelQuietly(co.callID)
		}
		return nil, err
	}
	return &Stream{cl: cl, ctx: ctx, cancel: cancel, body: resp.Body, sse: newSSEReader(resp.Body), path: path,
		callID: co.callID}, nil
}

// Next waits for the next reply; false at the end of the stream or on an error (see Err).
func (s *Stream) Next() bool {
	if s.done {
		return false
	}
	for {
		ev, err := s.sse.Next()
		if err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = &Error{Code: CodeTransportError, Message: "the stream ended without its end event (the gateway went away)", Err: err}
			}
			return s.finish(s.cl.c.failure(s.ctx, s.path, err))
		}
		switch ev.Event {
		case "message":
			var m Message
			if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
				return s.finish(&Error{Code: CodeTransportError, Message: "a streamed reply is not JSON: " + ev.Data, Err: err})
			}
			s.msg = m
			return true
		case "end":
			return s.finish(nil)
		case "error":
			return s.finish(errorFromBody(http.StatusOK, []byte(ev.Data), nil))
		}
	}
}

func (s *Stream) finish(err error) bool {
	s.err, s.done = err, true
	s.cancel()
	s.body.Close()
	return false
}

// Message is the reply Next moved to.
func (s *Stream) Message() Message { return s.msg }

// Err is the stream's failure, nil when it ended normally.
func (s *Stream) Err() error { return s.err }

// Close ends the stream; before its end it cancels the call (and the agent's handler).
func (s *Stream) Close() error {
	if !s.done {
		s.finish(nil)
		s.cl.cancelQuietly(s.callID)
	}
	return nil
}

// TellResult is the gateway's answer to a Tell.
type TellResult struct {
	Accepted bool   `json:"accepted"`
	Replayed bool   `json:"replayed"`
	Session  string `json:"-"`
}

// Tell delivers msg without waiting for a reply (WithIdempotencyKey: at most once per key).
func (cl *Client) Tell(ctx context.Context, agent, session string, msg Message, opts ...CallOption) (*TellResult, error) {
	path, err := agentPath(agent, session, "tell")
	if err != nil {
		return nil, err
	}
	ctx, cancel, header, co := cl.prepare(ctx, opts)
	defer cancel()
	delete(header, "Coagent-Call-Id")
	if co.idempotencyKey != "" {
		header["Idempotency-Key"] = co.idempotencyKey
	}
	resp, err := cl.c.do(ctx, http.MethodPost, path, msg, header)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r TellResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, cl.c.failure(ctx, path, err)
	}
	r.Session = resp.Header.Get("Coagent-Session")
	return &r, nil
}

// Cancel cancels a call or stream by its id: "cancelled", "finished" or "unknown".
func (cl *Client) Cancel(ctx context.Context, callID string) (string, error) {
	var r struct {
		State string `json:"state"`
	}
	err := cl.getJSON(ctx, http.MethodDelete, "/v1/calls/"+url.PathEscape(callID), &r)
	return r.State, err
}

// AgentInfo is one agent type the gateway reaches.
type AgentInfo struct {
	Name         string   `json:"name"`
	Description  string   `json:"description"`
	Nodes        []string `json:"nodes"`
	MessageTypes []string `json:"message_types"`
}

// Agents lists every agent type the gateway reaches.
func (cl *Client) Agents(ctx context.Context) ([]AgentInfo, error) {
	var r struct {
		Agents []AgentInfo `json:"agents"`
	}
	err := cl.getJSON(ctx, http.MethodGet, "/v1/agents", &r)
	return r.Agents, err
}

// Health is nil while the gateway serves.
func (cl *Client) Health(ctx context.Context) error {
	var r map[string]any
	return cl.getJSON(ctx, http.MethodGet, "/v1/health", &r)
}

func (cl *Client) getJSON(ctx context.Context, method, path string, v any) error {
	ctx, cancel, _, _ := cl.prepare(ctx, nil)
	defer cancel()
	resp, err := cl.c.do(ctx, method, path, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return cl.c.failure(ctx, path, err)
	}
	return nil
}
