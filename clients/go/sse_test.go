package coagent

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestTheSSEReaderFollowsTheEventStreamRules(t *testing.T) {
	in := ": keep-alive\n\nid: 1\nevent: message\ndata: {\"a\":1}\n\r\ndata: line one\ndata: line two\n\nevent: nodata\n\nid: 3\r\nevent: end\r\ndata:{}\r\n\r\n"
	r := newSSEReader(strings.NewReader(in))
	want := []event{{ID: "1", Event: "message", Data: `{"a":1}`}, {Event: "message", Data: "line one\nline two"},
		{ID: "3", Event: "end", Data: "{}"}}
	for i, w := range want {
		got, err := r.Next()
		if err != nil || got != w {
			t.Fatalf("event %d: got %+v, %v; want %+v", i, got, err, w)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("want io.EOF at the end, got %v", err)
	}
}

func TestAStreamCutMidEventIsAnUnexpectedEOF(t *testing.T) {
	r := newSSEReader(strings.NewReader("event: message\ndata: {\"a\""))
	if _, err := r.Next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("want io.ErrUnexpectedEOF, got %v", err)
	}
}

func TestAnErrorBodyBecomesATypedErrorThatMatchesItsSentinel(t *testing.T) {
	h := http.Header{}
	h.Set("Retry-After", "2")
	err := error(errorFromBody(429, []byte(`{"code":"mailbox_full","message":"full","details":{"limit":3}}`), h))
	var e *Error
	if !errors.Is(err, ErrMailboxFull) || errors.Is(err, ErrAgentNotFound) || !errors.As(err, &e) {
		t.Fatalf("got %v", err)
	}
	if e.Status != 429 || e.RetryAfter != 2*time.Second || e.Details["limit"] != float64(3) || e.Message != "full" {
		t.Fatalf("got %+v", e)
	}
}

func TestABodyThatIsNotOursStillGivesATypedError(t *testing.T) {
	if err := errorFromBody(401, []byte("nope"), nil); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("got %v", err)
	}
	if err := errorFromBody(502, []byte("<html>bad gateway</html>"), nil); !errors.Is(err, ErrInternalError) || err.Status != 502 {
		t.Fatalf("got %v", err)
	}
}

func TestABadGatewayURLIsRefused(t *testing.T) {
	if _, err := NewClient("localhost:8000"); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("got %v", err)
	}
	if _, err := NewRuntime("http://127.0.0.1:8000", WithProtocol("smoke")); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("got %v", err)
	}
}
