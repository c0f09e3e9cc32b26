//! orghub's standard catalogue (DESIGN §2 *Classifications*): realistic Danish classes for every
//! facet, which `orghubctl classes seed --kommune K` loads and the generator refers to.
//!
//! Each class's UUID is [`class_uuid`]`(kommune, facet, user_key)`, so the same class has the same
//! UUID on every machine and seeding twice changes nothing. The data is Rust tables rather than a
//! JSON file so a typo in a facet or a parent fails the build, not a seed.
//!
//! Spelling: the engagement types are written "Månedslønnet, fuldtid/deltid" (Retskrivnings-
//! ordbogen's *månedslønnet*). OS2mo's SD integration writes "Månedlønnet"; consumers match on the
//! class UUID or `user_key` (`maanedsloennet-fuldtid`), never on the title, so either spelling
//! reaches them as the same class.
//!
//! The line organisation is the units whose `hierarchy` is `null` (DESIGN §2); the catalogue's
//! `linjeorganisation` class exists for sources that name it, beside `loenorganisation` (the
//! payroll organisation of SD Løn/KMD Opus) and `med-organisation` (the co-determination
//! structure of the MED agreement: hovedudvalg, områdeudvalg, lokaludvalg).

use chrono::NaiveDate;
use uuid::Uuid;

use crate::entity::Class;
use crate::facet::{Facet, class_uuid};
use crate::kommune::Kommune;
use crate::values::{Name, UserKey};

/// One class of the catalogue, before it is given a municipality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub facet: Facet,
    pub user_key: &'static str,
    pub title: &'static str,
    /// The `user_key` of the parent class in the same facet.
    pub parent: Option<&'static str>,
}

/// The first day every catalogue class is valid (open-ended): early enough for any state a
/// municipality writes, as OS2mo's default classes are valid from 1900.
pub fn valid_from() -> NaiveDate {
    NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN)
}

const UNIT_TYPES: &[(&str, &str)] = &[
    ("kommune", "Kommune"),
    ("magistrat", "Magistratsafdeling"),
    ("forvaltning", "Forvaltning"),
    ("direktion", "Direktion"),
    ("stab", "Stab"),
    ("sekretariat", "Sekretariat"),
    ("center", "Center"),
    ("afdeling", "Afdeling"),
    ("omraade", "Område"),
    ("distrikt", "Distrikt"),
    ("institution", "Institution"),
    ("team", "Team"),
    ("afsnit", "Afsnit"),
    ("hovedudvalg", "Hovedudvalg"),
    ("omraadeudvalg", "Områdeudvalg"),
    ("lokaludvalg", "Lokaludvalg"),
    ("personalemoede-med", "Personalemøde med MED-status"),
];

const LEVELS: &[(&str, &str)] = &[
    ("niveau-1", "Niveau 1"),
    ("niveau-2", "Niveau 2"),
    ("niveau-3", "Niveau 3"),
    ("niveau-4", "Niveau 4"),
    ("niveau-5", "Niveau 5"),
    ("niveau-6", "Niveau 6"),
    ("niveau-7", "Niveau 7"),
    ("niveau-8", "Niveau 8"),
];

const HIERARCHIES: &[(&str, &str)] = &[
    ("linjeorganisation", "Linjeorganisation"),
    ("loenorganisation", "Lønorganisation"),
    ("med-organisation", "MED-organisation"),
];

/// The job titles of the municipal sectors (day care, schools, elder care, social services,
/// administration, technical services, culture), as SD Løn and KMD Opus know them.
const JOB_TITLES: &[(&str, &str)] = &[
    ("administrativ-medarbejder", "Administrativ medarbejder"),
    ("afdelingschef", "Afdelingschef"),
    ("afdelingsleder", "Afdelingsleder"),
    ("afsnitsleder", "Afsnitsleder"),
    ("aktivitetsmedarbejder", "Aktivitetsmedarbejder"),
    ("anlaegsgartnerelev", "Anlægsgartnerelev"),
    ("arbejdsmiljoekonsulent", "Arbejdsmiljøkonsulent"),
    ("arkitekt", "Arkitekt"),
    ("assistent", "Assistent"),
    ("bibliotekar", "Bibliotekar"),
    ("biblioteksassistent", "Biblioteksassistent"),
    ("biblioteksleder", "Biblioteksleder"),
    ("biolog", "Biolog"),
    ("boerne-og-ungeraadgiver", "Børne- og ungerådgiver"),
    ("bogholder", "Bogholder"),
    ("borgerservicechef", "Borgerservicechef"),
    ("borgerservicemedarbejder", "Borgerservicemedarbejder"),
    ("byggesagsbehandler", "Byggesagsbehandler"),
    ("bygningskonstruktoer", "Bygningskonstruktør"),
    ("centerchef", "Centerchef"),
    ("centerleder", "Centerleder"),
    ("chauffoer", "Chauffør"),
    ("chefkonsulent", "Chefkonsulent"),
    ("controller", "Controller"),
    ("dagplejeleder", "Dagplejeleder"),
    ("dagplejepaedagog", "Dagplejepædagog"),
    ("dagplejer", "Dagplejer"),
    ("dagtilbudsleder", "Dagtilbudsleder"),
    ("diaetist", "Diætist"),
    ("direktionssekretaer", "Direktionssekretær"),
    ("direktoer", "Direktør"),
    ("distriktsleder", "Distriktsleder"),
    ("driftsleder", "Driftsleder"),
    ("driftsmedarbejder", "Driftsmedarbejder"),
    ("ejendomschef", "Ejendomschef"),
    ("ejendomsservicetekniker", "Ejendomsservicetekniker"),
    ("energikonsulent", "Energikonsulent"),
    ("ergoterapeut", "Ergoterapeut"),
    ("ernaeringsassistent", "Ernæringsassistent"),
    ("ernaeringsassistentelev", "Ernæringsassistentelev"),
    ("familiebehandler", "Familiebehandler"),
    ("formidler", "Formidler"),
    ("forstander", "Forstander"),
    ("fritidscenterleder", "Fritidscenterleder"),
    ("fuldmaegtig", "Fuldmægtig"),
    ("fysioterapeut", "Fysioterapeut"),
    ("gartner", "Gartner"),
    ("geolog", "Geolog"),
    ("grafiker", "Grafiker"),
    ("hr-chef", "HR-chef"),
    ("hr-konsulent", "HR-konsulent"),
    ("idraetschef", "Idrætschef"),
    ("idraetsmedarbejder", "Idrætsmedarbejder"),
    ("indkoebschef", "Indkøbschef"),
    ("indkoebskonsulent", "Indkøbskonsulent"),
    (
        "informationssikkerhedskonsulent",
        "Informationssikkerhedskonsulent",
    ),
    ("ingenioer", "Ingeniør"),
    ("institutionsleder", "Institutionsleder"),
    ("it-arkitekt", "IT-arkitekt"),
    ("it-chef", "IT-chef"),
    ("it-konsulent", "IT-konsulent"),
    ("it-medarbejder", "IT-medarbejder"),
    ("it-supporter", "IT-supporter"),
    ("it-supporterelev", "IT-supporterelev"),
    ("jobcenterchef", "Jobcenterchef"),
    ("jobkonsulent", "Jobkonsulent"),
    ("jurist", "Jurist"),
    ("klinikassistent", "Klinikassistent"),
    ("klinikassistentelev", "Klinikassistentelev"),
    ("klubmedarbejder", "Klubmedarbejder"),
    ("koekkenleder", "Køkkenleder"),
    ("koekkenmedhjaelper", "Køkkenmedhjælper"),
    ("kok", "Kok"),
    ("kommunaldirektoer", "Kommunaldirektør"),
    ("kommunikationschef", "Kommunikationschef"),
    ("kommunikationskonsulent", "Kommunikationskonsulent"),
    ("kommunikationsmedarbejder", "Kommunikationsmedarbejder"),
    ("konservator", "Konservator"),
    ("konsulent", "Konsulent"),
    ("kontorassistent", "Kontorassistent"),
    ("kontorelev", "Kontorelev"),
    ("kontraktkonsulent", "Kontraktkonsulent"),
    ("koordinator", "Koordinator"),
    ("kulturformidler", "Kulturformidler"),
    ("kulturhusleder", "Kulturhusleder"),
    ("kulturmedarbejder", "Kulturmedarbejder"),
    ("laege", "Læge"),
    ("laerer", "Lærer"),
    ("laesevejleder", "Læsevejleder"),
    ("landinspektoer", "Landinspektør"),
    ("ledende-sundhedsplejerske", "Ledende sundhedsplejerske"),
    ("leder", "Leder"),
    ("livredder", "Livredder"),
    ("loenkonsulent", "Lønkonsulent"),
    ("loenmedarbejder", "Lønmedarbejder"),
    ("maskinfoerer", "Maskinfører"),
    ("mekaniker", "Mekaniker"),
    ("miljoemedarbejder", "Miljømedarbejder"),
    ("misbrugsbehandler", "Misbrugsbehandler"),
    ("museumsassistent", "Museumsassistent"),
    ("museumsinspektoer", "Museumsinspektør"),
    ("museumsleder", "Museumsleder"),
    ("musikskolelaerer", "Musikskolelærer"),
    ("musikskoleleder", "Musikskoleleder"),
    ("oekonom", "Økonom"),
    ("oekonomichef", "Økonomichef"),
    ("omsorgsmedhjaelper", "Omsorgsmedhjælper"),
    ("overassistent", "Overassistent"),
    ("overtandlaege", "Overtandlæge"),
    ("paedagog", "Pædagog"),
    ("paedagogisk-assistent", "Pædagogisk assistent"),
    ("paedagogisk-konsulent", "Pædagogisk konsulent"),
    ("paedagogisk-leder", "Pædagogisk leder"),
    ("paedagogmedhjaelper", "Pædagogmedhjælper"),
    ("pau-elev", "PAU-elev"),
    ("planlaegger", "Planlægger"),
    ("plejecenterleder", "Plejecenterleder"),
    ("ppr-leder", "PPR-leder"),
    ("projektleder", "Projektleder"),
    ("psykolog", "Psykolog"),
    ("rengoeringsassistent", "Rengøringsassistent"),
    ("sagsbehandler", "Sagsbehandler"),
    ("sekretaer", "Sekretær"),
    ("sekretariatschef", "Sekretariatschef"),
    ("servicemedarbejder", "Servicemedarbejder"),
    ("sfo-leder", "SFO-leder"),
    ("skoleleder", "Skoleleder"),
    ("skolepaedagog", "Skolepædagog"),
    ("skolesekretaer", "Skolesekretær"),
    (
        "social-og-sundhedsassistent",
        "Social- og sundhedsassistent",
    ),
    (
        "social-og-sundhedsassistentelev",
        "Social- og sundhedsassistentelev",
    ),
    ("social-og-sundhedshjaelper", "Social- og sundhedshjælper"),
    (
        "social-og-sundhedshjaelperelev",
        "Social- og sundhedshjælperelev",
    ),
    ("socialpaedagog", "Socialpædagog"),
    ("socialraadgiver", "Socialrådgiver"),
    ("souschef", "Souschef"),
    ("specialkonsulent", "Specialkonsulent"),
    ("specialpaedagog", "Specialpædagog"),
    (
        "specialpaedagogisk-konsulent",
        "Specialpædagogisk konsulent",
    ),
    ("stadsadvokat", "Stadsadvokat"),
    ("studentermedhjaelper", "Studentermedhjælper"),
    ("sundhedskonsulent", "Sundhedskonsulent"),
    ("sundhedsplejerske", "Sundhedsplejerske"),
    ("sygehjaelper", "Sygehjælper"),
    ("sygeplejeleder", "Sygeplejeleder"),
    ("sygeplejerske", "Sygeplejerske"),
    ("systemadministrator", "Systemadministrator"),
    ("tale-hoerekonsulent", "Tale-hørekonsulent"),
    ("tandlaege", "Tandlæge"),
    ("tandplejer", "Tandplejer"),
    ("teamkoordinator", "Teamkoordinator"),
    ("teamleder", "Teamleder"),
    ("tekniker", "Tekniker"),
    ("teknisk-servicemedarbejder", "Teknisk servicemedarbejder"),
    ("tolk", "Tolk"),
    ("traeningsassistent", "Træningsassistent"),
    ("traeningsleder", "Træningsleder"),
    ("trafikplanlaegger", "Trafikplanlægger"),
    ("udbudsjurist", "Udbudsjurist"),
    ("udviklingskonsulent", "Udviklingskonsulent"),
    ("ungdomsskolelaerer", "Ungdomsskolelærer"),
    ("ungdomsskoleleder", "Ungdomsskoleleder"),
    ("vaerkfoerer", "Værkfører"),
    ("vejchef", "Vejchef"),
    ("vejmand", "Vejmand"),
    ("viceinstitutionsleder", "Viceinstitutionsleder"),
    ("viceskoleleder", "Viceskoleleder"),
    ("vikar", "Vikar"),
    ("virksomhedskonsulent", "Virksomhedskonsulent"),
    ("visitationschef", "Visitationschef"),
    ("visitator", "Visitator"),
    ("webredaktoer", "Webredaktør"),
    ("ydelseschef", "Ydelseschef"),
];

const ENGAGEMENT_TYPES: &[(&str, &str)] = &[
    ("maanedsloennet-fuldtid", "Månedslønnet, fuldtid"),
    ("maanedsloennet-deltid", "Månedslønnet, deltid"),
    ("timeloennet", "Timelønnet"),
    ("tjenestemand", "Tjenestemand"),
    ("elev", "Elev"),
    ("fleksjob", "Fleksjob"),
    ("loentilskud", "Løntilskud"),
    ("vikar", "Vikar"),
    ("frivillig", "Ulønnet (frivillig)"),
];

const MANAGER_TYPES: &[(&str, &str)] = &[
    ("direktoer", "Direktør"),
    ("chef", "Chef"),
    ("leder", "Leder"),
    ("teamleder", "Teamleder"),
    ("souschef", "Souschef"),
    ("konstitueret-leder", "Konstitueret leder"),
];

const RESPONSIBILITIES: &[(&str, &str)] = &[
    ("personale", "Personaleansvar"),
    ("ansaettelse", "Ansættelse og afskedigelse"),
    ("mus", "MUS-kompetence"),
    ("personale-oevrige", "Øvrigt personaleansvar"),
    ("oekonomi", "Økonomiansvar"),
    ("budget", "Budgetansvar"),
    ("indkoeb", "Indkøbsbemyndigelse"),
    ("arbejdsmiljoe", "Arbejdsmiljøansvar"),
    ("beredskab", "Beredskabsledelse"),
    ("faglig-ledelse", "Faglig ledelse"),
    ("informationssikkerhed", "Informationssikkerhed"),
];

const IT_SYSTEMS: &[(&str, &str)] = &[
    ("ad", "Active Directory"),
    ("entra-id", "Microsoft Entra ID"),
    ("fk-organisation", "FK Organisation"),
    ("opus", "KMD Opus"),
    ("opus-oekonomi", "KMD Opus Økonomi"),
    ("sd-loen", "SD Løn"),
    ("ky", "KY (Kommunernes Ydelsessystem)"),
    ("nexus", "KMD Nexus"),
    ("momentum", "KMD Momentum"),
    ("kmd-sag", "KMD Sag"),
    ("sbsys", "SBSYS"),
    ("aula", "Aula"),
    ("unilogin", "STIL UniLogin"),
    ("dubu", "DUBU"),
    ("novax", "Novax"),
    ("tk2", "TK2 Tandpleje"),
    ("bom", "Byg og Miljø (BOM)"),
    ("cicero", "Cicero"),
    ("os2mo", "OS2mo"),
];

const GROUP_TYPES: &[(&str, &str)] = &[
    ("projekt", "Projekt"),
    ("styregruppe", "Styregruppe"),
    ("arbejdsgruppe", "Arbejdsgruppe"),
    ("netvaerk", "Netværk"),
    ("udvalg", "Udvalg"),
    ("faglig-forum", "Fagligt forum"),
    ("tvaergaaende-team", "Tværgående team"),
];

const ASSOCIATION_TYPES: &[(&str, &str)] = &[
    ("med-medlem", "MED-medlem"),
    ("med-formand", "MED-formand"),
    ("med-naestformand", "MED-næstformand"),
    ("amr", "Arbejdsmiljørepræsentant"),
    ("tr", "Tillidsrepræsentant"),
    ("ftr", "Fællestillidsrepræsentant"),
    ("projektleder", "Projektleder"),
    ("projektdeltager", "Projektdeltager"),
    ("styregruppemedlem", "Styregruppemedlem"),
    ("netvaerksdeltager", "Netværksdeltager"),
    ("sekretaer", "Sekretær"),
];

/// Classes with a parent in their facet: `(facet, child, parent)`.
const PARENTS: &[(Facet, &str, &str)] = &[
    (Facet::Responsibility, "ansaettelse", "personale"),
    (Facet::Responsibility, "mus", "personale"),
    (Facet::Responsibility, "personale-oevrige", "personale"),
    (Facet::Responsibility, "budget", "oekonomi"),
    (Facet::Responsibility, "indkoeb", "oekonomi"),
    (
        Facet::EngagementType,
        "maanedsloennet-deltid",
        "maanedsloennet-fuldtid",
    ),
    (Facet::AssociationType, "med-formand", "med-medlem"),
    (Facet::AssociationType, "med-naestformand", "med-medlem"),
    (Facet::AssociationType, "ftr", "tr"),
];

fn table(facet: Facet) -> &'static [(&'static str, &'static str)] {
    match facet {
        Facet::UnitType => UNIT_TYPES,
        Facet::UnitLevel | Facet::ManagerLevel => LEVELS,
        Facet::Hierarchy => HIERARCHIES,
        Facet::JobTitle => JOB_TITLES,
        Facet::EngagementType => ENGAGEMENT_TYPES,
        Facet::ManagerType => MANAGER_TYPES,
        Facet::Responsibility => RESPONSIBILITIES,
        Facet::ItSystem => IT_SYSTEMS,
        Facet::GroupType => GROUP_TYPES,
        Facet::AssociationType => ASSOCIATION_TYPES,
    }
}

fn parent_of(facet: Facet, user_key: &str) -> Option<&'static str> {
    PARENTS
        .iter()
        .find(|(f, child, _)| *f == facet && *child == user_key)
        .map(|(_, _, parent)| *parent)
}

/// The catalogue's classes of one facet, each parent before its children.
pub fn facet_entries(facet: Facet) -> impl Iterator<Item = Entry> {
    table(facet).iter().map(move |&(user_key, title)| Entry {
        facet,
        user_key,
        title,
        parent: parent_of(facet, user_key),
    })
}

/// Every class of the catalogue, facet by facet in [`Facet::ALL`]'s order, parents first.
pub fn entries() -> impl Iterator<Item = Entry> {
    Facet::ALL.into_iter().flat_map(facet_entries)
}

/// The catalogue class `user_key` of `facet`, if the catalogue has it.
pub fn find(facet: Facet, user_key: &str) -> Option<Entry> {
    facet_entries(facet).find(|e| e.user_key == user_key)
}

/// The catalogue class of `facet` titled `title` (titles are unique within a facet).
pub fn find_title(facet: Facet, title: &str) -> Option<Entry> {
    facet_entries(facet).find(|e| e.title == title)
}

impl Entry {
    /// This class's UUID in `kommune`.
    pub fn uuid(&self, kommune: Kommune) -> Uuid {
        class_uuid(kommune, self.facet, self.user_key)
    }

    /// This class's attributes in `kommune`.
    pub fn class(&self, kommune: Kommune) -> Class {
        Class {
            facet: self.facet,
            // The tests below parse every key and title of the tables.
            user_key: UserKey::parse(self.user_key).expect("catalogue user_keys are valid"),
            title: Name::parse(self.title).expect("catalogue titles are valid"),
            parent: self.parent.map(|p| class_uuid(kommune, self.facet, p)),
        }
    }
}

/// The standard catalogue of `kommune`: every class with its UUID, parents before children,
/// valid from [`valid_from`] with no end.
pub fn classes(kommune: Kommune) -> Vec<(Uuid, Class)> {
    entries()
        .map(|e| (e.uuid(kommune), e.class(kommune)))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_key_and_title_is_valid_and_unique_within_its_facet() {
        for facet in Facet::ALL {
            let mut keys = HashSet::new();
            let mut titles = HashSet::new();
            let entries: Vec<Entry> = facet_entries(facet).collect();
            assert!(!entries.is_empty(), "{facet} has classes");
            for e in entries {
                assert!(UserKey::parse(e.user_key).is_ok(), "{}", e.user_key);
                assert!(Name::parse(e.title).is_ok(), "{}", e.title);
                assert!(keys.insert(e.user_key), "{facet}/{} repeats", e.user_key);
                assert!(titles.insert(e.title), "{facet} title {} repeats", e.title);
                assert!(
                    e.user_key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                    "{} is a lowercase ASCII slug",
                    e.user_key
                );
            }
        }
    }

    #[test]
    fn parents_exist_in_the_same_facet_and_come_first() {
        for facet in Facet::ALL {
            let mut seen = HashSet::new();
            for e in facet_entries(facet) {
                if let Some(p) = e.parent {
                    assert!(
                        seen.contains(p),
                        "{facet}/{}: parent {p} comes first",
                        e.user_key
                    );
                }
                seen.insert(e.user_key);
            }
        }
        for (facet, child, _) in PARENTS {
            assert!(find(*facet, child).is_some(), "{facet}/{child} exists");
        }
    }

    #[test]
    fn the_keys_the_examples_use_are_in_the_catalogue() {
        for (facet, key) in [
            (Facet::UnitType, "forvaltning"),
            (Facet::UnitLevel, "niveau-2"),
            (Facet::JobTitle, "paedagog"),
            (Facet::JobTitle, "paedagogisk-leder"),
            (Facet::EngagementType, "maanedsloennet-fuldtid"),
            (Facet::ManagerType, "direktoer"),
            (Facet::ManagerLevel, "niveau-1"),
            (Facet::Responsibility, "personale"),
            (Facet::Responsibility, "oekonomi"),
            (Facet::ItSystem, "ad"),
            (Facet::GroupType, "projekt"),
            (Facet::AssociationType, "projektdeltager"),
            (Facet::AssociationType, "projektleder"),
            (Facet::Hierarchy, "linjeorganisation"),
            (Facet::Hierarchy, "loenorganisation"),
            (Facet::Hierarchy, "med-organisation"),
            (Facet::AssociationType, "amr"),
            (Facet::AssociationType, "tr"),
            (Facet::AssociationType, "med-medlem"),
        ] {
            assert!(find(facet, key).is_some(), "{facet}/{key}");
        }
    }

    #[test]
    fn the_municipal_job_titles_are_there() {
        for key in [
            "paedagog",
            "paedagogisk-leder",
            "paedagogmedhjaelper",
            "laerer",
            "skoleleder",
            "social-og-sundhedsassistent",
            "social-og-sundhedshjaelper",
            "sygeplejerske",
            "ergoterapeut",
            "fysioterapeut",
            "sagsbehandler",
            "socialraadgiver",
            "specialkonsulent",
            "fuldmaegtig",
            "overassistent",
            "it-medarbejder",
            "ingenioer",
        ] {
            assert!(find(Facet::JobTitle, key).is_some(), "{key}");
        }
    }

    #[test]
    fn classes_have_deterministic_uuids_per_kommune() {
        let k: Kommune = "751".parse().expect("kommune");
        let all = classes(k);
        assert_eq!(all.len(), entries().count());
        let uuids: HashSet<Uuid> = all.iter().map(|(u, _)| *u).collect();
        assert_eq!(uuids.len(), all.len(), "distinct UUIDs");
        let (uuid, class) = all
            .iter()
            .find(|(_, c)| c.facet == Facet::JobTitle && c.user_key.as_str() == "paedagog")
            .expect("paedagog");
        assert_eq!(*uuid, class_uuid(k, Facet::JobTitle, "paedagog"));
        assert_eq!(class.title.as_str(), "Pædagog");
        let (_, mus) = all
            .iter()
            .find(|(_, c)| c.facet == Facet::Responsibility && c.user_key.as_str() == "mus")
            .expect("mus");
        assert_eq!(
            mus.parent,
            Some(class_uuid(k, Facet::Responsibility, "personale"))
        );
    }
}
