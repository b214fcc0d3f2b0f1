package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/report"
)

// progress is a running cycle's progress as the page shows it and as the
// events push it: counts per step, money per state (formatted for the
// reader's language: amounts never reach the browser as numbers to
// compute with), and whether the cycle has finished.
type progress struct {
	Status  string            `json:"status"`
	StatusL string            `json:"status_label"`
	Total   int               `json:"total"`
	Done    int               `json:"done"`
	Percent int               `json:"percent"`
	ByStep  map[string]int    `json:"by_step"`
	Money   map[string]string `json:"money"`
	Tasks   int               `json:"tasks"`
	Closed  bool              `json:"closed"`
	At      string            `json:"at"`
}

func progressOf(l *Locale, st apoyo.CycleStatusView) progress {
	p := progress{Status: string(st.Cycle.Status), StatusL: l.Tk("cycle", st.Cycle.Status), Total: st.Cycle.RosterSize, Done: st.Cases.Done,
		ByStep: map[string]int{}, Money: map[string]string{}, Closed: st.Cycle.Status == apoyo.CycleClosed || st.Progress.Closed,
		At: asOf(st).In(cityTime).Format("15:04:05")}
	if p.Total < st.Cases.Total {
		p.Total = st.Cases.Total
	}
	for _, step := range apoyo.Steps {
		p.ByStep[string(step)] = st.Cases.ByStep[string(step)]
	}
	for _, m := range moneyStates {
		p.Money[m] = l.Money(st.Amounts[m])
	}
	for _, n := range st.OpenTasks {
		p.Tasks += n
	}
	if p.Total > 0 {
		p.Percent = p.Done * 100 / p.Total
	}
	return p
}

// asOf is when a status's figures were read: reads are shared, and on a
// large cycle kept for a while (apoyo.StatusShownFor), so the page says
// when its figures are from, not when it was drawn.
func asOf(st apoyo.CycleStatusView) time.Time {
	if st.AsOf.IsZero() {
		return time.Now()
	}
	return st.AsOf
}

// cycleEvents pushes the cycle's progress as server-sent events every
// ProgressEvery until the cycle closes or the page goes away. Each event
// reads the cycle's aggregates, never its cases.
func (s *Server) cycleEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		s.fail(w, r, apoyo.Errorf(apoyo.EINTERNAL, "console.no_stream", "streaming is not supported here"))
		return
	}
	id, me, l := chi.URLParam(r, "cycle"), who(r), localeOf(r)
	st, err := s.App.CycleStatus(r.Context(), me, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// A stream lasts streamFor at most: the browser then reconnects, and
	// the session is checked again (a revoked token stops being served).
	ctx, cancel := context.WithTimeout(r.Context(), streamFor)
	defer cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	tick := time.NewTicker(s.ProgressEvery)
	defer tick.Stop()
	for {
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			fmt.Fprintf(w, "event: trouble\ndata: %s\n\n", jsonString(apoyo.ErrorReasonOf(err)))
			flusher.Flush()
		} else {
			p := progressOf(l, st) // st is read again at the end of the loop
			b, _ := json.Marshal(p)
			fmt.Fprintf(w, "event: progress\ndata: %s\n\n", b)
			flusher.Flush()
			if p.Closed {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		st, err = s.progress.status(ctx, s.App, me, id, s.ProgressEvery)
	}
}

// progressHub shares each cycle's status between the pages watching it:
// however many people watch a cycle, its status is read once per
// interval (a read groups the cycle's cases in PostgreSQL and queries its
// workflow, which Temporal Cloud bills). Each stream's first read is its
// own, as its viewer, so the application layer authorizes every viewer.
type progressHub struct {
	mu     sync.Mutex
	cycles map[string]*sharedStatus
}

type sharedStatus struct {
	mu   sync.Mutex
	at   time.Time
	view apoyo.CycleStatusView
}

func (h *progressHub) status(ctx context.Context, app apoyo.Service, who apoyo.Identity, cycleID string, every time.Duration) (apoyo.CycleStatusView, error) {
	h.mu.Lock()
	if h.cycles == nil {
		h.cycles = map[string]*sharedStatus{}
	}
	e := h.cycles[cycleID]
	if e == nil {
		e = &sharedStatus{}
		h.cycles[cycleID] = e
	}
	h.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	if time.Since(e.at) < every/2 {
		return e.view, nil
	}
	v, err := app.CycleStatus(ctx, who, cycleID)
	if err != nil {
		return v, err
	}
	e.view, e.at = v, time.Now()
	if v.Progress.Closed || v.Cycle.Status == apoyo.CycleClosed {
		// Nobody will watch it long: forget it.
		h.mu.Lock()
		delete(h.cycles, cycleID)
		h.mu.Unlock()
	}
	return v, nil
}

// streamFor bounds one progress stream (see cycleEvents).
const streamFor = 10 * time.Minute

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

type reportData struct {
	Report  apoyo.CycleReport
	MinCell int
}

func (s *Server) cycleReport(r *http.Request) (apoyo.CycleReport, int, error) {
	minCell := 0
	if v := r.URL.Query().Get("min_cell"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return apoyo.CycleReport{}, 0, apoyo.Errorf(apoyo.EINVALID, "report.invalid", "min_cell: expected a whole number, 2 or more").At(0, "min_cell")
		}
		minCell = n
	}
	rep, err := s.App.CycleReport(r.Context(), who(r), chi.URLParam(r, "cycle"), apoyo.ReportOptions{MinCell: minCell})
	return rep, minCell, err
}

func (s *Server) reportPage(w http.ResponseWriter, r *http.Request) {
	rep, minCell, err := s.cycleReport(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "report", reportData{Report: rep, MinCell: minCell})
}

// reportCSV downloads the report as the API and CLI write it (cells that
// a spreadsheet would run as formulas are neutralised there).
func (s *Server) reportCSV(w http.ResponseWriter, r *http.Request) {
	rep, _, err := s.cycleReport(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var buf bytes.Buffer
	if err := report.WriteCSV(&buf, rep); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="informe-`+rep.Cycle.ID+`.csv"`)
	_, _ = w.Write(buf.Bytes())
}
