package cases_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo/cases"
)

// A kept start is kept once (a retried page keeps the first), read back
// by id, listed while unstarted in case id order after a cursor, and
// leaves that list once marked started.
func TestKeptStarts(t *testing.T) {
	t.Parallel()
	e := setup(t, 0)
	for _, id := range []string{"case/cyc-k/b", "case/cyc-k/a", "case/cyc-other/a"} {
		created, err := e.store.KeepStart(e.ctx, cases.CaseStart{CaseID: id, CycleID: id[5:10], TaskQueue: "apoyo", Input: []byte(`{"n":1}`)})
		require.NoError(t, err)
		require.True(t, created)
	}
	created, err := e.store.KeepStart(e.ctx, cases.CaseStart{CaseID: "case/cyc-k/a", CycleID: "cyc-k", TaskQueue: "other", Input: []byte(`{"n":2}`)})
	require.NoError(t, err)
	require.False(t, created, "kept already")

	kept, err := e.store.KeptStarts(e.ctx, []string{"case/cyc-k/a", "case/cyc-k/none"})
	require.NoError(t, err)
	require.Len(t, kept, 1)
	a := kept["case/cyc-k/a"]
	require.Equal(t, "apoyo", a.TaskQueue, "the first keeping stands")
	require.JSONEq(t, `{"n":1}`, string(a.Input))
	require.False(t, a.Kept.IsZero())
	require.True(t, a.Started.IsZero())

	unstarted, err := e.store.UnstartedCases(e.ctx, "cyc-k", "", 10)
	require.NoError(t, err)
	require.Equal(t, []string{"case/cyc-k/a", "case/cyc-k/b"}, ids(unstarted))
	unstarted, err = e.store.UnstartedCases(e.ctx, "cyc-k", "case/cyc-k/a", 10)
	require.NoError(t, err)
	require.Equal(t, []string{"case/cyc-k/b"}, ids(unstarted))

	require.NoError(t, e.store.MarkStarted(e.ctx, []string{"case/cyc-k/a"}))
	require.NoError(t, e.store.MarkStarted(e.ctx, nil))
	unstarted, err = e.store.UnstartedCases(e.ctx, "cyc-k", "", 10)
	require.NoError(t, err)
	require.Equal(t, []string{"case/cyc-k/b"}, ids(unstarted))
	kept, err = e.store.KeptStarts(e.ctx, []string{"case/cyc-k/a"})
	require.NoError(t, err)
	require.False(t, kept["case/cyc-k/a"].Started.IsZero())
	require.True(t, kept["case/cyc-k/a"].Told.IsZero(), "started is not told")

	require.NoError(t, e.store.MarkTold(e.ctx, []string{"case/cyc-k/a", "case/not-kept"}, nil))
	require.NoError(t, e.store.MarkTold(e.ctx, nil, nil))
	kept, err = e.store.KeptStarts(e.ctx, []string{"case/cyc-k/a", "case/cyc-k/b"})
	require.NoError(t, err)
	told := kept["case/cyc-k/a"].Told
	require.False(t, told.IsZero())
	require.True(t, kept["case/cyc-k/b"].Told.IsZero())
	require.NoError(t, e.store.MarkTold(e.ctx, []string{"case/cyc-k/a"}, []string{"case/cyc-k/a"}))
	kept, err = e.store.KeptStarts(e.ctx, []string{"case/cyc-k/a"})
	require.NoError(t, err)
	require.True(t, told.Equal(kept["case/cyc-k/a"].Told), "the first telling stays recorded")
}

func ids(starts []cases.CaseStart) []string {
	out := make([]string, len(starts))
	for i, s := range starts {
		out[i] = s.CaseID
	}
	return out
}
