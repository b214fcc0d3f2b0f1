package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// openAPIMethods are the operation keys of an OpenAPI path item.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// apiDoc is as much of an OpenAPI document as the test reads.
type apiDoc struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

type apiParam struct {
	Ref      string `json:"$ref"`
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required"`
}

type apiOperation struct {
	OperationID string            `json:"operationId"`
	Parameters  []apiParam        `json:"parameters"`
	Security    *[]map[string]any `json:"security"`
}

var pathParamPattern = regexp.MustCompile(`\{([^}/]+)\}`)

// servedRoutes walks the router: "METHOD /path" for every route it serves.
func servedRoutes(t *testing.T) map[string]bool {
	t.Helper()
	h := (&Server{}).Handler() // App and Auth are nil: the routes are walked, never served.
	routes, ok := h.(chi.Routes)
	if !ok {
		t.Fatalf("Handler() is a %T, not a chi.Routes", h)
	}
	served := map[string]bool{}
	err := chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		route = strings.TrimSuffix(route, "/*") // a mounted sub-router
		if len(route) > 1 {
			route = strings.TrimSuffix(route, "/")
		}
		served[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatalf("walking the routes: %v", err)
	}
	return served
}

// parseOpenAPI parses the embedded document twice: into the minimal
// struct, and generically (for $ref resolution).
func parseOpenAPI(t *testing.T) (apiDoc, map[string]any) {
	t.Helper()
	var doc apiDoc
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	var raw map[string]any
	if err := json.Unmarshal(OpenAPI(), &raw); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc, raw
}

// resolve follows a local JSON pointer ("#/components/schemas/Error").
func resolve(raw map[string]any, ref string) (any, bool) {
	p, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, false
	}
	var cur any = raw
	for _, tok := range strings.Split(p, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// TestOpenAPIMatchesRoutes holds openapi.json and the router to each
// other, both ways, and checks the document's own consistency.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc, raw := parseOpenAPI(t)
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}

	// Routes ⇄ documented operations.
	served := servedRoutes(t)
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for key := range item {
			if slices.Contains(openAPIMethods, key) {
				documented[strings.ToUpper(key)+" "+path] = true
			}
		}
	}
	var missing, extra []string
	for r := range served {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !served[r] {
			extra = append(extra, r)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 {
		t.Errorf("%d routes served but not in openapi.json:\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
	if len(extra) > 0 {
		t.Errorf("%d operations in openapi.json that no route serves:\n  %s", len(extra), strings.Join(extra, "\n  "))
	}
	if len(served) == 0 {
		t.Error("the router serves no routes")
	}

	// Operations: unique ids, declared path parameters, security.
	ids := map[string]string{}
	for path, item := range doc.Paths {
		var common []apiParam
		if p, ok := item["parameters"]; ok {
			if err := json.Unmarshal(p, &common); err != nil {
				t.Errorf("%s: parameters: %v", path, err)
			}
		}
		inPath := map[string]bool{}
		for _, m := range pathParamPattern.FindAllStringSubmatch(path, -1) {
			inPath[m[1]] = true
		}
		for key, body := range item {
			if !slices.Contains(openAPIMethods, key) {
				continue
			}
			where := strings.ToUpper(key) + " " + path
			var op apiOperation
			if err := json.Unmarshal(body, &op); err != nil {
				t.Errorf("%s: %v", where, err)
				continue
			}
			if op.OperationID == "" {
				t.Errorf("%s: no operationId", where)
			} else if other, dup := ids[op.OperationID]; dup {
				t.Errorf("operationId %q on both %s and %s", op.OperationID, other, where)
			} else {
				ids[op.OperationID] = where
			}

			declared := map[string]bool{}
			for _, p := range append(slices.Clone(common), op.Parameters...) {
				if ref := p.Ref; ref != "" {
					v, ok := resolve(raw, ref)
					if !ok {
						continue // reported by the $ref check below
					}
					b, _ := json.Marshal(v)
					p = apiParam{}
					if err := json.Unmarshal(b, &p); err != nil {
						t.Errorf("%s: parameter %s: %v", where, ref, err)
						continue
					}
				}
				if p.In != "path" {
					continue
				}
				declared[p.Name] = true
				if !inPath[p.Name] {
					t.Errorf("%s: path parameter %q is not in the path", where, p.Name)
				}
				if !p.Required {
					t.Errorf("%s: path parameter %q is not required: true", where, p.Name)
				}
			}
			for name := range inPath {
				if !declared[name] {
					t.Errorf("%s: path parameter {%s} is not declared", where, name)
				}
			}

			// Everything under /api/v1 needs the bearer token (the
			// global requirement); the rest is open and says so.
			open := op.Security != nil && len(*op.Security) == 0
			if strings.HasPrefix(path, "/api/v1/") == open {
				t.Errorf("%s: security: [] must be set exactly on the unauthenticated routes", where)
			}
		}
	}

	// Every $ref points at something that exists.
	var walk func(at string, v any)
	walk = func(at string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ref, ok := v["$ref"].(string); ok {
				if !strings.HasPrefix(ref, "#/components/") {
					t.Errorf("%s: $ref %q is not a local component", at, ref)
				} else if _, ok := resolve(raw, ref); !ok {
					t.Errorf("%s: $ref %q points at nothing", at, ref)
				}
			}
			for k, c := range v {
				walk(at+"/"+k, c)
			}
		case []any:
			for i, c := range v {
				walk(fmt.Sprintf("%s/%d", at, i), c)
			}
		}
	}
	walk("#", raw)
}
