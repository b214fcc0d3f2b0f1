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
var tellChunk = 500

// completeApprovals tells each case among ids (of a shape-3 cycle) whose
// required secretariats have now approved, by signed lists or by per-case
// votes, with one signal carrying the lists' votes (a case kept without a
// workflow is started approved instead, the votes in its input, with at
// most 32 starts in flight); the others' projection
// stops listing the secretariats whose lists cover them (a per-case vote's
// projection, written from the case's state, lists them again). voted adds
// per-case approvals the projection may not show yet. It returns how many
// cases it told, and the errors of those it could not (ids only).
func (s *Service) completeApprovals(ctx context.Context, cycleID string, ids []string, voted map[string][]apoyo.Secretariat) (told int, failed []string, err error) {
	_, rules, err := s.cycleRules(ctx, cycleID)
	if err != nil {
		return 0, nil, err
	}
	lists, err := s.CaseStore.ListVotes(ctx, ids)
	if err != nil {
		return 0, nil, err
	}
	waiting, err := s.CaseStore.ApprovalWaiting(ctx, ids)
	if err != nil {
		return 0, nil, err
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
			return 0, nil, err
		}
	}
	kept, err := s.CaseStore.KeptStarts(ctx, complete)
	if err != nil {
		return 0, nil, err
	}
	// Told a chunk at a time, each chunk's starts and tellings marked in
	// one write as it ends: a list of thousands takes minutes to tell,
	// and the cycle's sweep would tell again (a refused start, then a
	// billed signal) a case told early but not yet marked.
	for chunk := range slices.Chunk(complete, tellChunk) {
		var mu sync.Mutex
		var g errgroup.Group
		g.SetLimit(32)
		var started, toldIDs []string
		for _, id := range chunk {
			g.Go(func() error {
				k := kept[id]
				start := k.StartInput()
				err := workflows.TellApproved(ctx, s.Temporal, id, k.TaskQueue, start, lists[id])
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					failed = append(failed, id+": "+mapTemporal(id, err).Error())
					return nil
				}
				if start != nil {
					started = append(started, id)
				}
				toldIDs = append(toldIDs, id)
				told++
				return nil
			})
		}
		_ = g.Wait()
		if err := s.CaseStore.MarkTold(ctx, toldIDs, started); err != nil {
			return told, failed, err
		}
	}
	return told, failed, ctx.Err()
}
