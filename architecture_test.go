package apoyo_test

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The layers of the code and which may import which (ARCHITECTURE.md
// draws them). A package belongs to the first layer one of whose prefixes
// matches its path relative to the module.
const module = "github.com/apoyo-cdmx/apoyo"

type layer struct {
	name     string
	prefixes []string
	// may lists the layers it may import (itself included where listed).
	may []string
	// foreign lists external import prefixes it must not use.
	foreign []string
}

var layers = []layer{
	{name: "domain", prefixes: []string{""}, may: nil,
		foreign: []string{"github.com/jackc/", "go.temporal.io/", "net/http"}},
	{name: "rules", prefixes: []string{"mxid", "pii", "beneficiary", "payment", "internal/textcheck", "internal/canonhash"},
		may: []string{"domain", "rules"}, foreign: []string{"github.com/jackc/", "go.temporal.io/"}},
	{name: "config", prefixes: []string{"config"}, may: []string{"domain"}},
	{name: "stores", prefixes: []string{"ledger", "program", "enrolment", "cases", "reconcile", "report", "audit", "identity"},
		may: []string{"domain", "rules", "stores"}, foreign: []string{"go.temporal.io/"}},
	{name: "partners", prefixes: []string{"bank/sandbox", "payment/httpprovider"}, may: []string{"domain", "rules"},
		foreign: []string{"github.com/jackc/", "go.temporal.io/"}},
	// The names of Temporal's search attributes: shared by the workflows,
	// the application (starting workflows) and the embedded server.
	{name: "search-attributes", prefixes: []string{"workflows/searchattr"}, may: nil, foreign: []string{"github.com/jackc/"}},
	{name: "workflows", prefixes: []string{"workflows"}, may: []string{"domain", "rules", "search-attributes"}, foreign: []string{"github.com/jackc/", "net/http"}},
	{name: "activities", prefixes: []string{"activities"}, may: []string{"domain", "rules", "stores", "workflows", "search-attributes"}},
	{name: "worker", prefixes: []string{"worker"}, may: []string{"domain", "rules", "workflows", "search-attributes", "activities", "platform"}},
	{name: "application", prefixes: []string{"app"}, may: []string{"domain", "rules", "stores", "workflows", "search-attributes"}},
	{name: "api", prefixes: []string{"api"}, may: []string{"domain", "spec-formats", "http-support"},
		foreign: []string{"github.com/jackc/", "go.temporal.io/"}},
	// The web console: another adapter on the application layer. It uses
	// the API's status mapping (one place) and the alcaldías of mxid.
	{name: "console", prefixes: []string{"console"}, may: []string{"domain", "rules", "api", "spec-formats", "http-support"},
		foreign: []string{"github.com/jackc/", "go.temporal.io/"}},
	{name: "platform", prefixes: []string{"platform"}, may: []string{"domain", "rules", "config", "platform", "internal", "partners", "search-attributes"}},
	// HTTP middleware the API and the console share.
	{name: "http-support", prefixes: []string{"internal/httpmw"}, may: nil, foreign: []string{"github.com/jackc/", "go.temporal.io/"}},
	// Test support: databases and worlds made to order, for tests only.
	{name: "test-support", prefixes: []string{"internal/pgtest", "internal/testfactory", "internal/golden"},
		may: []string{"domain", "rules", "stores", "platform", "internal", "test-support"}},
	{name: "internal", prefixes: []string{"internal"}, may: []string{"domain", "platform", "internal"}},
	// Harnesses that drive the application layer as people do (the demo,
	// the chaos proof, benchmarks): they read stores to check, never to act.
	{name: "harness", prefixes: []string{"demo", "chaos", "bench"},
		may: []string{"domain", "rules", "stores", "partners", "workflows", "search-attributes", "application", "platform", "internal", "harness", "config"}},
	// Wiring: the one place everything is put together.
	{name: "wiring", prefixes: []string{"cmd"}, may: []string{"*"}},
}

// specFormats are the two stores the API reads formats of (the programme
// spec's YAML/JSON reader, the report's CSV writer), never their stores.
var specFormats = map[string]bool{"program": true, "report": true}

func layerOf(rel string) layer {
	for _, l := range layers {
		for _, p := range l.prefixes {
			if rel == p || (p != "" && strings.HasPrefix(rel, p+"/")) {
				return l
			}
		}
	}
	return layer{name: "unknown"}
}

// allowed says whether package from (relative path) may import package to.
func allowed(from, to string) bool {
	lf, lt := layerOf(from), layerOf(to)
	if lf.name == "unknown" || lt.name == "unknown" || strings.HasPrefix(to, "cmd") {
		return false
	}
	for _, m := range lf.may {
		if m == "*" || m == lt.name || (m == "spec-formats" && specFormats[to]) {
			return true
		}
	}
	return false
}

// TestImportRules fails when a package imports across the layers' rule:
// the domain imports no package of the module; adapters depend inward;
// the API sees the application only through the domain's interfaces;
// workflows orchestrate and touch no store; only cmd/ wires.
func TestImportRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("go list: %s", ee.Stderr)
	}
	require.NoError(t, err)
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var problems []string
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else {
			require.NoError(t, err)
		}
		seen++
		from := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		lf := layerOf(from)
		if lf.name == "unknown" {
			problems = append(problems, p.ImportPath+" belongs to no layer: add it to architecture_test.go and ARCHITECTURE.md")
			continue
		}
		for _, imp := range p.Imports {
			if rel, ok := strings.CutPrefix(imp, module); ok {
				rel = strings.TrimPrefix(rel, "/")
				if !allowed(from, rel) {
					problems = append(problems, p.ImportPath+" ("+lf.name+") imports "+imp+" ("+layerOf(rel).name+")")
				}
				continue
			}
			for _, f := range lf.foreign {
				if strings.HasPrefix(imp, f) {
					problems = append(problems, p.ImportPath+" ("+lf.name+") imports "+imp)
				}
			}
		}
	}
	sort.Strings(problems)
	require.Greater(t, seen, 20, "go list saw the module's packages")
	require.Empty(t, problems, "import rule broken:\n%s", strings.Join(problems, "\n"))
}

// TestImportRulesRefuse checks the rule itself against imports it must
// refuse, so that TestImportRules can fail.
func TestImportRulesRefuse(t *testing.T) {
	t.Parallel()
	for _, bad := range [][2]string{
		{"", "ledger"},                 // the domain imports nothing of the module
		{"cases", "workflows"},         // stores do not know the workflows
		{"api", "cases"},               // the API does not reach a store
		{"api", "app"},                 // … nor the application's implementation
		{"workflows", "ledger"},        // workflows orchestrate; activities touch stores
		{"app", "api"},                 // the application does not know its adapters
		{"console", "app"},             // the console calls apoyo.Service, not app
		{"console", "cases"},           // … and reaches no store
		{"api", "console"},             // adapters do not call each other, but for one mapping
		{"ledger", "app"},              // stores do not call up
		{"demo", "cmd/apoyo"},          // nothing imports the wiring
		{"platform/devstack", "cases"}, // the platform knows no store
		{"enrolment", "platform/pgdb"}, // stores take a pool; they do not start one
	} {
		require.False(t, allowed(bad[0], bad[1]), "%s must not import %s", bad[0], bad[1])
	}
	for _, good := range [][2]string{{"app", "cases"}, {"api", "program"}, {"activities", "workflows"}, {"cmd/apoyo", "app"}, {"cases", ""}} {
		require.True(t, allowed(good[0], good[1]), "%s may import %s", good[0], good[1])
	}
}
