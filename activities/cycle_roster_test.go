package activities_test

import (
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/workflows"
)

// pageAll reads a roster to its end through RosterPage, two ids a page.
func (f *fixture) pageAll(in workflows.RosterPageInput) []string {
	f.t.Helper()
	var all []string
	in.Limit = 2
	for {
		ids, err := f.act.RosterPage(f.ctx, in)
		require.NoError(f.t, err)
		if len(ids) == 0 {
			return all
		}
		require.LessOrEqual(f.t, len(ids), 2)
		all = append(all, ids...)
		in.After = ids[len(ids)-1]
	}
}

// launchCycle creates a cycle the way a launch does: with the roster
// frozen, its size handed to the allocation.
func (f *fixture) launchCycle(name string) (apoyo.Cycle, bool, int) {
	f.t.Helper()
	sized := -1
	c, created, err := f.cases.CreateCycleWithRoster(f.ctx, apoyo.Cycle{ProgramID: f.prog.ID, Name: name, Period: name, CycleDate: cycleDate, Amount: f.amount},
		func(n int) ([]apoyo.FundAllocation, error) {
			sized = n
			return []apoyo.FundAllocation{{Fund: f.fund("city"), Cases: n}}, nil
		})
	require.NoError(f.t, err)
	return c, created, sized
}

// Defect 3: people imported after a cycle's launch have no reservation in
// it; the cycle's roster is the one frozen at launch.
func TestCycleRosterFrozenAtLaunch(t *testing.T) {
	f := newFixture(t, options{people: []person{
		{name: "Ana", method: apoyo.RailCashPickup},
		{name: "Beto", method: apoyo.RailCashPickup},
		{name: "Caro", method: apoyo.RailCashPickup},
	}})
	cyc, created, sized := f.launchCycle("2026-12")
	require.True(t, created)
	require.Equal(t, 3, sized, "the reservation is sized on the snapshot")
	require.Equal(t, 3, cyc.RosterSize)
	atLaunch := []string{f.id("Ana"), f.id("Beto"), f.id("Caro")}
	sort.Strings(atLaunch)

	// Imported after the launch (other birth dates: other CURPs).
	later := time.Date(1985, 1, 2, 0, 0, 0, 0, time.UTC)
	f.importPeople([]person{
		{name: "Dani", birth: later, method: apoyo.RailCashPickup},
		{name: "Eli", birth: later.AddDate(0, 1, 0), method: apoyo.RailCashPickup},
	})

	got := f.pageAll(workflows.RosterPageInput{ProgramID: f.prog.ID, CycleID: cyc.ID})
	require.Equal(t, atLaunch, got, "the cycle pages only the people enrolled at its launch")

	require.Regexp(t, `^[0-9a-f]{64}$`, cyc.RosterHash)

	// A run started before snapshots existed passes no cycle: live roster.
	require.Len(t, f.pageAll(workflows.RosterPageInput{ProgramID: f.prog.ID}), 5)

	// Launching the same cycle again reuses the snapshot and its hash.
	again, created, sized := f.launchCycle("2026-12")
	require.False(t, created)
	require.Equal(t, -1, sized, "a relaunch allocates nothing new")
	require.Equal(t, cyc.ID, again.ID)
	require.Equal(t, cyc.RosterHash, again.RosterHash)
	require.Equal(t, 3, again.RosterSize)
	require.Equal(t, atLaunch, f.pageAll(workflows.RosterPageInput{ProgramID: f.prog.ID, CycleID: cyc.ID}))

	// The next cycle picks the later people up, and its hash differs.
	next, created, sized := f.launchCycle("2027-01")
	require.True(t, created)
	require.Equal(t, 5, sized)
	require.NotEqual(t, cyc.RosterHash, next.RosterHash)
	require.Len(t, f.pageAll(workflows.RosterPageInput{ProgramID: f.prog.ID, CycleID: next.ID}), 5)
}
