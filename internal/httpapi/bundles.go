package httpapi

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"strconv"

	"github.com/drover-dev/drover"
)

// putBundle is POST /bundles: the body is the ZIP.
func (s *server) putBundle(w http.ResponseWriter, r *http.Request) error {
	if isMultipart(r) {
		return drover.Errorf(drover.EMALFORMED, "POST /bundles takes the ZIP file itself as the body, not a form: with curl, --data-binary @file.zip (or send the form to POST /jobs, whose \"bundle\" part is the ZIP)")
	}
	if err := s.c.CheckBundleSize(r.ContentLength); err != nil {
		return err
	}
	release, err := s.uploadSlot(w, r)
	if err != nil {
		return err
	}
	defer release()
	b, created, err := s.putBundleFrom(r.Context(), r.Body)
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, b)
	return nil
}

// putBundleFrom stores the bundle the client sends in body.
// A failure to read body is answered as the client's, not the
// coordinator's. The body was cut short, over its limit or too slow.
func (s *server) putBundleFrom(ctx context.Context, body io.Reader) (*drover.Bundle, bool, error) {
	br := &bodyReader{r: body}
	b, created, err := s.c.PutBundle(ctx, br)
	if err != nil && br.err != nil {
		if isBodyLimit(br.err) {
			return nil, false, bodyError(br.err)
		}
		return nil, false, drover.Errorf(drover.EMALFORMED, "the bundle broke off before its end (%s): send it again", drover.Clip(br.err.Error(), 100))
	}
	return b, created, err
}

// bodyReader remembers the error its reader gave.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		b.err = err
	}
	return n, err
}

// uploadRetry is the Retry-After, in seconds, of an upload refused because
// BundleUploads are in flight. It is about the time an upload takes on a
// local network.
const uploadRetry = "2"

// uploadSlot takes one of the BundleUploads slots for a bundle about to be
// read, and returns its release. When all are taken it answers for the
// caller: 503 with Retry-After, before the body is read.
func (s *server) uploadSlot(w http.ResponseWriter, r *http.Request) (release func(), err error) {
	select {
	case s.uploads <- struct{}{}:
		return func() { <-s.uploads }, nil
	default:
		w.Header().Set("Retry-After", uploadRetry)
		closeAfter(w, r)
		return nil, drover.Errorf(drover.EUNAVAILABLE, "the coordinator is reading %d bundle uploads, the most it takes at once (--bundle-uploads): send this one again in a few seconds (drover run and submit do by themselves)", cap(s.uploads))
	}
}

// getBundle is GET /bundles/{sha}: the ZIP, for workers. It is read from
// the store as it is sent.
func (s *server) getBundle(rw http.ResponseWriter, r *http.Request) error {
	w := s.progressive(rw) // a large download lasts while the worker reads
	b, data, err := s.c.Bundle(r.Context(), r.PathValue("sha"))
	if err != nil {
		return err
	}
	defer data.Close()
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Length", strconv.FormatInt(b.Size, 10))
	w.Header().Set("ETag", `"`+b.SHA256+`"`)
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	if _, err := io.Copy(w, data); err != nil && r.Context().Err() == nil {
		// The answer is cut short of its Content-Length: the worker sees
		// it and fetches again.
		s.log.Warn("bundle download cut short", "sha256", b.SHA256, "err", err)
	}
	return nil
}

// submitMultipart is POST /jobs as multipart/form-data.
// A "spec" part holds the JSON spec and a "bundle" part the ZIP, in either
// order. One request from a form or curl then carries both.
func (s *server) submitMultipart(w http.ResponseWriter, r *http.Request) error {
	mr, err := r.MultipartReader()
	if err != nil {
		return drover.Errorf(drover.EMALFORMED, "multipart body: %s", drover.Quote(err.Error()))
	}
	var (
		spec   *drover.JobSpec
		bundle *drover.Bundle
	)
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if isBodyLimit(err) {
				return bodyError(err)
			}
			// A malformed header's error quotes the whole line.
			return drover.Errorf(drover.EMALFORMED, "multipart body: %s", drover.Quote(err.Error()))
		}
		switch name := p.FormName(); {
		case name == "spec" && spec != nil || name == "bundle" && bundle != nil:
			return drover.Errorf(drover.EMALFORMED, "multipart body has two %s parts: send one (a job has one spec and at most one bundle)", drover.Quote(name))
		case name == "spec":
			var sp drover.JobSpec
			if err := decodeFrom(newLimitReader(p, s.cfg.MaxBody), &sp, true); err != nil {
				return err
			}
			spec = &sp
		case name == "bundle":
			release, err := s.uploadSlot(w, r)
			if err != nil {
				return err
			}
			b, _, err := s.putBundleFrom(r.Context(), p)
			release()
			if err != nil {
				return err
			}
			bundle = b
		default:
			return drover.Errorf(drover.EMALFORMED, "multipart part %s is unknown: send a \"spec\" part (JSON) and an optional \"bundle\" part (ZIP)", drover.Quote(name))
		}
	}
	if spec == nil {
		return drover.Errorf(drover.EMALFORMED, "multipart body has no \"spec\" part: add -F spec='{\"command\":[...]}'")
	}
	if bundle != nil {
		if spec.Bundle != "" && spec.Bundle != bundle.SHA256 {
			return drover.FieldErrorf("bundle", "spec.bundle %q differs from the uploaded bundle %s: leave spec.bundle out", drover.Clip(spec.Bundle, 80), bundle.SHA256)
		}
		spec.Bundle = bundle.SHA256
	}
	return s.submit(w, r, *spec)
}

func isMultipart(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "multipart/form-data"
}

// bodyError turns a body read that hit the size limit into ETOOLARGE, and
// one that ran out of time into EMALFORMED.
func bodyError(err error) error {
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return drover.Errorf(drover.ETOOLARGE, "request body is over the %s limit", sizeText(maxErr.Limit))
	case errors.Is(err, os.ErrDeadlineExceeded):
		return drover.Errorf(drover.EMALFORMED, "the request body came too slowly: the coordinator waits for a body as long as its size needs at a modest rate, then gives up; send it again faster")
	}
	return err
}

// isBodyLimit reports whether err is one bodyError explains.
func isBodyLimit(err error) bool {
	var maxErr *http.MaxBytesError
	return errors.As(err, &maxErr) || errors.Is(err, os.ErrDeadlineExceeded)
}
