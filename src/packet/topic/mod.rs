//! Topic names, topic filters and how they match (section 4.7).
//!
//! [`TopicName`] (what a PUBLISH is sent to) and [`TopicFilter`] (what a SUBSCRIBE asks for)
//! can only hold valid values: at least one character, at most 65,535 bytes, no U+0000; no
//! wildcard in a name; in a filter, `+` only as a whole level and `#` only as the whole last
//! level.

#[cfg(feature = "std")]
pub mod router;

use core::fmt;

use crate::packet::scan::{MAX_STR_LEN, has_any};

/// Why a string is not a valid topic name or topic filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TopicError {
    /// Empty (MQTT-4.7.3-1).
    Empty,
    /// Longer than 65,535 bytes (MQTT-4.7.3-3).
    TooLong,
    /// Contains U+0000 (MQTT-4.7.3-2).
    NullCharacter,
    /// A topic name contains `+` or `#` (MQTT-3.3.2-2, MQTT-4.7.1-1).
    WildcardInName,
    /// A filter has `#` other than as the whole last level, or `+` other than as a whole
    /// level (MQTT-4.7.1-2, MQTT-4.7.1-3).
    MisplacedWildcard,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TopicError::Empty => "topic is empty",
            TopicError::TooLong => "topic longer than 65535 bytes",
            TopicError::NullCharacter => "topic contains U+0000",
            TopicError::WildcardInName => "topic name contains a wildcard",
            TopicError::MisplacedWildcard => "wildcard does not occupy a whole level",
        })
    }
}

impl core::error::Error for TopicError {}

/// Checks what topic names and filters share — a valid MQTT string, not empty — and
/// reports whether a wildcard character is present.
#[inline]
fn check_common(s: &str) -> Result<bool, TopicError> {
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(TopicError::Empty);
    }
    if bytes.len() > MAX_STR_LEN {
        return Err(TopicError::TooLong);
    }
    // One pass in the common case: none of the three special bytes.
    if !has_any(bytes, [0, b'+', b'#']) {
        return Ok(false);
    }
    if has_any(bytes, [0]) {
        return Err(TopicError::NullCharacter);
    }
    Ok(true)
}

/// A topic name: where a PUBLISH goes. Contains no wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TopicName<'a>(&'a str);

impl<'a> TopicName<'a> {
    /// Validates `name`.
    #[inline]
    pub fn new(name: &'a str) -> Result<Self, TopicError> {
        if check_common(name)? {
            return Err(TopicError::WildcardInName);
        }
        Ok(TopicName(name))
    }

    /// The name.
    pub const fn as_str(&self) -> &'a str {
        self.0
    }
}

impl fmt::Display for TopicName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A topic filter: what a SUBSCRIBE asks for. May contain wildcards where section 4.7.1
/// allows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TopicFilter<'a>(&'a str);

impl<'a> TopicFilter<'a> {
    /// Validates `filter`.
    pub fn new(filter: &'a str) -> Result<Self, TopicError> {
        if !check_common(filter)? {
            return Ok(TopicFilter(filter));
        }
        // A wildcard must fill its level: `/` (or the start) before it, and `/` (or the end)
        // after `+`, the end after `#`.
        let mut prev = b'/';
        let mut bytes = filter.bytes().peekable();
        while let Some(b) = bytes.next() {
            let next = bytes.peek().copied();
            let misplaced = match b {
                b'+' => prev != b'/' || !matches!(next, None | Some(b'/')),
                b'#' => prev != b'/' || next.is_some(),
                _ => false,
            };
            if misplaced {
                return Err(TopicError::MisplacedWildcard);
            }
            prev = b;
        }
        Ok(TopicFilter(filter))
    }

    /// The filter.
    pub const fn as_str(&self) -> &'a str {
        self.0
    }

    /// True when a message published to `name` matches this filter (section 4.7).
    pub fn matches(&self, name: &TopicName<'_>) -> bool {
        matches(self, name)
    }
}

impl fmt::Display for TopicFilter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// True when a message published to `name` matches `filter` (section 4.7).
///
/// `+` matches exactly one level (which may be empty), `#` matches the parent level and any
/// number of child levels, and a name starting with `$` is not matched by a filter starting
/// with a wildcard (4.7.2). Matching is case-sensitive.
pub fn matches(filter: &TopicFilter<'_>, name: &TopicName<'_>) -> bool {
    matches_str(filter.0, name.0)
}

/// [`matches()`] for strings you validated before (a filter kept as a `String`, say): the same
/// rules, without checking them again. On strings that are not a valid filter and name the
/// answer is unspecified (but there is one: no panic).
pub fn matches_str(filter: &str, name: &str) -> bool {
    if name.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut names = name.split('/');
    for level in filter.split('/') {
        match (level, names.next()) {
            ("#", _) => return true,
            ("+", Some(_)) => {}
            (level, Some(n)) if level == n => {}
            _ => return false,
        }
    }
    names.next().is_none()
}
