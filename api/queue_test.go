package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/api"
	"github.com/apoyo-cdmx/apoyo/app"
	"github.com/apoyo-cdmx/apoyo/internal/testfactory"
)

// queueService records the filter it was asked for, and refuses a step
// the way the store does (queue.invalid, naming the field).
type queueService struct {
	nothingService
	got *apoyo.QueueFilter
}

func (s queueService) Queue(_ context.Context, _ apoyo.Identity, f apoyo.QueueFilter) (apoyo.QueuePage, error) {
	*s.got = f
	if f.Step == "nowhere" {
		return apoyo.QueuePage{}, apoyo.Errorf(apoyo.EINVALID, "queue.invalid", "step %q: unknown", f.Step).At(0, "step")
	}
	return apoyo.QueuePage{Items: []apoyo.QueueItem{{TaskID: 7, Kind: apoyo.TaskIdentityReview}}, Next: 7}, nil
}

// TestQueueParameters: every query parameter reaches the filter, a page
// answers in its JSON shape, and a value that does not parse, or that
// the application refuses, answers 400 naming the parameter.
func TestQueueParameters(t *testing.T) {
	t.Parallel()
	var got apoyo.QueueFilter
	h := (&api.Server{App: app.NewAuthorizedWith(queueService{got: &got}, testfactory.NoEvidence{}), Auth: roleTokens}).Handler()

	w, _ := do(h, "GET", "/api/v1/queue?cycle_id=cyc_abcdef&step=approval&secretariat=SIBISO&alcaldia=GAM&kind=approval_overdue"+
		"&open_before=2026-11-23T10:00:00Z&after=41&limit=20", "", "", "cw")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, apoyo.QueueFilter{CycleID: "cyc_abcdef", Step: apoyo.StepApproval, Secretariat: apoyo.SIBISO, Alcaldia: "GAM",
		Kind: apoyo.TaskApprovalOverdue, OpenBefore: time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC), After: 41, Limit: 20}, got)
	var page apoyo.QueuePage
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &page))
	require.Equal(t, int64(7), page.Next)
	require.Len(t, page.Items, 1)

	w, _ = do(h, "GET", "/api/v1/queue", "", "", "pm")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	require.Equal(t, apoyo.QueueFilter{}, got, "no parameters, no filter (the store applies the default limit)")

	for _, tc := range []struct{ query, reason, field string }{
		{"open_before=yesterday", "http.bad_parameter", "open_before"},
		{"after=-1", "http.bad_parameter", "after"},
		{"after=next", "http.bad_parameter", "after"},
		{"limit=many", "http.bad_parameter", "limit"},
		{"step=nowhere", "queue.invalid", "step"},
	} {
		w, e := do(h, "GET", "/api/v1/queue?"+tc.query, "", "", "cw")
		require.Equal(t, http.StatusBadRequest, w.Code, "%s: %s", tc.query, w.Body)
		require.Equal(t, tc.reason, e.Reason, tc.query)
		require.Equal(t, tc.field, e.Field, tc.query)
		require.NotEmpty(t, e.RequestID, tc.query)
	}
}
