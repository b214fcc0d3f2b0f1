package bench

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/prometheus/common/expfmt"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
)

// CountActions counts a workflow run's billable Temporal actions from its
// history, as Temporal Cloud bills them:
//   - a workflow start 1 (a client's start, a continue-as-new's run);
//   - a child workflow start 2, counted in the child's history (the
//     parent's command to start it counts nothing there, so that the sum
//     over all histories is the bill);
//   - each activity start or retry 1 (a scheduled activity, plus one per
//     attempt after the first of the attempt that started last);
//   - all the markers one workflow task records 1 ("markers": local
//     activities, side effects and version markers are billed per task);
//   - each timer 1, each upsert of search attributes 1, each signal 1 (a
//     signal one workflow sends another is billed to the sender, the
//     signal it receives is not billed again), each accepted update 1.
//
// A history cannot show what Temporal bills outside it: heartbeats that
// reach the server, queries, rejected updates. ServerActions reads those
// from the server's action metric.
func CountActions(events []*historypb.HistoryEvent) map[string]int {
	out := map[string]int{}
	markerTasks := map[int64]bool{}
	for _, e := range events {
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			// A child's start is billed 2 (to its parent's command); it
			// is counted here, in the child's own history, so that a
			// case's count is the case's cost.
			if e.GetWorkflowExecutionStartedEventAttributes().GetParentWorkflowExecution() != nil {
				out["start"] += 2
			} else {
				out["start"]++
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			out["activity"]++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			if a := e.GetActivityTaskStartedEventAttributes().GetAttempt(); a > 1 {
				out["activity_retry"] += int(a) - 1
			}
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			out["timer"]++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			if e.GetWorkflowExecutionSignaledEventAttributes().GetExternalWorkflowExecution() == nil {
				out["signal"]++
			}
		case enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
			out["signal_out"]++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			out["update"]++
		case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
			out["upsert"]++
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			if id := e.GetMarkerRecordedEventAttributes().GetWorkflowTaskCompletedEventId(); !markerTasks[id] {
				markerTasks[id] = true
				out["markers"]++
			}
		}
	}
	return out
}

// Total sums a CountActions result.
func Total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// Actions are the server's action counter, per action type, as the
// Temporal server counts them for billing (its "action" metric: the same
// rules Temporal Cloud bills by, heartbeats, queries and rejected updates
// included).
type Actions map[string]int64

// ServerActions reads the Temporal server's "action" counter of one
// namespace from its Prometheus endpoint (temporalserver.Server.MetricsURL),
// summed per action type over the services. The server's own system
// workflows run in another namespace and are left out.
func ServerActions(ctx context.Context, metricsURL, namespace string) (Actions, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, metricsURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bench: reading the server's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bench: the server's metrics answered %s", resp.Status)
	}
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("bench: parsing the server's metrics: %w", err)
	}
	out := Actions{}
	fam, ok := families["action"]
	if !ok {
		return out, nil // nothing billed yet
	}
	for _, m := range fam.GetMetric() {
		typ, ns := "", ""
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "action_type":
				typ = l.GetValue()
			case "namespace":
				ns = l.GetValue()
			}
		}
		if ns == namespace {
			out[typ] += int64(m.GetCounter().GetValue())
		}
	}
	return out, nil
}

// Since is what was counted after before was read.
func (a Actions) Since(before Actions) Actions {
	out := Actions{}
	for k, v := range a {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// Billable sums the actions Temporal Cloud bills: every type but the
// per-marker counts, which the server records beside one
// "command_BatchMarkers" per workflow task, the unit billed.
func (a Actions) Billable() int64 {
	var n int64
	for k, v := range a {
		if !strings.HasPrefix(k, "command_RecordMarker") {
			n += v
		}
	}
	return n
}

// Heartbeats are the heartbeats that reached the server.
func (a Actions) Heartbeats() int64 {
	return a["grpc_RecordActivityTaskHeartbeat"] + a["grpc_RecordActivityTaskHeartbeatById"]
}

// String lists the billable types, largest first.
func (a Actions) String() string {
	type kv struct {
		k string
		v int64
	}
	var kvs []kv
	for k, v := range a {
		if !strings.HasPrefix(k, "command_RecordMarker") {
			kvs = append(kvs, kv{k, v})
		}
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].v > kvs[j].v || (kvs[i].v == kvs[j].v && kvs[i].k < kvs[j].k) })
	parts := make([]string, len(kvs))
	for i, e := range kvs {
		parts[i] = fmt.Sprintf("%s %d", e.k, e.v)
	}
	return strings.Join(parts, ", ")
}
