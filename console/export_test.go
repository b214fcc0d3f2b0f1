package console

import (
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"
)

// MessageKeys lists the catalogue's keys.
func MessageKeys() map[string]bool {
	out := map[string]bool{}
	for _, m := range messages {
		out[m.key] = true
	}
	return out
}

// messageCall is a template's call of the catalogue with a literal key.
var messageCall = regexp.MustCompile(`\.T "([^"]+)"|"(done\.[a-z_]+|login\.[a-z_]+)"`)

// TemplateMessageKeys lists the literal keys the templates and handlers
// ask the catalogue for.
func TemplateMessageKeys() []string {
	var keys []string
	_ = fs.WalkDir(assets, "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assets, p)
		if err != nil {
			return err
		}
		for _, m := range messageCall.FindAllStringSubmatch(string(b), -1) {
			keys = append(keys, m[1]+m[2])
		}
		return nil
	})
	for _, it := range []string{"nav.queue", "nav.inbox", "nav.programs", "nav.cycles", "nav.ledger", "nav.reconciliations", "nav.audit", "nav.verify", "nav.users",
		"age.days", "age.hours", "age.now", "done.identity", "done.instrument", "done.referral", "done.retry", "done.cancel", "done.approved", "done.rejected", "login.expired"} {
		keys = append(keys, it)
	}
	return keys
}

// Pages lists the page templates.
func Pages() []string {
	files, _ := fs.Glob(assets, "templates/*.html")
	var out []string
	for _, f := range files {
		if name := strings.TrimSuffix(path.Base(f), ".html"); name != "layout" && name != "partials" {
			out = append(out, name)
		}
	}
	return out
}

var verb = regexp.MustCompile(`%[dsv]`)

// CheckCatalogue finds duplicate keys, empty texts, and a translation
// whose format verbs differ from the Spanish.
func CheckCatalogue() error {
	seen := map[string]bool{}
	for _, m := range messages {
		switch {
		case seen[m.key]:
			return fmt.Errorf("%s: twice in the catalogue", m.key)
		case strings.TrimSpace(m.es) == "" || strings.TrimSpace(m.en) == "":
			return fmt.Errorf("%s: an empty text", m.key)
		case strings.Join(verb.FindAllString(m.es, -1), "") != strings.Join(verb.FindAllString(m.en, -1), ""):
			return fmt.Errorf("%s: Spanish and English take different arguments", m.key)
		}
		seen[m.key] = true
	}
	return nil
}
