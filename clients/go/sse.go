package coagent

import (
	"bufio"
	"context"
	"io"
	"strings"
	"sync/atomic"
	"time"
)

// event is one Server-Sent Event.
type event struct {
	ID    string
	Event string
	Data  string
}

// sseReader reads Server-Sent Events (the WHATWG rules: "data" lines joined by newlines,
// comments and unknown fields ignored, CRLF, LF or CR line ends). The standard library has no
// SSE reader and the client takes no dependencies, so it lives here: about 60 lines.
type sseReader struct {
	r *bufio.Reader
}

func newSSEReader(r io.Reader) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 64*1024)}
}

func (s *sseReader) line() (string, error) {
	text, err := s.r.ReadString('\n')
	if err != nil {
		if err == io.EOF && text != "" {
			return "", io.ErrUnexpectedEOF // a partial line at the end is not an event
		}
		return "", err
	}
	text = strings.TrimSuffix(text, "\n")
	return strings.TrimSuffix(text, "\r"), nil
}

// Next returns the next event; io.EOF when the stream ended between events.
func (s *sseReader) Next() (event, error) {
	var ev event
	var data []string
	seen := false
	for {
		line, err := s.line()
		if err != nil {
			if err == io.EOF && seen {
				return event{}, io.ErrUnexpectedEOF
			}
			return event{}, err
		}
		if line == "" {
			if !seen {
				continue
			}
			if data == nil {
				ev, data, seen = event{}, nil, false // an event without data is not dispatched
				continue
			}
			ev.Data = strings.Join(data, "\n")
			if ev.Event == "" {
				ev.Event = "message"
			}
			return ev, nil
		}
		if strings.HasPrefix(line, ":") {
			continue // a comment: the gateway's keep-alive
		}
		seen = true
		field, value := line, ""
		if i := strings.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], strings.TrimPrefix(line[i+1:], " ")
		}
		switch field {
		case "data":
			data = append(data, value)
		case "event":
			ev.Event = value
		case "id":
			ev.ID = value
		}
	}
}

// watchIdle cancels a stream whose gateway has sent nothing for idle, not even its keep-alive
// comment (every 15s): a gateway that vanished without closing the connection. The returned
// reader reads r; stop releases the timer.
func watchIdle(r io.Reader, idle time.Duration, cancel context.CancelFunc, idled *atomic.Bool) (io.Reader, func()) {
	if idle <= 0 {
		return r, func() {}
	}
	timer := time.AfterFunc(idle, func() { idled.Store(true); cancel() })
	return &idleReader{r: r, timer: timer, idle: idle}, func() { timer.Stop() }
}

type idleReader struct {
	r     io.Reader
	timer *time.Timer
	idle  time.Duration
}

func (ir *idleReader) Read(p []byte) (int, error) {
	n, err := ir.r.Read(p)
	if n > 0 {
		ir.timer.Reset(ir.idle)
	}
	return n, err
}
