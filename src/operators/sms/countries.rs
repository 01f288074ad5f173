//! Where codes may be sent: `SMS_COUNTRIES`, an allow-list of ISO 3166-1 alpha-2 codes,
//! and the destination country of a number, read from its E.164 calling code (ITU-T
//! E.164 and its list of assigned country codes).
//!
//! A table of our own rather than a port of libphonenumber (the `phonenumber` crate):
//! that compiles the whole numbering-plan metadata (quick-xml and bincode in its build
//! script, regex at run time, ~140k lines of dependencies) to answer one question, which
//! country a calling code belongs to. The table below answers it in a few hundred lines.
//!
//! Calling codes some regions share:
//!
//! - **NANP (+1)** is one region here, `US` — the United States, Canada and the other
//!   members whose area codes are not listed below — so `US` and `CA` in the list mean
//!   the same: both allow that whole region. The Caribbean and Pacific members *do* have
//!   their own entries by area code (`+1 876` Jamaica, `+1 809` the Dominican Republic,
//!   `+1 787` Puerto Rico, …), so allowing `US` does not allow them: they are priced as
//!   international destinations, the classic target of SMS-pumping fraud.
//! - Where a smaller region can be told apart by a longer prefix, it has its own entry
//!   (`KZ` is +7 6 and +7 7 within +7; `AX` +358 18; `SJ` +47 79; `YT` +262 269 and 639;
//!   `BQ` +599 3, 4, 7; `VA` +379 and +39 06 698; `CX` +61 8 9164; `CC` +61 8 9162).
//! - Where it cannot (Guernsey, Jersey and the Isle of Man within +44; Saint Barthélemy
//!   and Saint Martin within +590; Western Sahara within +212), naming it is an error
//!   that says which code to list instead.
//!
//! `ZZ` is the virtual operator's pseudo-country: +990, +991, +997 and +999, calling codes
//! ITU has assigned to no country, so no real phone is ever there; the virtual
//! operator's test numbers (`+99012345678`, …) are in it. ISO 3166-1 leaves `ZZ` to users,
//! so it is never a real country either.

use std::{collections::BTreeSet, fmt};

use crate::phone::E164;

/// A region of the table: its ISO 3166-1 alpha-2 code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Country(&'static str);

impl Country {
    /// The virtual operator's pseudo-country (+990, +991, +997, +999).
    pub const SANDBOX: Country = Country("ZZ");

    /// The country `number` is in, by the longest calling-code prefix of the table;
    /// `None` for a calling code of no country (+800 freephone, +881 satellite, …).
    pub fn of(number: &E164) -> Option<Country> {
        let digits = number.as_str().trim_start_matches('+');
        PREFIXES
            .iter()
            .filter(|(_, prefix)| digits.starts_with(prefix))
            .max_by_key(|(_, prefix)| prefix.len())
            .map(|(code, _)| Country(code))
    }

    /// The table's entry for an ISO code (upper case), if it has one.
    fn known(code: &str) -> Option<Country> {
        PREFIXES.iter().find(|(c, _)| *c == code).map(|(c, _)| Country(c))
    }

    /// Its ISO 3166-1 alpha-2 code.
    pub fn code(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// The countries codes may be sent to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsCountries(BTreeSet<Country>);

/// Why `SMS_COUNTRIES` cannot be read. Each names the entry at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CountriesError {
    #[error("names no country: give ISO 3166-1 alpha-2 codes separated by commas, like GB,FR,DE")]
    Empty,
    #[error("has an empty entry (number {position}): give codes separated by single commas, like GB,FR,DE")]
    EmptyEntry { position: usize },
    #[error("“{entry}” is not an ISO 3166-1 alpha-2 code (two letters, like GB)")]
    NotACode { entry: String },
    #[error("“{code}” is not a country with a calling code this app knows")]
    Unknown { code: String },
    #[error("{code} shares its calling code with {list} and its numbers cannot be told apart: list {list}")]
    Shared { code: &'static str, list: &'static str },
}

impl SmsCountries {
    /// `SMS_COUNTRIES`: comma-separated ISO 3166-1 alpha-2 codes, any case (`GB,FR,de`).
    pub fn parse(value: &str) -> Result<Self, CountriesError> {
        if value.trim().is_empty() {
            return Err(CountriesError::Empty);
        }
        let mut countries = BTreeSet::new();
        for (at, entry) in value.split(',').map(str::trim).enumerate() {
            if entry.is_empty() {
                return Err(CountriesError::EmptyEntry { position: at + 1 });
            }
            if entry.len() != 2 || !entry.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(CountriesError::NotACode {
                    entry: entry.chars().take(16).collect(),
                });
            }
            let code = entry.to_ascii_uppercase();
            if let Some((alias, list)) = SHARED.iter().find(|(alias, _)| *alias == code) {
                match Country::known(list) {
                    // `CA`: one NANP region with `US`.
                    Some(region) if *alias == "CA" => {
                        countries.insert(region);
                        continue;
                    }
                    _ => return Err(CountriesError::Shared { code: alias, list }),
                }
            }
            countries.insert(Country::known(&code).ok_or(CountriesError::Unknown { code })?);
        }
        Ok(Self(countries))
    }

    /// Only the virtual operator's pseudo-country.
    pub fn sandbox() -> Self {
        Self(BTreeSet::from([Country::SANDBOX]))
    }

    /// These countries and `country`.
    pub fn with(mut self, country: Country) -> Self {
        self.0.insert(country);
        self
    }

    /// Whether a code may be sent to `number`.
    pub fn allows(&self, number: &E164) -> bool {
        Country::of(number).is_some_and(|c| self.0.contains(&c))
    }

    pub fn contains(&self, country: Country) -> bool {
        self.0.contains(&country)
    }

    pub fn iter(&self) -> impl Iterator<Item = Country> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for SmsCountries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let codes: Vec<&str> = self.0.iter().map(|c| c.0).collect();
        f.write_str(&codes.join(","))
    }
}

/// Codes that name no entry of their own: the entry that holds their numbers. `CA` is
/// read as that entry; the others are refused, naming it.
const SHARED: &[(&str, &str)] = &[
    ("CA", "US"),
    ("GG", "GB"),
    ("JE", "GB"),
    ("IM", "GB"),
    ("BL", "GP"),
    ("MF", "GP"),
    ("EH", "MA"),
];

/// ISO 3166-1 alpha-2 → the calling-code prefixes of its numbers (ITU-T E.164 assigned
/// country codes; NANP area codes for the members outside the US and Canada).
const PREFIXES: &[(&str, &str)] = &[
    ("AD", "376"),
    ("AE", "971"),
    ("AF", "93"),
    ("AG", "1268"),
    ("AI", "1264"),
    ("AL", "355"),
    ("AM", "374"),
    ("AO", "244"),
    ("AR", "54"),
    ("AS", "1684"),
    ("AT", "43"),
    ("AU", "61"),
    ("AW", "297"),
    ("AX", "35818"),
    ("AZ", "994"),
    ("BA", "387"),
    ("BB", "1246"),
    ("BD", "880"),
    ("BE", "32"),
    ("BF", "226"),
    ("BG", "359"),
    ("BH", "973"),
    ("BI", "257"),
    ("BJ", "229"),
    ("BM", "1441"),
    ("BN", "673"),
    ("BO", "591"),
    ("BQ", "5993"),
    ("BQ", "5994"),
    ("BQ", "5997"),
    ("BR", "55"),
    ("BS", "1242"),
    ("BT", "975"),
    ("BW", "267"),
    ("BY", "375"),
    ("BZ", "501"),
    ("CC", "6189162"),
    ("CD", "243"),
    ("CF", "236"),
    ("CG", "242"),
    ("CH", "41"),
    ("CI", "225"),
    ("CK", "682"),
    ("CL", "56"),
    ("CM", "237"),
    ("CN", "86"),
    ("CO", "57"),
    ("CR", "506"),
    ("CU", "53"),
    ("CV", "238"),
    ("CW", "599"),
    ("CX", "6189164"),
    ("CY", "357"),
    ("CZ", "420"),
    ("DE", "49"),
    ("DJ", "253"),
    ("DK", "45"),
    ("DM", "1767"),
    ("DO", "1809"),
    ("DO", "1829"),
    ("DO", "1849"),
    ("DZ", "213"),
    ("EC", "593"),
    ("EE", "372"),
    ("EG", "20"),
    ("ER", "291"),
    ("ES", "34"),
    ("ET", "251"),
    ("FI", "358"),
    ("FJ", "679"),
    ("FK", "500"),
    ("FM", "691"),
    ("FO", "298"),
    ("FR", "33"),
    ("GA", "241"),
    ("GB", "44"),
    ("GD", "1473"),
    ("GE", "995"),
    ("GF", "594"),
    ("GH", "233"),
    ("GI", "350"),
    ("GL", "299"),
    ("GM", "220"),
    ("GN", "224"),
    ("GP", "590"),
    ("GQ", "240"),
    ("GR", "30"),
    ("GT", "502"),
    ("GU", "1671"),
    ("GW", "245"),
    ("GY", "592"),
    ("HK", "852"),
    ("HN", "504"),
    ("HR", "385"),
    ("HT", "509"),
    ("HU", "36"),
    ("ID", "62"),
    ("IE", "353"),
    ("IL", "972"),
    ("IN", "91"),
    ("IO", "246"),
    ("IQ", "964"),
    ("IR", "98"),
    ("IS", "354"),
    ("IT", "39"),
    ("JM", "1876"),
    ("JM", "1658"),
    ("JO", "962"),
    ("JP", "81"),
    ("KE", "254"),
    ("KG", "996"),
    ("KH", "855"),
    ("KI", "686"),
    ("KM", "269"),
    ("KN", "1869"),
    ("KP", "850"),
    ("KR", "82"),
    ("KW", "965"),
    ("KY", "1345"),
    ("KZ", "76"),
    ("KZ", "77"),
    ("LA", "856"),
    ("LB", "961"),
    ("LC", "1758"),
    ("LI", "423"),
    ("LK", "94"),
    ("LR", "231"),
    ("LS", "266"),
    ("LT", "370"),
    ("LU", "352"),
    ("LV", "371"),
    ("LY", "218"),
    ("MA", "212"),
    ("MC", "377"),
    ("MD", "373"),
    ("ME", "382"),
    ("MG", "261"),
    ("MH", "692"),
    ("MK", "389"),
    ("ML", "223"),
    ("MM", "95"),
    ("MN", "976"),
    ("MO", "853"),
    ("MP", "1670"),
    ("MQ", "596"),
    ("MR", "222"),
    ("MS", "1664"),
    ("MT", "356"),
    ("MU", "230"),
    ("MV", "960"),
    ("MW", "265"),
    ("MX", "52"),
    ("MY", "60"),
    ("MZ", "258"),
    ("NA", "264"),
    ("NC", "687"),
    ("NE", "227"),
    ("NF", "6723"),
    ("NG", "234"),
    ("NI", "505"),
    ("NL", "31"),
    ("NO", "47"),
    ("NP", "977"),
    ("NR", "674"),
    ("NU", "683"),
    ("NZ", "64"),
    ("OM", "968"),
    ("PA", "507"),
    ("PE", "51"),
    ("PF", "689"),
    ("PG", "675"),
    ("PH", "63"),
    ("PK", "92"),
    ("PL", "48"),
    ("PM", "508"),
    ("PR", "1787"),
    ("PR", "1939"),
    ("PS", "970"),
    ("PT", "351"),
    ("PW", "680"),
    ("PY", "595"),
    ("QA", "974"),
    ("RE", "262"),
    ("RO", "40"),
    ("RS", "381"),
    ("RU", "7"),
    ("RW", "250"),
    ("SA", "966"),
    ("SB", "677"),
    ("SC", "248"),
    ("SD", "249"),
    ("SE", "46"),
    ("SG", "65"),
    ("SH", "290"),
    ("SI", "386"),
    ("SJ", "4779"),
    ("SK", "421"),
    ("SL", "232"),
    ("SM", "378"),
    ("SN", "221"),
    ("SO", "252"),
    ("SR", "597"),
    ("SS", "211"),
    ("ST", "239"),
    ("SV", "503"),
    ("SX", "1721"),
    ("SY", "963"),
    ("SZ", "268"),
    ("TC", "1649"),
    ("TD", "235"),
    ("TG", "228"),
    ("TH", "66"),
    ("TJ", "992"),
    ("TK", "690"),
    ("TL", "670"),
    ("TM", "993"),
    ("TN", "216"),
    ("TO", "676"),
    ("TR", "90"),
    ("TT", "1868"),
    ("TV", "688"),
    ("TW", "886"),
    ("TZ", "255"),
    ("UA", "380"),
    ("UG", "256"),
    ("US", "1"),
    ("UY", "598"),
    ("UZ", "998"),
    ("VA", "379"),
    ("VA", "3906698"),
    ("VC", "1784"),
    ("VE", "58"),
    ("VG", "1284"),
    ("VI", "1340"),
    ("VN", "84"),
    ("VU", "678"),
    ("WF", "681"),
    ("WS", "685"),
    // Kosovo: a user-assigned ISO code, in general use with its calling code.
    ("XK", "383"),
    ("YE", "967"),
    ("YT", "262269"),
    ("YT", "262639"),
    ("ZA", "27"),
    ("ZM", "260"),
    ("ZW", "263"),
    ("ZZ", "990"),
    ("ZZ", "991"),
    ("ZZ", "997"),
    ("ZZ", "999"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::normalise;

    fn country(number: &str) -> Option<&'static str> {
        Country::of(&normalise(number).unwrap()).map(Country::code)
    }

    #[test]
    fn numbers_land_in_their_country() {
        for (number, code) in [
            ("+447700900123", "GB"),
            ("+33612345678", "FR"),
            ("+4915112345678", "DE"),
            ("+12025550123", "US"),
            ("+14165550123", "US"),
            ("+18765550123", "JM"),
            ("+18095550123", "DO"),
            ("+79161234567", "RU"),
            ("+77011234567", "KZ"),
            ("+358181234567", "AX"),
            ("+358401234567", "FI"),
            ("+262639123456", "YT"),
            ("+262692123456", "RE"),
            ("+99012345678", "ZZ"),
            ("+99911111199", "ZZ"),
            ("+998901234567", "UZ"),
            ("+38344123456", "XK"),
        ] {
            assert_eq!(country(number), Some(code), "{number}");
        }
        // International networks and freephone are no country.
        for number in ["+80012345678", "+881612345678", "+870773112345"] {
            assert_eq!(country(number), None, "{number}");
        }
    }

    #[test]
    fn the_table_is_well_formed() {
        for (code, prefix) in PREFIXES {
            assert!(
                code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()),
                "{code}"
            );
            assert!(!prefix.is_empty() && !prefix.starts_with('0'), "{code} {prefix}");
            assert!(prefix.bytes().all(|b| b.is_ascii_digit()), "{code} {prefix}");
            // No two regions claim the same prefix.
            let claimants = PREFIXES.iter().filter(|(_, p)| p == prefix).count();
            assert_eq!(claimants, 1, "{prefix}");
        }
        for (alias, list) in SHARED {
            assert!(Country::known(alias).is_none(), "{alias}");
            assert!(Country::known(list).is_some(), "{list}");
        }
    }

    #[test]
    fn the_allow_list_reads_codes_and_says_what_is_wrong() {
        let list = SmsCountries::parse(" gb, FR ,DE").unwrap();
        assert_eq!(list.to_string(), "DE,FR,GB");
        assert!(list.allows(&normalise("+447700900123").unwrap()));
        assert!(!list.allows(&normalise("+12025550123").unwrap()));
        assert!(!list.allows(&normalise("+99012345678").unwrap()));
        assert!(list
            .clone()
            .with(Country::SANDBOX)
            .allows(&normalise("+99012345678").unwrap()));

        assert_eq!(SmsCountries::parse("  "), Err(CountriesError::Empty));
        assert_eq!(
            SmsCountries::parse("GB,,FR"),
            Err(CountriesError::EmptyEntry { position: 2 })
        );
        assert_eq!(
            SmsCountries::parse("GB,XX"),
            Err(CountriesError::Unknown { code: "XX".into() })
        );
        assert_eq!(
            SmsCountries::parse("GBR"),
            Err(CountriesError::NotACode { entry: "GBR".into() })
        );
        assert_eq!(
            SmsCountries::parse("+44"),
            Err(CountriesError::NotACode { entry: "+44".into() })
        );
        let shared = SmsCountries::parse("JE").unwrap_err();
        assert_eq!(shared, CountriesError::Shared { code: "JE", list: "GB" });
        assert!(shared.to_string().contains("list GB"), "{shared}");
    }

    #[test]
    fn nanp_is_one_region_without_its_caribbean_members() {
        let us = SmsCountries::parse("US").unwrap();
        let ca = SmsCountries::parse("CA").unwrap();
        assert_eq!(us, ca, "US and CA name one region");
        assert!(ca.allows(&normalise("+12025550123").unwrap()));
        assert!(
            !us.allows(&normalise("+18765550123").unwrap()),
            "Jamaica is listed on its own"
        );
        assert!(SmsCountries::parse("JM")
            .unwrap()
            .allows(&normalise("+18765550123").unwrap()));
    }

    #[test]
    fn the_sandbox_pseudo_country_is_its_numbers_only() {
        let sandbox = SmsCountries::sandbox();
        assert!(sandbox.allows(&normalise("+99012345678").unwrap()));
        assert!(!sandbox.allows(&normalise("+447700900123").unwrap()));
        assert_eq!(SmsCountries::parse("zz").unwrap(), sandbox);
    }
}
