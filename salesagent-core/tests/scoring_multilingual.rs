//! The default ICP rules read job titles and form messages in English, German, French and
//! Spanish (and survive any other script), and every explanation quotes the words it matched as
//! the lead wrote them.

use proptest::prelude::*;
use salesagent_core::scoring::{DEFAULT_ICP_TOML, IcpInput, IcpRules};

/// The seniority factor of a lead with just this title: (points, reason).
fn title(rules: &IcpRules, t: &str) -> (f64, String) {
    let a = rules.assess(&IcpInput {
        job_title: Some(t.to_owned()),
        ..IcpInput::default()
    });
    let f = a
        .score
        .factors
        .iter()
        .find(|f| f.name == "seniority")
        .expect("a seniority factor")
        .clone();
    (f.points, f.reason)
}

/// The intent factor of a lead with just this message: (points, reason).
fn intent(rules: &IcpRules, m: &str) -> (f64, String) {
    let a = rules.assess(&IcpInput {
        message: Some(m.to_owned()),
        ..IcpInput::default()
    });
    let f = a
        .score
        .factors
        .iter()
        .find(|f| f.name == "intent")
        .expect("an intent factor")
        .clone();
    (f.points, f.reason)
}

fn points_of(rules: &IcpRules, label: &str) -> f64 {
    rules
        .seniority
        .iter()
        .find(|r| r.label == label)
        .map(|r| r.points)
        .unwrap_or_else(|| panic!("no seniority rule {label}"))
}

/// Each title reads as `label`, and the reason quotes `quote` (the matched words as written).
fn check_titles(cases: &[(&str, &str, &str)]) {
    let rules = IcpRules::default();
    for &(t, label, quote) in cases {
        let (points, reason) = title(&rules, t);
        let want = format!("reads as {label} ({quote:?})");
        assert!(reason.contains(&want), "{t:?}: {reason:?} lacks {want:?}");
        assert!(
            (points - points_of(&rules, label)).abs() < f64::EPSILON,
            "{t:?}: {points}"
        );
    }
}

/// Each message signals exactly these (label, quote) pairs, in rule order.
fn check_intents(cases: &[(&str, &[(&str, &str)])]) {
    let rules = IcpRules::default();
    for &(m, want) in cases {
        let (points, reason) = intent(&rules, m);
        let expected: Vec<String> = want
            .iter()
            .map(|(label, quote)| format!("{label} ({quote:?})"))
            .collect();
        assert_eq!(
            reason,
            format!("message signals {}", expected.join(", ")),
            "{m:?}"
        );
        let sum: f64 = want
            .iter()
            .map(|(label, _)| {
                rules
                    .intents
                    .iter()
                    .find(|r| r.label == *label)
                    .map_or(f64::NAN, |r| r.points)
            })
            .sum();
        assert!(
            (points - sum).abs() < f64::EPSILON,
            "{m:?}: {points} != {sum}"
        );
    }
}

#[test]
fn english_titles() {
    check_titles(&[
        ("CEO", "executive", "CEO"),
        ("Chief Revenue Officer", "executive", "Chief"),
        ("Co-Founder & CTO", "executive", "Co-Founder"),
        ("Owner", "executive", "Owner"),
        ("Managing Director DACH", "executive", "Managing Director"),
        ("President", "executive", "President"),
        ("Vice President, Marketing", "vp", "Vice President"),
        ("SVP Engineering", "vp", "SVP"),
        ("Head of Growth", "vp", "Head of"),
        ("Director of IT", "vp", "Director"),
        ("General Manager EMEA", "vp", "General Manager"),
        ("Sales Manager", "manager", "Manager"),
        ("Team Lead Support", "manager", "Lead"),
        ("Senior Software Engineer", "individual", "Engineer"),
        ("Marketing Intern", "student", "Intern"),
    ]);
}

#[test]
fn german_titles() {
    check_titles(&[
        ("Geschäftsführer", "executive", "Geschäftsführer"),
        ("GESCHÄFTSFÜHRERIN", "executive", "GESCHÄFTSFÜHRERIN"),
        ("Geschaeftsfuehrer", "executive", "Geschaeftsfuehrer"),
        (
            "Geschäftsführender Gesellschafter",
            "executive",
            "Geschäftsführender Gesellschafter",
        ),
        ("Vorstand Finanzen", "executive", "Vorstand"),
        ("Gründerin & Inhaberin", "executive", "Gründerin"),
        ("Mitgründer", "executive", "Mitgründer"),
        ("Vizepräsidentin Vertrieb", "vp", "Vizepräsidentin"),
        ("Leiterin Marketing", "vp", "Leiterin"),
        ("Abteilungsleiter Einkauf", "vp", "Abteilungsleiter"),
        ("Bereichsleiterin IT", "vp", "Bereichsleiterin"),
        ("Vertriebsleiter DACH", "vp", "Vertriebsleiter"),
        ("Teamleiter Kundenservice", "manager", "Teamleiter"),
        ("Filialleiterin", "manager", "Filialleiterin"),
        ("Softwareentwicklerin", "individual", "Softwareentwicklerin"),
        ("Werkstudent Marketing", "student", "Werkstudent"),
        ("Praktikantin", "student", "Praktikantin"),
    ]);
}

#[test]
fn french_titles() {
    check_titles(&[
        ("PDG", "executive", "PDG"),
        (
            "Président-directeur général",
            "executive",
            "Président-directeur général",
        ),
        ("Directeur général", "executive", "Directeur général"),
        (
            "Directrice Générale Adjointe",
            "executive",
            "Directrice Générale",
        ),
        ("Fondatrice", "executive", "Fondatrice"),
        ("Co-fondateur et CTO", "executive", "Co-fondateur"),
        ("Gérante", "executive", "Gérante"),
        ("Vice-Présidente Ventes", "vp", "Vice-Présidente"),
        ("Directrice marketing", "vp", "Directrice"),
        ("Directeur commercial", "vp", "Directeur"),
        ("Responsable des achats", "manager", "Responsable"),
        ("Chef de projet", "manager", "Chef de"),
        ("Chef d’équipe", "manager", "Chef d’équipe"),
        ("Ingénieure logiciel", "individual", "Ingénieure"),
        ("Développeur", "individual", "Développeur"),
        ("Stagiaire marketing", "student", "Stagiaire"),
        ("Étudiante", "student", "Étudiante"),
    ]);
}

#[test]
fn spanish_titles() {
    check_titles(&[
        ("Director General", "executive", "Director General"),
        ("Directora Ejecutiva", "executive", "Directora Ejecutiva"),
        ("Consejero Delegado", "executive", "Consejero Delegado"),
        ("Fundadora", "executive", "Fundadora"),
        ("Cofundador y CEO", "executive", "Cofundador"),
        ("Gerente General", "executive", "Gerente General"),
        ("Presidenta", "executive", "Presidenta"),
        ("Dueño", "executive", "Dueño"),
        ("Vicepresidente de Ventas", "vp", "Vicepresidente"),
        ("Directora de Marketing", "vp", "Directora"),
        ("Jefa de Compras", "vp", "Jefa de"),
        ("Jefe de proyecto", "manager", "Jefe de proyecto"),
        ("Gerente de Ventas", "manager", "Gerente"),
        ("Responsable de TI", "manager", "Responsable"),
        ("Ingeniera de software", "individual", "Ingeniera"),
        ("Técnico", "individual", "Técnico"),
        ("Becaria", "student", "Becaria"),
    ]);
}

#[test]
fn titles_in_other_scripts_and_mixes() {
    check_titles(&[
        ("CEO & Founder", "executive", "CEO"),
        ("Founder & CEO", "executive", "Founder"),
        ("创始人 & CEO", "executive", "创始人"),
        ("公司创始人兼CEO", "executive", "创始人"),
        ("CEO・創業者", "executive", "CEO"),
        ("代表取締役社長", "executive", "代表取締役"),
        ("副社長", "vp", "副社長"),
        ("Основатель и CEO", "executive", "Основатель"),
        ("Генеральный директор", "executive", "Генеральный директор"),
        ("Вице-президент по продажам", "vp", "Вице-президент"),
        ("مؤسس & CEO", "executive", "CEO"),
        ("ＣＥＯ", "executive", "ＣＥＯ"),
        ("🚀 Founder 🚀", "executive", "Founder"),
        // Decomposed accents read like composed ones and are quoted whole.
        ("Pre\u{301}sidente", "executive", "Pre\u{301}sidente"),
    ]);
    // Unknown words in any script match nothing and do not panic.
    let rules = IcpRules::default();
    for t in [
        "Διευθύνων Σύμβουλος",
        "🚀🚀🚀",
        "\u{301}\u{302}\u{303}",
        "\u{200f}\u{202e}מנכ\"ל",
        "ﷺ",
        "\u{0}\u{7}",
        "𝔉𝔬𝔲𝔫𝔡𝔢𝔯",
    ] {
        let (points, reason) = title(&rules, t);
        if t.starts_with('𝔉') {
            // Mathematical letters fold to plain ones (compatibility decomposition).
            assert!(reason.contains("reads as executive"), "{t:?}: {reason}");
        } else {
            assert!(points.abs() < f64::EPSILON, "{t:?}: {reason}");
            assert!(
                reason.contains("matches no seniority rule"),
                "{t:?}: {reason}"
            );
        }
    }
}

#[test]
fn near_misses_do_not_read_as_executives() {
    check_titles(&[
        ("Assistant to the CEO", "assistant", "Assistant to"),
        (
            "Executive Assistant to the Managing Director",
            "assistant",
            "Executive Assistant",
        ),
        (
            "Assistentin der Geschäftsführung",
            "assistant",
            "Assistentin",
        ),
        ("Vorstandsassistentin", "assistant", "Vorstandsassistentin"),
        ("Assistante de direction du PDG", "assistant", "Assistante"),
        ("Asistente del Director General", "assistant", "Asistente"),
        // The longer keyword wins where two overlap.
        ("Vice President", "vp", "Vice President"),
        ("Vice-président", "vp", "Vice-président"),
        ("Vizepräsident", "vp", "Vizepräsident"),
    ]);
    let rules = IcpRules::default();
    for t in [
        "MVP Builder",
        "Leitern-Monteur",
        "Chieftain",
        "Ceorl",
        "Presidential Guard",
    ] {
        let (points, reason) = title(&rules, t);
        assert!(points.abs() < f64::EPSILON, "{t:?}: {reason}");
    }
}

#[test]
fn english_intents() {
    check_intents(&[
        ("Could we get a demo?", &[("demo", "demo")]),
        (
            "Please send PRICING asap",
            &[("demo", "PRICING"), ("urgency", "asap")],
        ),
        (
            "We are evaluating tools to replace our CRM",
            &[("evaluation", "evaluating")],
        ),
        (
            "Need a quote before the deadline",
            &[("demo", "quote"), ("urgency", "deadline")],
        ),
        (
            "Attached is my resume for the internship",
            &[("job_seeker", "resume")],
        ),
        (
            "Please remove me from this list",
            &[("unsubscribe", "remove me")],
        ),
    ]);
}

#[test]
fn german_intents() {
    check_intents(&[
        (
            "Bitte schicken Sie uns ein Angebot.",
            &[("demo", "Angebot")],
        ),
        (
            "Wir hätten gern eine Demo, gern zeitnah",
            &[("demo", "Demo"), ("urgency", "zeitnah")],
        ),
        (
            "Was kostet das? Eine Preisliste wäre super",
            &[("demo", "Preisliste")],
        ),
        (
            "Wir möchten unser altes System ablösen",
            &[("evaluation", "ablösen")],
        ),
        (
            "Anbei meine Bewerbung und mein Lebenslauf",
            &[("job_seeker", "Bewerbung")],
        ),
        ("Bitte austragen, danke", &[("unsubscribe", "austragen")]),
        (
            "DRINGEND: Vorführung gewünscht",
            &[("demo", "Vorführung"), ("urgency", "DRINGEND")],
        ),
    ]);
}

#[test]
fn french_intents() {
    check_intents(&[
        ("Pouvez-vous nous envoyer un devis ?", &[("demo", "devis")]),
        (
            "Une démonstration dès que possible",
            &[("demo", "démonstration"), ("urgency", "dès que possible")],
        ),
        ("Quels sont vos tarifs ?", &[("demo", "tarifs")]),
        (
            "Nous voulons remplacer notre outil",
            &[("evaluation", "remplacer")],
        ),
        (
            "Voici ma candidature pour un emploi",
            &[("job_seeker", "candidature")],
        ),
        ("Merci de me désinscrire", &[("unsubscribe", "désinscrire")]),
        (
            "Demo SVP, c'est URGENT",
            &[("demo", "Demo"), ("urgency", "URGENT")],
        ),
    ]);
}

#[test]
fn spanish_intents() {
    check_intents(&[
        (
            "¿Nos pueden enviar un presupuesto?",
            &[("demo", "presupuesto")],
        ),
        (
            "Queremos una demostración lo antes posible",
            &[("demo", "demostración"), ("urgency", "lo antes posible")],
        ),
        ("¿Cuál es el precio por usuario?", &[("demo", "precio")]),
        (
            "Estamos evaluando migrar a otra herramienta",
            &[("evaluation", "evaluando")],
        ),
        ("Les envío mi currículum", &[("job_seeker", "currículum")]),
        (
            "Por favor, darme de baja",
            &[("unsubscribe", "darme de baja")],
        ),
        (
            "Necesitamos una cotización urgente",
            &[("demo", "cotización"), ("urgency", "urgente")],
        ),
    ]);
}

#[test]
fn intent_near_misses() {
    let rules = IcpRules::default();
    for m in [
        "At this stage we are happy with the product.",
        "An dieser Stelle vielen Dank.",
        "La prioridad es baja.",
        "Our industrial customers love it.",
        "Comprehensive, well-priced? Jobless? Nope: kostenlos.",
        "",
    ] {
        let (points, reason) = intent(&rules, m);
        assert!(points.abs() < f64::EPSILON, "{m:?}: {reason}");
        assert_eq!(reason, "no intent signals in the message", "{m:?}");
    }
}

#[test]
fn industries_and_countries_read_in_four_languages() {
    let rules = IcpRules::default();
    for (industry, label) in [
        ("Maschinenbau", "manufacturing"),
        ("Logiciels", "software"),
        ("Logística", "logistics"),
        ("Versicherungen", "financial_services"),
        ("Santé", "healthcare"),
    ] {
        let a = rules.assess(&IcpInput {
            industry: Some(industry.to_owned()),
            ..IcpInput::default()
        });
        assert_eq!(a.segment.industry, label, "{industry}");
        assert!(
            a.score.factors[0]
                .reason
                .contains(&format!("{industry:?})")),
            "{:?}",
            a.score.factors[0].reason
        );
    }
    for (country, points) in [
        ("Deutschland", 10.0),
        ("Österreich", 10.0),
        ("États-Unis", 10.0),
        ("Reino Unido", 10.0),
        ("Países Bajos", 6.0),
        ("Suède", 6.0),
        ("Japan", 0.0),
    ] {
        let a = rules.assess(&IcpInput {
            country: Some(country.to_owned()),
            ..IcpInput::default()
        });
        assert!(
            (a.score.factors[3].points - points).abs() < f64::EPSILON,
            "{country}"
        );
    }
}

#[test]
fn rules_load_from_toml_with_languages_and_compounds() {
    let rules: IcpRules = toml::from_str(
        r#"
base = 0.0
[[seniority]]
label = "buyer"
points = 30.0
keywords = ["procurement"]
[seniority.by_language]
de = ["*einkäufer", "einkaufsleiter*"]
"#,
    )
    .unwrap();
    rules.validate().unwrap();
    // Keys left out keep their defaults.
    assert_eq!(rules.intents, IcpRules::default().intents);
    for (t, quote) in [
        ("Head of Procurement", "Procurement"),
        ("Technischer Einkäufer", "Einkäufer"),
        ("Zentraleinkäuferin", ""),
        ("Einkaufsleiterin", "Einkaufsleiterin"),
        ("Strategischer Chefeinkäufer", "Chefeinkäufer"),
    ] {
        let (points, reason) = title(&rules, t);
        if quote.is_empty() {
            assert!(points.abs() < f64::EPSILON, "{t}: {reason}");
        } else {
            assert!(
                reason.contains(&format!("reads as buyer ({quote:?})")),
                "{t}: {reason}"
            );
        }
    }
    // Unknown keys fail with the key and the position.
    let err = toml::from_str::<IcpRules>(
        "base = 1.0\n[[intents]]\nlabel = \"x\"\npoints = 1.0\nkeyword = [\"a\"]\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("keyword") && err.contains("line 5"), "{err}");
    let err = toml::from_str::<IcpRules>("[tiers]\na = 75\nd = 10\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("`d`") && err.contains("line 3"), "{err}");
    // The shipped text is the default.
    assert_eq!(
        toml::from_str::<IcpRules>(DEFAULT_ICP_TOML).unwrap(),
        IcpRules::default()
    );
}

#[test]
fn rules_round_trip_through_toml() {
    // A settings template can write the rules and read them back unchanged.
    let text = toml::to_string(&IcpRules::default()).unwrap();
    let back: IcpRules = toml::from_str(&text).unwrap();
    assert_eq!(back, IcpRules::default());
    assert!(text.contains("Geschäftsführer") || text.contains("geschäftsführer"));
}

proptest! {
    #[test]
    fn any_title_or_message_scores_without_panicking(
        t in "[a-zA-ZäöüßÄÖÜéèêçñÑ \\-&/·・创始人首席执行官ОсновательиΣσς\u{300}-\u{36f}\u{200d}\u{fe0f}🚀ＡＢＣ]{0,40}",
        m in "\\PC{0,200}",
    ) {
        let rules = IcpRules::default();
        let a = rules.assess(&IcpInput {
            job_title: Some(t.clone()),
            message: Some(m),
            ..IcpInput::default()
        });
        prop_assert!(a.score.score <= 100);
        prop_assert_eq!(a.score.factors.len(), 6);
    }

    #[test]
    fn a_title_keyword_in_any_case_and_company_is_found_and_quoted(
        before in "(|[A-Z][a-z]{2,8} [-/&,] |创始人 & |Основатель и )",
        which in 0usize..6,
        upper in any::<bool>(),
        after in "(| [-/&,] [A-Z][a-z]{2,8}| & 创始人| и основатель)",
    ) {
        let words = ["Geschäftsführerin", "Directrice générale", "Fundadora", "CEO", "PDG", "Gründer"];
        let word = words[which];
        let written = if upper { word.to_uppercase() } else { word.to_owned() };
        let t = format!("{before}{written}{after}");
        let (points, reason) = title(&IcpRules::default(), &t);
        prop_assert!(points > 0.0, "{} -> {}", t, reason);
        prop_assert!(reason.contains("reads as"), "{}", reason);
    }
}
