//! Consumer queries over the cache's views, as a fagsystem writes them: plain SQL in the default
//! schema `orghub_cache`, one `.sql` file each (`queries/`), so the documentation, the README and
//! the scenario tests that run them all use the same text.

/// The members of a committee today (a MED committee, as a unit of the MED organisation or as a
/// group; a project group; any unit or group people are associated with), with their names and
/// their role's title. `$1`: the unit's or the group's uuid.
///
#[doc = concat!("```sql\n", include_str!("queries/committee_members.sql"), "```")]
pub const COMMITTEE_MEMBERS: &str = include_str!("queries/committee_members.sql");

/// A unit's engagements today, with the people's names and the job titles' titles (resolved
/// through `classes` when queried, so a renamed job title shows without an engagement event).
/// `$1`: the unit's uuid.
///
#[doc = concat!("```sql\n", include_str!("queries/unit_engagements.sql"), "```")]
pub const UNIT_ENGAGEMENTS: &str = include_str!("queries/unit_engagements.sql");
