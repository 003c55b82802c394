package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/drover-dev/drover"
)

// statusOf is the one table from domain error codes to HTTP statuses.
var statusOf = map[string]int{
	drover.EMALFORMED:     http.StatusBadRequest,
	drover.EUNAUTHORIZED:  http.StatusUnauthorized,
	drover.EFORBIDDEN:     http.StatusForbidden,
	drover.ENOTFOUND:      http.StatusNotFound,
	drover.EMETHOD:        http.StatusMethodNotAllowed,
	drover.ECONFLICT:      http.StatusConflict,
	drover.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	drover.EINVALID:       http.StatusUnprocessableEntity,
	drover.EUNSCHEDULABLE: http.StatusUnprocessableEntity,
	drover.EUNAVAILABLE:   http.StatusServiceUnavailable,
	drover.EINTERNAL:      http.StatusInternalServerError,
}

// writeError writes err as {"error":{"code","message"}} with its status.
// Internal errors are logged with the request and never shown, even when
// they are *drover.Error. So are codes without a status.
//
// A 401 or a 413 closes the connection when the request has a body. Both
// come before the body is read. The server would otherwise read the rest
// only to throw it away.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, body := errorBody(r, log, err)
	if status == http.StatusUnauthorized || status == http.StatusRequestEntityTooLarge {
		closeAfter(w, r)
	}
	writeJSON(w, status, drover.ErrorBody{Error: body})
}

// errorBody is the status and the error shown for err, as writeError
// writes them.
func errorBody(r *http.Request, log *slog.Logger, err error) (int, drover.Error) {
	if r.Context().Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// The request's context ended under it. The coordinator is
		// shutting down, or the client left and reads nothing. That is no
		// internal error, and a retry may succeed.
		return http.StatusServiceUnavailable, drover.Error{Code: drover.EUNAVAILABLE,
			Message: "the request was cut short: the coordinator is stopping; try again"}
	}
	code := drover.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status, code = http.StatusInternalServerError, drover.EINTERNAL
	}
	if code == drover.EINTERNAL {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	body := drover.Error{Code: code, Message: "internal error"}
	var de *drover.Error
	if code != drover.EINTERNAL && errors.As(err, &de) {
		body.Message, body.Field = de.Message, de.Field
	}
	return status, body
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// decode reads a JSON body into v, turning every decoding failure into a
// message that says what to change. strict refuses unknown fields (a typo
// in a job spec must not be silently ignored). A key given twice in one
// object is refused in every body (see dupkeys.go).
func decode(r *http.Request, v any, strict bool) error {
	return decodeFrom(r.Body, v, strict)
}

// decodeFrom is decode of a body part (r may be a limitReader).
func decodeFrom(r io.Reader, v any, strict bool) error {
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer putBodyBuffer(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(r); err != nil {
		return decodeError(err)
	}
	data := buf.Bytes()
	if err := unmarshal(data, v, strict); err != nil {
		return err
	}
	if d := duplicateKey(data, reflect.TypeOf(v)); d != nil {
		return d.error()
	}
	return nil
}

// unmarshal decodes data, a whole body, into v. A body that decodes is
// taken at once; one that does not is read again by a decoder that tells
// what is wrong with it.
func unmarshal(data []byte, v any, strict bool) error {
	if !strict && json.Unmarshal(data, v) == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	// Only white space may follow; More alone would let a stray '}' or
	// ']' through.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return drover.Errorf(drover.EMALFORMED, "body has data after the JSON value: send one JSON object")
	}
	return nil
}

// bodyBuffers hold request bodies while they are decoded. Buffers that grew
// past maxPooledBody go back to the garbage collector, so a rare large body
// does not stay in memory.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBody = 256 << 10

func putBodyBuffer(b *bytes.Buffer) {
	if b.Cap() <= maxPooledBody {
		bodyBuffers.Put(b)
	}
}

// error is the answer to a body that gives a key twice. It is malformed
// input, and its message names the key and where it is. Field holds the
// struct fields down to the key.
func (d *dupKey) error() error {
	where := "the body"
	if len(d.path) > 0 {
		var b strings.Builder
		for i := len(d.path) - 1; i >= 0; i-- {
			seg := d.path[i]
			if b.Len() > 0 && !strings.HasPrefix(seg, "[") {
				b.WriteByte('.')
			}
			b.WriteString(drover.Clip(seg, 40))
		}
		where = drover.Clip(b.String(), 120)
	}
	if d.first != "" {
		return &drover.Error{Code: drover.EMALFORMED, Field: d.field,
			Message: fmt.Sprintf("keys %q and %q in %s name the same field (field names match whatever their case): send it once", drover.Clip(d.first, 40), drover.Clip(d.key, 40), where)}
	}
	return &drover.Error{Code: drover.EMALFORMED, Field: d.field,
		Message: fmt.Sprintf("key %q appears twice in %s: send each key once", drover.Clip(d.key, 60), where)}
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case isBodyLimit(err):
		return bodyError(err)
	case errors.Is(err, io.EOF):
		return drover.Errorf(drover.EMALFORMED, "request body is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return drover.Errorf(drover.EMALFORMED, "request body is not valid JSON: it ends too early")
	case errors.As(err, &syn):
		return drover.Errorf(drover.EMALFORMED, "request body is not valid JSON: %s (at byte %d)", syn.Error(), syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		want := typeName(typ.Type.String())
		if want == "a whole number" && strings.HasPrefix(typ.Value, "number") {
			// A fraction, or a number too large for the field.
			want = "a whole number within range"
		}
		if mapOfStrings[field] && typ.Type.Kind() == reflect.String {
			// The decoder names the map, not the key, for a value of the
			// wrong type.
			return &drover.Error{Code: drover.EMALFORMED, Field: field,
				Message: fmt.Sprintf("field %q must map names to strings: a value is a JSON %s (quote it)", field, clipValue(typ.Value))}
		}
		return &drover.Error{Code: drover.EMALFORMED, Field: field,
			Message: fmt.Sprintf("field %q must be %s, not a JSON %s", field, want, clipValue(typ.Value))}
	case errors.As(err, new(*drover.Error)):
		// A type's own UnmarshalJSON said what is wrong (drover.Command).
		return err
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		e := &drover.Error{Code: drover.EMALFORMED,
			Message: fmt.Sprintf("unknown field %s: check its spelling (see the API reference in the README)", drover.Quote(name))}
		if len(name) <= drover.MaxQuoted {
			e.Field = name
		}
		return e
	}
	return drover.Errorf(drover.EMALFORMED, "request body is not valid: %s", drover.Clip(strings.TrimPrefix(err.Error(), "json: "), 200))
}

// clipValue bounds what a decoding error shows of the value:
// encoding/json puts a number's whole text in it ("number 1.5").
func clipValue(v string) string {
	kind, text, ok := strings.Cut(v, " ")
	if !ok || kind != "number" || len(text) <= drover.MaxQuoted {
		return v
	}
	return kind + " " + drover.Quote(text)
}

func typeName(t string) string {
	switch {
	case t == "drover.Duration":
		return drover.DurationForm
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "map"), strings.HasPrefix(t, "drover."), strings.HasPrefix(t, "struct"):
		return "an object"
	case strings.HasPrefix(t, "[]"):
		return "an array"
	}
	return t
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// limitReader reads at most limit bytes of r, then fails with an
// *http.MaxBytesError. http.MaxBytesReader does the same for a whole body.
// A part over its limit is then answered 413, as a body is.
type limitReader struct {
	r           io.Reader
	left, limit int64
}

func newLimitReader(r io.Reader, limit int64) *limitReader {
	return &limitReader{r: r, left: limit, limit: limit}
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, &http.MaxBytesError{Limit: l.limit}
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1] // one byte past the limit tells it was passed
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n + int(l.left), &http.MaxBytesError{Limit: l.limit}
	}
	return n, err
}

// mapOfStrings are the request fields that are objects of strings.
var mapOfStrings = map[string]bool{"env": true, "constraints": true, "labels": true}
