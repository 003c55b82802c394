package httpapi

import (
	"net/http"
	"strconv"

	"github.com/drover-dev/drover"
)

func (s *server) submitJob(w http.ResponseWriter, r *http.Request) error {
	if isMultipart(r) {
		return s.submitMultipart(w, r)
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	var spec drover.JobSpec
	if err := decode(r, &spec, true); err != nil {
		return err
	}
	return s.submit(w, r, spec)
}

func (s *server) submit(w http.ResponseWriter, r *http.Request, spec drover.JobSpec) error {
	j, created, err := s.c.Submit(r.Context(), spec, r.Header.Get("Idempotency-Key"))
	if err != nil {
		return err
	}
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	w.Header().Set("Location", "/api/v1/jobs/"+j.ID)
	writeJSON(w, status, j)
	return nil
}

func (s *server) listJobs(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	states, err := parseStates(q["state"])
	if err != nil {
		return err
	}
	f := drover.JobFilter{States: states, Cursor: q.Get("cursor")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return drover.Errorf(drover.EINVALID, "limit %s: use a whole number from 1 to 1000", drover.Quote(v))
		}
		f.Limit = n
	}
	page, err := s.c.Jobs(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, page)
	return nil
}

func (s *server) getJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.c.Job(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}

// cancelJobs is POST /jobs/cancel: several jobs in one transaction.
func (s *server) cancelJobs(w http.ResponseWriter, r *http.Request) error {
	var req drover.CancelRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	switch {
	case len(req.IDs) == 0:
		return drover.FieldErrorf("ids", "ids is empty: name the jobs to cancel")
	case len(req.IDs) > drover.MaxCancel:
		return drover.FieldErrorf("ids", "%d jobs in one request: send at most %d", len(req.IDs), drover.MaxCancel)
	}
	for i, id := range req.IDs {
		if len(id) > drover.MaxIDLen {
			return drover.FieldErrorf("ids", "ids[%d] %s is not a job id: those are at most %d bytes", i, drover.Quote(id), drover.MaxIDLen)
		}
	}
	rs, err := s.c.CancelMany(r.Context(), req.IDs)
	if err != nil {
		return err
	}
	out := drover.CancelResponse{Results: make([]drover.CancelResult, len(rs))}
	for i, res := range rs {
		out.Results[i] = drover.CancelResult{ID: req.IDs[i], Status: http.StatusOK, Job: res.Job}
		if res.Err != nil {
			status, body := errorBody(r, s.log, res.Err)
			out.Results[i].Status, out.Results[i].Error = status, &body
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) cancelJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.c.Cancel(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, j)
	return nil
}
