package report

// Nationality regions, in the order reports list them. The Americas are
// split the way the city publishes its evidence (most of the programme's
// population comes from Central America, the Caribbean and South America);
// the rest of the world is grouped by continent, which is as fine as a
// public table of a few hundred people can go without singling anyone out.
const (
	RegionCentralAmerica = "Central America"
	RegionCaribbean      = "Caribbean"
	RegionSouthAmerica   = "South America"
	RegionNorthAmerica   = "North America"
	RegionAfrica         = "Africa"
	RegionAsia           = "Asia"
	RegionEurope         = "Europe"
	RegionOceania        = "Oceania"
	// OtherUnknown is the category of any value a table does not know
	// (a code in no region, a stateless-person code, a borough outside
	// the 16): never the raw value, which could be unique to one person.
	OtherUnknown = "Other/unknown"
)

// Regions lists the nationality regions in report order.
var Regions = []string{RegionCentralAmerica, RegionCaribbean, RegionSouthAmerica, RegionNorthAmerica,
	RegionAfrica, RegionAsia, RegionEurope, RegionOceania, OtherUnknown}

// regionCodes maps ISO 3166-1 alpha-3 codes to regions (UN M49 continents;
// Mexico, returnees' and IDPs' nationality, counts as North America).
var regionCodes = func() map[string]string {
	m := map[string]string{}
	add := func(region string, codes ...string) {
		for _, c := range codes {
			m[c] = region
		}
	}
	add(RegionCentralAmerica, "GTM", "HND", "SLV", "NIC", "CRI", "PAN", "BLZ")
	add(RegionCaribbean, "CUB", "HTI", "DOM", "JAM", "PRI", "TTO", "BHS", "BRB", "LCA", "VCT", "GRD", "ATG",
		"DMA", "KNA", "ABW", "CUW", "SXM", "BES", "CYM", "TCA", "VGB", "VIR", "AIA", "MSR", "GLP", "MTQ", "BLM", "MAF")
	add(RegionSouthAmerica, "VEN", "COL", "ECU", "PER", "BOL", "CHL", "ARG", "BRA", "PRY", "URY", "GUY", "SUR", "GUF", "FLK", "SGS")
	add(RegionNorthAmerica, "MEX", "USA", "CAN", "BMU", "GRL", "SPM")
	add(RegionAfrica, "DZA", "AGO", "BEN", "BWA", "BFA", "BDI", "CPV", "CMR", "CAF", "TCD", "COM", "COG", "COD",
		"CIV", "DJI", "EGY", "GNQ", "ERI", "SWZ", "ETH", "GAB", "GMB", "GHA", "GIN", "GNB", "KEN", "LSO", "LBR",
		"LBY", "MDG", "MWI", "MLI", "MRT", "MUS", "MAR", "MOZ", "NAM", "NER", "NGA", "RWA", "STP", "SEN", "SYC",
		"SLE", "SOM", "ZAF", "SSD", "SDN", "TZA", "TGO", "TUN", "UGA", "ZMB", "ZWE", "ESH", "MYT", "REU", "SHN", "IOT")
	add(RegionAsia, "AFG", "ARM", "AZE", "BHR", "BGD", "BTN", "BRN", "KHM", "CHN", "CYP", "GEO", "HKG", "MAC",
		"IND", "IDN", "IRN", "IRQ", "ISR", "JPN", "JOR", "KAZ", "KWT", "KGZ", "LAO", "LBN", "MYS", "MDV", "MNG",
		"MMR", "NPL", "PRK", "OMN", "PAK", "PSE", "PHL", "QAT", "SAU", "SGP", "KOR", "LKA", "SYR", "TWN", "TJK",
		"THA", "TLS", "TUR", "TKM", "ARE", "UZB", "VNM", "YEM")
	add(RegionEurope, "ALB", "AND", "AUT", "BLR", "BEL", "BIH", "BGR", "HRV", "CZE", "DNK", "EST", "FIN", "FRA",
		"DEU", "GRC", "HUN", "ISL", "IRL", "ITA", "XKX", "LVA", "LIE", "LTU", "LUX", "MLT", "MDA", "MCO", "MNE",
		"NLD", "MKD", "NOR", "POL", "PRT", "ROU", "RUS", "SMR", "SRB", "SVK", "SVN", "ESP", "SWE", "CHE", "UKR",
		"GBR", "VAT", "FRO", "GIB", "GGY", "JEY", "IMN", "ALA", "SJM")
	add(RegionOceania, "AUS", "NZL", "FJI", "PNG", "SLB", "VUT", "NCL", "PYF", "WSM", "TON", "KIR", "TUV", "NRU",
		"FSM", "MHL", "PLW", "GUM", "ASM", "MNP", "COK", "NIU", "TKL", "WLF", "PCN", "NFK", "CXR", "CCK", "HMD", "UMI")
	return m
}()

// Region returns the nationality region of an ISO 3166-1 alpha-3 code, or
// OtherUnknown.
func Region(iso3 string) string {
	if r, ok := regionCodes[iso3]; ok {
		return r
	}
	return OtherUnknown
}
