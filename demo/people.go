package demo

import (
	"encoding/csv"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/apoyo-cdmx/apoyo/bank/sandbox"
	"github.com/apoyo-cdmx/apoyo/mxid"
)

// Columns of the roster CSV, in the order the demo writes them.
var Columns = []string{"given_names", "first_surname", "second_surname", "birth_date", "sex", "nationality", "population_group", "alcaldia",
	"household_size", "phone", "email", "curp", "id_document_type", "id_document_number", "payment_method", "clabe", "card_number", "needs", "consent"}

var (
	givenF   = []string{"María José", "Yesenia", "Daniela", "Mirlande", "Rosa Elena", "Gabriela", "Wendy", "Dayana", "Fabiola", "Nahomy", "Kenia", "Lucía"}
	givenM   = []string{"José Luis", "Wilmer", "Jean-Pierre", "Kevin", "Carlos Eduardo", "Josué", "Yordani", "Anderson", "Brayan", "Luis Ángel", "Marvin", "Oscar"}
	surnames = []string{"Hernández", "Martínez", "López", "Pérez", "Rodríguez", "Baptiste", "Joseph", "Zelaya", "Funez", "Mejía", "Castillo", "Paredes",
		"Alvarado", "Gómez", "Pierre", "Díaz", "Reyes", "Flores", "Núñez", "Cruz", "Ramírez", "Orellana", "Quispe", "Acosta"}
	// Nationalities seen in this population (ISO alpha-3), weighted by
	// repetition; MEX are returnees and internally displaced people.
	nationalities = []string{"HND", "HND", "HND", "GTM", "GTM", "SLV", "SLV", "VEN", "VEN", "HTI", "HTI", "CUB", "COL", "NIC", "MEX", "MEX", "ECU"}
	groups        = []string{"migrant", "migrant", "refugee", "asylum_seeker", "asylum_seeker", "idp", "returnee"}
	needsPool     = []string{"employment", "id_documents", "health", "mental_health", "shelter", "legal_aid", "education"}
	banks         = []string{"002", "012", "014", "021", "072", "127", "137"}
)

// Person is one synthetic roster row, with what the demo expects of it.
type Person struct {
	Row []string
	// Invalid rows are refused at import; Duplicate rows repeat an earlier
	// person; Returns are paid to a CLABE the sandbox bank returns.
	Invalid, Duplicate, Returns bool
}

// GeneratePeople makes n realistic synthetic people (plus a few invalid
// rows and duplicates): valid CURPs with check digits for most, a TVRH or
// COMAR paper instead for some, about 40% paid by SPEI to a CLABE and the
// rest by cash pickup or card, and a few CLABEs the sandbox bank returns.
// The same seed gives the same people.
func GeneratePeople(n int, seed uint64, now time.Time) []Person {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]Person, 0, n+n/50+2)
	spei := 0
	for i := 0; i < n; i++ {
		out = append(out, Person{Row: person(r, now, i)})
		p := &out[len(out)-1]
		if i%40 == 17 {
			// A few minors: eligibility refuses them, and says why.
			p.Row[3] = now.AddDate(-(15 + r.IntN(3)), -r.IntN(12), 0).Format("2006-01-02")
			if p.Row[11] != "" {
				p.Row[11] = mxid.GenerateCURP(r, mustDate(p.Row[3]), p.Row[4], "NE")
				p.Row[13] = p.Row[11]
			}
		}
		if p.Row[14] != "spei" {
			continue
		}
		spei++
		if spei%12 == 5 {
			// An account the bank will return: does not exist, blocked, cancelled.
			// The account's last four digits 0001–0003 make the sandbox
			// return it (does not exist, blocked, cancelled).
			p.Row[15] = sandbox.CLABE(fmt.Sprintf("%d%06d%04d", 1+r.IntN(9), r.IntN(1e6), 1+r.IntN(3)))
			p.Returns = true
		}
	}
	// A few rows with mistakes, and a few people listed twice.
	for i := 0; i < max(1, n/100); i++ {
		bad := person(r, now, n+i)
		switch i % 3 {
		case 0:
			if bad[11] != "" { // a CURP with a wrong check digit
				last := strings.IndexByte("0123456789", bad[11][17])
				bad[11] = bad[11][:17] + string("0123456789"[(last+1)%10])
				bad[13] = bad[11]
			} else { // a birth date in the future
				bad[3] = now.AddDate(1, 0, 0).Format("2006-01-02")
			}
		case 1:
			bad[14], bad[15] = "spei", "" // SPEI without a CLABE
		default:
			bad[7] = "Ecatepec" // not an alcaldía of Mexico City
		}
		out = append(out, Person{Row: bad, Invalid: true})
	}
	for i := 0; i < max(1, n/100) && i < n; i++ {
		out = append(out, Person{Row: append([]string(nil), out[r.IntN(n)].Row...), Duplicate: true})
	}
	return out
}

func person(r *rand.Rand, now time.Time, i int) []string {
	sex := "M"
	given := givenF[r.IntN(len(givenF))]
	if r.IntN(2) == 0 {
		sex, given = "H", givenM[r.IntN(len(givenM))]
	}
	birth := now.AddDate(-(19 + r.IntN(45)), -r.IntN(12), -r.IntN(28))
	nat := nationalities[r.IntN(len(nationalities))]
	group := groups[r.IntN(len(groups))]
	if nat == "MEX" {
		group = []string{"returnee", "idp"}[r.IntN(2)]
	}
	row := make([]string, len(Columns))
	row[0], row[1], row[2] = given, surnames[r.IntN(len(surnames))], surnames[r.IntN(len(surnames))]
	row[3], row[4], row[5], row[6] = birth.Format("2006-01-02"), sex, nat, group
	row[7] = mxid.Alcaldias[r.IntN(len(mxid.Alcaldias))]
	row[8] = fmt.Sprint(1 + r.IntN(6))
	row[9] = fmt.Sprintf("55%08d", r.IntN(1e8))
	if r.IntN(3) == 0 {
		row[10] = fmt.Sprintf("persona%d@correo.example", i)
	}
	state := "NE"
	if nat == "MEX" {
		state = []string{"DF", "GR", "MC", "OC", "CS"}[r.IntN(5)]
	}
	switch k := r.IntN(100); {
	case k < 70 || nat == "MEX":
		row[11] = mxid.GenerateCURP(r, birth, sex, state)
		row[12], row[13] = "curp", row[11]
	case k < 85:
		row[12], row[13] = "tvrh", fmt.Sprintf("TVRH%08d", r.IntN(1e8))
	default:
		row[12], row[13] = "comar_constancia", fmt.Sprintf("COMAR/%d/%05d", 2024+r.IntN(3), r.IntN(1e5))
	}
	switch k := r.IntN(100); {
	case k < 42:
		row[14], row[15] = "spei", mxid.GenerateCLABE(r, banks[r.IntN(len(banks))])
	case k < 80:
		row[14] = "cash_pickup"
	default:
		row[14], row[16] = "card", sandbox.CardNumber(fmt.Sprintf("%04d", 1+r.IntN(9998)))
	}
	var needs []string
	for _, nd := range needsPool {
		if r.IntN(5) == 0 {
			needs = append(needs, nd)
		}
	}
	row[17] = strings.Join(needs, ";")
	row[18] = "yes"
	return row
}

// WriteCSV writes the people as a roster CSV.
func WriteCSV(w io.Writer, people []Person) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Columns); err != nil {
		return err
	}
	for _, p := range people {
		if err := cw.Write(p.Row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func mustDate(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		panic(err)
	}
	return t
}

// BenchPeople makes n adults who go straight through: a CURP each (no
// document to review), no referral needs, and no account the bank returns.
// Benchmarks use them so that only the engine is measured, not the
// caseworkers the demo plays.
func BenchPeople(n int, seed uint64, now time.Time) []Person {
	r := rand.New(rand.NewPCG(seed, seed^0x51ed2701))
	out := make([]Person, n)
	for i := range out {
		row := person(r, now, i)
		if row[11] == "" {
			birth := mustDate(row[3])
			row[11] = mxid.GenerateCURP(r, birth, row[4], "NE")
			row[12], row[13] = "curp", row[11]
		}
		row[17] = ""
		out[i] = Person{Row: row}
	}
	return out
}
