//! Attribute values as validated newtypes: parse, don't validate.
//!
//! Every value type has a `parse` constructor and (de)serialises as a plain JSON string, so an
//! invalid value can never be held. Limits follow ORG (SF1500): names ≤ 200 characters,
//! `user_key` (brugervendt nøgle) ≤ 64.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Why a value was refused. The text is meant for the API's `errors[].detail`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, ValueError> {
    Err(ValueError(msg.into()))
}

fn bounded(input: &str, what: &str, max: usize) -> Result<String, ValueError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return err(format!("{what} must not be empty"));
    }
    let n = trimmed.chars().count();
    if n > max {
        return err(format!(
            "{what} is {n} characters long, at most {max} are allowed"
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return err(format!("{what} must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

/// Declares a string newtype: `parse`, `as_str`, `Display`, serde as a string and a JSON Schema.
macro_rules! string_value {
    ($(#[$doc:meta])* $name:ident, $schema:tt, |$input:ident| $parse:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse($input: &str) -> Result<Self, ValueError> {
                let parsed: Result<String, ValueError> = $parse;
                parsed.map($name)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!($schema)
            }
        }
    };
}

string_value!(
    /// A name (unit name, given name, surname): 1–200 characters, trimmed.
    Name,
    {"type": "string", "minLength": 1, "maxLength": 200},
    |input| bounded(input, "name", 200)
);

string_value!(
    /// A free-text label such as a job title, unit type or IT system: 1–200 characters.
    Label,
    {"type": "string", "minLength": 1, "maxLength": 200},
    |input| bounded(input, "value", 200)
);

string_value!(
    /// ORG's brugervendt nøgle (OS2mo `user_key`): 1–64 characters.
    UserKey,
    {"type": "string", "minLength": 1, "maxLength": 64},
    |input| bounded(input, "user_key", 64)
);

string_value!(
    /// A KLE number: `NN` (hovedgruppe), `NN.NN` (gruppe) or `NN.NN.NN` (emne).
    KleNumber,
    {"type": "string", "pattern": "^[0-9]{2}(\\.[0-9]{2}){0,2}$"},
    |input| {
        let ok = !input.is_empty()
            && input.split('.').count() <= 3
            && input
                .split('.')
                .all(|part| part.len() == 2 && part.bytes().all(|b| b.is_ascii_digit()));
        if ok {
            Ok(input.to_owned())
        } else {
            err(format!("KLE number {input:?} must look like NN, NN.NN or NN.NN.NN"))
        }
    }
);

string_value!(
    /// A Danish CPR number: 10 digits (a `-` after the sixth is accepted and removed) whose first
    /// six form a valid date, with the century taken from the seventh digit.
    Cpr,
    {"type": "string", "pattern": "^[0-9]{10}$"},
    |input| {
        let digits: String = match input.len() {
            11 if input.as_bytes()[6] == b'-' => format!("{}{}", &input[..6], &input[7..]),
            _ => input.to_owned(),
        };
        if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return err("CPR number must be 10 digits (DDMMYYSSSS)");
        }
        let n = |r: std::ops::Range<usize>| digits[r].parse::<u32>().unwrap_or(0);
        let (day, month, yy, seventh) = (n(0..2), n(2..4), n(4..6), n(6..7));
        let century = match seventh {
            0..=3 => 1900,
            4 | 9 => if yy <= 36 { 2000 } else { 1900 },
            _ => if yy <= 57 { 2000 } else { 1800 },
        };
        match NaiveDate::from_ymd_opt(century + yy as i32, month, day) {
            Some(_) => Ok(digits),
            None => err(format!(
                "CPR number does not start with a valid date (day {day:02}, month {month:02})"
            )),
        }
    }
);

/// Refuses control characters (`\u0000` among them, which PostgreSQL's `text` and `jsonb` refuse
/// outright): DESIGN §2 allows none in text.
pub fn check_no_control(input: &str, what: &str) -> Result<(), ValueError> {
    if input.chars().any(char::is_control) {
        return err(format!("{what} must not contain control characters"));
    }
    Ok(())
}

/// A registration's note: free text of at most 1000 characters. Line breaks and tabs are prose;
/// every other control character is refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Note(String);

impl Note {
    pub const MAX_CHARS: usize = 1000;

    pub fn parse(input: &str) -> Result<Self, ValueError> {
        let n = input.chars().count();
        if n > Self::MAX_CHARS {
            return err(format!(
                "note is {n} characters long, at most {} are allowed",
                Self::MAX_CHARS
            ));
        }
        if input
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return err("note must not contain control characters other than line breaks and tabs");
        }
        Ok(Note(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl schemars::JsonSchema for Note {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Note".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "maxLength": Note::MAX_CHARS,
            "description": "Free text kept with the registration: at most 1000 characters, no control characters but line breaks and tabs."
        })
    }
}

/// Validates an e-mail address (RFC 5321 syntax, ≤ 254 characters).
pub fn check_email(input: &str) -> Result<(), ValueError> {
    if input.len() > 254 || !email_address::EmailAddress::is_valid(input) {
        return err(format!("{input:?} is not a valid e-mail address"));
    }
    Ok(())
}

/// Validates a phone number: an optional `+`, then 8–15 digits; spaces are allowed.
pub fn check_phone(input: &str) -> Result<(), ValueError> {
    let rest = input.strip_prefix('+').unwrap_or(input);
    let digits: Vec<u8> = rest.bytes().filter(|b| *b != b' ').collect();
    if (8..=15).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit) {
        Ok(())
    } else {
        err(format!(
            "{input:?} is not a phone number (8-15 digits, optional leading +)"
        ))
    }
}

/// Validates an EAN-13 location number, including its GS1 check digit.
pub fn check_ean(input: &str) -> Result<(), ValueError> {
    let digits: Vec<u32> = input.chars().filter_map(|c| c.to_digit(10)).collect();
    if input.len() != 13 || digits.len() != 13 {
        return err(format!("EAN {input:?} must be 13 digits"));
    }
    let sum: u32 = digits[..12]
        .iter()
        .enumerate()
        .map(|(i, d)| if i % 2 == 0 { *d } else { d * 3 })
        .sum();
    let check = (10 - sum % 10) % 10;
    if check != digits[12] {
        return err(format!(
            "EAN {input:?} has check digit {}, expected {check}",
            digits[12]
        ));
    }
    Ok(())
}

/// Validates a P-number (produktionsenhedsnummer): exactly 10 digits.
pub fn check_pnumber(input: &str) -> Result<(), ValueError> {
    if input.len() == 10 && input.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        err(format!("P-number {input:?} must be exactly 10 digits"))
    }
}

/// Validates a web address: `http://` or `https://` followed by a host, no spaces.
pub fn check_www(input: &str) -> Result<(), ValueError> {
    let rest = input
        .strip_prefix("https://")
        .or_else(|| input.strip_prefix("http://"));
    match rest {
        Some(r) if !r.is_empty() && !r.contains(char::is_whitespace) && input.len() <= 2000 => {
            Ok(())
        }
        _ => err(format!("{input:?} is not an http(s) URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            Name::parse("  Borgmesterens Afdeling ").map(|n| n.0),
            Ok("Borgmesterens Afdeling".into())
        );
        assert!(Name::parse("").is_err());
        assert!(Name::parse(&"x".repeat(201)).is_err());
        assert!(Name::parse(&"æ".repeat(200)).is_ok());
        assert!(UserKey::parse(&"k".repeat(65)).is_err());
    }

    #[test]
    fn cpr_requires_a_valid_date() {
        assert!(Cpr::parse("0101901234").is_ok());
        assert_eq!(
            Cpr::parse("010190-1234").map(|c| c.0),
            Ok("0101901234".into())
        );
        let month_13 = Cpr::parse("0113901234").expect_err("month 13");
        assert!(month_13.0.contains("month 13"), "{month_13}");
        assert!(Cpr::parse("2902011234").is_err(), "2001 is no leap year");
        assert!(
            Cpr::parse("2902001234").is_err(),
            "seventh digit 1: 1900, no leap year"
        );
        assert!(
            Cpr::parse("2902004234").is_ok(),
            "seventh digit 4, year 00: 2000, a leap year"
        );
        assert!(Cpr::parse("12345").is_err());
    }

    #[test]
    fn ean_check_digit_is_verified() {
        assert!(
            check_ean("4006381333931").is_ok(),
            "a well-known valid EAN-13"
        );
        let wrong = check_ean("4006381333932").expect_err("wrong check digit");
        assert!(wrong.0.contains("expected 1"), "{wrong}");
        assert!(check_ean("400638133393").is_err());
    }

    #[test]
    fn kle_numbers_follow_the_pattern() {
        for ok in ["00", "17", "17.01", "17.01.02"] {
            assert!(KleNumber::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["1.2", "1", "17.1", "17.01.02.03", "ab", "", "17."] {
            assert!(KleNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_with_control_characters_is_refused() {
        assert!(Name::parse("Ann\u{0}a").is_err());
        assert!(check_no_control("Vej 1\u{0}", "value").is_err());
        assert!(Note::parse("line one\nline two").is_ok());
        assert!(Note::parse("nul \u{0} here").is_err());
        assert!(Note::parse(&"n".repeat(1001)).is_err());
    }

    #[test]
    fn contact_values_are_checked() {
        assert!(check_email("anna@aarhus.dk").is_ok());
        assert!(check_email("anna@@aarhus").is_err());
        assert!(check_phone("+45 89 40 20 00").is_ok());
        assert!(check_phone("8940").is_err());
        assert!(check_pnumber("1003388394").is_ok());
        assert!(check_pnumber("100338839").is_err());
        assert!(check_www("https://aarhus.dk").is_ok());
        assert!(check_www("aarhus.dk").is_err());
    }
}
