use crate::credential::{ID_CHARS, SECRET_CHARS, hash, issue, matches, parse};
use crate::secret::Secret;

#[test]
fn issued_strings_parse_back_and_match() {
    let issued = issue().unwrap();
    let text = issued.full.expose().to_string();
    assert_eq!(text.len(), ID_CHARS + 1 + SECRET_CHARS);
    assert!(text.starts_with(&format!("{}-", issued.id)));
    assert!(
        text.chars()
            .all(|c| c == '-' || "0123456789abcdefghjkmnpqrstvwxyz".contains(c)),
        "no look-alikes: {text}"
    );
    let (id, secret) = parse(&issued.full).unwrap();
    assert_eq!(id, issued.id);
    assert!(matches(&secret, &issued.hash));
    assert_eq!(issued.hash.len(), 32, "SHA-256");
    assert!(format!("{issued:?}").contains(&issued.id));
    assert!(!format!("{issued:?}").contains(secret.expose()));
}

#[test]
fn two_codes_differ() {
    let a = issue().unwrap();
    let b = issue().unwrap();
    assert_ne!(a.id, b.id);
    assert_ne!(a.full, b.full);
}

#[test]
fn parsing_forgives_case_and_look_alikes() {
    let issued = issue().unwrap();
    let upper = Secret::new(format!("  {}\n", issued.full.expose().to_uppercase()));
    let (_, secret) = parse(&upper).unwrap();
    assert!(matches(&secret, &issued.hash));
    let (_, s) = parse(&Secret::new(format!(
        "0000000o-{}",
        "l".repeat(SECRET_CHARS)
    )))
    .unwrap();
    assert_eq!(s.expose(), "1".repeat(SECRET_CHARS));
}

#[test]
fn garbage_is_refused() {
    let good = issue().unwrap().full.expose().to_string();
    for bad in [
        String::new(),
        "x".into(),
        good[..good.len() - 1].to_string(),
        format!("{good}x"),
        good.replace('-', "_"),
        format!("{}u", &good[..good.len() - 1]),
        "\0".repeat(ID_CHARS + 1 + SECRET_CHARS),
        "é".repeat(20),
    ] {
        assert!(parse(&Secret::new(bad.clone())).is_none(), "{bad:?}");
    }
    let issued = issue().unwrap();
    let (_, secret) = parse(&issued.full).unwrap();
    assert!(!matches(&secret, &hash(&Secret::new("other"))));
    assert!(!matches(&secret, &[]));
}
