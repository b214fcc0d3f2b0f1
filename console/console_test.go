package console_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/app"
	"github.com/apoyo-cdmx/apoyo/console"
	"github.com/apoyo-cdmx/apoyo/internal/testfactory"
)

var roleTokens = testfactory.RoleTokens

// newConsole serves the console on the sample world behind the real
// permission table (app.Authorized), as `apoyo serve` wires it.
func newConsole(t *testing.T) (*httptest.Server, *sampleService) {
	t.Helper()
	svc := &sampleService{}
	s := &console.Server{App: app.NewAuthorizedWith(svc, testfactory.NoEvidence{}), Auth: roleTokens, Logger: slog.New(slog.DiscardHandler),
		Can: func(who apoyo.Identity, act apoyo.Action) bool { return app.Allowed(who, act) == nil }}
	h, err := s.Handler()
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, svc
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// call sends a request with a session; form != nil posts it.
func call(t *testing.T, srv *httptest.Server, token, method, path string, form url.Values, header ...string) (int, http.Header, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r, err := http.NewRequest(method, srv.URL+path, body)
	require.NoError(t, err)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		r.AddCookie(&http.Cookie{Name: "apoyo_session", Value: token})
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	resp, err := noRedirect.Do(r)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

// consoleMatrix is who may use each console route, written by hand from
// the roles (not derived from app.Permissions, which it checks
// through the pages).
var consoleMatrix = map[string][]string{
	"GET /queue":                                   {"pm", "cw"},
	"GET /cases/" + caseTail:                       {"pm", "cw", "ap"},
	"POST /cases/" + caseTail + "/identity":        {"cw"},
	"POST /cases/" + caseTail + "/instrument":      {"cw"},
	"POST /cases/" + caseTail + "/referral":        {"cw"},
	"POST /cases/" + caseTail + "/retry":           {"cw"},
	"POST /cases/" + caseTail + "/cancel":          {"cw", "pm"},
	"POST /cases/" + caseTail + "/vote":            {"ap"},
	"POST /cases/" + caseTail + "/reveal":          {"cw"},
	"GET /inbox":                                   {"pm", "cw", "ap", "au"},
	"GET /inbox/" + sampleCycle:                    {"ap"},
	"POST /inbox/" + sampleCycle + "/sign":         {"ap"},
	"GET /programs":                                {"pm", "cw", "ap", "au"},
	"GET /programs/" + sampleProgram:               {"pm", "cw", "ap", "au"},
	"POST /programs/" + sampleProgram + "/cycles":  {"pm"},
	"GET /cycles":                                  {"pm", "cw", "ap", "au"},
	"GET /cycles/" + sampleCycle:                   {"pm", "cw", "ap", "au"},
	"GET /cycles/" + sampleCycle + "/events":       {"pm", "cw", "ap", "au"},
	"POST /cycles/" + sampleCycle + "/pause":       {"pm"},
	"POST /cycles/" + sampleCycle + "/resume":      {"pm"},
	"POST /cycles/" + sampleCycle + "/cancel":      {"pm"},
	"GET /cycles/" + sampleCycle + "/report":       {"pm", "au"},
	"GET /cycles/" + sampleCycle + "/report.csv":   {"pm", "au"},
	"GET /ledger":                                  {"pm", "au"},
	"GET /ledger/statement?account=program.budget": {"pm", "au"},
	"GET /reconciliations":                         {"pm", "au"},
	"GET /reconciliations/1":                       {"pm", "au"},
	"GET /audit":                                   {"au"},
	"GET /verify":                                  {"pm", "au"},
	"POST /verify":                                 {"pm", "au"},
	"GET /users":                                   {"admin"},
}

const caseTail = sampleCycle + "/" + samplePerson

var forms = map[string]url.Values{
	"identity": {"decision": {"verified"}}, "instrument": {"method": {"card"}}, "referral": {"referral_id": {"r1"}, "outcome": {"attended"}},
	"retry": {"reason": {"x"}}, "cancel": {"reason": {"x"}}, "vote": {"approve": {"true"}}, "reveal": {"purpose": {"verificar"}},
	"sign": {"hash": {"ab12"}}, "cycles": {"name": {"2026-12"}}, "pause": {}, "resume": {}, "verify": {},
}

// TestRouteRoleMatrix: every console route, for every role, is answered
// (2xx or 3xx) exactly when the matrix says the role may use it, and 403
// otherwise — the application layer refuses what the page would not have
// shown. No session at all goes to the sign-in page.
func TestRouteRoleMatrix(t *testing.T) {
	t.Parallel()
	srv, _ := newConsole(t)
	for route, allowed := range consoleMatrix {
		method, path, _ := strings.Cut(route, " ")
		var form url.Values
		if method == "POST" {
			form = forms[path[strings.LastIndex(path, "/")+1:]]
			require.NotNil(t, form, route)
		}
		for tok := range roleTokens {
			status, _, body := call(t, srv, tok, method, path, form)
			if slices.Contains(allowed, tok) {
				require.Less(t, status, 400, "%s as %s: %d %s", route, tok, status, body)
			} else {
				require.Equal(t, http.StatusForbidden, status, "%s as %s", route, tok)
			}
		}
		status, h, _ := call(t, srv, "", method, path, form)
		require.Equal(t, http.StatusSeeOther, status, route)
		require.Equal(t, "/login", h.Get("Location"), route)
	}
}

// TestMenusShowWhatRolesMayOpen: each role's menu links exactly the pages
// of the matrix it may open.
func TestMenusShowWhatRolesMayOpen(t *testing.T) {
	t.Parallel()
	srv, _ := newConsole(t)
	menu := []string{"/queue", "/inbox", "/programs", "/cycles", "/ledger", "/reconciliations", "/audit", "/verify", "/users"}
	// Pages a role may open but whose menu entry belongs to another role.
	notInMenu := map[string][]string{"/inbox": {"pm", "cw", "au"}}
	link := regexp.MustCompile(`<nav[^>]*>.*?</nav>`)
	for tok := range roleTokens {
		status, h, _ := call(t, srv, tok, "GET", "/", nil)
		require.Equal(t, http.StatusSeeOther, status)
		status, _, body := call(t, srv, tok, "GET", h.Get("Location"), nil)
		require.Equal(t, http.StatusOK, status, "%s's home %s", tok, h.Get("Location"))
		nav := link.FindString(strings.ReplaceAll(body, "\n", " "))
		require.NotEmpty(t, nav, tok)
		for _, page := range menu {
			want := slices.Contains(consoleMatrix["GET "+page], tok) && !slices.Contains(notInMenu[page], tok)
			require.Equal(t, want, strings.Contains(nav, `href="`+page+`"`), "%s's menu and %s", tok, page)
		}
	}
}

// TestButtonsFollowTheRole: a caseworker sees the identity decision and
// the reveal form on a case, and no vote; an approver sees neither the
// caseworker's actions nor the person's data, and the list's signing
// button shows the count and total it signs.
func TestButtonsFollowTheRole(t *testing.T) {
	t.Parallel()
	srv, _ := newConsole(t)
	_, _, cw := call(t, srv, "cw", "GET", "/cases/"+caseTail, nil)
	require.Contains(t, cw, `id="act-identity"`)
	_, _, queue := call(t, srv, "cw", "GET", "/queue", nil)
	require.Contains(t, queue, "tvrh: a caseworker checks it", "the queue says what the task is about")
	require.Contains(t, queue, `class="age"`)
	require.Contains(t, cw, `id="reveal"`)
	require.NotContains(t, cw, `id="act-vote"`)
	require.NotContains(t, cw, sampleName, "personal data is masked until revealed")
	_, _, ap := call(t, srv, "ap", "GET", "/cases/"+caseTail, nil)
	require.NotContains(t, ap, `id="act-identity"`)
	require.NotContains(t, ap, `id="reveal"`)
	require.NotContains(t, ap, `action="/cases/`+caseTail+`/cancel"`)
	_, _, list := call(t, srv, "ap", "GET", "/inbox/"+sampleCycle, nil)
	require.Contains(t, list, `id="sign-list"`)
	require.Contains(t, list, "Firmar y aprobar 1 casos")
	require.Contains(t, list, "$5,600.00")
	require.Contains(t, list, `value="ab12"`, "the form signs the hash shown")
}

// TestFormsFollowTheStep: a case whose order is at the bank offers
// neither a new payment instrument nor a referral's outcome (its
// referrals are listed from the start, and the case would refuse both);
// once paid, the referral's form shows; once the payment failed and the
// case waits on a caseworker, the instrument's does.
func TestFormsFollowTheStep(t *testing.T) {
	t.Parallel()
	srv, svc := newConsole(t)
	refs := []apoyo.Referral{{ID: "ref-1", Service: "Seguro de Desempleo", Secretariat: string(apoyo.STyFE)}}
	for _, tc := range []struct {
		step                 apoyo.Step
		waitingOn            string
		instrument, referral bool
	}{
		{apoyo.StepPayment, apoyo.WaitingOnBank, false, false},
		{apoyo.StepPayment, apoyo.WaitingOnCaseworker, true, false},
		{apoyo.StepReferrals, apoyo.WaitingOnCaseworker, false, true},
	} {
		svc.state.Store(&apoyo.CaseState{CaseID: sampleCase, Step: tc.step, Status: apoyo.CaseWaiting, WaitingOn: []string{tc.waitingOn}, Referrals: refs})
		_, _, page := call(t, srv, "cw", "GET", "/cases/"+caseTail, nil)
		require.Equal(t, tc.instrument, strings.Contains(page, `id="act-instrument"`), "%s waiting on %s: instrument form", tc.step, tc.waitingOn)
		require.Equal(t, tc.referral, strings.Contains(page, `id="act-referral"`), "%s waiting on %s: referral form", tc.step, tc.waitingOn)
	}
}

// TestRevealIsARecordedRead: the person's data appears only after a
// reveal with a purpose, which reaches the application layer (which
// writes it to the audit log); without a purpose, the error shows in place.
func TestRevealIsARecordedRead(t *testing.T) {
	t.Parallel()
	srv, svc := newConsole(t)
	status, _, body := call(t, srv, "cw", "POST", "/cases/"+caseTail+"/reveal", url.Values{"purpose": {""}}, "HX-Request", "true")
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, `role="alert"`)
	require.Contains(t, body, "needs a purpose")
	require.NotContains(t, body, sampleName)
	status, _, body = call(t, srv, "cw", "POST", "/cases/"+caseTail+"/reveal", url.Values{"purpose": {"verificar TVRH"}}, "HX-Request", "true")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, sampleName)
	require.NotContains(t, body, "<html", "a fragment, in place")
	require.Equal(t, []string{"PersonalData:verificar TVRH"}, svc.called())
}

// TestErrorsShowInPlace: a refused action answers its form with the
// error, naming the field, as a fragment for htmx and as a page without.
func TestErrorsShowInPlace(t *testing.T) {
	t.Parallel()
	srv, svc := newConsole(t)
	status, _, body := call(t, srv, "cw", "POST", "/cases/"+caseTail+"/identity", url.Values{"decision": {"maybe"}}, "HX-Request", "true")
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, `decision: decision &#34;maybe&#34;: verified, rejected or new_document`, "the field is named")
	require.NotContains(t, body, "<html")
	status, _, body = call(t, srv, "cw", "POST", "/cases/"+caseTail+"/identity", url.Values{"decision": {"maybe"}})
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "<html")
	require.Empty(t, svc.called())
	status, _, body = call(t, srv, "cw", "GET", "/queue?step=sideways", nil)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, `step &#34;sideways&#34;: not a step`)
}

// TestCrossOriginPostsAreRefused: a form posted from another site with
// the person's cookie does nothing.
func TestCrossOriginPostsAreRefused(t *testing.T) {
	t.Parallel()
	srv, svc := newConsole(t)
	status, _, _ := call(t, srv, "ap", "POST", "/inbox/"+sampleCycle+"/sign", url.Values{"hash": {"ab12"}},
		"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	require.Equal(t, http.StatusForbidden, status)
	require.Empty(t, svc.called())
	status, _, _ = call(t, srv, "ap", "POST", "/inbox/"+sampleCycle+"/sign", url.Values{"hash": {"ab12"}}, "Sec-Fetch-Site", "same-origin")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, []string{"ApproveRoster:ab12"}, svc.called())
}

// TestSessions: signing in checks the token and keeps it in an HttpOnly
// cookie; a bad token is refused on the form; a session whose token no
// longer works goes back to sign-in; htmx is told where to go.
func TestSessions(t *testing.T) {
	t.Parallel()
	srv, _ := newConsole(t)
	status, _, body := call(t, srv, "", "POST", "/login", url.Values{"token": {"nope"}})
	require.Equal(t, http.StatusUnauthorized, status)
	require.Contains(t, body, "invalid token")
	status, h, _ := call(t, srv, "", "POST", "/login", url.Values{"token": {"cw"}})
	require.Equal(t, http.StatusSeeOther, status)
	cookie := h.Get("Set-Cookie")
	require.Contains(t, cookie, "apoyo_session=cw")
	require.Contains(t, cookie, "HttpOnly")
	require.Contains(t, cookie, "SameSite=Lax")
	status, h, _ = call(t, srv, "revoked", "GET", "/queue", nil)
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/login?why=login.expired", h.Get("Location"))
	status, h, _ = call(t, srv, "", "GET", "/queue", nil, "HX-Request", "true")
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, "/login", h.Get("HX-Redirect"))
	_, h, _ = call(t, srv, "cw", "GET", "/queue", nil)
	require.Equal(t, "no-store", h.Get("Cache-Control"), "pages may hold personal data")
	require.Contains(t, h.Get("Content-Security-Policy"), "script-src 'self'")
}

// TestSpanishFirstEnglishOnRequest: pages are in Spanish with es-MX
// numbers and money; the language link switches to English.
func TestSpanishFirstEnglishOnRequest(t *testing.T) {
	t.Parallel()
	srv, _ := newConsole(t)
	_, _, es := call(t, srv, "pm", "GET", "/programs", nil)
	require.Contains(t, es, `lang="es-MX"`)
	require.Contains(t, es, "Programas y fondos")
	require.Contains(t, es, "$1,000,000.00")
	status, h, _ := call(t, srv, "pm", "GET", "/lang/en?back=/programs", nil)
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/programs", h.Get("Location"))
	r, _ := http.NewRequest("GET", srv.URL+"/programs", nil)
	r.AddCookie(&http.Cookie{Name: "apoyo_session", Value: "pm"})
	r.AddCookie(&http.Cookie{Name: "apoyo_lang", Value: "en"})
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(b), "Programmes and funds")
	_, h, _ = call(t, srv, "pm", "GET", "/lang/en?back=//evil.example", nil)
	require.Equal(t, "/", h.Get("Location"), "no open redirect")
}

// TestRosterImportShowsRowsAndFields: the import's report is a table of
// rows and fields.
func TestRosterImportShowsRowsAndFields(t *testing.T) {
	t.Parallel()
	srv, svc := newConsole(t)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("roster", "padron.csv")
	require.NoError(t, err)
	_, _ = fw.Write([]byte("given_names\n"))
	require.NoError(t, mw.Close())
	r, _ := http.NewRequest("POST", srv.URL+"/programs/"+sampleProgram+"/roster", &body)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	r.Header.Set("HX-Request", "true")
	r.AddCookie(&http.Cookie{Name: "apoyo_session", Value: "pm"})
	resp, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	require.Contains(t, string(b), "2 aceptadas, 1 rechazadas")
	require.Regexp(t, `(?s)<td[^>]*>3</td>.*<code>curp</code>.*not a valid CURP`, string(b))
	require.Equal(t, []string{"ImportRoster"}, svc.called())
}

// TestSuppressedCellsShowAsSuch: a hidden report cell shows its label,
// marked, never a number.
func TestSuppressedCellsShowAsSuch(t *testing.T) {
	t.Parallel()
	srv, _ := newConsole(t)
	_, _, body := call(t, srv, "au", "GET", "/cycles/"+sampleCycle+"/report", nil)
	require.Regexp(t, `class="num suppressed"[^>]*>&lt;5</td>`, body)
	require.Regexp(t, `class="num suppressed"[^>]*>x</td>`, body)
}

// TestProgressStreams: the cycle's progress comes as server-sent events,
// and the stream ends once the cycle is closed.
func TestProgressStreams(t *testing.T) {
	t.Parallel()
	srv, _ := newConsole(t)
	status, h, body := call(t, srv, "pm", "GET", "/cycles/"+sampleCycle+"/events", nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "text/event-stream", h.Get("Content-Type"))
	require.Contains(t, body, "event: progress\n")
	require.Contains(t, body, `"closed":true`)
	require.Contains(t, body, `"paid":"$16,800.00"`)
}

// TestCatalogueCoversTemplates: every message a template asks for is in
// the catalogue in both languages, and every page has a title.
func TestCatalogueCoversTemplates(t *testing.T) {
	t.Parallel()
	keys := console.MessageKeys()
	used := console.TemplateMessageKeys()
	require.NotEmpty(t, used)
	var missing []string
	for _, k := range used {
		if !keys[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	require.Empty(t, missing, "keys used by templates but not in the catalogue")
	for _, page := range console.Pages() {
		require.True(t, keys["title."+page], "no title for page %s", page)
	}
	require.NoError(t, console.CheckCatalogue())
}

// TestFormats: money and counts in es-MX, exactly from decimals.
func TestFormats(t *testing.T) {
	t.Parallel()
	es, en := console.NewLocale(console.LangSpanish), console.NewLocale(console.LangEnglish)
	require.Equal(t, "$5,600.00", es.Money(benefit))
	require.Equal(t, "$1,234,567.05", es.Money(mustDecimal("1234567.05")))
	require.Equal(t, "-$0.50", es.Money(mustDecimal("-0.5")))
	require.Equal(t, "16,800", es.Num(16800))
	require.Equal(t, "30 nov 2026, 10:04", es.DateTime(at), "Mexico City time")
	require.Equal(t, "Nov 30, 2026, 10:04", en.DateTime(at))
	require.Equal(t, "identidad", es.Tk("step", apoyo.StepIdentity))
	require.Equal(t, "hace 3 días", es.Age(time.Now().Add(-75*time.Hour)))
	require.Equal(t, "5 h ago", en.Age(time.Now().Add(-5*time.Hour-time.Minute)))
	require.Equal(t, "somethingnew", es.Tk("step", "somethingnew"), "an unknown value shows as itself")
}

func mustDecimal(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// TestNoOpenRedirect: the language switch returns only to a path of this
// site, with its query.
func TestNoOpenRedirect(t *testing.T) {
	t.Parallel()
	srv, _ := newConsole(t)
	for back, want := range map[string]string{
		"/queue?step=identity&kind=identity_review": "/queue?step=identity&kind=identity_review",
		"//evil.example":         "/",
		"/%5Cevil.example":       "/",
		"/%09/evil.example":      "/",
		"https://evil.example/x": "/",
		"queue":                  "/",
		"/\\evil.example":        "/",
	} {
		_, h, _ := call(t, srv, "cw", "GET", "/lang/en?back="+url.QueryEscape(back), nil)
		require.Equal(t, want, h.Get("Location"), back)
	}
}

// TestActionsShowTheCaseAgain: a case action that succeeds sends the
// browser back to the case page, which shows what was done (only the
// catalogue's messages for it: a link cannot make the page say anything).
func TestActionsShowTheCaseAgain(t *testing.T) {
	t.Parallel()
	srv, svc := newConsole(t)
	status, h, _ := call(t, srv, "cw", "POST", "/cases/"+caseTail+"/retry", url.Values{"reason": {"bank back"}}, "HX-Request", "true")
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, "/cases/"+caseTail+"?done=done.retry", h.Get("HX-Redirect"))
	require.Equal(t, []string{"RetryStep"}, svc.called())
	_, _, page := call(t, srv, "cw", "GET", "/cases/"+caseTail+"?done=done.retry", nil)
	require.Contains(t, page, `id="flash"`)
	require.Contains(t, page, "El paso se vuelve a intentar.")
	_, _, page = call(t, srv, "cw", "GET", "/cases/"+caseTail+"?done=login.title", nil)
	require.NotContains(t, page, `id="flash"`)
}

// TestChangedListIsShownAgain: signing a list that changed shows the list
// as it now is, with a warning, to be read and signed again.
func TestChangedListIsShownAgain(t *testing.T) {
	t.Parallel()
	srv, _ := newConsole(t)
	status, h, _ := call(t, srv, "ap", "POST", "/inbox/"+sampleCycle+"/sign", url.Values{"hash": {"stale"}}, "HX-Request", "true")
	require.Equal(t, http.StatusNoContent, status)
	require.Equal(t, "/inbox/"+sampleCycle+"?changed=1", h.Get("HX-Redirect"))
	_, _, page := call(t, srv, "ap", "GET", "/inbox/"+sampleCycle+"?changed=1", nil)
	require.Contains(t, page, `id="list-changed"`)
	require.Contains(t, page, `value="ab12"`, "the form now signs the list as it is")
}

// TestVerificationRunsOnAClick: opening the page verifies nothing; the
// button does.
func TestVerificationRunsOnAClick(t *testing.T) {
	t.Parallel()
	srv, _ := newConsole(t)
	_, _, page := call(t, srv, "au", "GET", "/verify", nil)
	require.Contains(t, page, `id="run-verify"`)
	require.NotContains(t, page, `id="ledger-verify"`)
	_, _, page = call(t, srv, "au", "POST", "/verify", url.Values{})
	require.Contains(t, page, `id="ledger-verify"`)
	require.Contains(t, page, "Íntegro: 4 transacciones")
}

// TestAuditorAndApproverDetails: the audit log filters by day (a bad day
// names its field); an approver's inbox counts what waits for them; a
// reconciliation's amounts read as money.
func TestAuditorAndApproverDetails(t *testing.T) {
	t.Parallel()
	srv, _ := newConsole(t)
	status, _, body := call(t, srv, "au", "GET", "/audit?since=2026-11-01&until=2026-11-30", nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, body, `value="2026-11-30"`, "the filter is echoed")
	status, _, body = call(t, srv, "au", "GET", "/audit?since=ayer", nil)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, body, "since: expected a date")
	_, _, body = call(t, srv, "ap", "GET", "/inbox", nil)
	require.Contains(t, body, "1 casos por firmar ($5,600.00)")
	_, _, body = call(t, srv, "au", "GET", "/reconciliations/1", nil)
	require.Contains(t, body, "$5,600.00")
}

// TestWatchersShareACyclesStatus: five pages watching a running cycle
// read its status about once per interval between them, not once each.
func TestWatchersShareACyclesStatus(t *testing.T) {
	t.Parallel()
	svc := &sampleService{running: true}
	s := &console.Server{App: app.NewAuthorizedWith(svc, testfactory.NoEvidence{}), Auth: roleTokens, Logger: slog.New(slog.DiscardHandler),
		Can: func(who apoyo.Identity, act apoyo.Action) bool { return app.Allowed(who, act) == nil }, ProgressEvery: 20 * time.Millisecond}
	h, err := s.Handler()
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	defer srv.Close()
	const watchers, watch = 5, 400 * time.Millisecond
	var wg sync.WaitGroup
	events := make([]int, watchers)
	for i := range watchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), watch)
			defer cancel()
			r, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/cycles/"+sampleCycle+"/events", nil)
			r.AddCookie(&http.Cookie{Name: "apoyo_session", Value: "pm"})
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			events[i] = strings.Count(string(b), "event: progress")
		}()
	}
	wg.Wait()
	for i, n := range events {
		require.Greater(t, n, 3, "watcher %d saw the progress move", i)
	}
	// Alone, each watcher would read once per interval: about 5 × 20.
	// Shared: one first read each, then about one per half interval.
	reads := svc.statusReads.Load()
	require.Less(t, reads, int64(watchers+int(watch/(10*time.Millisecond))+10), "status reads: %d", reads)
}

// TestStatementUpload: a programme manager reconciles a statement from a
// form and is shown its run; the file's name is kept only as a safe
// label; a caseworker is refused.
func TestStatementUpload(t *testing.T) {
	t.Parallel()
	srv, svc := newConsole(t)
	post := func(token string) (int, http.Header) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, err := mw.CreateFormFile("statement", `C:\banco\estado 2026-11-23<x>.csv`)
		require.NoError(t, err)
		_, _ = fw.Write([]byte("fecha_operacion,clave_rastreo\n"))
		require.NoError(t, mw.Close())
		r, _ := http.NewRequest("POST", srv.URL+"/reconciliations", &body)
		r.Header.Set("Content-Type", mw.FormDataContentType())
		r.AddCookie(&http.Cookie{Name: "apoyo_session", Value: token})
		resp, err := noRedirect.Do(r)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	status, h := post("pm")
	require.Equal(t, http.StatusSeeOther, status)
	require.Equal(t, "/reconciliations/7", h.Get("Location"))
	require.Equal(t, []string{"Reconcile:estado2026-11-23x.csv"}, svc.called())
	status, _ = post("cw")
	require.Equal(t, http.StatusForbidden, status)
	_, _, page := call(t, srv, "pm", "GET", "/reconciliations", nil)
	require.Contains(t, page, `id="reconcile"`)
	_, _, page = call(t, srv, "au", "GET", "/reconciliations", nil)
	require.NotContains(t, page, `id="reconcile"`, "auditors change nothing")
}
