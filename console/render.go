package console

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"

	"github.com/apoyo-cdmx/apoyo"
)

// pageTemplate is one page: the layout and shared partials with the
// page's own file, which defines "content" and the page's fragments.
type pageTemplate struct{ t *template.Template }

// funcs are the few template helpers that are not a Locale's: formatting
// goes through .L so that the language is the request's.
var funcs = template.FuncMap{
	"join": strings.Join,
	"str":  func(v any) string { return fmt.Sprint(v) },
	"list": func(v ...string) []string { return v },
	// caseURL is the console page of a case id (case/<cycle>/<beneficiary>).
	"caseURL": func(caseID string) string {
		cyc, ben, err := apoyo.ParseCaseID(caseID)
		if err != nil {
			return "/queue"
		}
		return "/cases/" + cyc + "/" + ben
	},
}

// loadTemplates parses every page once, at start: a template error is a
// start-up error, not a broken page later.
func loadTemplates() (map[string]*pageTemplate, error) {
	base, err := template.New("base").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, err
	}
	files, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*pageTemplate{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if t, err = t.ParseFS(assets, f); err != nil {
			return nil, err
		}
		pages[name] = &pageTemplate{t: t}
	}
	pages["partials"] = &pageTemplate{t: base}
	return pages, nil
}

// view is what every page template gets: the locale, who is signed in,
// the navigation their role may use, and the page's own data.
type view struct {
	L    *Locale
	Who  apoyo.Identity
	Nav  []navItem
	Page string
	// Back is where a language switch returns: this page, with its
	// filters, for a GET; the start for anything else.
	Back string
	Data any
	can  func(apoyo.Action) bool
}

// Can reports whether the signed-in person may take an action, to show
// its button: {{if .Can "case.retry"}}.
func (v view) Can(act string) bool { return v.can != nil && v.can(apoyo.Action(act)) }

// With is the same view with other data, for a shared part of a page:
// {{template "personal" ($.With $d.Personal)}}.
func (v view) With(data any) view { v.Data = data; return v }

type navItem struct {
	Href, Key string
	Active    bool
}

// nav lists the pages a role may open, in the order a person works.
func (s *Server) nav(id apoyo.Identity, current string) []navItem {
	items := []struct {
		href, key, page string
		act             apoyo.Action
	}{
		{"/queue", "nav.queue", "queue", apoyo.ActTaskRead},
		{"/inbox", "nav.inbox", "inbox", apoyo.ActRosterRead},
		{"/programs", "nav.programs", "programs", apoyo.ActProgramRead},
		{"/cycles", "nav.cycles", "cycles", apoyo.ActCycleRead},
		{"/ledger", "nav.ledger", "ledger", apoyo.ActLedgerRead},
		{"/reconciliations", "nav.reconciliations", "reconciliations", apoyo.ActReconciliationRead},
		{"/audit", "nav.audit", "audit", apoyo.ActAuditRead},
		{"/verify", "nav.verify", "verify", apoyo.ActLedgerVerify},
		{"/users", "nav.users", "users", apoyo.ActUserRead},
	}
	var out []navItem
	for _, it := range items {
		if s.can(id, it.act) {
			out = append(out, navItem{Href: it.href, Key: it.key, Active: it.page == current})
		}
	}
	return out
}

func (s *Server) view(r *http.Request, page string, data any) view {
	id := who(r)
	back := "/"
	if r.Method == http.MethodGet {
		back = r.URL.RequestURI()
	}
	return view{L: localeOf(r), Who: id, Nav: s.nav(id, page), Page: page, Back: back, Data: data,
		can: func(a apoyo.Action) bool { return s.can(id, a) }}
}

// render writes a whole page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	s.execute(w, r, status, page, "layout", s.view(r, page, data))
}

// fragment writes one named part of a page (for htmx), with the same view.
func (s *Server) fragment(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	page, block, ok := strings.Cut(name, ":")
	if !ok {
		page, block = "partials", name
	}
	s.execute(w, r, status, page, block, s.view(r, page, data))
}

func (s *Server) execute(w http.ResponseWriter, r *http.Request, status int, page, block string, v view) {
	pt, ok := s.pages[page]
	if !ok {
		s.log(r).Error("no such template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	// Rendered into a buffer first: a template error must not leave half a
	// page behind a 200.
	var buf bytes.Buffer
	if err := pt.t.ExecuteTemplate(&buf, block, v); err != nil {
		s.log(r).Error("template", "page", page, "block", block, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// queryString builds "?k=v&…" from pairs, leaving out empty values.
func queryString(kv ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if b.Len() == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(template.URLQueryEscaper(kv[i]))
		b.WriteByte('=')
		b.WriteString(template.URLQueryEscaper(kv[i+1]))
	}
	return b.String()
}
