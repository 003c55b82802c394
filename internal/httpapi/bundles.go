package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/drover-dev/drover"
)

// putBundle is POST /bundles: the body is the ZIP.
func (s *server) putBundle(w http.ResponseWriter, r *http.Request) error {
	if isMultipart(r) {
		return drover.Errorf(drover.EMALFORMED, "POST /bundles takes the ZIP file itself as the body, not a form: with curl, --data-binary @file.zip (or send the form to POST /jobs, whose \"bundle\" part is the ZIP)")
	}
	b, created, err := s.c.PutBundle(r.Context(), r.Body)
	if err != nil {
		return bodyError(err)
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	writeJSON(w, status, b)
	return nil
}

// getBundle is GET /bundles/{sha}: the ZIP, for workers.
func (s *server) getBundle(w http.ResponseWriter, r *http.Request) error {
	b, data, err := s.c.Bundle(r.Context(), r.PathValue("sha"))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Length", strconv.FormatInt(int64(len(data)), 10))
	w.Header().Set("ETag", `"`+b.SHA256+`"`)
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	_, _ = w.Write(data)
	return nil
}

// submitMultipart is POST /jobs as multipart/form-data: a "spec" part
// (the JSON spec) and a "bundle" part (a ZIP), in either order, so one
// request from a form or curl carries both.
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
			// A malformed header's error quotes the whole line.
			return bodyError(drover.Errorf(drover.EMALFORMED, "multipart body: %s", drover.Quote(err.Error())))
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
			b, _, err := s.c.PutBundle(r.Context(), p)
			if err != nil {
				return bodyError(err)
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
			return drover.FieldErrorf("bundle", "spec.bundle %s differs from the uploaded bundle %s: leave spec.bundle out", spec.Bundle, bundle.SHA256)
		}
		spec.Bundle = bundle.SHA256
	}
	return s.submit(w, r, *spec)
}

func isMultipart(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "multipart/form-data"
}

// bodyError turns a body read that hit the size limit into ETOOLARGE.
func bodyError(err error) error {
	var maxErr *http.MaxBytesError
	if errors.As(err, &maxErr) {
		return drover.Errorf(drover.ETOOLARGE, "request body is over the %s limit", sizeText(maxErr.Limit))
	}
	return err
}
