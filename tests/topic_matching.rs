//! Topic filter validation and matching (section 4.7), including every example the
//! specification gives.

use umqtt::topic::{TopicError, TopicFilter, TopicName, matches};

fn m(filter: &str, name: &str) -> bool {
    let f = TopicFilter::new(filter).unwrap_or_else(|e| panic!("filter {filter:?}: {e}"));
    let n = TopicName::new(name).unwrap_or_else(|e| panic!("name {name:?}: {e}"));
    assert_eq!(f.matches(&n), matches(&f, &n));
    matches(&f, &n)
}

#[test]
fn spec_4_7_1_2_multi_level_wildcard_examples() {
    // "sport/tennis/player1/#" matches these three.
    assert!(m("sport/tennis/player1/#", "sport/tennis/player1"));
    assert!(m("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
    assert!(m(
        "sport/tennis/player1/#",
        "sport/tennis/player1/score/wimbledon"
    ));
    // "sport/#" also matches the singular "sport".
    assert!(m("sport/#", "sport"));
    // "#" is valid and matches everything.
    assert!(m("#", "sport/tennis"));
    assert!(m("#", "/"));
    // "sport/tennis#" and "sport/tennis/#/ranking" are not valid (MQTT-4.7.1-2).
    assert_eq!(
        TopicFilter::new("sport/tennis#"),
        Err(TopicError::MisplacedWildcard)
    );
    assert_eq!(
        TopicFilter::new("sport/tennis/#/ranking"),
        Err(TopicError::MisplacedWildcard)
    );
}

#[test]
fn spec_4_7_1_3_single_level_wildcard_examples() {
    assert!(m("sport/tennis/+", "sport/tennis/player1"));
    assert!(m("sport/tennis/+", "sport/tennis/player2"));
    assert!(!m("sport/tennis/+", "sport/tennis/player1/ranking"));
    // "sport/+" does not match "sport" but does match "sport/".
    assert!(!m("sport/+", "sport"));
    assert!(m("sport/+", "sport/"));
    // "+", "+/tennis/#" and "sport/+/player1" are valid; "sport+" is not (MQTT-4.7.1-3).
    for f in ["+", "+/tennis/#", "sport/+/player1"] {
        assert!(TopicFilter::new(f).is_ok(), "{f}");
    }
    assert_eq!(
        TopicFilter::new("sport+"),
        Err(TopicError::MisplacedWildcard)
    );
    assert!(m("sport/+/player1", "sport/tennis/player1"));
    // "+/+" and "/+" match "/finance"? "/+" does, "+" does not; "+/+" matches "/finance".
    assert!(m("/+", "/finance"));
    assert!(m("+/+", "/finance"));
    assert!(!m("+", "/finance"));
}

#[test]
fn spec_4_7_2_dollar_topics_are_not_matched_by_leading_wildcards() {
    assert!(!m("#", "$SYS/broker/clients"));
    assert!(!m("+/monitor/Clients", "$SYS/monitor/Clients"));
    assert!(m("$SYS/#", "$SYS/monitor/Clients"));
    assert!(m("$SYS/monitor/+", "$SYS/monitor/Clients"));
    // Only the first character counts.
    assert!(m("a/#", "a/$b"));
    assert!(m("+/$b", "a/$b"));
}

#[test]
fn spec_4_7_3_empty_levels_and_case() {
    assert!(m("/", "/"));
    assert!(m("a//b", "a//b"));
    assert!(m("a/+/b", "a//b"));
    assert!(!m("a/b", "a//b"));
    assert!(m("+/+", "/"));
    assert!(m("+", "a"));
    assert!(!m("+", "/"));
    assert!(m("/#", "/"));
    assert!(m("#", "a"));
    // Case-sensitive.
    assert!(!m("ACCOUNTS", "Accounts"));
    // Spaces are allowed.
    assert!(m("Accounts payable", "Accounts payable"));
}

#[test]
fn exact_and_prefix_mismatches() {
    assert!(m("a/b/c", "a/b/c"));
    assert!(!m("a/b", "a/b/c"));
    assert!(!m("a/b/c", "a/b"));
    assert!(!m("a/+", "a"));
    assert!(m("a/+/#", "a/b"));
    assert!(!m("a/+/#", "a"));
}
