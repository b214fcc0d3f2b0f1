package cases

import "github.com/apoyo-cdmx/apoyo"

// QueueStatement is the queue's statement for a filter (checked, limit
// defaulted), for tests that look at its plan.
func QueueStatement(f apoyo.QueueFilter) (string, []any, error) {
	f, err := checkQueueFilter(f)
	if err != nil {
		return "", nil, err
	}
	sql, args := queueStatement(f)
	return sql, args, nil
}

// ListVotesSQL is ListVotes's statement, for its plan's test.
const ListVotesSQL = listVotesSQL
