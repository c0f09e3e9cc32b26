//! Staff profiles: for each kind of unit, who works there (job titles and their shares), who
//! leads it, which KLE tasks it has, and which IT systems its people use beside Active Directory.

/// How a unit of one kind is staffed and described.
#[derive(Debug)]
pub(crate) struct Profile {
    /// Short name; units with the same key exchange staff in transfers.
    pub key: &'static str,
    /// The leader's job title (the person in the unit's manager function).
    pub leader: &'static str,
    /// ORG/OS2mo manager type: Direktør, Chef, Leder, Teamleder.
    pub manager_type: &'static str,
    pub responsibilities: &'static [&'static str],
    /// Job titles of everyone else, weighted.
    pub titles: &'static [(&'static str, u32)],
    /// Share of women, in percent.
    pub female: u32,
    /// An IT system beside Active Directory, and the share of staff with an account there.
    pub it_system: Option<(&'static str, u32)>,
    /// KLE numbers with their aspects.
    pub kle: &'static [(&'static str, &'static [&'static str])],
    /// Institutions have an EAN number (e-invoicing) and often a P-number.
    pub institution: bool,
}

const ANSVARLIG: &[&str] = &["ansvarlig"];
const ANSVARLIG_INDSIGT: &[&str] = &["ansvarlig", "indsigt"];
const UDFOERENDE: &[&str] = &["udfoerende"];
const INDSIGT: &[&str] = &["indsigt"];

/// Responsibilities, as titles of the catalogue's facet `responsibility`.
const TOP: &[&str] = &["Personaleansvar", "Økonomiansvar", "Beredskabsledelse"];
const LEAD: &[&str] = &[
    "Personaleansvar",
    "Ansættelse og afskedigelse",
    "MUS-kompetence",
    "Budgetansvar",
    "Arbejdsmiljøansvar",
];
pub(crate) const TEAM: &[&str] = &["MUS-kompetence", "Øvrigt personaleansvar"];

macro_rules! profile {
    ($name:ident, $key:literal, $leader:literal, $mtype:literal, $resp:expr, female $female:literal,
     it $it:expr, kle $kle:expr, institution $inst:literal, [$(($t:literal, $w:literal)),* $(,)?]) => {
        pub(crate) static $name: Profile = Profile {
            key: $key,
            leader: $leader,
            manager_type: $mtype,
            responsibilities: $resp,
            titles: &[$(($t, $w)),*],
            female: $female,
            it_system: $it,
            kle: $kle,
            institution: $inst,
        };
    };
}

profile!(ROOT, "root", "Kommunaldirektør", "Direktør", TOP, female 60, it None,
    kle &[("00.01", ANSVARLIG)], institution false,
    [("Direktionssekretær", 50), ("Chefkonsulent", 50)]);

profile!(DIRECTORATE, "directorate", "Direktør", "Direktør", TOP, female 60, it None,
    kle &[], institution false,
    [("Sekretariatschef", 10), ("Chefkonsulent", 25), ("Konsulent", 30), ("Direktionssekretær", 20),
     ("Specialkonsulent", 15)]);

profile!(ECONOMY, "economy", "Økonomichef", "Chef", LEAD, female 55, it Some(("KMD Opus Økonomi", 80)),
    kle &[("00", INDSIGT), ("25", ANSVARLIG)], institution false,
    [("Økonom", 20), ("Controller", 15), ("Bogholder", 15), ("Konsulent", 20), ("Fuldmægtig", 15),
     ("Specialkonsulent", 10), ("Kontorelev", 3)]);

profile!(HR, "hr", "HR-chef", "Chef", LEAD, female 75, it None,
    kle &[("81", ANSVARLIG)], institution false,
    [("HR-konsulent", 30), ("Lønkonsulent", 25), ("Arbejdsmiljøkonsulent", 8), ("Fuldmægtig", 12),
     ("Konsulent", 15), ("Administrativ medarbejder", 8), ("Kontorelev", 3)]);

profile!(IT, "it", "IT-chef", "Chef", LEAD, female 25, it None,
    kle &[("85", ANSVARLIG)], institution false,
    [("IT-konsulent", 30), ("IT-supporter", 25), ("Systemadministrator", 15), ("IT-arkitekt", 8),
     ("Projektleder", 10), ("Informationssikkerhedskonsulent", 5), ("IT-supporterelev", 4)]);

profile!(LAW, "law", "Stadsadvokat", "Chef", LEAD, female 65, it None,
    kle &[("00.01", ANSVARLIG_INDSIGT), ("84", ANSVARLIG)], institution false,
    [("Jurist", 40), ("Fuldmægtig", 20), ("Konsulent", 15), ("Sekretær", 10), ("Specialkonsulent", 10)]);

profile!(COMMUNICATION, "communication", "Kommunikationschef", "Chef", LEAD, female 65, it None,
    kle &[("00.05", ANSVARLIG)], institution false,
    [("Kommunikationskonsulent", 50), ("Webredaktør", 20), ("Grafiker", 10), ("Konsulent", 15)]);

profile!(PROCUREMENT, "procurement", "Indkøbschef", "Chef", LEAD, female 50, it None,
    kle &[("83", ANSVARLIG)], institution false,
    [("Indkøbskonsulent", 50), ("Udbudsjurist", 20), ("Kontraktkonsulent", 20), ("Fuldmægtig", 10)]);

profile!(SECRETARIAT, "secretariat", "Sekretariatschef", "Chef", LEAD, female 65, it None,
    kle &[("00.17", INDSIGT)], institution false,
    [("Fuldmægtig", 25), ("Konsulent", 25), ("Specialkonsulent", 12), ("Chefkonsulent", 4),
     ("Administrativ medarbejder", 12), ("Sekretær", 6), ("Kontorelev", 4), ("Jurist", 5),
     ("Økonom", 7)]);

profile!(SCHOOL, "school", "Skoleleder", "Leder", LEAD, female 70, it Some(("Aula", 50)),
    kle &[("17", UDFOERENDE)], institution true,
    [("Lærer", 64), ("Pædagog", 12), ("Pædagogmedhjælper", 6), ("Skolesekretær", 3),
     ("Teknisk servicemedarbejder", 3), ("Afdelingsleder", 3), ("Viceskoleleder", 1),
     ("Læsevejleder", 2), ("Pædagogisk assistent", 2)]);

profile!(SCHOOL_OFFICE, "school-office", "Viceskoleleder", "Leder", TEAM, female 70, it None,
    kle &[], institution false,
    [("Skolesekretær", 40), ("Teknisk servicemedarbejder", 30), ("Afdelingsleder", 15),
     ("Læsevejleder", 15)]);

profile!(GRADE_TEAM, "grade-team", "Afdelingsleder", "Leder", TEAM, female 70, it Some(("Aula", 50)),
    kle &[], institution false,
    [("Lærer", 85), ("Pædagog", 10), ("Pædagogmedhjælper", 5)]);

profile!(SFO, "sfo", "SFO-leder", "Leder", LEAD, female 75, it Some(("Aula", 50)),
    kle &[("17", UDFOERENDE)], institution false,
    [("Pædagog", 50), ("Pædagogmedhjælper", 35), ("Pædagogisk assistent", 10), ("PAU-elev", 5)]);

profile!(LEISURE, "leisure", "Fritidscenterleder", "Leder", LEAD, female 65, it None,
    kle &[("28", UDFOERENDE), ("18", UDFOERENDE)], institution true,
    [("Pædagog", 45), ("Pædagogmedhjælper", 30), ("Klubmedarbejder", 15), ("Pædagogisk assistent", 5),
     ("PAU-elev", 5)]);

profile!(DAYCARE, "daycare", "Institutionsleder", "Leder", LEAD, female 88, it None,
    kle &[("28", UDFOERENDE)], institution true,
    [("Pædagog", 50), ("Pædagogmedhjælper", 28), ("Pædagogisk assistent", 10), ("Ernæringsassistent", 4),
     ("Køkkenmedhjælper", 2), ("PAU-elev", 6)]);

profile!(DAYCARE_GROUP, "daycare-group", "Pædagogisk leder", "Teamleder", TEAM, female 90, it None,
    kle &[], institution false,
    [("Pædagog", 55), ("Pædagogmedhjælper", 30), ("Pædagogisk assistent", 10), ("PAU-elev", 5)]);

profile!(DAYCARE_AREA, "daycare-area", "Dagtilbudsleder", "Leder", LEAD, female 85, it None,
    kle &[("28", ANSVARLIG)], institution false,
    [("Pædagogisk konsulent", 40), ("Administrativ medarbejder", 40), ("Pædagogisk leder", 20)]);

profile!(DAGPLEJE, "dagpleje", "Dagplejeleder", "Leder", LEAD, female 97, it None,
    kle &[("28", UDFOERENDE)], institution true,
    [("Dagplejer", 88), ("Dagplejepædagog", 10), ("Administrativ medarbejder", 2)]);

profile!(DENTAL, "dental", "Overtandlæge", "Leder", LEAD, female 85, it Some(("TK2 Tandpleje", 90)),
    kle &[("29", UDFOERENDE)], institution true,
    [("Tandplejer", 30), ("Tandlæge", 20), ("Klinikassistent", 40), ("Klinikassistentelev", 5),
     ("Sekretær", 5)]);

profile!(PPR, "ppr", "PPR-leder", "Leder", LEAD, female 80, it None,
    kle &[("17", ANSVARLIG_INDSIGT)], institution false,
    [("Psykolog", 50), ("Tale-hørekonsulent", 15), ("Specialpædagogisk konsulent", 15),
     ("Ergoterapeut", 5), ("Fysioterapeut", 5), ("Sekretær", 10)]);

profile!(HEALTH_VISITORS, "health-visitors", "Ledende sundhedsplejerske", "Leder", LEAD, female 98,
    it Some(("Novax", 90)), kle &[("29", UDFOERENDE)], institution false,
    [("Sundhedsplejerske", 90), ("Sekretær", 10)]);

profile!(YOUTH_SCHOOL, "youth-school", "Ungdomsskoleleder", "Leder", LEAD, female 55, it None,
    kle &[("18", UDFOERENDE)], institution true,
    [("Ungdomsskolelærer", 50), ("Pædagog", 25), ("Klubmedarbejder", 20), ("Administrativ medarbejder", 5)]);

profile!(CARE_HOME, "care-home", "Plejecenterleder", "Leder", LEAD, female 88, it Some(("KMD Nexus", 85)),
    kle &[("27", UDFOERENDE)], institution true,
    [("Social- og sundhedsassistent", 32), ("Social- og sundhedshjælper", 28), ("Sygeplejerske", 10),
     ("Ergoterapeut", 3), ("Fysioterapeut", 3), ("Ernæringsassistent", 5), ("Aktivitetsmedarbejder", 4),
     ("Social- og sundhedsassistentelev", 6), ("Servicemedarbejder", 3)]);

profile!(CARE_WARD, "care-ward", "Afsnitsleder", "Teamleder", TEAM, female 88, it Some(("KMD Nexus", 90)),
    kle &[], institution false,
    [("Social- og sundhedsassistent", 38), ("Social- og sundhedshjælper", 34), ("Sygeplejerske", 10),
     ("Social- og sundhedsassistentelev", 8), ("Aktivitetsmedarbejder", 4)]);

profile!(HOME_CARE, "home-care", "Distriktsleder", "Leder", LEAD, female 88, it Some(("KMD Nexus", 95)),
    kle &[("27", UDFOERENDE)], institution false,
    [("Social- og sundhedshjælper", 45), ("Social- og sundhedsassistent", 35), ("Sygeplejerske", 5),
     ("Social- og sundhedshjælperelev", 6), ("Planlægger", 4), ("Teamkoordinator", 5)]);

profile!(HOME_CARE_TEAM, "home-care-team", "Teamleder", "Teamleder", TEAM, female 88, it Some(("KMD Nexus", 95)),
    kle &[], institution false,
    [("Social- og sundhedshjælper", 50), ("Social- og sundhedsassistent", 38), ("Sygeplejerske", 4),
     ("Social- og sundhedshjælperelev", 8)]);

profile!(NURSING, "nursing", "Sygeplejeleder", "Leder", LEAD, female 92, it Some(("KMD Nexus", 100)),
    kle &[("29", UDFOERENDE)], institution false,
    [("Sygeplejerske", 80), ("Social- og sundhedsassistent", 15), ("Planlægger", 5)]);

profile!(REHAB, "rehab", "Træningsleder", "Leder", LEAD, female 75, it Some(("KMD Nexus", 100)),
    kle &[("27", UDFOERENDE), ("29", UDFOERENDE)], institution false,
    [("Fysioterapeut", 45), ("Ergoterapeut", 45), ("Træningsassistent", 10)]);

profile!(ASSESSMENT, "assessment", "Visitationschef", "Chef", LEAD, female 85, it Some(("KMD Nexus", 100)),
    kle &[("27", ANSVARLIG)], institution false,
    [("Visitator", 50), ("Ergoterapeut", 15), ("Sygeplejerske", 15), ("Sagsbehandler", 10),
     ("Administrativ medarbejder", 10)]);

profile!(KITCHEN, "kitchen", "Køkkenleder", "Leder", LEAD, female 70, it None,
    kle &[("27", UDFOERENDE)], institution true,
    [("Ernæringsassistent", 50), ("Kok", 20), ("Køkkenmedhjælper", 20), ("Chauffør", 8),
     ("Ernæringsassistentelev", 2)]);

profile!(HEALTH_CENTRE, "health-centre", "Centerleder", "Leder", LEAD, female 80, it Some(("KMD Nexus", 60)),
    kle &[("29", ANSVARLIG_INDSIGT)], institution true,
    [("Sundhedskonsulent", 30), ("Sygeplejerske", 20), ("Fysioterapeut", 20), ("Diætist", 15),
     ("Administrativ medarbejder", 15)]);

profile!(AREA, "area", "Centerchef", "Chef", LEAD, female 70, it None,
    kle &[], institution false,
    [("Konsulent", 40), ("Administrativ medarbejder", 30), ("Udviklingskonsulent", 20), ("Specialkonsulent", 10)]);

profile!(TECHNICAL, "technical", "Afdelingschef", "Chef", LEAD, female 40, it Some(("Byg og Miljø (BOM)", 40)),
    kle &[("01", ANSVARLIG), ("02", ANSVARLIG)], institution false,
    [("Ingeniør", 25), ("Byggesagsbehandler", 20), ("Arkitekt", 10), ("Miljømedarbejder", 15),
     ("Biolog", 8), ("Landinspektør", 4), ("Planlægger", 10), ("Fuldmægtig", 8)]);

profile!(ENVIRONMENT, "environment", "Afdelingschef", "Chef", LEAD, female 50, it None,
    kle &[("09", ANSVARLIG), ("06", ANSVARLIG), ("07", ANSVARLIG)], institution false,
    [("Miljømedarbejder", 35), ("Biolog", 20), ("Ingeniør", 20), ("Geolog", 10), ("Fuldmægtig", 15)]);

profile!(ROADS, "roads", "Vejchef", "Chef", LEAD, female 30, it None,
    kle &[("05", ANSVARLIG), ("14", INDSIGT)], institution false,
    [("Ingeniør", 40), ("Trafikplanlægger", 25), ("Tekniker", 20), ("Fuldmægtig", 15)]);

profile!(OPERATIONS, "operations", "Driftsleder", "Leder", LEAD, female 15, it None,
    kle &[("04", UDFOERENDE), ("05", UDFOERENDE)], institution true,
    [("Vejmand", 25), ("Gartner", 25), ("Maskinfører", 15), ("Driftsmedarbejder", 20), ("Værkfører", 5),
     ("Mekaniker", 5), ("Anlægsgartnerelev", 3)]);

profile!(PROPERTY, "property", "Ejendomschef", "Chef", LEAD, female 45, it None,
    kle &[("82", ANSVARLIG)], institution false,
    [("Ejendomsservicetekniker", 35), ("Bygningskonstruktør", 20), ("Ingeniør", 15),
     ("Energikonsulent", 10), ("Rengøringsassistent", 20)]);

profile!(CITIZEN_SERVICE, "citizen-service", "Borgerservicechef", "Chef", LEAD, female 75, it Some(("KMD Sag", 70)),
    kle &[("23", ANSVARLIG), ("84", UDFOERENDE)], institution false,
    [("Borgerservicemedarbejder", 70), ("Administrativ medarbejder", 15), ("Kontorelev", 8), ("Fuldmægtig", 7)]);

profile!(LIBRARY, "library", "Biblioteksleder", "Leder", LEAD, female 75, it Some(("Cicero", 90)),
    kle &[("21", UDFOERENDE), ("21.02", UDFOERENDE)], institution true,
    [("Bibliotekar", 45), ("Biblioteksassistent", 35), ("Kulturformidler", 10), ("Kommunikationsmedarbejder", 5),
     ("Studentermedhjælper", 5)]);

profile!(CULTURE, "culture", "Kulturhusleder", "Leder", LEAD, female 60, it None,
    kle &[("20", UDFOERENDE)], institution true,
    [("Kulturmedarbejder", 35), ("Tekniker", 15), ("Administrativ medarbejder", 15), ("Projektleder", 15),
     ("Studentermedhjælper", 10), ("Kulturformidler", 10)]);

profile!(MUSIC_SCHOOL, "music-school", "Musikskoleleder", "Leder", LEAD, female 50, it None,
    kle &[("18", UDFOERENDE)], institution true,
    [("Musikskolelærer", 85), ("Administrativ medarbejder", 10), ("Tekniker", 5)]);

profile!(SPORTS, "sports", "Idrætschef", "Leder", LEAD, female 40, it None,
    kle &[("04", UDFOERENDE), ("18", UDFOERENDE)], institution true,
    [("Idrætsmedarbejder", 40), ("Livredder", 30), ("Servicemedarbejder", 30)]);

profile!(MUSEUM, "museum", "Museumsleder", "Leder", LEAD, female 60, it None,
    kle &[("19", UDFOERENDE)], institution true,
    [("Museumsinspektør", 35), ("Formidler", 30), ("Konservator", 15), ("Museumsassistent", 20)]);

profile!(JOBCENTRE, "jobcentre", "Jobcenterchef", "Chef", LEAD, female 70, it Some(("KMD Momentum", 95)),
    kle &[("15", ANSVARLIG), ("32", INDSIGT)], institution true,
    [("Jobkonsulent", 35), ("Socialrådgiver", 25), ("Virksomhedskonsulent", 15), ("Sagsbehandler", 12),
     ("Administrativ medarbejder", 10), ("Kontorelev", 3)]);

profile!(JOB_TEAM, "job-team", "Teamleder", "Teamleder", TEAM, female 70, it Some(("KMD Momentum", 95)),
    kle &[("15", UDFOERENDE)], institution false,
    [("Jobkonsulent", 40), ("Socialrådgiver", 28), ("Virksomhedskonsulent", 15), ("Sagsbehandler", 12),
     ("Administrativ medarbejder", 5)]);

profile!(BENEFITS, "benefits", "Ydelseschef", "Chef", LEAD, female 75, it Some(("KMD Momentum", 80)),
    kle &[("32", UDFOERENDE)], institution false,
    [("Sagsbehandler", 50), ("Socialrådgiver", 20), ("Fuldmægtig", 15), ("Administrativ medarbejder", 15)]);

profile!(FAMILY, "family", "Afdelingsleder", "Leder", LEAD, female 85, it Some(("DUBU", 95)),
    kle &[("27", ANSVARLIG)], institution false,
    [("Socialrådgiver", 70), ("Familiebehandler", 15), ("Psykolog", 5), ("Administrativ medarbejder", 10)]);

profile!(FAMILY_TEAM, "family-team", "Teamleder", "Teamleder", TEAM, female 85, it Some(("DUBU", 95)),
    kle &[("27", UDFOERENDE)], institution false,
    [("Socialrådgiver", 75), ("Familiebehandler", 15), ("Administrativ medarbejder", 10)]);

profile!(ADULT_SERVICES, "adult-services", "Afdelingsleder", "Leder", LEAD, female 80, it Some(("KMD Nexus", 80)),
    kle &[("27", ANSVARLIG)], institution false,
    [("Socialrådgiver", 60), ("Sagsbehandler", 20), ("Koordinator", 10), ("Administrativ medarbejder", 10)]);

profile!(RESIDENTIAL, "residential", "Forstander", "Leder", LEAD, female 70, it Some(("KMD Nexus", 70)),
    kle &[("27", UDFOERENDE)], institution true,
    [("Pædagog", 40), ("Social- og sundhedsassistent", 25), ("Omsorgsmedhjælper", 20), ("Sygeplejerske", 4),
     ("Ergoterapeut", 3), ("Social- og sundhedsassistentelev", 4), ("Pædagogmedhjælper", 4)]);

profile!(ADDICTION, "addiction", "Centerleder", "Leder", LEAD, female 65, it Some(("KMD Nexus", 60)),
    kle &[("27", UDFOERENDE), ("29", UDFOERENDE)], institution true,
    [("Misbrugsbehandler", 40), ("Socialrådgiver", 25), ("Sygeplejerske", 15), ("Psykolog", 15), ("Læge", 5)]);

profile!(DROP_IN, "drop-in", "Leder", "Leder", LEAD, female 60, it None,
    kle &[("27", UDFOERENDE)], institution true,
    [("Pædagog", 40), ("Socialpædagog", 30), ("Omsorgsmedhjælper", 30)]);

/// Whether a job title is a trainee's (its engagement is of type "Elev" and time-limited).
pub(crate) fn is_trainee(title: &str) -> bool {
    title.ends_with("elev")
}
