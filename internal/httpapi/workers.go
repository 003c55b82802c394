package httpapi

import (
	"crypto/subtle"
	"net/http"
	"sync"
	"time"

	"github.com/drover-dev/drover"
	"github.com/drover-dev/drover/internal/coordinator"
)

func (s *server) register(w http.ResponseWriter, r *http.Request) {
	if s.cfg.JoinToken != "" && subtle.ConstantTimeCompare([]byte(bearer(r)), []byte(s.cfg.JoinToken)) != 1 {
		msg := "this server needs a join token to register workers: set DROVER_JOIN_TOKEN or give --join-token-file"
		if bearer(r) != "" {
			msg = "the join token is wrong: check DROVER_JOIN_TOKEN or --join-token-file"
		}
		writeError(w, r, s.log, drover.Errorf(drover.EUNAUTHORIZED, "%s", msg))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	var req drover.RegisterRequest
	if err := decode(r, &req, false); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	resp, err := s.c.Register(r.Context(), req)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, resp)
}

func (s *server) heartbeat(w http.ResponseWriter, r *http.Request) error {
	var req drover.HeartbeatRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	resp, err := s.c.Heartbeat(r.Context(), workerID(r), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *server) work(w http.ResponseWriter, r *http.Request) error {
	wait := 30 * time.Second
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return drover.Errorf(drover.EINVALID, "wait %s: use a duration like 30s", drover.Quote(v))
		}
		// The coordinator holds a poll at most DefaultMaxWait: the
		// connection's deadline follows that bound, not the asked wait.
		wait = min(d, coordinator.DefaultMaxWait)
	}
	draining := r.URL.Query().Get("draining") == "1"
	s.holdFor(w, wait)
	resp, err := s.c.Work(r.Context(), workerID(r), wait, draining)
	if err != nil {
		if r.Context().Err() != nil {
			return nil // the worker went away
		}
		return err
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *server) deregister(w http.ResponseWriter, r *http.Request) error {
	if err := s.c.Deregister(r.Context(), workerID(r)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) accept(w http.ResponseWriter, r *http.Request) error {
	if err := s.c.Accept(r.Context(), workerID(r), r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) start(w http.ResponseWriter, r *http.Request) error {
	var req drover.StartRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	if err := s.c.StartAttempt(r.Context(), workerID(r), r.PathValue("id"), req); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// reports applies the starts and finishes of several attempts at once. They
// run concurrently, so the store commits them together: a worker finishing
// many short attempts pays one request and one commit for a batch of them.
func (s *server) reports(w http.ResponseWriter, r *http.Request) error {
	var req drover.ReportsRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	if len(req.Reports) > drover.MaxReports {
		return drover.Errorf(drover.ETOOLARGE, "%d reports in one request: send at most %d", len(req.Reports), drover.MaxReports)
	}
	for i, rep := range req.Reports {
		switch {
		case rep.AttemptID == "":
			return drover.Errorf(drover.EINVALID, "reports[%d]: attemptId is missing", i)
		case len(rep.AttemptID) > drover.MaxIDLen:
			return drover.Errorf(drover.EINVALID, "reports[%d]: attemptId %s is not one drover made: those are at most %d bytes", i, drover.Quote(rep.AttemptID), drover.MaxIDLen)
		case (rep.Start == nil) == (rep.Finish == nil):
			return drover.Errorf(drover.EINVALID, "reports[%d] (attempt %s): give exactly one of start and finish", i, rep.AttemptID)
		}
	}
	worker := workerID(r)
	results := make([]drover.ReportResult, len(req.Reports))
	var wg sync.WaitGroup
	for i, rep := range req.Reports {
		wg.Go(func() {
			var err error
			if rep.Start != nil {
				err = s.c.StartAttempt(r.Context(), worker, rep.AttemptID, *rep.Start)
			} else {
				_, err = s.c.Finish(r.Context(), worker, rep.AttemptID, *rep.Finish)
			}
			results[i].Status = http.StatusNoContent
			if err != nil {
				status, body := errorBody(r, s.log, err)
				results[i].Status, results[i].Error = status, &body
			}
		})
	}
	wg.Wait()
	writeJSON(w, http.StatusOK, drover.ReportsResponse{Results: results})
	return nil
}

func (s *server) appendOutput(w http.ResponseWriter, r *http.Request) error {
	var req drover.OutputRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	if err := s.c.AppendOutput(r.Context(), workerID(r), r.PathValue("id"), req.Chunks); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) finish(w http.ResponseWriter, r *http.Request) error {
	var req drover.FinishRequest
	if err := decode(r, &req, false); err != nil {
		return err
	}
	if _, err := s.c.Finish(r.Context(), workerID(r), r.PathValue("id"), req); err != nil {
		return err
	}
	// The answer is empty, as start's and output's are. The worker needs
	// only to know the finish was stored. Nobody would read the job and
	// its attempts, and encoding them is dear.
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *server) listWorkers(w http.ResponseWriter, r *http.Request) error {
	ws, err := s.c.Workers(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, drover.WorkerList{Workers: ws})
	return nil
}

func (s *server) getWorker(w http.ResponseWriter, r *http.Request) error {
	wk, err := s.c.Worker(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wk)
	return nil
}

func (s *server) drainWorker(w http.ResponseWriter, r *http.Request) error {
	wk, err := s.c.Drain(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wk)
	return nil
}
