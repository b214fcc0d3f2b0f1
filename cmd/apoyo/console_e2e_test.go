package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/apoyo-cdmx/apoyo"
)

// chromium finds the browser the console's tests drive. CI installs
// Debian's chromium and sets APOYO_REQUIRE_BROWSER=1, so there a missing
// browser fails the test instead of skipping it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("APOYO_REQUIRE_BROWSER") == "1" {
		t.Fatal("no chromium on this machine, and APOYO_REQUIRE_BROWSER=1: install Debian's chromium (.ci/run does)")
	}
	t.Skip("no chromium on this machine (apt-get install chromium); CI requires it")
	return ""
}

// browser is one person's browser: a browser context of its own (its own
// cookies), answering every confirmation dialog with OK, as a person
// clicking "Aceptar" would.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
}

// css is a CSS selector (a plain string would be a DOM text search).
type css = chromedp.CSS

func newBrowser(t *testing.T, root context.Context, base string, width, height int64) *browser {
	t.Helper()
	ctx, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	b := &browser{t: t, ctx: ctx, base: base}
	// The first run makes the tab and binds it to its context: no timeout
	// there, or the tab would close with it.
	require.NoError(t, chromedp.Do(ctx, chromedp.EmulateViewport(width, height)))
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return b
}

// withTimeout is ctx with a deadline d away, cancelled when the test ends.
func withTimeout(t *testing.T, ctx context.Context, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(ctx, d)
	t.Cleanup(cancel)
	return ctx
}

// get runs one action that returns a value, within a minute.
func get[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%v; %s", err, b.describe())
	}
	return v
}

// describe says where the browser is and what its page shows, for a
// failure's message: a page that does not answer within 10 s is said to
// (an unanswered dialog blocks every script).
func (b *browser) describe() string {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	page, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.innerText`))
	if err != nil {
		return fmt.Sprintf("the page does not answer (%v)", err)
	}
	return "the page is at " + page
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	get(b, chromedp.Steps(steps...))
}

// location is where the browser is now.
func (b *browser) location() *url.URL {
	b.t.Helper()
	u, err := url.Parse(get(b, chromedp.Location()))
	require.NoError(b.t, err)
	return u
}

func (b *browser) open(path string) { b.t.Helper(); b.do(chromedp.Navigate(b.base + path)) }

func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(get(b, chromedp.Text(css(sel))))
}

// has reports whether the page has an element matching sel now.
func (b *browser) has(sel string) bool {
	b.t.Helper()
	return get(b, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))) > 0
}

// eval evaluates a script, waiting for its promise.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	return get(b, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

// login signs in with a token through the sign-in form.
func (b *browser) login(token string) {
	b.t.Helper()
	b.open("/login")
	b.do(chromedp.SendKeys(css("#token"), token), chromedp.Click(css(`form.card button[type="submit"]`)))
	deadline := time.Now().Add(20 * time.Second)
	for !b.has("#whoami") {
		if time.Now().After(deadline) {
			b.t.Fatalf("sign-in did not complete: at %s the page says %q", b.location(), b.text("body"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// until reloads path until the page has sel (the cases move on their own).
func (b *browser) until(path, sel string, within time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		b.open(path)
		if b.has(sel) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: no %s after %s; the page says: %s", path, sel, within, b.text("main"))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// fetchStatus posts a form to a console route from inside the page, as a
// script with the person's cookie would, and returns the status.
func (b *browser) fetchStatus(path, form string) int {
	b.t.Helper()
	return eval[int](b, fmt.Sprintf(`fetch(%q, {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: %q}).then(r => r.status)`, path, form))
}

// shot saves a full-page screenshot when APOYO_CONSOLE_SCREENSHOTS names
// a folder (docs/console/ is made that way; tests do not write it).
func (b *browser) shot(name string) {
	b.t.Helper()
	dir := os.Getenv("APOYO_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := get(b, chromedp.FullScreenshot(100))
	require.NoError(b.t, os.MkdirAll(dir, 0o755))
	require.NoError(b.t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

// TestConsoleInABrowser works a whole cycle through the web console in
// headless Chromium, one browser per person, on a real Temporal server,
// PostgreSQL and the sandbox bank: the programme manager imports the
// roster from a file and launches the cycle, then watches its progress
// (server-sent events) until it closes; the caseworker finds the stuck
// case in the queue, reveals the person's data for a stated purpose and
// checks the document, and records a referral's outcome; each approver
// signs the pending list shown with its count, total and hash; the
// caseworker sees no approver's button and is refused the approver's
// route; the auditor finds the caseworker's read, with its purpose, in
// the audit log, and sees the ledger and the log verified.
func TestConsoleInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	exe := chromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	g := startGoldenStack(ctx, t)
	as := g.as
	base := startServe(ctx, t)
	manager := apiClient{t, base + "/api/v1", as.manager}

	// Chromium as the machine's probe runs it: no network beyond localhost.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()))
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	// The browser itself; each person gets a browser context in it.
	root, cancelRoot := chromedp.NewContext(alloc)
	defer cancelRoot()
	require.NoError(t, chromedp.Do(root, chromedp.Navigate("about:blank")))

	// The programme is defined through the API (the console has no
	// programme editor); its roster comes in through the console.
	var prog apoyo.Program
	manager.post("/programs", map[string]any{"name": "Ingreso Inclusivo consola",
		"funds": []map[string]any{{"code": "city", "name": "Presupuesto CDMX", "budget": "100000"}}}, &prog)
	people := threePeople(rand.New(rand.NewPCG(37, 41)))
	bad := people[1].row()
	bad[3] = "31/02/1990" // a birth date that is no date: the report names row 5 and the field
	rosterFile := filepath.Join(t.TempDir(), "padron.csv")
	require.NoError(t, os.WriteFile(rosterFile, rosterCSV(t, people, bad), 0o600))

	// The programme manager: roster from a file, the report as a table,
	// then the launch.
	mgr := newBrowser(t, root, base, 1280, 900)
	mgr.login(as.manager)
	require.Equal(t, "/cycles", mgr.location().Path, "a programme manager starts at the cycles")
	mgr.open("/programs/" + prog.ID)
	mgr.do(chromedp.SetUploadFiles(css("#roster"), []string{rosterFile}), chromedp.Click(css("#import-roster")),
		chromedp.WaitVisible(css("#import-summary")))
	require.Contains(t, mgr.text("#import-summary"), "3 aceptadas, 1 rechazadas")
	require.Contains(t, mgr.text("#import-errors"), "5", "the bad row is named")
	require.Contains(t, mgr.text("#import-errors"), "birth_date", "… and its field")
	mgr.shot("manager-import")
	mgr.do(chromedp.Click(css("#launch-cycle")), chromedp.WaitVisible(css("#live")))
	cyc := strings.TrimPrefix(mgr.location().Path, "/cycles/")
	require.True(t, strings.HasPrefix(cyc, "cyc_"), cyc)
	require.Equal(t, "3", mgr.text("#total"))

	// The caseworker: C's TVRH is in the queue; the data is revealed for a
	// purpose; the document is checked; the case leaves the queue.
	cw := newBrowser(t, root, base, 1280, 900)
	cw.login(as.caseworker)
	require.Equal(t, "/queue", cw.location().Path)
	queue := "/queue?cycle_id=" + cyc + "&kind=identity_review"
	cw.until(queue, "tr[data-case]", 60*time.Second)
	cw.shot("caseworker-queue")
	// On a phone: the same queue at 360 px, in English, rows stacked.
	phone := newBrowser(t, root, base, 360, 780)
	phone.login(as.caseworker)
	phone.open("/lang/en?back=" + url.QueryEscape(queue))
	require.Contains(t, phone.text("h1"), "Stuck cases")
	require.Contains(t, phone.text("tr[data-case]"), "check a document", "the row, in English")
	overflow := eval[bool](phone, `document.documentElement.scrollWidth > window.innerWidth + 1`)
	require.False(t, overflow, "no sideways scrolling at 360 px")
	phone.shot("caseworker-queue-phone")
	cw.do(chromedp.Click(css("tr[data-case] a")), chromedp.WaitVisible(css("#h-actions")))
	require.NotContains(t, cw.text("#personal"), "Orlando", "masked until revealed")
	cw.do(chromedp.SendKeys(css("#purpose"), "verificar TVRH en ventanilla"), chromedp.Click(css("#reveal")),
		chromedp.WaitVisible(css("#personal-data")))
	require.Contains(t, cw.text("#personal-data"), "Orlando Funes Ríos")
	require.Contains(t, cw.text("#personal-data"), "TVRH12121212")
	cw.shot("caseworker-case")
	cw.do(chromedp.Click(css(`input[name="decision"][value="verified"]`)), chromedp.Click(css("#act-identity")),
		chromedp.WaitVisible(css("#flash")))
	require.Contains(t, cw.text("#flash"), "Decisión registrada")
	require.False(t, cw.has("#act-identity"), "the page shows the case as it now is: no identity form once decided")
	cw.until(queue, "p.empty", 60*time.Second)

	// The caseworker sees no approver's button and may not use the
	// approver's routes, whatever the page shows.
	require.False(t, cw.has(`a[href="/inbox"]`), "no inbox in a caseworker's menu")
	cw.open("/inbox/" + cyc)
	require.False(t, cw.has("#sign-list"), "no signing for a caseworker")
	require.Contains(t, cw.text("main"), "may not")
	require.Equal(t, http.StatusForbidden, cw.fetchStatus("/inbox/"+cyc+"/sign", "hash="+strings.Repeat("0", 64)))
	bID := apoyoBeneficiary(t, apiClient{t, base + "/api/v1", as.caseworker}, cyc, "B", people)
	cw.until("/cases/"+cyc+"/"+bID, `#case-step`, 30*time.Second)
	require.False(t, cw.has("#act-vote"), "no vote button for a caseworker")
	require.Equal(t, http.StatusForbidden, cw.fetchStatus("/cases/"+cyc+"/"+bID+"/vote", "approve=true"))

	// Each approver signs the list as shown: 3 cases, $16,800.00, a hash.
	for i, sec := range apoyo.Secretariats {
		ap := newBrowser(t, root, base, 1280, 900)
		ap.login(as.approver[sec])
		require.Equal(t, "/inbox", ap.location().Path)
		ap.until("/inbox/"+cyc, `#list-size`, 10*time.Second)
		deadline := time.Now().Add(60 * time.Second)
		for ap.text("#list-size") != "3" {
			require.True(t, time.Now().Before(deadline), "%s's list never reached 3 cases", sec)
			time.Sleep(300 * time.Millisecond)
			ap.open("/inbox/" + cyc)
		}
		require.Equal(t, "$16,800.00", ap.text("#list-total"))
		require.Len(t, ap.text("#list-hash"), 64)
		if i == 0 {
			ap.shot("approver-list")
		}
		ap.do(chromedp.Click(css("#sign-list")), chromedp.WaitVisible(css("#signed")))
		require.Contains(t, ap.text("#signed"), "3 casos")
	}

	// A's referral: the caseworker records its outcome on A's page.
	aID := apoyoBeneficiary(t, apiClient{t, base + "/api/v1", as.caseworker}, cyc, "A", people)
	cw.until("/cases/"+cyc+"/"+aID, "#act-referral", 60*time.Second)
	cw.do(chromedp.SetValue(css(`select[name="outcome"]`), "attended"), chromedp.Click(css("#act-referral")),
		chromedp.WaitVisible(css("#flash")))

	// The programme manager's page, open since the launch, follows the
	// cycle to its end through server-sent events, without a reload.
	// The cycle hears of ended cases from its sweep (at most a minute
	// apart while nothing moves), and a signal or start that did not reach
	// a case is sent again after a minute: wait for two of those.
	if _, err := chromedp.Run(withTimeout(t, mgr.ctx, 150*time.Second), chromedp.WaitVisible(css(`#cycle-status[data-status="closed"]`))); err != nil {
		var st apoyo.CycleStatusView
		manager.get("/cycles/"+cyc, &st)
		var cs []apoyo.Case
		apiClient{t, base + "/api/v1", as.caseworker}.get("/cases?cycle="+cyc, &cs)
		t.Fatalf("the manager's page never showed the cycle closed (%v); the cycle: %+v %+v; its cases: %+v", err, st.Cycle, st.Progress, cs)
	}
	require.Equal(t, "100", mgr.text("#percent"))
	require.Equal(t, "$16,800.00", mgr.text(`[data-money="paid"]`))
	points := eval[int](mgr, `document.querySelectorAll("#chart polyline").length`)
	require.Equal(t, len(apoyo.Steps), points, "one line per step in the chart")
	mgr.shot("manager-cycle")
	mgr.open("/cycles/" + cyc + "/report")
	require.True(t, mgr.has("#report-csv"))
	csvText := eval[string](mgr, `fetch(document.querySelector("#report-csv").href).then(r => r.text())`)
	require.True(t, strings.HasPrefix(csvText, "dimension,category,"), csvText)

	// Prometheus's metrics are served beside the console: the projection's
	// counts, with no id in them.
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	metricsText, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Contains(t, string(metricsText), `apoyo_cases{status="done",step="done"} 3`)
	require.NotContains(t, string(metricsText), cyc)

	// The auditor: the caseworker's read with its purpose, and the books
	// and the log verified.
	au := newBrowser(t, root, base, 1280, 900)
	au.login(as.auditor)
	require.Equal(t, "/ledger", au.location().Path)
	require.Contains(t, au.text("#balanced"), "Cuadra")
	au.open("/audit?action=beneficiary.personal_data.read")
	require.Contains(t, au.text("#audit-entries"), "verificar TVRH en ventanilla")
	require.Contains(t, au.text("#audit-entries"), "test.caseworker")
	au.shot("auditor-audit")
	au.open("/verify")
	au.do(chromedp.Click(css("#run-verify")), chromedp.WaitVisible(css("#audit-verify")))
	require.Contains(t, au.text("#ledger-verify"), "Íntegro")
	require.Contains(t, au.text("#audit-verify"), "Íntegra")

	// The administrator: users, and nothing of the money.
	ad := newBrowser(t, root, base, 1280, 900)
	ad.login(as.admin)
	require.Equal(t, "/users", ad.location().Path)
	require.Contains(t, ad.text("main"), "test.caseworker")
	require.False(t, ad.has(`a[href="/ledger"]`) || ad.has(`a[href="/queue"]`) || ad.has(`a[href="/inbox"]`))

}
