use sluice_governance::{MoneyError, Nanodollars};

#[test]
fn displays_usd_with_six_decimals() {
    assert_eq!(Nanodollars(12_345_678_000).to_string(), "$12.345678");
    assert_eq!(Nanodollars(0).to_string(), "$0.000000");
    assert_eq!(Nanodollars(150).to_string(), "$0.000000");
    assert_eq!(Nanodollars(500).to_string(), "$0.000001");
    assert_eq!(Nanodollars(-1_500_000_000).to_string(), "-$1.500000");
    assert_eq!(Nanodollars(i64::MIN).to_string(), "-$9223372036.854776");
}

#[test]
fn alternate_display_shows_every_nanodollar() {
    assert_eq!(format!("{:#}", Nanodollars(150)), "$0.000000150");
    assert_eq!(
        format!("{:#}", Nanodollars(12_345_678_912)),
        "$12.345678912"
    );
}

#[test]
fn parses_exact_decimals() {
    assert_eq!("12.345678".parse(), Ok(Nanodollars(12_345_678_000)));
    assert_eq!("$12.5".parse(), Ok(Nanodollars(12_500_000_000)));
    assert_eq!(" 3 ".parse(), Ok(Nanodollars(3_000_000_000)));
    assert_eq!(".5".parse(), Ok(Nanodollars(500_000_000)));
    assert_eq!("-$0.000000001".parse(), Ok(Nanodollars(-1)));
    assert_eq!("0.000000150".parse(), Ok(Nanodollars(150)));
}

#[test]
fn display_round_trips_through_parse() {
    for n in [0, 1, 999, 1_000, 123_456_789_000, -42_000_000_000] {
        let shown = format!("{:#}", Nanodollars(n));
        assert_eq!(shown.parse(), Ok(Nanodollars(n)), "{shown}");
    }
}

#[test]
fn rejects_bad_amounts() {
    for bad in ["", "$", "abc", "1.2.3", "1e3", "--1", "1,5", "$-1"] {
        assert!(
            matches!(bad.parse::<Nanodollars>(), Err(MoneyError::Syntax(_))),
            "{bad}"
        );
    }
    assert!(matches!(
        "0.0000000001".parse::<Nanodollars>(),
        Err(MoneyError::TooPrecise(_))
    ));
    assert!(matches!(
        "99999999999".parse::<Nanodollars>(),
        Err(MoneyError::OutOfRange(_))
    ));
}

#[test]
fn from_usd_rounds_to_nearest() {
    assert_eq!(Nanodollars::from_usd(0.15e-6), Nanodollars(150));
    assert_eq!(
        Nanodollars::from_usd(1.0000000004),
        Nanodollars(1_000_000_000)
    );
    assert_eq!(
        Nanodollars::from_usd(1.0000000006),
        Nanodollars(1_000_000_001)
    );
    assert_eq!(Nanodollars::from_usd(-2.5), Nanodollars(-2_500_000_000));
    assert_eq!(Nanodollars::from_usd(f64::NAN), Nanodollars::ZERO);
    assert_eq!(Nanodollars::from_usd(f64::INFINITY), Nanodollars::MAX);
    assert_eq!(Nanodollars::from_usd(1e30), Nanodollars::MAX);
}

#[test]
fn adds_saturating() {
    assert_eq!(Nanodollars::MAX + Nanodollars(1), Nanodollars::MAX);
    assert_eq!(
        Nanodollars(i64::MIN).saturating_sub(Nanodollars(1)),
        Nanodollars(i64::MIN)
    );
    let total: Nanodollars = [Nanodollars(1), Nanodollars(2), Nanodollars::MAX]
        .into_iter()
        .sum();
    assert_eq!(total, Nanodollars::MAX);
    assert_eq!(Nanodollars(150) + Nanodollars(850), Nanodollars(1_000));
}

#[test]
fn deserializes_from_a_number_of_usd() {
    #[derive(serde::Deserialize)]
    struct Budget {
        limit: Nanodollars,
    }
    let b: Budget = serde_json::from_str(r#"{"limit": 12.5}"#).unwrap();
    assert_eq!(b.limit, Nanodollars(12_500_000_000));
    let b: Budget = serde_json::from_str(r#"{"limit": 100}"#).unwrap();
    assert_eq!(b.limit, Nanodollars(100_000_000_000));
    let b: Budget = serde_json::from_str(r#"{"limit": "$0.000000150"}"#).unwrap();
    assert_eq!(b.limit, Nanodollars(150));
    let b: Budget = serde_saphyr::from_str("limit: 0.25\n").unwrap();
    assert_eq!(b.limit, Nanodollars(250_000_000));
    assert!(serde_json::from_str::<Budget>(r#"{"limit": 1e300}"#).is_err());
    assert!(serde_json::from_str::<Budget>(r#"{"limit": true}"#).is_err());
}
