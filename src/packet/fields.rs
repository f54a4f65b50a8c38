//! Validated field types: [`QoS`], [`PacketId`], [`MqttStr`] and [`Password`].

use core::fmt;
use core::num::NonZeroU16;

/// A Quality of Service level (4.3). QoS 3 cannot be represented (MQTT-3.3.1-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum QoS {
    /// QoS 0: at most once, fire and forget.
    AtMostOnce = 0,
    /// QoS 1: at least once, acknowledged by PUBACK.
    AtLeastOnce = 1,
    /// QoS 2: exactly once, the PUBREC / PUBREL / PUBCOMP exchange.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for the two-bit value `bits`, or `None` for 3 (or anything larger).
    pub const fn from_bits(bits: u8) -> Option<QoS> {
        match bits {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }

    /// The two-bit wire value.
    pub const fn bits(self) -> u8 {
        self as u8
    }
}

/// A packet identifier: non-zero by construction (MQTT-2.3.1-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PacketId(pub NonZeroU16);

impl PacketId {
    /// The identifier `id`, or `None` for 0.
    pub const fn new(id: u16) -> Option<PacketId> {
        match NonZeroU16::new(id) {
            Some(id) => Some(PacketId(id)),
            None => None,
        }
    }

    /// The identifier as a number (never 0).
    pub const fn get(self) -> u16 {
        self.0.get()
    }
}

impl fmt::Display for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a string cannot be an MQTT UTF-8 encoded string (1.5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StrError {
    /// Longer than 65,535 bytes.
    TooLong,
    /// Contains U+0000 (MQTT-1.5.3-2).
    NullCharacter,
}

impl fmt::Display for StrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrError::TooLong => f.write_str("string longer than 65535 bytes"),
            StrError::NullCharacter => f.write_str("string contains U+0000"),
        }
    }
}

impl core::error::Error for StrError {}

/// Checks the rules of 1.5.3 that `&str` does not already guarantee.
pub(crate) const fn check_str(s: &str) -> Result<(), StrError> {
    let bytes = s.as_bytes();
    if bytes.len() > crate::packet::scan::MAX_STR_LEN {
        return Err(StrError::TooLong);
    }
    if crate::packet::scan::has_any(bytes, [0]) {
        return Err(StrError::NullCharacter);
    }
    Ok(())
}

/// A UTF-8 encoded string as MQTT defines it (1.5.3): at most 65,535 bytes, no U+0000.
/// Rust's `str` already excludes ill-formed UTF-8 and surrogates (MQTT-1.5.3-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MqttStr<'a>(&'a str);

impl<'a> MqttStr<'a> {
    /// Validates `s`.
    pub const fn new(s: &'a str) -> Result<Self, StrError> {
        match check_str(s) {
            Ok(()) => Ok(MqttStr(s)),
            Err(e) => Err(e),
        }
    }

    /// For strings already validated by the decoder.
    pub(crate) const fn new_unchecked(s: &'a str) -> Self {
        MqttStr(s)
    }

    /// The string.
    pub const fn as_str(&self) -> &'a str {
        self.0
    }

    /// Length in bytes.
    pub const fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty string.
    pub const fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for MqttStr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A CONNECT password: binary data of at most 65,535 bytes (3.1.3.5).
/// Its `Debug` output never shows the bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Password<'a>(&'a [u8]);

impl<'a> Password<'a> {
    /// The password `bytes`, or `None` when longer than 65,535 bytes.
    pub const fn new(bytes: &'a [u8]) -> Option<Self> {
        if bytes.len() > u16::MAX as usize {
            None
        } else {
            Some(Password(bytes))
        }
    }

    /// The password's bytes.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.0
    }
}

impl fmt::Debug for Password<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Password<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Password(<redacted>)");
    }
}
