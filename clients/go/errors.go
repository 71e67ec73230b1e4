package coagent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Stable error codes, the same in every language (coagent/errors.py, coagent/gateway/errors.py).
const (
	CodeBadRequest           = "bad_request"
	CodeUnauthorized         = "unauthorized"
	CodeEndpointNotFound     = "endpoint_not_found"
	CodeRequestTimeout       = "request_timeout"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeIdempotencyKeyReused = "idempotency_key_reused"
	CodeNotImplemented       = "not_implemented"
	CodeInternalError        = "internal_error"
	CodeInvalidAddress       = "invalid_address"
	CodeMessageDecodeError   = "message_decode_error"
	CodeMessageTypeConflict  = "message_type_conflict"
	CodeUnknownMessage       = "unknown_message"
	CodeAgentNotFound        = "agent_not_found"
	CodeAgentAlreadyExists   = "agent_already_registered"
	CodeAgentCrashed         = "agent_crashed"
	CodeAgentStopped         = "agent_stopped"
	CodeRestartLimitExceeded = "restart_limit_exceeded"
	CodeDeadlineExceeded     = "deadline_exceeded"
	CodeMailboxFull          = "mailbox_full"
	CodeTooManySessions      = "too_many_sessions"
	CodeRuntimeNotStarted    = "runtime_not_started"
	CodeCallCancelled        = "call_cancelled"
	CodeTransportError       = "transport_error"
	CodeMessageTooLarge      = "message_too_large"
	CodeAgentDisconnected    = "agent_disconnected"
	CodeCallNotFound         = "call_not_found"
)

// Error is every failure of this package: a stable Code, a Message, and the HTTP Status the
// gateway answered with (0 when the error arose in this client).
//
// Compare with errors.Is against the sentinels, which match by code:
//
//	_, err := client.Ask(ctx, "nobody", "", msg)
//	if errors.Is(err, coagent.ErrAgentNotFound) { ... }
//	var e *coagent.Error
//	if errors.As(err, &e) { fmt.Println(e.Code, e.Status) }
type Error struct {
	Code    string
	Message string
	Status  int
	Details map[string]any
	// RetryAfter is how long the gateway asked to wait (429 and 503), else 0.
	RetryAfter time.Duration
	// Err is the underlying error (a network error, context.DeadlineExceeded, ...), if any.
	Err error
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// Unwrap gives the underlying error, so errors.Is(err, context.Canceled) works too.
func (e *Error) Unwrap() error { return e.Err }

// Is matches a sentinel (an Error with only a Code) by its code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Code == e.Code
}

// Sentinels for errors.Is, one per code.
var (
	ErrBadRequest           = &Error{Code: CodeBadRequest}
	ErrUnauthorized         = &Error{Code: CodeUnauthorized}
	ErrEndpointNotFound     = &Error{Code: CodeEndpointNotFound}
	ErrRequestTimeout       = &Error{Code: CodeRequestTimeout}
	ErrMethodNotAllowed     = &Error{Code: CodeMethodNotAllowed}
	ErrIdempotencyKeyReused = &Error{Code: CodeIdempotencyKeyReused}
	ErrNotImplemented       = &Error{Code: CodeNotImplemented}
	ErrInternalError        = &Error{Code: CodeInternalError}
	ErrInvalidAddress       = &Error{Code: CodeInvalidAddress}
	ErrMessageDecodeError   = &Error{Code: CodeMessageDecodeError}
	ErrMessageTypeConflict  = &Error{Code: CodeMessageTypeConflict}
	ErrUnknownMessage       = &Error{Code: CodeUnknownMessage}
	ErrAgentNotFound        = &Error{Code: CodeAgentNotFound}
	ErrAgentAlreadyExists   = &Error{Code: CodeAgentAlreadyExists}
	ErrAgentCrashed         = &Error{Code: CodeAgentCrashed}
	ErrAgentStopped         = &Error{Code: CodeAgentStopped}
	ErrRestartLimitExceeded = &Error{Code: CodeRestartLimitExceeded}
	ErrDeadlineExceeded     = &Error{Code: CodeDeadlineExceeded}
	ErrMailboxFull          = &Error{Code: CodeMailboxFull}
	ErrTooManySessions      = &Error{Code: CodeTooManySessions}
	ErrRuntimeNotStarted    = &Error{Code: CodeRuntimeNotStarted}
	ErrCallCancelled        = &Error{Code: CodeCallCancelled}
	ErrTransportError       = &Error{Code: CodeTransportError}
	ErrMessageTooLarge      = &Error{Code: CodeMessageTooLarge}
	ErrAgentDisconnected    = &Error{Code: CodeAgentDisconnected}
	ErrCallNotFound         = &Error{Code: CodeCallNotFound}
)

type errorBody struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// errorFromBody is the typed error for a gateway's error body (or for whatever else came).
func errorFromBody(status int, body []byte, header http.Header) *Error {
	var retry time.Duration
	if header != nil {
		if s, err := strconv.Atoi(header.Get("Retry-After")); err == nil {
			retry = time.Duration(s) * time.Second
		}
	}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err == nil && eb.Code != "" {
		return &Error{Code: eb.Code, Message: eb.Message, Status: status, Details: eb.Details, RetryAfter: retry}
	}
	// Not one of our error bodies: a proxy in between, or a gateway of another kind.
	code := CodeInternalError
	switch status {
	case http.StatusUnauthorized:
		code = CodeUnauthorized
	case http.StatusNotFound:
		code = CodeEndpointNotFound
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 200 {
		text = text[:200]
	}
	return &Error{Code: code, Message: fmt.Sprintf("HTTP %d: %s", status, text), Status: status, RetryAfter: retry}
}
