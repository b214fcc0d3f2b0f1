package beneficiary

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
func (g PopulationGroup) Valid() bool {
	switch g {
	case PopulationMigrant, PopulationRefugee, PopulationAsylumSeeker, PopulationIDP, PopulationReturnee:
		return true
	}
	return false
}

// Sex uses the CURP's letters so that the roster and the CURP can be
// compared directly: H (hombre), M (mujer), X (non-binary, issued since
// 2022).
type Sex string

const (
	SexMale      Sex = "H"
	SexFemale    Sex = "M"
	SexNonBinary Sex = "X"
)

// Valid reports whether s is H, M or X.
func (s Sex) Valid() bool {
	switch s {
	case SexMale, SexFemale, SexNonBinary:
		return true
	}
	return false
}

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
func (t IDDocumentType) Valid() bool {
	switch t {
	case DocCURP, DocPadronHuespedes, DocTVRH, DocResidenteTemporal, DocResidentePermanente, DocCOMARConstancia, DocPasaporte, DocMatriculaConsular:
		return true
	}
	return false
}

// PaymentMethod is how the benefit reaches the person. Only about 42% of
// beneficiaries have a bank account, hence the two non-bank methods.
type PaymentMethod string

const (
	PaymentSPEI       PaymentMethod = "spei"        // interbank transfer to a CLABE
	PaymentCashPickup PaymentMethod = "cash_pickup" // reference collected at a branch or store
	PaymentCard       PaymentMethod = "card"        // welfare or prepaid card
)

// PaymentMethods lists every payment method in canonical order.
var PaymentMethods = []PaymentMethod{PaymentSPEI, PaymentCashPickup, PaymentCard}

// Valid reports whether m is one of PaymentMethods.
func (m PaymentMethod) Valid() bool {
	switch m {
	case PaymentSPEI, PaymentCashPickup, PaymentCard:
		return true
	}
	return false
}

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
func (n Need) Valid() bool {
	switch n {
	case NeedEmployment, NeedIDDocuments, NeedHealth, NeedMentalHealth, NeedShelter, NeedLegalAid, NeedEducation:
		return true
	}
	return false
}
