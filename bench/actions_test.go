package bench_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"

	"github.com/apoyo-cdmx/apoyo/bench"
)

func event(typ enumspb.EventType, attrs any) *historypb.HistoryEvent {
	e := &historypb.HistoryEvent{EventType: typ}
	switch a := attrs.(type) {
	case *historypb.WorkflowExecutionStartedEventAttributes:
		e.Attributes = &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{WorkflowExecutionStartedEventAttributes: a}
	case *historypb.ActivityTaskStartedEventAttributes:
		e.Attributes = &historypb.HistoryEvent_ActivityTaskStartedEventAttributes{ActivityTaskStartedEventAttributes: a}
	case *historypb.MarkerRecordedEventAttributes:
		e.Attributes = &historypb.HistoryEvent_MarkerRecordedEventAttributes{MarkerRecordedEventAttributes: a}
	case *historypb.WorkflowExecutionSignaledEventAttributes:
		e.Attributes = &historypb.HistoryEvent_WorkflowExecutionSignaledEventAttributes{WorkflowExecutionSignaledEventAttributes: a}
	}
	return e
}

// TestCountActionsAsCloudBills: a child's start counts 2, a retry counts,
// the markers of one workflow task count once, and a signal from another
// workflow is not billed again to the receiver.
func TestCountActionsAsCloudBills(t *testing.T) {
	t.Parallel()
	child := []*historypb.HistoryEvent{
		event(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, &historypb.WorkflowExecutionStartedEventAttributes{
			ParentWorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: "cycle"}}),
		event(enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, nil),
		event(enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED, &historypb.ActivityTaskStartedEventAttributes{Attempt: 3}),
		event(enumspb.EVENT_TYPE_MARKER_RECORDED, &historypb.MarkerRecordedEventAttributes{WorkflowTaskCompletedEventId: 4}),
		event(enumspb.EVENT_TYPE_MARKER_RECORDED, &historypb.MarkerRecordedEventAttributes{WorkflowTaskCompletedEventId: 4}),
		event(enumspb.EVENT_TYPE_MARKER_RECORDED, &historypb.MarkerRecordedEventAttributes{WorkflowTaskCompletedEventId: 9}),
		event(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, &historypb.WorkflowExecutionSignaledEventAttributes{
			ExternalWorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: "cycle"}}),
		event(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED, &historypb.WorkflowExecutionSignaledEventAttributes{}),
		event(enumspb.EVENT_TYPE_TIMER_STARTED, nil),
		event(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED, nil),
		event(enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED, nil),
	}
	got := bench.CountActions(child)
	require.Equal(t, map[string]int{"start": 2, "activity": 1, "activity_retry": 2, "markers": 2, "signal": 1, "timer": 1, "update": 1}, got)
	require.Equal(t, 10, bench.Total(got))
	top := bench.CountActions([]*historypb.HistoryEvent{event(enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, &historypb.WorkflowExecutionStartedEventAttributes{})})
	require.Equal(t, map[string]int{"start": 1}, top)
}

// TestServerActionsReadsOneNamespace: the server's action counter, per
// type, of apoyo's namespace only; per-marker counts are not billed.
func TestServerActionsReadsOneNamespace(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`# HELP action action
# TYPE action counter
action{action_type="command_BatchMarkers",namespace="apoyo",operation="RespondWorkflowTaskCompleted",service_name="frontend"} 6
action{action_type="command_RecordMarker_LocalActivity",namespace="apoyo",operation="RespondWorkflowTaskCompleted",service_name="frontend"} 9
action{action_type="grpc_RecordActivityTaskHeartbeat",namespace="apoyo",operation="RecordActivityTaskHeartbeat",service_name="frontend"} 4
action{action_type="grpc_StartWorkflowExecution",namespace="apoyo",operation="StartWorkflowExecution",service_name="frontend"} 1
action{action_type="grpc_StartWorkflowExecution",namespace="temporal_system",operation="StartWorkflowExecution",service_name="frontend"} 2
other_metric 3
`))
	}))
	defer srv.Close()
	a, err := bench.ServerActions(context.Background(), srv.URL, "apoyo")
	require.NoError(t, err)
	require.Equal(t, int64(11), a.Billable(), "%v", a)
	require.Equal(t, int64(4), a.Heartbeats())
	require.Equal(t, bench.Actions{"grpc_StartWorkflowExecution": 1}, a.Since(bench.Actions{"command_BatchMarkers": 6, "command_RecordMarker_LocalActivity": 9, "grpc_RecordActivityTaskHeartbeat": 4}))
}
