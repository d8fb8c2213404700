//! The seam between a local signer and a card: what the card agent asks of
//! any card, soft or real. Card I/O (PC/SC) lives with the implementations
//! outside this crate; the soft card implements it here.

use crate::cert::Certificate;
use crate::softcard::SoftCard;

/// Why a card could not answer. Messages are for the person at the desk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    #[error("no card reader is connected")]
    NoReader,
    #[error("no card is in the reader")]
    NoCard,
    #[error("the card was removed")]
    CardRemoved,
    #[error("wrong PIN{}", retries_left.map(|n| format!(" ({n} tries left)")).unwrap_or_default())]
    WrongPin { retries_left: Option<u8> },
    #[error("the PIN is blocked")]
    PinBlocked,
    #[error("the card cannot do this: {0}")]
    Unsupported(String),
    #[error("card error: {0}")]
    Io(String),
}

impl CardError {
    /// The message in Chinese, as the E-Port client words such failures.
    pub fn message_zh(&self) -> String {
        match self {
            CardError::NoReader => "未检测到读卡器，请连接读卡器".into(),
            CardError::NoCard => "未检测到卡介质，请插入卡介质".into(),
            CardError::CardRemoved => "卡介质已被拔出，请重新插入后重试".into(),
            CardError::WrongPin { retries_left: Some(n) } => format!("卡介质密码错误，还可重试 {n} 次"),
            CardError::WrongPin { retries_left: None } => "卡介质密码错误".into(),
            CardError::PinBlocked => "卡介质密码已锁定，请联系发卡机构解锁".into(),
            CardError::Unsupported(what) => format!("卡介质不支持该操作：{what}"),
            CardError::Io(what) => format!("读卡失败：{what}"),
        }
    }
}

/// A card as the local signer uses it. Signatures are returned as the card
/// makes them for its algorithm: raw `r‖s` (64 bytes) for SM2 and ECDSA
/// P-256, PKCS#1 v1.5 for RSA; the data is hashed by the card's algorithm
/// (SM3 with the SM2 user id, SHA-256, SHA-1).
pub trait Card: Send {
    fn card_id(&mut self) -> Result<String, CardError>;
    fn certificate(&mut self) -> Result<Certificate, CardError>;
    fn verify_pin(&mut self, pin: &str) -> Result<(), CardError>;
    /// Verifies `pin`, then signs `data`.
    fn sign(&mut self, pin: &str, data: &[u8]) -> Result<Vec<u8>, CardError>;
}

impl Card for SoftCard {
    fn card_id(&mut self) -> Result<String, CardError> {
        Ok(SoftCard::card_id(self).to_owned())
    }

    fn certificate(&mut self) -> Result<Certificate, CardError> {
        Ok(SoftCard::certificate(self).clone())
    }

    fn verify_pin(&mut self, pin: &str) -> Result<(), CardError> {
        SoftCard::verify_pin(self, pin).map_err(|_| CardError::WrongPin { retries_left: None })
    }

    fn sign(&mut self, pin: &str, data: &[u8]) -> Result<Vec<u8>, CardError> {
        Card::verify_pin(self, pin)?;
        SoftCard::sign(self, data).map(|s| s.to_vec()).map_err(|e| CardError::Io(e.to_string()))
    }
}
