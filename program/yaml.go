package program

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"

	"github.com/apoyo-cdmx/apoyo"
	"github.com/apoyo-cdmx/apoyo/internal/textcheck"
)

// LoadSpecYAML reads a programme spec from YAML with snake_case keys:
//
//	name: Protección al Ingreso Inclusiva 2025
//	benefit_amount: 5600.00
//	currency: MXN
//	funds:
//	  - {code: city, name: Presupuesto CDMX, budget: 2520000.00}
//	  - {code: gcf, name: Global Cities Fund, budget: 1050000.00}
//	eligibility: {min_age: 18, alcaldias: [Cuauhtémoc, Iztapalapa], population_groups: [refugee], require_consent: true}
//	approval: {required: [STYFE, SIBISO], quorum: 2, sla: 5d}
//	identity: {auto_verify: [curp], review_deadline: 7d}
//	referrals: {follow_up: 30d, catalogue: [{code: ..., need: ..., secretariat: ..., name: ...}]}
//
// The document is walked node by node rather than decoded into a struct so
// that every error, an unknown key included, names its key path
// ("funds[1].budget") the way Build's errors do. Amounts are read from
// their text, so 5600.10 never passes through a float. Unknown keys are
// refused: a misspelt "quorom" silently ignored would give a programme
// rules nobody chose. Errors are ErrInvalid.
//
// The file must be UTF-8 (a byte-order mark is dropped; Windows-1252 and
// UTF-16 are refused, saying how to save it), at most MaxSpecYAMLSize
// bytes, and every key and value must pass textcheck.Check with
// textcheck.ProgrammeLimit: YAML's escapes ("\0", "\u202e") can put in a
// value what the file itself may not hold.
func LoadSpecYAML(r io.Reader) (apoyo.ProgramSpec, error) {
	text, err := textcheck.RequireUTF8(r)
	if err != nil {
		msg := err.Error()
		var ae *apoyo.Error
		if errors.As(err, &ae) {
			msg = ae.Message
		}
		return apoyo.ProgramSpec{}, ErrInvalid.With("the programme file: %s", msg).Wrap(err)
	}
	data, err := io.ReadAll(io.LimitReader(text, MaxSpecYAMLSize+1))
	if err != nil {
		return apoyo.ProgramSpec{}, ErrInvalid.With("reading the programme file: %v", err).Wrap(err)
	}
	if len(data) > MaxSpecYAMLSize {
		return apoyo.ProgramSpec{}, ErrInvalid.With("the programme file is larger than %d bytes", MaxSpecYAMLSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return apoyo.ProgramSpec{}, ErrInvalid.With("the programme file is empty")
		}
		return apoyo.ProgramSpec{}, ErrInvalid.With("the programme file is not valid YAML: %v", err).Wrap(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return apoyo.ProgramSpec{}, ErrInvalid.With("the programme file must hold one YAML document")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	var s apoyo.ProgramSpec
	err = mapping(root, "", fields{
		"name":           str(&s.Name),
		"currency":       str(&s.Currency),
		"benefit_amount": func(n *yaml.Node, path string) error { return decimalPtr(n, path, &s.BenefitAmount) },
		"funds": func(n *yaml.Node, path string) error {
			return sequence(n, path, func(n *yaml.Node, path string) error {
				var f apoyo.Fund
				hasBudget := false
				err := mapping(n, path, fields{
					"code": str(&f.Code),
					"name": str(&f.Name),
					"budget": func(n *yaml.Node, path string) error {
						hasBudget = true
						return decimalVal(n, path, &f.Budget)
					},
				})
				if err == nil && !hasBudget {
					err = invalid(path+".budget", "every fund needs a budget")
				}
				s.Funds = append(s.Funds, f)
				return err
			})
		},
		"eligibility": func(n *yaml.Node, path string) error {
			e := &s.Eligibility
			return mapping(n, path, fields{
				"min_age":           intPtr(&e.MinAge),
				"alcaldias":         strList(&e.Alcaldias),
				"population_groups": strList(&e.PopulationGroups),
				"require_consent":   boolPtr(&e.RequireConsent),
			})
		},
		"approval": func(n *yaml.Node, path string) error {
			a := &s.Approval
			return mapping(n, path, fields{
				"required": strList(&a.Required),
				"quorum":   intPtr(&a.Quorum),
				"sla":      durationPtr(&a.SLA),
			})
		},
		"identity": func(n *yaml.Node, path string) error {
			id := &s.Identity
			return mapping(n, path, fields{
				"auto_verify":     strList(&id.AutoVerify),
				"review_deadline": durationPtr(&id.ReviewDeadline),
			})
		},
		"referrals": func(n *yaml.Node, path string) error {
			r := &s.Referrals
			return mapping(n, path, fields{
				"follow_up": durationPtr(&r.FollowUp),
				"catalogue": func(n *yaml.Node, path string) error {
					r.Catalogue = []apoyo.ReferralService{}
					return sequence(n, path, func(n *yaml.Node, path string) error {
						var c apoyo.ReferralService
						err := mapping(n, path, fields{
							"code":        str(&c.Code),
							"need":        str(&c.Need),
							"secretariat": str(&c.Secretariat),
							"name":        str(&c.Name),
						})
						r.Catalogue = append(r.Catalogue, c)
						return err
					})
				},
			})
		},
	})
	if err != nil {
		return apoyo.ProgramSpec{}, err
	}
	return s, nil
}

// MaxSpecYAMLSize bounds a programme file; real ones are a few KiB.
const MaxSpecYAMLSize = 1 << 20

// fields maps a mapping's keys to the functions that read their values.
type fields map[string]func(n *yaml.Node, path string) error

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

// where locates a node for a person fixing the file.
func where(n *yaml.Node) string { return fmt.Sprintf(" (line %d)", n.Line) }

func mapping(n *yaml.Node, path string, fs fields) error {
	n = deref(n)
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		name := path
		if name == "" {
			name = "the programme file"
		}
		return invalid(path, "%s must be a mapping of keys to values%s", name, where(n))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if terr := textcheck.Check(k.Value, textcheck.MaxCode); terr != nil {
			return invalid(path, "a key%s is not valid text: %s", where(k), terr.Message).Wrap(terr)
		}
		p := join(path, k.Value)
		read, ok := fs[k.Value]
		if !ok {
			keys := make([]string, 0, len(fs))
			for key := range fs {
				keys = append(keys, key)
			}
			slices.Sort(keys)
			return invalid(p, "unknown key %q%s; the accepted keys here are %s", k.Value, where(k), strings.Join(keys, ", "))
		}
		if seen[k.Value] {
			return invalid(p, "key %q appears twice%s", k.Value, where(k))
		}
		seen[k.Value] = true
		if err := read(deref(v), p); err != nil {
			return err
		}
	}
	return nil
}

func sequence(n *yaml.Node, path string, item func(n *yaml.Node, path string) error) error {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		return invalid(path, "%s must be a list%s", path, where(n))
	}
	for i, c := range n.Content {
		if err := item(deref(c), fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	return nil
}

func scalar(n *yaml.Node, path, what string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", invalid(path, "%s must be %s%s", path, what, where(n))
	}
	if terr := textcheck.Check(n.Value, textcheck.ProgrammeLimit(lastKey(path))); terr != nil {
		return "", invalid(path, "%s%s", terr.Message, where(n)).Wrap(terr)
	}
	return n.Value, nil
}

// lastKey is the key a value path ends in, without list indexes:
// "referrals.catalogue[0].name" → "name", "eligibility.alcaldias[2]" →
// "alcaldias".
func lastKey(path string) string {
	if i := strings.IndexByte(path, '['); i >= 0 && !strings.Contains(path[i:], ".") {
		path = path[:i]
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		path = path[i+1:]
	}
	return path
}

func str[T ~string](dst *T) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		if isNull(n) {
			return nil
		}
		v, err := scalar(n, path, "a single value")
		*dst = T(v)
		return err
	}
}

func strList[T ~string](dst *[]T) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		if isNull(n) {
			return nil
		}
		*dst = []T{} // an explicit [] is not the same as no key
		return sequence(n, path, func(n *yaml.Node, path string) error {
			v, err := scalar(n, path, "a single value")
			*dst = append(*dst, T(v))
			return err
		})
	}
}

func intPtr(dst **int) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		if isNull(n) {
			return nil
		}
		var v int
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || n.Decode(&v) != nil {
			return invalid(path, "%s must be a whole number%s", path, where(n))
		}
		*dst = &v
		return nil
	}
}

func boolPtr(dst **bool) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		if isNull(n) {
			return nil
		}
		var v bool
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || n.Decode(&v) != nil {
			return invalid(path, "%s must be true or false%s", path, where(n))
		}
		*dst = &v
		return nil
	}
}

func decimalVal(n *yaml.Node, path string, dst *decimal.Decimal) error {
	v, err := scalar(n, path, "an amount such as 5600.00")
	if err != nil {
		return err
	}
	d, perr := decimal.NewFromString(strings.TrimSpace(v))
	if perr != nil || (n.Tag != "!!int" && n.Tag != "!!float" && n.Tag != "!!str") {
		return invalid(path, "%q is not an amount; write it like 5600.00, without separators or currency sign%s", v, where(n))
	}
	*dst = d
	return nil
}

func decimalPtr(n *yaml.Node, path string, dst **decimal.Decimal) error {
	if isNull(n) {
		return nil
	}
	var d decimal.Decimal
	if err := decimalVal(n, path, &d); err != nil {
		return err
	}
	*dst = &d
	return nil
}

func durationPtr(dst **time.Duration) func(*yaml.Node, string) error {
	return func(n *yaml.Node, path string) error {
		if isNull(n) {
			return nil
		}
		v, err := scalar(n, path, "a duration such as 5d or 36h")
		if err != nil {
			return err
		}
		d, perr := ParseDuration(v)
		if perr != nil {
			return invalid(path, "%v%s", perr, where(n))
		}
		*dst = &d
		return nil
	}
}
