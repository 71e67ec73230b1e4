package coagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// The two serving protocols, one connection's worth of work each.
//
// /v1/serve (ours): one SSE stream for every type: "ready", then "deliver"
// {call, kind: ask|stream|tell, agent, session, type, content, timeout, headers} per call and
// "cancel" {call}; answers go to POST /v1/deliveries/{call} as {reply}, {items, end} or
// {error: {code, message}}.
//
// CoS (the original's): /runtime/register per type (an AgentCreated per new session), then
// /runtime/channel/subscribe per session, and answers published to each message's reply
// address, a stream ending with StopIteration. It has no cancellation and no error answers: a
// failed handler answers a message of type Error (extensions {"error": <code>}).

type delivery struct {
	Call    string            `json:"call"`
	Kind    string            `json:"kind"`
	Agent   string            `json:"agent"`
	Session string            `json:"session"`
	Type    string            `json:"type"`
	Content json.RawMessage   `json:"content"`
	Timeout float64           `json:"timeout"`
	Headers map[string]string `json:"headers"`
}

type item struct {
	Type    string            `json:"type"`
	Content json.RawMessage   `json:"content"`
	Headers map[string]string `json:"headers,omitempty"`
}

func itemOf(m Message) item {
	content := m.Content
	if len(content) == 0 {
		content = json.RawMessage("{}")
	}
	return item{Type: m.Type, Content: content, Headers: m.Headers}
}

// answer is the body of POST /v1/deliveries/{call}; Reply is a pointer to a pointer so that a
// handler that returns nothing sends {"reply": null}.
type answer struct {
	Reply *json.RawMessage `json:"reply,omitempty"`
	Items []item           `json:"items,omitempty"`
	End   bool             `json:"end,omitempty"`
	Error *errorBody       `json:"error,omitempty"`
}

var jsonNull = json.RawMessage("null")

func replyAnswer(m *Message) answer {
	if m == nil {
		return answer{Reply: &jsonNull}
	}
	b, _ := json.Marshal(itemOf(*m))
	raw := json.RawMessage(b)
	return answer{Reply: &raw}
}

// streamFailure names why a serving stream ended: silence past the idle timeout, or the error.
func (rt *Runtime) streamFailure(ctx context.Context, path string, err error, idled *atomic.Bool) error {
	if idled.Load() {
		return &Error{Code: CodeTransportError, Message: fmt.Sprintf("nothing from the gateway on %s for %v (not even a keep-alive): the connection is dead", path, rt.c.o.idleTimeout)}
	}
	return rt.c.failure(ctx, path, err)
}

func (rt *Runtime) serveV1(ctx context.Context, types []*agentType, onReady func()) (bool, error) {
	byName := map[string]*agentType{}
	agents := make([]map[string]string, 0, len(types))
	for _, t := range types {
		byName[t.name] = t
		agents = append(agents, map[string]string{"name": t.name, "description": t.description})
	}
	// The stream's own context: when it ends, every call in flight is abandoned with it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := rt.c.do(ctx, http.MethodPost, "/v1/serve", map[string]any{"agents": agents, "node": rt.c.o.node}, nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	var mu sync.Mutex
	inflight := map[string]context.CancelFunc{}
	var sessions serial
	var idled atomic.Bool
	body, unwatch := watchIdle(resp.Body, rt.c.o.idleTimeout, cancel, &idled)
	defer unwatch()
	sse := newSSEReader(body)
	connected := false
	for {
		ev, err := sse.Next()
		if err != nil {
			return connected, rt.streamFailure(ctx, "/v1/serve", err, &idled)
		}
		switch ev.Event {
		case "ready":
			connected = true
			onReady()
		case "cancel":
			var c struct {
				Call string `json:"call"`
			}
			if json.Unmarshal([]byte(ev.Data), &c) == nil {
				mu.Lock()
				if stop := inflight[c.Call]; stop != nil {
					stop()
				}
				mu.Unlock()
			}
		case "deliver":
			var d delivery
			if err := json.Unmarshal([]byte(ev.Data), &d); err != nil {
				rt.c.o.logf("coagent: a malformed delivery: %v", err)
				continue
			}
			t := byName[d.Agent]
			if t == nil {
				continue
			}
			var callCtx context.Context
			var stop context.CancelFunc
			if d.Timeout > 0 {
				callCtx, stop = context.WithTimeout(ctx, time.Duration(d.Timeout*float64(time.Second)))
			} else {
				callCtx, stop = context.WithCancel(ctx)
			}
			if d.Call != "" {
				mu.Lock()
				inflight[d.Call] = stop
				mu.Unlock()
			}
			sessions.run(d.Agent+"\x00"+d.Session, func() {
				defer func() {
					stop()
					mu.Lock()
					delete(inflight, d.Call)
					mu.Unlock()
				}()
				rt.handleV1(ctx, callCtx, t, &d)
			})
		}
	}
}

func (rt *Runtime) handleV1(streamCtx, ctx context.Context, t *agentType, d *delivery) {
	if ctx.Err() != nil {
		return
	}
	content := d.Content
	if len(content) == 0 || string(content) == "null" {
		content = json.RawMessage("{}")
	}
	req := &Request{Message: Message{Type: d.Type, Content: content, Headers: d.Headers}, Agent: d.Agent,
		Session: d.Session, Kind: d.Kind}
	path := "/v1/deliveries/" + url.PathEscape(d.Call)
	post := func(a answer) error {
		// The answer is posted under the stream's context, not the call's: a cancelled call
		// answers nothing, but one that just finished still gets its answer through.
		pctx, cancel := context.WithTimeout(streamCtx, 30*time.Second)
		defer cancel()
		resp, err := rt.c.do(pctx, http.MethodPost, path, a, nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	var err error
	if t.stream != nil {
		first := true
		batch := newBatcher(post)
		err = safely(func() error {
			return t.stream(ctx, req, func(m Message) error {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				switch d.Kind {
				case "tell":
					return nil
				case "ask": // an ask of a streaming handler takes its first item
					if !first {
						return nil
					}
					first = false
					return post(replyAnswer(&m))
				}
				return batch.add(itemOf(m))
			})
		})
		if err == nil && ctx.Err() == nil {
			switch d.Kind {
			case "stream":
				err = batch.end()
			case "ask":
				if first {
					err = post(replyAnswer(nil))
				}
			}
		}
	} else {
		var reply *Message
		err = safely(func() (e error) { reply, e = t.single(ctx, req); return e })
		if err == nil && d.Kind != "tell" && ctx.Err() == nil {
			err = post(replyAnswer(reply))
		}
	}
	if err == nil || ctx.Err() != nil || errors.Is(err, ErrCallNotFound) {
		return // done, or cancelled (the caller knows already)
	}
	rt.c.o.logf("coagent: %s/%s: the handler of %s failed: %v", d.Agent, d.Session, d.Type, err)
	if d.Kind != "tell" {
		body := errorOf(err)
		_ = post(answer{Error: &body})
	}
}

// batcher posts a stream's items as they come; while one post is in flight the next items
// gather, so a fast handler costs one request per batch instead of one per item (measured by
// benchmarks/clients.py --quick: 3,549 items/s one by one, 61,961 batched, on this machine).
type batcher struct {
	post    func(answer) error
	mu      sync.Mutex
	items   []item
	busy    bool
	err     error
	drained *sync.Cond
}

// batchLimit bounds the items waiting: past it a handler's send waits for the gateway.
const batchLimit = 256

func newBatcher(post func(answer) error) *batcher {
	b := &batcher{post: post}
	b.drained = sync.NewCond(&b.mu)
	return b
}

func (b *batcher) add(it item) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.err == nil && len(b.items) >= batchLimit {
		b.drained.Wait()
	}
	if b.err != nil {
		return b.err
	}
	b.items = append(b.items, it)
	if !b.busy {
		b.busy = true
		go b.drain()
	}
	return nil
}

func (b *batcher) drain() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for len(b.items) > 0 && b.err == nil {
		items := b.items
		b.items = nil
		b.drained.Broadcast()
		b.mu.Unlock()
		err := b.post(answer{Items: items})
		b.mu.Lock()
		if err != nil {
			b.err = err
		}
	}
	b.busy = false
	b.drained.Broadcast()
}

// end waits for the items in flight, then posts the rest with the end of the stream.
func (b *batcher) end() error {
	b.mu.Lock()
	for b.busy {
		b.drained.Wait()
	}
	items, err := b.items, b.err
	b.items = nil
	b.mu.Unlock()
	if err != nil {
		return err
	}
	return b.post(answer{Items: items, End: true})
}

// ---------------------------------------------------------------- the original's CoS

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

func toCos(m Message) cosMessage {
	content := string(m.Content)
	if content == "" {
		content = "{}"
	}
	return cosMessage{Header: cosHeader{Type: m.Type}, Content: content}
}

var cosStop = cosMessage{Header: cosHeader{Type: "StopIteration"}}

func (rt *Runtime) serveCos(ctx context.Context, t *agentType, onReady func()) (bool, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := rt.c.do(ctx, http.MethodPost, "/runtime/register",
		map[string]string{"name": t.name, "description": t.description}, nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	onReady()
	var mu sync.Mutex
	sessions := map[cosAddress]context.CancelFunc{}
	var idled atomic.Bool
	body, unwatch := watchIdle(resp.Body, rt.c.o.idleTimeout, cancel, &idled)
	defer unwatch()
	sse := newSSEReader(body)
	for {
		ev, err := sse.Next()
		if err != nil {
			return true, rt.streamFailure(ctx, "/runtime/register", err, &idled)
		}
		var m cosMessage
		if ev.Event != "message" || json.Unmarshal([]byte(ev.Data), &m) != nil {
			continue
		}
		if m.Header.Type != "AgentCreated" && m.Header.Type != "AgentDeleted" {
			continue
		}
		var created struct {
			Addr cosAddress `json:"addr"`
		}
		if err := json.Unmarshal([]byte(m.Content), &created); err != nil {
			continue
		}
		addr := created.Addr
		mu.Lock()
		if stop := sessions[addr]; stop != nil {
			stop() // deleted, or created again: the new subscription wins
			delete(sessions, addr)
		}
		if m.Header.Type == "AgentCreated" {
			sctx, stop := context.WithCancel(ctx)
			sessions[addr] = stop
			go func() {
				rt.cosSession(sctx, t, addr)
				stop()
			}()
		}
		mu.Unlock()
	}
}

func (rt *Runtime) cosSession(ctx context.Context, t *agentType, addr cosAddress) {
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
			return // the session ends with its stream; new ones come through the registration
		}
		var m cosMessage
		if ev.Event != "message" || json.Unmarshal([]byte(ev.Data), &m) != nil {
			continue
		}
		if m.Header.Type == "AgentStarted" || m.Header.Type == "AgentStopped" {
			continue
		}
		rt.handleCos(ctx, t, addr, m)
	}
}

func (rt *Runtime) handleCos(ctx context.Context, t *agentType, addr cosAddress, m cosMessage) {
	content := json.RawMessage(m.Content)
	if m.Content == "" {
		content = json.RawMessage("{}")
	}
	headers := map[string]string{}
	for k, v := range m.Header.Extensions {
		if s, ok := v.(string); ok {
			headers[k] = s
		}
	}
	req := &Request{Message: Message{Type: m.Header.Type, Content: content, Headers: headers}, Agent: addr.Name,
		Session: addr.ID}
	publish := func(msg cosMessage) error {
		if m.Reply == nil {
			return nil
		}
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		resp, err := rt.c.do(pctx, http.MethodPost, "/runtime/channel/publish", map[string]any{"addr": m.Reply, "msg": msg}, nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	var err error
	if t.stream != nil {
		err = safely(func() error {
			return t.stream(ctx, req, func(reply Message) error { return publish(toCos(reply)) })
		})
		if err == nil {
			err = publish(cosStop)
		}
	} else {
		var reply *Message
		err = safely(func() (e error) { reply, e = t.single(ctx, req); return e })
		if err == nil {
			if reply == nil {
				err = publish(cosStop) // StopIteration is "no reply" there: the caller does not wait
			} else {
				err = publish(toCos(*reply))
			}
		}
	}
	if err != nil && ctx.Err() == nil {
		rt.c.o.logf("coagent: %s/%s: the handler of %s failed: %v", addr.Name, addr.ID, m.Header.Type, err)
		body := errorOf(err)
		b, _ := json.Marshal(body)
		_ = publish(cosMessage{Header: cosHeader{Type: "Error", Extensions: map[string]any{"error": body.Code}}, Content: string(b)})
	}
}
