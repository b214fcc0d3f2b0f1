package apoyo

import (
	"time"

	"github.com/shopspring/decimal"
)

// Cycle is one payment cycle of a programme: the roster frozen at launch,
// the money reserved for it, and one case per person on that roster.
type Cycle struct {
	ID        string      `json:"id"`
	ProgramID string      `json:"program_id"`
	Name      string      `json:"name"`
	Period    string      `json:"period,omitempty"`
	CycleDate time.Time   `json:"cycle_date"`
	Status    CycleStatus `json:"status"`
	CreatedAt time.Time   `json:"created_at"`
	// RosterSize, Amount and Allocation record the reservation made at
	// launch (nil before it).
	RosterSize int              `json:"roster_size,omitempty"`
	Amount     decimal.Decimal  `json:"amount"`
	Allocation []FundAllocation `json:"allocation,omitempty"`
	// RosterHash is the hex SHA-256 of the roster frozen at launch ("" for
	// cycles created without a snapshot, which page the live roster).
	RosterHash string `json:"roster_hash,omitempty"`
	// ControlSeq counts the pause, resume and cancel decisions the
	// database accepted; the cycle workflow applies a control only when
	// its seq is newer than the last one it applied.
	ControlSeq int64 `json:"control_seq"`
	// CancelledAt is set once the cycle is cancelled, and stays set after
	// it closes.
	CancelledAt  *time.Time `json:"cancelled_at,omitempty"`
	CancelReason string     `json:"cancel_reason,omitempty"`
	ClosedAt     *time.Time `json:"closed_at,omitempty"`
}

// Cancelled reports whether the cycle was cancelled, whether or not its
// close has run since: no case of a cancelled cycle may start paying.
func (c Cycle) Cancelled() bool { return c.CancelledAt != nil || c.Status == CycleCancelled }

// CycleStatus is where a cycle stands. The database moves a cycle between
// statuses by a state machine: running ⇄ paused; running or paused →
// cancelled; running, paused or cancelled → closed; nothing leaves closed.
type CycleStatus string

const (
	CycleRunning   CycleStatus = "running"
	CyclePaused    CycleStatus = "paused"
	CycleCancelled CycleStatus = "cancelled"
	CycleClosed    CycleStatus = "closed"
)

// CycleStatuses lists every cycle status.
var CycleStatuses = []CycleStatus{CycleRunning, CyclePaused, CycleCancelled, CycleClosed}

// Valid reports whether s is one of CycleStatuses.
func (s CycleStatus) Valid() bool { return oneOf(s, CycleStatuses) }

// CycleAction is a person's decision on a running cycle.
type CycleAction string

const (
	CyclePause  CycleAction = "pause"
	CycleResume CycleAction = "resume"
	CycleCancel CycleAction = "cancel"
)

// Target is the status the action leads to ("" for an unknown action).
func (a CycleAction) Target() CycleStatus {
	switch a {
	case CyclePause:
		return CyclePaused
	case CycleResume:
		return CycleRunning
	case CycleCancel:
		return CycleCancelled
	}
	return ""
}

// FundAllocation says how many cases a fund's reservation covers.
type FundAllocation struct {
	Fund  string `json:"fund"` // ledger fund code
	Cases int    `json:"cases"`
}

// CycleTransition is what a pause, resume or cancel did.
type CycleTransition struct {
	Cycle Cycle `json:"cycle"`
	// Seq is the cycle's control sequence number after the transition
	// (the one sent to the workflow with the control).
	Seq int64 `json:"seq"`
	// Applied is false when the cycle already was where the action leads
	// (pause of a paused cycle): nothing changed and Seq is the current one.
	Applied bool `json:"applied"`
}

// CycleCounts are a cycle's cases by step, status and outcome, counted
// from the projection.
type CycleCounts struct {
	Total     int            `json:"total"`
	ByStep    map[string]int `json:"by_step"`
	ByOutcome map[string]int `json:"by_outcome"`
	Waiting   map[string]int `json:"waiting_on"`
	Overdue   int            `json:"overdue"`
	Done      int            `json:"done"`
}
