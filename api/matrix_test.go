package api_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/api"
	"github.com/apoyo-cdmx/apoyo/app"
	"github.com/apoyo-cdmx/apoyo/internal/testfactory"
)

var roleTokens = testfactory.RoleTokens

// roleMatrix is who may call each route, written out by hand from the
// issue's roles (not derived from app.Permissions, which it checks).
var roleMatrix = map[string][]string{
	"GET /api/v1/me": {"pm", "cw", "ap", "au", "admin"},

	"GET /api/v1/programs":                   {"pm", "cw", "ap", "au"},
	"POST /api/v1/programs":                  {"pm"},
	"GET /api/v1/programs/{program}":         {"pm", "cw", "ap", "au"},
	"POST /api/v1/programs/{program}/roster": {"pm"},
	"GET /api/v1/programs/{program}/cycles":  {"pm", "cw", "ap", "au"},
	"POST /api/v1/programs/{program}/cycles": {"pm"},

	"GET /api/v1/cycles/{cycle}":                     {"pm", "cw", "ap", "au"},
	"POST /api/v1/cycles/{cycle}/pause":              {"pm"},
	"POST /api/v1/cycles/{cycle}/resume":             {"pm"},
	"POST /api/v1/cycles/{cycle}/cancel":             {"pm"},
	"GET /api/v1/cycles/{cycle}/report":              {"pm", "au"},
	"GET /api/v1/cycles/{cycle}/approvals/pending":   {"ap"},
	"POST /api/v1/cycles/{cycle}/approvals":          {"ap"},
	"GET /api/v1/cycles/{cycle}/approvals":           {"pm", "ap", "au"},
	"GET /api/v1/cases":                              {"pm", "cw", "ap"},
	"GET /api/v1/cycles/{cycle}/cases/{beneficiary}": {"pm", "cw", "ap"},

	"POST /api/v1/cycles/{cycle}/cases/{beneficiary}/vote":                         {"ap"},
	"POST /api/v1/cycles/{cycle}/cases/{beneficiary}/identity":                     {"cw"},
	"POST /api/v1/cycles/{cycle}/cases/{beneficiary}/instrument":                   {"cw"},
	"POST /api/v1/cycles/{cycle}/cases/{beneficiary}/referrals/{referral}/outcome": {"cw"},
	"POST /api/v1/cycles/{cycle}/cases/{beneficiary}/retry":                        {"cw"},
	"POST /api/v1/cycles/{cycle}/cases/{beneficiary}/cancel":                       {"cw", "pm"},
	"GET /api/v1/tasks": {"pm", "cw"},
	"GET /api/v1/queue": {"pm", "cw"},

	"GET /api/v1/beneficiaries/{beneficiary}":               {"pm", "cw"},
	"GET /api/v1/beneficiaries/{beneficiary}/personal-data": {"cw"},

	"GET /api/v1/ledger/trial-balance":                {"pm", "au"},
	"GET /api/v1/ledger/balances":                     {"pm", "au"},
	"GET /api/v1/ledger/accounts/{account}/statement": {"pm", "au"},
	"GET /api/v1/ledger/verify":                       {"pm", "au"},
	"POST /api/v1/reconciliations":                    {"pm"},
	"GET /api/v1/reconciliations":                     {"pm", "au"},
	"GET /api/v1/reconciliations/{reconciliation}":    {"pm", "au"},

	"GET /api/v1/audit":        {"au"},
	"GET /api/v1/audit/verify": {"au"},
	"GET /api/v1/audit/head":   {"au"},

	"GET /api/v1/users":                  {"admin"},
	"POST /api/v1/users":                 {"admin"},
	"POST /api/v1/users/{user}/disable":  {"admin"},
	"GET /api/v1/users/{user}/tokens":    {"admin"},
	"POST /api/v1/users/{user}/tokens":   {"admin"},
	"POST /api/v1/tokens/{token}/revoke": {"admin"},
}

// bodies are valid requests, so that an allowed call is not refused for
// its body: only authorization decides.
var bodies = map[string]string{
	"POST /api/v1/programs":                                                        `{"name": "Prueba", "funds": [{"code": "city", "budget": "1000"}]}`,
	"POST /api/v1/programs/{program}/cycles":                                       `{"period": "2026-11"}`,
	"POST /api/v1/cycles/{cycle}/cancel":                                           `{"reason": "presupuesto retirado"}`,
	"POST /api/v1/cycles/{cycle}/approvals":                                        `{"list_hash": "` + strings.Repeat("a", 64) + `"}`,
	"POST /api/v1/cycles/{cycle}/cases/{beneficiary}/vote":                         `{"approve": true}`,
	"POST /api/v1/cycles/{cycle}/cases/{beneficiary}/identity":                     `{"decision": "verified"}`,
	"POST /api/v1/cycles/{cycle}/cases/{beneficiary}/instrument":                   `{"method": "cash_pickup"}`,
	"POST /api/v1/cycles/{cycle}/cases/{beneficiary}/referrals/{referral}/outcome": `{"outcome": "attended"}`,
	"POST /api/v1/cycles/{cycle}/cases/{beneficiary}/retry":                        `{"reason": "el banco confirmó"}`,
	"POST /api/v1/cycles/{cycle}/cases/{beneficiary}/cancel":                       `{"reason": "se mudó"}`,
	"POST /api/v1/users":                                                           `{"name": "maria.lopez", "role": "auditor"}`,
	"POST /api/v1/users/{user}/tokens":                                             `{}`,
}

var uploads = map[string]bool{"POST /api/v1/programs/{program}/roster": true, "POST /api/v1/reconciliations": true}

var params = strings.NewReplacer("{program}", "prg_aaaaaaaaaaaaaaaa", "{cycle}", "cyc_aaaa", "{beneficiary}", "ben_aaaaaaaaaaaaaaaa",
	"{referral}", "ref_1", "{account}", "prg:x:available", "{reconciliation}", "7", "{user}", "maria.lopez", "{token}", "tok_aaaaaaaaaaaaaaaa")

func newTestServer() http.Handler {
	s := &api.Server{App: app.NewAuthorizedWith(nothingService{}, testfactory.NoEvidence{}), Auth: roleTokens}
	return s.Handler()
}

func routes(t *testing.T, h http.Handler) []string {
	t.Helper()
	var out []string
	require.NoError(t, chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasPrefix(route, "/api/v1/") {
			out = append(out, method+" "+route)
		}
		return nil
	}))
	return out
}

func call(h http.Handler, route, token string) *httptest.ResponseRecorder {
	method, pattern, _ := strings.Cut(route, " ")
	path := params.Replace(pattern)
	if strings.HasSuffix(pattern, "/personal-data") {
		path += "?purpose=verificar+identidad"
	}
	var body *strings.Reader
	ctype := "application/json"
	switch {
	case uploads[route]:
		body, ctype = strings.NewReader("given_names\n"), "text/csv"
	case method == http.MethodPost:
		b, ok := bodies[route]
		if !ok {
			b = "{}"
		}
		body = strings.NewReader(b)
	default:
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, path, body)
	if method == http.MethodPost {
		r.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// TestRouteRoleMatrix calls every route as every role: the roles the
// matrix names get through authorization (whatever the stand-in service
// then answers), the others get 403 in the API's error shape, and nobody
// without a token gets anything but 401. A route missing from the matrix
// fails the test.
func TestRouteRoleMatrix(t *testing.T) {
	t.Parallel()
	h := newTestServer()
	rs := routes(t, h)
	require.Len(t, rs, len(roleMatrix), "every route has a row in the matrix, and only routes")
	for _, route := range rs {
		allowed, ok := roleMatrix[route]
		require.True(t, ok, "route %s is not in the role matrix", route)
		w := call(h, route, "")
		require.Equal(t, http.StatusUnauthorized, w.Code, "%s without a token: %s", route, w.Body)
		for tok := range roleTokens {
			w := call(h, route, tok)
			if contains(allowed, tok) {
				require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, w.Code, "%s as %s: %s", route, tok, w.Body)
				continue
			}
			require.Equal(t, http.StatusForbidden, w.Code, "%s as %s must be refused: %s", route, tok, w.Body)
			var e api.ErrorBody
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &e), "%s as %s", route, tok)
			require.Equal(t, apoyo.EFORBIDDEN, e.Code)
			require.Equal(t, "auth.forbidden", e.Reason)
			require.NotEmpty(t, e.RequestID)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
