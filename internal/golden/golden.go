// Package golden holds test-only key material for the golden workflow
// histories in workflows/testdata. Only tests import it.
package golden

// Test-only key material for the golden histories in testdata: the
// end-to-end test records case and cycle histories encrypted under these
// keys (APOYO_UPDATE_GOLDEN=1), and TestReplayGoldenHistories replays them
// with every build, so a change that would break running cases fails a
// fast unit test. They protect nothing and must never be configured
// anywhere else.
const (
	KeyID    = "golden1"
	Key      = "Z29sZGVuLWhpc3Rvcnkta2V5LXRlc3Qtb25seS0zMmI="
	IndexKey = "Z29sZGVuLWluZGV4LWtleS1mb3ItdGVzdHMtb25seS0="
)
