//! People: names drawn from Danish frequency lists, and the identifiers derived from them (e-mail
//! addresses, Active Directory user ids, employee numbers, made-up CPR numbers), kept unique
//! within one organisation.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};

use crate::data::{FEMALE, FEMALE_SECOND, MALE, MALE_SECOND, MIDDLE, SURNAMES};
use crate::rng::Rng;

/// Lowercase ASCII for addresses and ids: æ→ae, ø→oe, å→aa, accents dropped, anything else that
/// is not a letter or digit becomes `sep` (never doubled, never at the ends).
pub(crate) fn ascii(s: &str, sep: char) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars().flat_map(char::to_lowercase) {
        let piece: &str = match c {
            'æ' | 'ä' => "ae",
            'ø' | 'ö' => "oe",
            'å' => "aa",
            'ü' => "ue",
            'é' | 'è' | 'ê' => "e",
            'á' | 'à' => "a",
            'ó' => "o",
            'í' => "i",
            c if c.is_ascii_alphanumeric() => {
                out.push(c);
                continue;
            }
            _ => {
                if !out.is_empty() && !out.ends_with(sep) {
                    out.push(sep);
                }
                continue;
            }
        };
        out.push_str(piece);
    }
    while out.ends_with(sep) {
        out.pop();
    }
    out
}

/// A person's name.
#[derive(Debug, Clone)]
pub(crate) struct Name {
    pub given: String,
    pub surname: String,
    pub female: bool,
}

/// Draws a name; `female` is the share of women in percent.
pub(crate) fn name(rng: &mut Rng, female: u32) -> Name {
    let is_female = rng.percent(female);
    let mut given = (*rng.weighted(if is_female { FEMALE } else { MALE })).to_owned();
    if rng.percent(9) {
        let second = rng.pick(if is_female {
            FEMALE_SECOND
        } else {
            MALE_SECOND
        });
        if *second != given {
            given = format!("{given} {second}");
        }
    }
    let mut surname = (*rng.weighted(SURNAMES)).to_owned();
    if rng.percent(14) {
        let middle = rng.pick(MIDDLE);
        if *middle != surname {
            surname = format!("{middle} {surname}");
        }
    }
    Name {
        given,
        surname,
        female: is_female,
    }
}

/// A made-up CPR number that provably belongs to nobody. Scheme: the day and month of `birth`,
/// a year 58–69 with a seventh digit 5–8 (which the CPR's century rule reads as 1858–1869), and
/// the modulus-11 check deliberately failed.
///
/// Why no person can hold one: the CPR assigned numbers from 2 April 1968 to people alive then
/// and to everyone born or immigrating since. Every number assigned before 2007 passes the
/// modulus-11 check; numbers failing it have been issued only since 2007 (for birth dates that
/// ran out of modulus-11 numbers), and nobody born before 1870 was alive in 2007, 137 years or
/// more later. Numbers that merely fail modulus 11 are *not* safe (they are issued today), and
/// `erstatningspersonnumre` (day + 60) are real numbers too. The date stays a valid one, as the
/// writer requires. The last digit's parity still matches the sex.
pub(crate) fn cpr(rng: &mut Rng, birth: NaiveDate, female: bool) -> String {
    let serial = rng.below(1000) as u32;
    let mut last = serial % 10;
    if female != last.is_multiple_of(2) {
        last = (last + 1) % 10;
    }
    let seventh = 5 + rng.below(4) as u32;
    let year = 58 + rng.below(12) as u32;
    // 29 February only exists in the leap years 1860, 1864 and 1868 of that range.
    let (day, month) = match (birth.day(), birth.month()) {
        (29, 2) if !year.is_multiple_of(4) => (28, 2),
        other => other,
    };
    let mut digits = format!(
        "{day:02}{month:02}{year:02}{seventh}{:02}{last}",
        serial / 10,
    );
    const WEIGHTS: [u32; 10] = [4, 3, 2, 7, 6, 5, 4, 3, 2, 1];
    let sum: u32 = digits
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    if sum.is_multiple_of(11) {
        // Two more (or eight fewer) in the last digit keeps its parity and breaks the check.
        let fixed = (last + 2) % 10;
        digits.pop();
        digits.push(char::from(b'0' + fixed as u8));
    }
    digits
}

/// A birth date for someone aged between `min_age` and `max_age` in 2026, at least 20 years old
/// when `employed_from`, and born no later than 2006.
pub(crate) fn birth_date(
    rng: &mut Rng,
    min_age: u32,
    max_age: u32,
    employed_from: NaiveDate,
) -> NaiveDate {
    let age = rng.range(min_age, max_age) as i32;
    let year = (2026 - age).min(employed_from.year() - 20).min(2006);
    let day_of_year = rng.below(365) as u32;
    NaiveDate::from_yo_opt(year, day_of_year + 1)
        .or_else(|| NaiveDate::from_yo_opt(year, 1))
        .unwrap_or(NaiveDate::MIN)
}

/// Keeps e-mail local parts, AD user ids and employee numbers unique within one organisation.
#[derive(Debug, Clone)]
pub(crate) struct Namer {
    pub domain: String,
    emails: HashMap<String, u32>,
    ad_ids: HashMap<String, u32>,
    next_employee: u64,
    next_ean: u64,
}

impl Namer {
    pub(crate) fn new(domain: String) -> Self {
        Namer {
            domain,
            emails: HashMap::new(),
            ad_ids: HashMap::new(),
            next_employee: 0,
            next_ean: 0,
        }
    }

    /// `local@domain`, with a number after the local part from the second use on.
    pub(crate) fn email(&mut self, local: &str) -> String {
        let n = self.emails.entry(local.to_owned()).or_insert(0);
        *n += 1;
        if *n == 1 {
            format!("{local}@{}", self.domain)
        } else {
            format!("{local}{n}@{}", self.domain)
        }
    }

    /// `given.surname@domain`, ASCII, numbered when taken.
    pub(crate) fn person_email(&mut self, name: &Name) -> String {
        let local = format!("{}.{}", ascii(&name.given, '-'), ascii(&name.surname, '-'));
        self.email(&local)
    }

    /// An Active Directory user id: two letters of the given name, two of the last surname, and
    /// a running two-digit number (`anje01`).
    pub(crate) fn ad_id(&mut self, name: &Name) -> String {
        let given = ascii(&name.given, '-');
        let surname = ascii(
            name.surname.rsplit(' ').next().unwrap_or(&name.surname),
            '-',
        );
        let base: String = given
            .chars()
            .filter(char::is_ascii_alphabetic)
            .take(2)
            .chain(surname.chars().filter(char::is_ascii_alphabetic).take(2))
            .collect();
        let n = self.ad_ids.entry(base.clone()).or_insert(0);
        *n += 1;
        format!("{base}{:02}", *n)
    }

    /// The next employee number (medarbejdernummer, 6 digits, increasing with small gaps).
    pub(crate) fn employee_number(&mut self, rng: &mut Rng) -> u64 {
        self.next_employee += 1 + rng.below(3);
        100_000 + self.next_employee
    }

    /// The next made-up EAN location number, with a valid check digit. Prefix 2: GS1 keeps
    /// 020–029 and 200–299 for restricted circulation (numbers a company uses internally), so no
    /// GLN of a real institution starts with 2; the public sector's real ones start 5798.
    pub(crate) fn ean(&mut self) -> String {
        self.next_ean += 1;
        ean13(&format!("2798000{:05}", 10_000 + self.next_ean * 7))
    }
}

/// Appends the GS1 check digit to 12 digits.
pub(crate) fn ean13(twelve: &str) -> String {
    let sum: u32 = twelve
        .bytes()
        .enumerate()
        .map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{twelve}{}", (10 - sum % 10) % 10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use orghub_contracts::values::{Cpr, check_ean, check_email};

    #[test]
    fn ascii_folds_danish_letters() {
        assert_eq!(ascii("Søren Ærø-Åby", '.'), "soeren.aeroe.aaby");
        assert_eq!(ascii("  Anne  Marie ", '-'), "anne-marie");
        assert_eq!(ascii("Sct. Jørgens Skole", '-'), "sct-joergens-skole");
    }

    #[test]
    fn cprs_date_from_1858_to_1869_and_fail_modulus_11() {
        let mut rng = Rng::new(&[7]);
        for n in 0..5_000 {
            let from = NaiveDate::from_ymd_opt(2007 + (n % 19), 1, 1).expect("date");
            let birth = birth_date(&mut rng, 18, 67, from);
            let female = n % 2 == 0;
            let cpr = cpr(&mut rng, birth, female);
            assert!(Cpr::parse(&cpr).is_ok(), "{cpr}");
            let digits: Vec<u32> = cpr.bytes().map(|b| u32::from(b - b'0')).collect();
            let sum: u32 = digits
                .iter()
                .zip([4, 3, 2, 7, 6, 5, 4, 3, 2, 1])
                .map(|(d, w)| d * w)
                .sum();
            assert_ne!(sum % 11, 0, "{cpr}");
            assert_eq!(digits[9].is_multiple_of(2), female, "{cpr}");
            assert_eq!(&cpr[2..4], birth.format("%m").to_string());
            // The CPR's century rule reads it as a birth in 1858–1869.
            assert!((5..=8).contains(&digits[6]), "{cpr}");
            let year = digits[4] * 10 + digits[5];
            assert!((58..=69).contains(&year), "{cpr}");
        }
    }

    #[test]
    fn identifiers_are_unique_and_valid() {
        let mut namer = Namer::new("laesoe.dk".into());
        let name = Name {
            given: "Anne Marie".into(),
            surname: "Bach Sørensen".into(),
            female: true,
        };
        let a = namer.person_email(&name);
        let b = namer.person_email(&name);
        assert_eq!(a, "anne-marie.bach-soerensen@laesoe.dk");
        assert_eq!(b, "anne-marie.bach-soerensen2@laesoe.dk");
        assert!(check_email(&a).is_ok() && check_email(&b).is_ok());
        assert_eq!(namer.ad_id(&name), "anso01");
        assert_eq!(namer.ad_id(&name), "anso02");
        for _ in 0..100 {
            let ean = namer.ean();
            assert!(check_ean(&ean).is_ok());
            assert!(ean.starts_with('2'), "restricted circulation: {ean}");
        }
    }
}
