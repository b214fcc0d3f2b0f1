package apoyo

import "time"

// Beneficiary is an enrolled person as everyone but the sealed-data
// readers sees them: enough for eligibility rules, cycles and
// disaggregated reports, and no name, CURP, document number, phone,
// email, CLABE or card number. Those are sealed at rest; reading them is
// an audited act with a purpose (BeneficiaryService.PersonalData).
type Beneficiary struct {
	ID              string          `json:"id"`
	ProgramID       string          `json:"program_id"`
	BirthDate       time.Time       `json:"birth_date"`
	Sex             Sex             `json:"sex"`
	Nationality     string          `json:"nationality"`
	PopulationGroup PopulationGroup `json:"population_group"`
	Alcaldia        string          `json:"alcaldia"`
	// HouseholdSize is 0 when the roster did not say.
	HouseholdSize int `json:"household_size,omitempty"`
	// IDDocumentType is "" when the person gave only a CURP.
	IDDocumentType IDDocumentType `json:"id_document_type,omitempty"`
	// HasCURP tells whether a CURP is on file, without revealing it.
	HasCURP bool `json:"has_curp"`
	// PaymentMethod is the rail the person is paid on.
	PaymentMethod Rail     `json:"payment_method"`
	Needs         []Need   `json:"needs"`
	Consent       bool     `json:"consent"`
	ReviewFlags   []string `json:"review_flags"`
	ImportID      string   `json:"import_id,omitempty"`
	SourceRow     int      `json:"source_row,omitempty"`
	// EnrolledBy is the user who imported the roster row ("" before
	// identities existed): separation of duties keeps them from approving
	// the person's case.
	EnrolledBy string    `json:"enrolled_by,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// AgeOn returns the beneficiary's age in whole years on day t.
func (b Beneficiary) AgeOn(t time.Time) int { return AgeOn(b.BirthDate, t) }

// AgeOn returns the age in whole years on day of someone born on birth,
// each read in its own location (a person born on 29 February turns a
// year older on 1 March in common years).
func AgeOn(birth, day time.Time) int {
	by, bm, bd := birth.Date()
	y, m, d := day.Date()
	age := y - by
	if m < bm || (m == bm && d < bd) {
		age--
	}
	return age
}

// PopulationGroup is the programme's classification of a beneficiary's
// migratory situation. Reports are disaggregated by it.
type PopulationGroup string

const (
	PopulationMigrant      PopulationGroup = "migrant"
	PopulationRefugee      PopulationGroup = "refugee"
	PopulationAsylumSeeker PopulationGroup = "asylum_seeker"
	PopulationIDP          PopulationGroup = "idp" // internally displaced person
	PopulationReturnee     PopulationGroup = "returnee"
)

// PopulationGroups lists every population group in canonical order.
var PopulationGroups = []PopulationGroup{PopulationMigrant, PopulationRefugee, PopulationAsylumSeeker, PopulationIDP, PopulationReturnee}

// Valid reports whether g is one of PopulationGroups.
func (g PopulationGroup) Valid() bool { return oneOf(g, PopulationGroups) }

// Sex uses the CURP's letters so that the roster and the CURP can be
// compared directly: H (hombre), M (mujer), X (non-binary, issued since
// 2022).
type Sex string

const (
	SexMale      Sex = "H"
	SexFemale    Sex = "M"
	SexNonBinary Sex = "X"
)

// Sexes lists the three letters.
var Sexes = []Sex{SexMale, SexFemale, SexNonBinary}

// Valid reports whether s is H, M or X.
func (s Sex) Valid() bool { return oneOf(s, Sexes) }

// IDDocumentType is the identity document a beneficiary presented.
type IDDocumentType string

const (
	DocCURP                IDDocumentType = "curp"
	DocPadronHuespedes     IDDocumentType = "padron_huespedes"     // SIBISO's Padrón de Huéspedes y Migrantes en Retorno
	DocTVRH                IDDocumentType = "tvrh"                 // INM humanitarian visitor card
	DocResidenteTemporal   IDDocumentType = "residente_temporal"   // INM temporary resident card
	DocResidentePermanente IDDocumentType = "residente_permanente" // INM permanent resident card (recognised refugees)
	DocCOMARConstancia     IDDocumentType = "comar_constancia"     // proof of an asylum application
	DocPasaporte           IDDocumentType = "pasaporte"
	DocMatriculaConsular   IDDocumentType = "matricula_consular"
)

// IDDocumentTypes lists every document type in canonical order.
var IDDocumentTypes = []IDDocumentType{DocCURP, DocPadronHuespedes, DocTVRH, DocResidenteTemporal, DocResidentePermanente, DocCOMARConstancia, DocPasaporte, DocMatriculaConsular}

// Valid reports whether t is one of IDDocumentTypes.
func (t IDDocumentType) Valid() bool { return oneOf(t, IDDocumentTypes) }

// Need is a city service a beneficiary asked to be referred to.
type Need string

const (
	NeedEmployment   Need = "employment"
	NeedIDDocuments  Need = "id_documents"
	NeedHealth       Need = "health"
	NeedMentalHealth Need = "mental_health"
	NeedShelter      Need = "shelter"
	NeedLegalAid     Need = "legal_aid"
	NeedEducation    Need = "education"
)

// Needs lists every need in canonical order.
var Needs = []Need{NeedEmployment, NeedIDDocuments, NeedHealth, NeedMentalHealth, NeedShelter, NeedLegalAid, NeedEducation}

// Valid reports whether n is one of Needs.
func (n Need) Valid() bool { return oneOf(n, Needs) }

func oneOf[T comparable](v T, all []T) bool {
	for _, a := range all {
		if v == a {
			return true
		}
	}
	return false
}
