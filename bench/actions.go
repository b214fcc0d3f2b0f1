package bench

import (
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
)

// CountActions counts the history events Temporal bills as actions:
// workflow starts, activities, timers, signals in and out, updates,
// search-attribute upserts, child workflows and markers (side effects,
// local activities).
func CountActions(events []*historypb.HistoryEvent) map[string]int {
	out := map[string]int{}
	for _, e := range events {
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			out["start"]++
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			out["activity"]++
		case enumspb.EVENT_TYPE_TIMER_STARTED:
			out["timer"]++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			out["signal"]++
		case enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
			out["signal_out"]++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			out["update"]++
		case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
			out["upsert"]++
		case enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
			out["child"]++
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			out["marker"]++
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
