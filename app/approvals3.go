package app

import (
	"context"
	"errors"
	"slices"
	"sync"

	"go.temporal.io/api/serviceerror"
	"golang.org/x/sync/errgroup"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

// cycleShape is 3 for a cycle run by PaymentCycle3 (its cases hear of
// approvals by one signal), 2 for the earlier shape (a vote per update).
func (s *Service) cycleShape(ctx context.Context, cycleID string) (int, error) {
	if v, ok := s.shapes.Load(cycleID); ok {
		return v.(int), nil
	}
	desc, err := s.Temporal.DescribeWorkflowExecution(ctx, workflows.CycleWorkflowID(cycleID), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return 2, nil // no workflow (yet): nothing to tell by signal
	}
	if err != nil {
		return 0, err
	}
	shape := 2
	if desc.GetWorkflowExecutionInfo().GetType().GetName() == workflows.Cycle3WorkflowName {
		shape = 3
	}
	s.shapes.Store(cycleID, shape)
	return shape, nil
}

// cycleRules is the programme and the case rules of a cycle's cases.
func (s *Service) cycleRules(ctx context.Context, cycleID string) (programID string, rules workflows.CaseRules, err error) {
	cyc, err := s.CaseStore.Cycle(ctx, cycleID)
	if err != nil {
		return "", rules, err
	}
	prog, err := s.ProgramStore.Get(ctx, cyc.ProgramID)
	if err != nil {
		return "", rules, err
	}
	return prog.ID, RulesOf(prog), nil
}

// tellChunk is how many cases completeApprovals tells between two marks.
const tellChunk = 500

// completeApprovals tells each case among ids (of a shape-3 cycle) whose
// required secretariats have now approved, by signed lists or by per-case
// votes: a case kept without a workflow is left to the cycle, which starts
// it approved, the votes in its input (handToCycle; handed counts them);
// any other gets one signal carrying the lists' votes, with at most 32 in
// flight. The others' projection stops listing the secretariats whose
// lists cover them (a per-case vote's projection, written from the case's
// state, lists them again). voted adds per-case approvals the projection
// may not show yet. It returns how many cases it told, how many it left
// to the cycle, and the errors of those it could not tell (ids only).
func (s *Service) completeApprovals(ctx context.Context, cycleID string, ids []string, voted map[string][]apoyo.Secretariat) (told, handed int, failed []string, err error) {
	_, rules, err := s.cycleRules(ctx, cycleID)
	if err != nil {
		return 0, 0, nil, err
	}
	lists, err := s.CaseStore.ListVotes(ctx, ids)
	if err != nil {
		return 0, 0, nil, err
	}
	waiting, err := s.CaseStore.ApprovalWaiting(ctx, ids)
	if err != nil {
		return 0, 0, nil, err
	}
	listed := map[apoyo.Secretariat][]string{} // secretariat → cases its lists cover, still waiting
	var complete []string
	for _, id := range ids {
		w, atApproval := waiting[id]
		if !atApproval {
			continue // moved on (rejected, cancelled) or told already
		}
		if rules.Approved(workflows.ApprovedBy(lists[id], w, rules.Required, voted[id])) {
			complete = append(complete, id)
			continue
		}
		for _, v := range lists[id] {
			if slices.Contains(w, string(v.Secretariat)) {
				listed[v.Secretariat] = append(listed[v.Secretariat], id)
			}
		}
	}
	for sec, ids := range listed {
		if err := s.CaseStore.DropWaiting(ctx, ids, sec); err != nil {
			return 0, 0, nil, err
		}
	}
	kept, err := s.CaseStore.KeptStarts(ctx, complete)
	if err != nil {
		return 0, 0, nil, err
	}
	// A case kept without a workflow is started by the cycle's sweep
	// (activities' startApproved), woken now: a list of millions would
	// take as long as starting them all inside this request. The others
	// (a workflow exists: an exception, a per-case vote) are told here.
	var toTell []string
	for _, id := range complete {
		if k, ok := kept[id]; ok && k.StartInput() != nil {
			handed++
			continue
		}
		toTell = append(toTell, id)
	}
	if handed > 0 {
		if err := s.handToCycle(ctx, cycleID); err != nil {
			return 0, handed, nil, err
		}
	}
	// Signalled a chunk at a time, each chunk's tellings of kept cases
	// (started by a per-case vote) marked in one write as it ends: the
	// cycle's sweep would tell again a case told but not yet marked.
	for chunk := range slices.Chunk(toTell, tellChunk) {
		var mu sync.Mutex
		var g errgroup.Group
		g.SetLimit(32)
		var toldIDs []string
		for _, id := range chunk {
			g.Go(func() error {
				err := workflows.TellApproved(ctx, s.Temporal, id, kept[id].TaskQueue, nil, lists[id])
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = append(failed, id+": "+mapTemporal(id, err).Error())
					return nil
				}
				toldIDs = append(toldIDs, id)
				told++
				return nil
			})
		}
		_ = g.Wait()
		if err := s.CaseStore.MarkTold(ctx, toldIDs, nil); err != nil {
			return told, handed, failed, err
		}
	}
	return told, handed, failed, ctx.Err()
}

// handToCycle leaves a cycle's approved kept cases to its sweep: recorded
// first (a sweep that runs finds them whether or not the signal arrives),
// then the cycle is woken to sweep now. A cycle that does not hear it
// (Temporal unreachable) finds them at its next sweep, within a minute.
func (s *Service) handToCycle(ctx context.Context, cycleID string) error {
	if err := s.CaseStore.RequestTells(ctx, cycleID); err != nil {
		return err
	}
	// An error is not the signature's: the cases are recorded for the
	// sweep, which runs at least once a minute while the cycle has
	// unfinished cases.
	_ = s.Temporal.SignalWorkflow(ctx, workflows.CycleWorkflowID(cycleID), "", workflows.SignalControl,
		workflows.CycleControl{Action: workflows.ControlSweep})
	return nil
}
