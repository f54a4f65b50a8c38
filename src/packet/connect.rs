//! CONNECT (3.1) and CONNACK (3.2).

use core::fmt;

use super::cursor::{Reader, Writer};
use super::{DecodeError, EncodeError, MqttStr, Password, QoS};
use crate::topic::TopicName;

/// The protocol a CONNECT names (3.1.2.1, 3.1.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Protocol {
    /// MQTT 3.1.1: name "MQTT", level 4.
    #[default]
    V311,
    /// MQTT 3.1: name "MQIsdp", level 3, accepted from older peers.
    V31,
}

impl Protocol {
    const fn name(self) -> &'static [u8] {
        match self {
            Protocol::V311 => b"MQTT",
            Protocol::V31 => b"MQIsdp",
        }
    }

    const fn level(self) -> u8 {
        match self {
            Protocol::V311 => 4,
            Protocol::V31 => 3,
        }
    }
}

/// The will message a server publishes if the connection drops without DISCONNECT (3.1.2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Will<'a> {
    /// Where the will is published.
    pub topic: TopicName<'a>,
    /// The will message: binary, at most 65,535 bytes.
    pub payload: &'a [u8],
    /// The QoS it is published at.
    pub qos: QoS,
    /// Whether it is published as a retained message.
    pub retain: bool,
}

/// A user name with an optional password. A password cannot exist without a user name
/// (MQTT-3.1.2-22).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Login<'a> {
    /// The user name.
    pub username: MqttStr<'a>,
    /// The password, if any; never shown by `Debug`.
    pub password: Option<Password<'a>>,
}

/// A CONNECT packet (3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Connect<'a> {
    /// Protocol name and level.
    pub protocol: Protocol,
    /// Keep-alive interval in seconds; 0 turns keep-alive off.
    pub keep_alive: u16,
    /// Start a new session (true) or resume the stored one (false).
    pub clean_session: bool,
    /// The client identifier; may be empty only with `clean_session` (MQTT-3.1.3-7, which
    /// the client's options enforce; the codec carries what it is given so a server can
    /// answer with CONNACK 0x02).
    pub client_id: MqttStr<'a>,
    /// The will message, if any.
    pub will: Option<Will<'a>>,
    /// User name and password, if any.
    pub login: Option<Login<'a>>,
}

const FLAG_RESERVED: u8 = 0x01;
const FLAG_CLEAN_SESSION: u8 = 0x02;
const FLAG_WILL: u8 = 0x04;
const FLAG_WILL_RETAIN: u8 = 0x20;
const FLAG_PASSWORD: u8 = 0x40;
const FLAG_USERNAME: u8 = 0x80;
/// Where the will QoS sits in the connect flags.
const WILL_QOS_SHIFT: u8 = 3;
/// CONNACK's acknowledge flags: bit 0 is session_present, the rest reserved (3.2.2.1).
const CONNACK_SESSION_PRESENT: u8 = 0x01;

impl<'a> Connect<'a> {
    pub(crate) fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let name = r.binary()?;
        let level = r.u8()?;
        let protocol = match name {
            b"MQTT" => Protocol::V311,
            b"MQIsdp" => Protocol::V31,
            _ => return Err(DecodeError::InvalidProtocolName),
        };
        if level != protocol.level() {
            return Err(DecodeError::UnsupportedProtocolLevel(level));
        }
        let flags = r.u8()?;
        if flags & FLAG_RESERVED != 0 {
            return Err(DecodeError::ConnectReservedFlag);
        }
        let will_qos =
            QoS::from_bits((flags >> WILL_QOS_SHIFT) & 0x03).ok_or(DecodeError::InvalidQos)?;
        let will_retain = flags & FLAG_WILL_RETAIN != 0;
        let has_will = flags & FLAG_WILL != 0;
        if !has_will && (will_qos != QoS::AtMostOnce || will_retain) {
            return Err(DecodeError::WillFlagsWithoutWill);
        }
        let has_username = flags & FLAG_USERNAME != 0;
        let has_password = flags & FLAG_PASSWORD != 0;
        if has_password && !has_username {
            return Err(DecodeError::PasswordWithoutUsername);
        }
        let keep_alive = r.u16()?;
        let client_id = MqttStr::new_unchecked(r.str()?);
        let will = if has_will {
            let topic = r.topic_name()?;
            let payload = r.binary()?;
            Some(Will {
                topic,
                payload,
                qos: will_qos,
                retain: will_retain,
            })
        } else {
            None
        };
        let login = if has_username {
            let username = MqttStr::new_unchecked(r.str()?);
            // A decoded field is at most 65,535 bytes, so `Password::new` always succeeds.
            let password = if has_password {
                Password::new(r.binary()?)
            } else {
                None
            };
            Some(Login { username, password })
        } else {
            None
        };
        Ok(Connect {
            protocol,
            keep_alive,
            clean_session: flags & FLAG_CLEAN_SESSION != 0,
            client_id,
            will,
            login,
        })
    }

    pub(crate) fn body_len(&self) -> usize {
        let mut len = 2 + self.protocol.name().len() + 1 + 1 + 2 + 2 + self.client_id.len();
        if let Some(will) = &self.will {
            len += 2 + will.topic.as_str().len() + 2;
            len = len.saturating_add(will.payload.len());
        }
        if let Some(login) = &self.login {
            len += 2 + login.username.len();
            if let Some(password) = &login.password {
                len += 2 + password.as_bytes().len();
            }
        }
        len
    }

    fn flags(&self) -> u8 {
        let mut flags = 0;
        if self.clean_session {
            flags |= FLAG_CLEAN_SESSION;
        }
        if let Some(will) = &self.will {
            flags |= FLAG_WILL | (will.qos.bits() << WILL_QOS_SHIFT);
            if will.retain {
                flags |= FLAG_WILL_RETAIN;
            }
        }
        if let Some(login) = &self.login {
            flags |= FLAG_USERNAME;
            if login.password.is_some() {
                flags |= FLAG_PASSWORD;
            }
        }
        flags
    }

    pub(crate) fn encode_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.binary(self.protocol.name())?;
        w.u8(self.protocol.level())?;
        w.u8(self.flags())?;
        w.u16(self.keep_alive)?;
        // Field order: client id, will topic, will message, user name, password (MQTT-3.1.3-1).
        w.binary(self.client_id.as_str().as_bytes())?;
        if let Some(will) = &self.will {
            w.binary(will.topic.as_str().as_bytes())?;
            w.binary(will.payload)?;
        }
        if let Some(login) = &self.login {
            w.binary(login.username.as_str().as_bytes())?;
            if let Some(password) = &login.password {
                w.binary(password.as_bytes())?;
            }
        }
        Ok(())
    }
}

/// The CONNACK return code (3.2.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConnectReturnCode {
    /// 0: connection accepted.
    Accepted = 0,
    /// 1: the server does not support the requested protocol level.
    UnacceptableProtocolVersion = 1,
    /// 2: the client identifier is correct UTF-8 but not allowed by the server.
    IdentifierRejected = 2,
    /// 3: the MQTT service is unavailable.
    ServerUnavailable = 3,
    /// 4: the user name or password is malformed or wrong.
    BadUsernameOrPassword = 4,
    /// 5: the client is not authorized to connect.
    NotAuthorized = 5,
}

impl ConnectReturnCode {
    /// The code for `byte`, or `None` for the reserved values 6–255.
    pub const fn from_u8(byte: u8) -> Option<Self> {
        use ConnectReturnCode::*;
        Some(match byte {
            0 => Accepted,
            1 => UnacceptableProtocolVersion,
            2 => IdentifierRejected,
            3 => ServerUnavailable,
            4 => BadUsernameOrPassword,
            5 => NotAuthorized,
            _ => return None,
        })
    }
}

impl fmt::Display for ConnectReturnCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConnectReturnCode::Accepted => "connection accepted",
            ConnectReturnCode::UnacceptableProtocolVersion => "unacceptable protocol version",
            ConnectReturnCode::IdentifierRejected => "client identifier rejected",
            ConnectReturnCode::ServerUnavailable => "server unavailable",
            ConnectReturnCode::BadUsernameOrPassword => "bad user name or password",
            ConnectReturnCode::NotAuthorized => "not authorized",
        })
    }
}

/// A CONNACK packet (3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Connack {
    /// Whether the server resumed a stored session (3.2.2.2).
    pub session_present: bool,
    /// Accepted, or why not.
    pub code: ConnectReturnCode,
}

impl Connack {
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let flags = r.u8()?;
        if flags & !CONNACK_SESSION_PRESENT != 0 {
            return Err(DecodeError::InvalidConnackFlags(flags));
        }
        let code = r.u8()?;
        let code =
            ConnectReturnCode::from_u8(code).ok_or(DecodeError::InvalidConnectReturnCode(code))?;
        Ok(Connack {
            session_present: flags & CONNACK_SESSION_PRESENT != 0,
            code,
        })
    }

    pub(crate) fn encode_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.u8(u8::from(self.session_present))?;
        w.u8(self.code as u8)
    }
}
