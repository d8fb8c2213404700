//! The local signer's WebSocket protocol, as the China E-Port client speaks
//! it on `ws://127.0.0.1:61232`: the message types and [`handle`], which
//! answers one request from a [`Card`]. No I/O here: the card agent owns the
//! socket, this module only turns a request into a reply.
//!
//! A request is a JSON text message
//!
//! ```json
//! {"_method": "cus-sec_SpcSignDataAsPEM", "_id": 7, "args": {"inData": "…", "passwd": "88888888"}}
//! ```
//!
//! and its reply carries the same `_method` and `_id`:
//!
//! ```json
//! {"_method": "cus-sec_SpcSignDataAsPEM", "_id": 7, "_args": {"Result": true, "Data": ["<base64 r‖s>"], "Error": []}}
//! ```
//!
//! On failure `Result` is `false`, `Data` is empty and `Error` holds the
//! message in Chinese (for card failures, [`CardError::message_zh`]).
//!
//! How the methods are read (see `reference-data/eport_client_ws_methods.csv`):
//!
//! | method | args | `Data` |
//! |---|---|---|
//! | [`GET_CARD_ID`] | – | `[card id]` |
//! | [`GET_CERT_NO`] | – | `[certificate number]` (the X.509 serial in hex, as [`Certificate::cert_no`]) |
//! | [`GET_SIGN_CERT_AS_PEM`] | – | `[base64 of the certificate DER]`, no PEM armour |
//! | [`VERIFY_PIN`], [`VERIFY_PIN_ALL`] | `passwd` | `[]` |
//! | [`SIGN_DATA_AS_PEM`] | `inData`, `passwd` | `[base64 of the raw signature]` (SM2: 64-byte `r‖s`) |
//! | [`SIGN_PEM_DATA_AS_PEM`] | `inData` (base64), `passwd` | as [`SIGN_DATA_AS_PEM`] |
//! | [`SIGN_RANDOM`] | `random`, `passwd` | as [`SIGN_DATA_AS_PEM`] |
//! | [`INIT_ENV_EX`], [`CLEAR_ENV`] | – | `[]` (the agent opens the card per operation) |
//! | [`ENCODE_PEM`] | `inData` | `[base64 of inData's UTF-8]` |
//! | [`DECODE_PEM_AS_STRING`] | `inData` (base64) | `[the decoded text]` |
//!
//! `inData` of `SpcSignDataAsPEM` is the text to sign, signed as its UTF-8
//! bytes: the client uses it on the XML `SignedInfo` text, and the protocol
//! has a separate method, `SpcSignPemDataAsPem` ("对PEM编码原文签名"), for an
//! original given in base64. A certflow document signature is therefore
//! `SpcSignDataAsPEM` over the canonical document text
//! ([`crate::canonical`]), which is UTF-8. `random` of `SpcSignRandom` (the
//! login challenge) is likewise signed as the UTF-8 bytes of the string.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::card::{Card, CardError};
#[cfg(doc)]
use crate::cert::Certificate;
use crate::encoding;

/// `cus-sec_SpcInitEnvEx`: open the card.
pub const INIT_ENV_EX: &str = "cus-sec_SpcInitEnvEx";
/// `cus-sec_SpcClearEnv`: close the card.
pub const CLEAR_ENV: &str = "cus-sec_SpcClearEnv";
/// `cus-sec_SpcGetCardID`: the card number.
pub const GET_CARD_ID: &str = "cus-sec_SpcGetCardID";
/// `cus-sec_SpcGetCertNo`: the certificate number.
pub const GET_CERT_NO: &str = "cus-sec_SpcGetCertNo";
/// `cus-sec_SpcGetSignCertAsPEM`: the signing certificate, base64 DER.
pub const GET_SIGN_CERT_AS_PEM: &str = "cus-sec_SpcGetSignCertAsPEM";
/// `cus-sec_SpcVerifyPIN` (`passwd`): check the PIN.
pub const VERIFY_PIN: &str = "cus-sec_SpcVerifyPIN";
/// `cus-sec_SpcVerifyPINAll` (`passwd`): check the PIN, opening and closing
/// the card around it.
pub const VERIFY_PIN_ALL: &str = "cus-sec_SpcVerifyPINAll";
/// `cus-sec_SpcSignDataAsPEM` (`inData`, `passwd`): sign text, base64 result.
pub const SIGN_DATA_AS_PEM: &str = "cus-sec_SpcSignDataAsPEM";
/// `cus-sec_SpcSignPemDataAsPem` (`inData` in base64, `passwd`): sign the
/// decoded bytes, base64 result.
pub const SIGN_PEM_DATA_AS_PEM: &str = "cus-sec_SpcSignPemDataAsPem";
/// `cus-sec_SpcSignRandom` (`random`, `passwd`): sign a login challenge.
pub const SIGN_RANDOM: &str = "cus-sec_SpcSignRandom";
/// `cus-sec_SpcEncodePEM` (`inData`): base64 of the text.
pub const ENCODE_PEM: &str = "cus-sec_SpcEncodePEM";
/// `cus-sec_SpcDecodePEMAsString` (`inData`): the text a base64 value holds.
pub const DECODE_PEM_AS_STRING: &str = "cus-sec_SpcDecodePEMAsString";

/// Every method [`handle`] answers.
pub const METHODS: &[&str] = &[
    INIT_ENV_EX,
    CLEAR_ENV,
    GET_CARD_ID,
    GET_CERT_NO,
    GET_SIGN_CERT_AS_PEM,
    VERIFY_PIN,
    VERIFY_PIN_ALL,
    SIGN_DATA_AS_PEM,
    SIGN_PEM_DATA_AS_PEM,
    SIGN_RANDOM,
    ENCODE_PEM,
    DECODE_PEM_AS_STRING,
];

/// A request from the page: `{"_method": M, "_id": N, "args": {...}}`.
///
/// `_id` is kept as whatever JSON value the page sent (a number in practice)
/// so the reply can echo it unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    #[serde(rename = "_method")]
    pub method: String,
    #[serde(rename = "_id", default)]
    pub id: Value,
    #[serde(default, deserialize_with = "args_or_empty")]
    pub args: Map<String, Value>,
}

impl Request {
    /// A request with no arguments.
    pub fn new(method: impl Into<String>, id: impl Into<Value>) -> Self {
        Request { method: method.into(), id: id.into(), args: Map::new() }
    }

    /// With one more argument.
    pub fn arg(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.args.insert(name.to_owned(), value.into());
        self
    }

    /// A string argument, or an error reply's message when it is missing or
    /// not a string.
    fn string_arg(&self, name: &str) -> Result<&str, String> {
        match self.args.get(name) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(format!("参数 {name} 必须是字符串")),
            None => Err(format!("缺少参数 {name}")),
        }
    }
}

/// `args` may be absent, `null` or an object.
fn args_or_empty<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Map<String, Value>, D::Error> {
    Ok(Option::<Map<String, Value>>::deserialize(deserializer)?.unwrap_or_default())
}

/// The answer: `{"_method": M, "_id": N, "_args": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    #[serde(rename = "_method")]
    pub method: String,
    #[serde(rename = "_id")]
    pub id: Value,
    #[serde(rename = "_args")]
    pub args: ReplyArgs,
}

/// The body of a reply: `{"Result": bool, "Data": [...], "Error": [...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyArgs {
    #[serde(rename = "Result")]
    pub result: bool,
    #[serde(rename = "Data", default)]
    pub data: Vec<Value>,
    #[serde(rename = "Error", default)]
    pub error: Vec<String>,
}

impl Reply {
    /// A successful reply to `request` carrying `data`.
    pub fn ok(request: &Request, data: Vec<Value>) -> Self {
        Reply {
            method: request.method.clone(),
            id: request.id.clone(),
            args: ReplyArgs { result: true, data, error: Vec::new() },
        }
    }

    /// A failed reply to `request` with `message`.
    pub fn error(request: &Request, message: impl Into<String>) -> Self {
        Self::failure(request.method.clone(), request.id.clone(), message)
    }

    /// A failed reply to a request that may not have been understood.
    pub fn failure(method: impl Into<String>, id: Value, message: impl Into<String>) -> Self {
        Reply {
            method: method.into(),
            id,
            args: ReplyArgs { result: false, data: Vec::new(), error: vec![message.into()] },
        }
    }

    /// Whether the call succeeded (`Result`).
    pub fn is_ok(&self) -> bool {
        self.args.result
    }

    /// The first `Data` value as a string, if any.
    pub fn first_data(&self) -> Option<&str> {
        self.args.data.first().and_then(Value::as_str)
    }
}

/// Answers one request from `card`.
///
/// Unknown methods get `Result: false` with `Error: ["不支持的方法：M"]`;
/// card failures get `Result: false` with `Error: [message_zh]`; missing or
/// malformed arguments get `Result: false` with a message naming the argument.
pub fn handle(card: &mut dyn Card, request: &Request) -> Reply {
    match dispatch(card, request) {
        Ok(data) => Reply::ok(request, data),
        Err(Failure::Card(e)) => Reply::error(request, e.message_zh()),
        Err(Failure::Request(message)) => Reply::error(request, message),
    }
}

/// Answers one request given as JSON text. Text that is not a request gets a
/// failed reply echoing whatever `_method` and `_id` could be read from it.
pub fn handle_text(card: &mut dyn Card, text: &str) -> Reply {
    match serde_json::from_str::<Request>(text) {
        Ok(request) => handle(card, &request),
        Err(e) => {
            let loose: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            let method = loose.get("_method").and_then(Value::as_str).unwrap_or_default().to_owned();
            let id = loose.get("_id").cloned().unwrap_or(Value::Null);
            Reply::failure(method, id, format!("请求格式错误：{e}"))
        }
    }
}

enum Failure {
    Card(CardError),
    Request(String),
}

impl From<CardError> for Failure {
    fn from(e: CardError) -> Self {
        Failure::Card(e)
    }
}

fn dispatch(card: &mut dyn Card, request: &Request) -> Result<Vec<Value>, Failure> {
    let arg = |name: &str| request.string_arg(name).map_err(Failure::Request);
    let text = |s: String| vec![Value::String(s)];
    match request.method.as_str() {
        INIT_ENV_EX | CLEAR_ENV => Ok(Vec::new()),
        GET_CARD_ID => Ok(text(card.card_id()?)),
        GET_CERT_NO => Ok(text(card.certificate()?.cert_no())),
        GET_SIGN_CERT_AS_PEM => Ok(text(card.certificate()?.to_base64())),
        VERIFY_PIN | VERIFY_PIN_ALL => {
            card.verify_pin(arg("passwd")?)?;
            Ok(Vec::new())
        }
        SIGN_DATA_AS_PEM => {
            let (data, pin) = (arg("inData")?, arg("passwd")?);
            Ok(text(encoding::base64(&card.sign(pin, data.as_bytes())?)))
        }
        SIGN_PEM_DATA_AS_PEM => {
            let (data, pin) = (arg("inData")?, arg("passwd")?);
            let bytes = decode_base64(data)?;
            Ok(text(encoding::base64(&card.sign(pin, &bytes)?)))
        }
        SIGN_RANDOM => {
            let (random, pin) = (arg("random")?, arg("passwd")?);
            Ok(text(encoding::base64(&card.sign(pin, random.as_bytes())?)))
        }
        ENCODE_PEM => Ok(text(encoding::base64(arg("inData")?.as_bytes()))),
        DECODE_PEM_AS_STRING => {
            let bytes = decode_base64(arg("inData")?)?;
            String::from_utf8(bytes).map(text).map_err(|_| Failure::Request("inData 解码后不是 UTF-8 文本".to_owned()))
        }
        other => Err(Failure::Request(format!("不支持的方法：{other}"))),
    }
}

fn decode_base64(data: &str) -> Result<Vec<u8>, Failure> {
    encoding::base64_text(data.as_bytes()).ok_or_else(|| Failure::Request("inData 不是有效的 Base64".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::softcard::{DEFAULT_PIN, SoftCardOptions};
    use crate::{Certificate, SoftCard};
    use serde_json::json;

    fn card() -> (tempfile::TempDir, SoftCard) {
        let dir = tempfile::tempdir().unwrap();
        let card = SoftCard::create_with(dir.path().join("card"), &SoftCardOptions::new("TEST-CARD-1")).unwrap();
        (dir, card)
    }

    #[test]
    fn request_and_reply_wire_shape() {
        let request: Request = serde_json::from_value(json!({
            "_method": SIGN_RANDOM, "_id": 3, "args": {"random": "abc", "passwd": "1"}
        }))
        .unwrap();
        assert_eq!(request, Request::new(SIGN_RANDOM, 3).arg("random", "abc").arg("passwd", "1"));
        let no_args: Request = serde_json::from_str(r#"{"_method":"x","_id":1,"args":null}"#).unwrap();
        assert!(no_args.args.is_empty());
        let reply = Reply::ok(&request, vec![json!("sig")]);
        assert_eq!(
            serde_json::to_value(&reply).unwrap(),
            json!({"_method": SIGN_RANDOM, "_id": 3, "_args": {"Result": true, "Data": ["sig"], "Error": []}})
        );
    }

    #[test]
    fn answers_card_methods() {
        let (_dir, mut soft) = card();
        let expected_no = soft.cert_no();
        let card: &mut dyn Card = &mut soft;
        let reply = handle(card, &Request::new(GET_CARD_ID, 1));
        assert_eq!((reply.is_ok(), reply.first_data()), (true, Some("TEST-CARD-1")));
        assert_eq!(reply.id, json!(1));
        let reply = handle(card, &Request::new(GET_CERT_NO, 2));
        assert_eq!(reply.first_data(), Some(expected_no.as_str()));
        let reply = handle(card, &Request::new(GET_SIGN_CERT_AS_PEM, 3));
        let cert = Certificate::parse(reply.first_data().unwrap()).unwrap();
        assert_eq!(cert.cert_no(), expected_no);

        let data = "certflow-document-v1\ndoctype:x\n";
        let reply = handle(card, &Request::new(SIGN_DATA_AS_PEM, 4).arg("inData", data).arg("passwd", DEFAULT_PIN));
        assert!(reply.is_ok(), "{reply:?}");
        let sig = reply.first_data().unwrap();
        crate::verify(&cert, data.as_bytes(), sig.as_bytes()).unwrap();
        assert!(crate::verify(&cert, b"certflow-document-v1\ndoctype:y\n", sig.as_bytes()).is_err());

        let pem_data = encoding::base64(data.as_bytes());
        let reply =
            handle(card, &Request::new(SIGN_PEM_DATA_AS_PEM, 5).arg("inData", pem_data).arg("passwd", DEFAULT_PIN));
        crate::verify(&cert, data.as_bytes(), reply.first_data().unwrap().as_bytes()).unwrap();

        let reply = handle(card, &Request::new(SIGN_RANDOM, 6).arg("random", "n0nce").arg("passwd", DEFAULT_PIN));
        crate::verify(&cert, b"n0nce", reply.first_data().unwrap().as_bytes()).unwrap();
    }

    #[test]
    fn failures() {
        let (_dir, mut soft) = card();
        let card: &mut dyn Card = &mut soft;
        let reply = handle(card, &Request::new(VERIFY_PIN, 1).arg("passwd", "wrong"));
        assert!(!reply.is_ok());
        assert_eq!(reply.args.error, vec!["卡介质密码错误".to_owned()]);
        assert!(handle(card, &Request::new(VERIFY_PIN, 2).arg("passwd", DEFAULT_PIN)).is_ok());
        let reply = handle(card, &Request::new(SIGN_DATA_AS_PEM, 3).arg("inData", "x").arg("passwd", "wrong"));
        assert_eq!((reply.is_ok(), reply.args.data.len()), (false, 0));
        let reply = handle(card, &Request::new(SIGN_DATA_AS_PEM, 4).arg("passwd", DEFAULT_PIN));
        assert_eq!(reply.args.error, vec!["缺少参数 inData".to_owned()]);
        let reply = handle(card, &Request::new("cus-sec_SpcNoSuch", 5));
        assert!(!reply.is_ok());
        assert!(reply.args.error[0].contains("cus-sec_SpcNoSuch"));
        let reply = handle_text(card, r#"{"_method": "m", "_id": 9, "args": 3}"#);
        assert_eq!((reply.is_ok(), reply.method.as_str(), reply.id.clone()), (false, "m", json!(9)));
        let reply = handle_text(card, "not json");
        assert_eq!((reply.is_ok(), reply.id.clone()), (false, Value::Null));
    }

    #[test]
    fn pem_helpers() {
        let (_dir, mut soft) = card();
        let card: &mut dyn Card = &mut soft;
        let encoded = handle(card, &Request::new(ENCODE_PEM, 1).arg("inData", "报检"));
        let encoded = encoded.first_data().unwrap().to_owned();
        let decoded = handle(card, &Request::new(DECODE_PEM_AS_STRING, 2).arg("inData", encoded));
        assert_eq!(decoded.first_data(), Some("报检"));
    }
}
