//! Realistic Swedish members for the demo, typed the way front-desk staff type them: phone
//! numbers with spaces, dashes, +46 and 0046, some unusable; e-mail sometimes invalid;
//! family subscriptions with several users. Deterministic for a given seed.
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::Rng;

const FIRST: [&str; 24] = [
    "Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Sara", "Mikael", "Åsa", "Örjan", "Lena",
    "Per", "Ingrid", "Björn", "Elin", "Måns", "Sofia", "Anders", "Ebba", "Gösta", "Linnéa",
    "Oskar", "Märta", "Nils",
];
const LAST: [&str; 20] = [
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Gustafsson",
    "Pettersson",
    "Jönsson",
    "Lindqvist",
    "Öberg",
    "Åkesson",
    "Bäckström",
    "Sjöberg",
    "Ekström",
    "Holmgren",
    "Dahlén",
];
const STREETS: [&str; 10] = [
    "Storgatan",
    "Drottninggatan",
    "Kungsgatan",
    "Sveavägen",
    "Götgatan",
    "Hornsgatan",
    "Vasagatan",
    "Skolgatan",
    "Ringvägen",
    "Strandvägen",
];
const CITIES: [(&str, &str); 6] = [
    ("111 22", "Stockholm"),
    ("411 05", "Göteborg"),
    ("211 20", "Malmö"),
    ("753 20", "Uppsala"),
    ("164 40", "Kista"),
    ("118 25", "Stockholm"),
];
pub const UNITS: [(i64, &str); 3] = [
    (1, "Stamina Centrum"),
    (2, "Stamina Söder"),
    (3, "Stamina Kista"),
];

/// A member with all the host columns, as SQL literals are built from it.
#[derive(Debug, Clone)]
pub struct DemoPerson {
    pub id: i64,
    pub unit_id: i64,
    pub first_name: String,
    pub last_name: String,
    pub birth_date: Option<String>,
    pub sex: Option<&'static str>,
    pub email: Option<String>,
    pub allow_email: bool,
    pub allow_sms: bool,
    pub mobile_country_code: Option<&'static str>,
    pub mobile_number: Option<String>,
    pub card_number: String,
    pub address: Option<(String, String, String)>,
    /// Planned to fail: no usable mobile number.
    pub bad_phone: bool,
}

fn swedish_mobile(rng: &mut StdRng) -> String {
    let prefix = ["70", "72", "73", "76", "79"]
        .choose(rng)
        .copied()
        .unwrap_or("70");
    let a: u32 = rng.random_range(100..1000);
    let b: u32 = rng.random_range(10..100);
    let c: u32 = rng.random_range(10..100);
    match rng.random_range(0..6) {
        0 => format!("0{prefix}-{a} {b} {c}"),
        1 => format!("+46{prefix}{a}{b}{c}"),
        2 => format!("0046 {prefix} {a}{b}{c}"),
        3 => format!("0{prefix}{a}{b}{c}"),
        4 => format!("0{prefix} {a} {b} {c}"),
        _ => format!("+46 (0){prefix}-{a}{b}{c}"),
    }
}

pub fn person(id: i64, family_name: Option<&str>, rng: &mut StdRng) -> DemoPerson {
    let first = FIRST.choose(rng).copied().unwrap_or("Anna").to_string();
    let last = family_name
        .map(str::to_string)
        .unwrap_or_else(|| LAST.choose(rng).copied().unwrap_or("Andersson").to_string());
    let roll: u32 = rng.random_range(0..100);
    // About 4 % cannot get an SMS: a landline, a half number, or nothing at all.
    let (cc, mobile, bad_phone) = match roll {
        0 => (
            Some("46"),
            Some(format!(
                "08-{} {} {}",
                rng.random_range(100..1000),
                rng.random_range(100..1000),
                rng.random_range(10..100)
            )),
            true,
        ),
        1 => (Some("46"), Some("070-12".to_string()), true),
        2 | 3 => (None, None, true),
        4 | 5 => (
            Some("47"),
            Some(format!(
                "+47 4{} {} {}",
                rng.random_range(10..100),
                rng.random_range(10..100),
                rng.random_range(100..1000)
            )),
            false,
        ),
        _ => (Some("46"), Some(swedish_mobile(rng)), false),
    };
    let email_local = format!("{}.{}", first.to_lowercase(), last.to_lowercase())
        .replace(['å', 'ä'], "a")
        .replace('ö', "o")
        .replace('é', "e");
    let email = match rng.random_range(0..20) {
        0 => None,
        1 => Some(format!("{email_local}@")),
        2 => Some(format!("{email_local} at example.se")),
        _ => Some(format!(
            "{email_local}{}@example.se",
            rng.random_range(1..99)
        )),
    };
    let (zip, city) = CITIES
        .choose(rng)
        .copied()
        .unwrap_or(("111 22", "Stockholm"));
    let address = (rng.random_range(0..15) != 0).then(|| {
        (
            format!(
                "{} {}",
                STREETS.choose(rng).copied().unwrap_or("Storgatan"),
                rng.random_range(1..90)
            ),
            zip.to_string(),
            city.to_string(),
        )
    });
    let year: i32 = rng.random_range(1950..2010);
    DemoPerson {
        id,
        unit_id: UNITS.choose(rng).map(|u| u.0).unwrap_or(1),
        first_name: first,
        last_name: last,
        birth_date: (rng.random_range(0..12) != 0).then(|| {
            format!(
                "{year}-{:02}-{:02}",
                rng.random_range(1..13),
                rng.random_range(1..29)
            )
        }),
        sex: match rng.random_range(0..10) {
            0 => None,
            1..=5 => Some("FEMALE"),
            _ => Some("MALE"),
        },
        email,
        allow_email: rng.random_range(0..4) != 0,
        allow_sms: rng.random_range(0..10) != 0,
        mobile_country_code: cc,
        mobile_number: mobile,
        // Some cards have leading zeros, as printed on old key tags.
        card_number: if rng.random_range(0..8) == 0 {
            format!("00{}", rng.random_range(100_000..1_000_000))
        } else {
            format!("{}", 34_000_000 + id * 7 + rng.random_range(0..7))
        },
        address,
        bad_phone,
    }
}

fn lit(v: &Option<String>) -> String {
    v.as_ref()
        .map(|s| format!("'{}'", s.replace('\'', "''")))
        .unwrap_or_else(|| "NULL".into())
}

impl DemoPerson {
    pub fn insert_sql(&self) -> String {
        let mut sql = format!(
            "INSERT INTO person (id, unit_id, first_name, last_name, birth_date, sex, email, allow_email, allow_sms, \
             mobile_country_code, mobile_number, card_number) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {});",
            self.id,
            self.unit_id,
            lit(&Some(self.first_name.clone())),
            lit(&Some(self.last_name.clone())),
            lit(&self.birth_date),
            lit(&self.sex.map(str::to_string)),
            lit(&self.email),
            self.allow_email as i32,
            self.allow_sms as i32,
            lit(&self.mobile_country_code.map(str::to_string)),
            lit(&self.mobile_number),
            lit(&Some(self.card_number.clone())),
        );
        if let Some((street, zip, city)) = &self.address {
            sql.push_str(&format!(
                "INSERT INTO address (person_id, street_address, postal_code, postal_city, country_alpha2) VALUES ({}, {}, {}, {}, 'SE');",
                self.id,
                lit(&Some(street.clone())),
                lit(&Some(zip.clone())),
                lit(&Some(city.clone()))
            ));
        }
        sql
    }
}

pub fn units_sql() -> String {
    UNITS
        .iter()
        .map(|(id, name)| format!("INSERT INTO business_unit (id, name) VALUES ({id}, '{name}');"))
        .collect()
}
