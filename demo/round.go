package demo

import (
	"context"
	"math/rand/v2"
)

// PlayRound does one round of everybody's work on a running cycle, as Run
// does between its progress checks: caseworkers check documents, the three
// secretariats sign their pending lists, new CLABEs go on file for returned
// payments, people collect their cash, referral outcomes are recorded.
// acted says whether anything was done. `apoyo chaos` drives its own loop
// around it, because it keeps going through errors while it restarts the
// stack under the people's feet.
func PlayRound(ctx context.Context, d Deps, cast Cast, cycleID string, r *rand.Rand, sum *Summary) (acted bool, err error) {
	return playPeople(ctx, d, cast, cycleID, r, sum)
}
