use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::error::{Result, StoreError, is_foreign_key_violation, is_unique_violation};
use crate::sql::{from_millis, now, parse_uuid, to_millis};

/// An enterprise registered with customs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enterprise {
    /// The 10-character customs code; what documents and users name the
    /// enterprise by.
    pub code: String,
    /// The 18-character unified social credit code.
    pub credit_code: String,
    pub name_zh: String,
    /// Empty when unknown.
    pub name_en: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An enterprise as registered or updated by [`Store::upsert_enterprise`].
/// The formats of the codes are the engine's to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEnterprise {
    pub code: String,
    pub credit_code: String,
    pub name_zh: String,
    pub name_en: String,
}

/// What an account may do, broadly; the engine decides the details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Works for one enterprise and sees only its documents.
    Enterprise,
    /// A customs officer: no enterprise, sees all enterprises' documents.
    Officer,
    /// Administers accounts.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enterprise => "enterprise",
            Self::Officer => "officer",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = StoreError;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "enterprise" => Ok(Self::Enterprise),
            "officer" => Ok(Self::Officer),
            "admin" => Ok(Self::Admin),
            other => Err(StoreError::InvalidInput(format!("unknown role {other:?}"))),
        }
    }
}

/// An account, bound to an E-Port card and, once registered, to the card's
/// certificate. The certificate is kept as given; checking it is the
/// engine's business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: Uuid,
    /// The E-Port card number the account is bound to; unique.
    pub card_no: String,
    /// Serial number of the bound certificate.
    pub cert_no: Option<String>,
    /// The registered X.509 certificate (base64 DER or PEM).
    pub cert_pem: Option<String>,
    /// Customs code of the user's enterprise; `None` for customs officers.
    pub enterprise: Option<String>,
    pub name: String,
    pub role: Role,
    /// PIN hash of a development soft card; never serialized.
    #[serde(skip_serializing)]
    pub pin_hash: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub card_no: String,
    pub cert_no: Option<String>,
    pub cert_pem: Option<String>,
    /// Required for [`Role::Enterprise`], absent for [`Role::Officer`], either
    /// for [`Role::Admin`]; must name a registered enterprise.
    pub enterprise: Option<String>,
    pub name: String,
    pub role: Role,
    /// Only for development soft cards.
    pub pin_hash: Option<String>,
}

#[derive(sqlx::FromRow)]
struct EnterpriseRow {
    code: String,
    credit_code: String,
    name_zh: String,
    name_en: String,
    created_at: i64,
}

impl TryFrom<EnterpriseRow> for Enterprise {
    type Error = StoreError;

    fn try_from(row: EnterpriseRow) -> Result<Self> {
        Ok(Self {
            code: row.code,
            credit_code: row.credit_code,
            name_zh: row.name_zh,
            name_en: row.name_en,
            created_at: from_millis(row.created_at)?,
        })
    }
}

/// The columns of [`UserRow`], as a literal for `concat!`.
macro_rules! user_columns {
    () => {
        "id, card_no, cert_no, cert_pem, enterprise, name, role, pin_hash, created_at"
    };
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    id: String,
    card_no: String,
    cert_no: Option<String>,
    cert_pem: Option<String>,
    enterprise: Option<String>,
    name: String,
    role: String,
    pin_hash: Option<String>,
    created_at: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<Self> {
        let role = row.role.parse().map_err(|error: StoreError| sqlx::Error::Decode(Box::new(error)))?;
        Ok(Self {
            id: parse_uuid(&row.id)?,
            card_no: row.card_no,
            cert_no: row.cert_no,
            cert_pem: row.cert_pem,
            enterprise: row.enterprise,
            name: row.name,
            role,
            pin_hash: row.pin_hash,
            created_at: from_millis(row.created_at)?,
        })
    }
}

/// Registers the enterprise, or updates its codes and names; `created_at`
/// stays as first registered.
const UPSERT_ENTERPRISE: &str = "INSERT INTO enterprises (code, credit_code, name_zh, name_en, created_at) \
     VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (code) DO UPDATE SET credit_code = excluded.credit_code, name_zh = excluded.name_zh, \
     name_en = excluded.name_en \
     RETURNING code, credit_code, name_zh, name_en, created_at";

const SELECT_ENTERPRISE: &str =
    "SELECT code, credit_code, name_zh, name_en, created_at FROM enterprises WHERE code = $1";

const INSERT_USER: &str = concat!(
    "INSERT INTO users (id, card_no, cert_no, cert_pem, enterprise, name, role, pin_hash, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ",
    user_columns!()
);

const SELECT_USER: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");

const SELECT_USER_BY_CARD: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE card_no = $1");

const SELECT_USERS: &str = concat!("SELECT ", user_columns!(), " FROM users ORDER BY created_at, id");

const SELECT_ENTERPRISE_USERS: &str =
    concat!("SELECT ", user_columns!(), " FROM users WHERE enterprise = $1 ORDER BY created_at, id");

const UPDATE_USER_CERTIFICATE: &str =
    concat!("UPDATE users SET cert_no = $1, cert_pem = $2 WHERE id = $3 RETURNING ", user_columns!());

const DELETE_USER: &str = "DELETE FROM users WHERE id = $1";

impl Store {
    /// Registers an enterprise, or replaces the codes and names of the one
    /// registered under `code`.
    pub async fn upsert_enterprise(&self, enterprise: NewEnterprise) -> Result<Enterprise> {
        let created_at = to_millis(now());
        let row: EnterpriseRow = with_pool!(self, |pool| {
            sqlx::query_as(UPSERT_ENTERPRISE)
                .bind(&enterprise.code)
                .bind(&enterprise.credit_code)
                .bind(&enterprise.name_zh)
                .bind(&enterprise.name_en)
                .bind(created_at)
                .fetch_one(pool)
                .await?
        });
        row.try_into()
    }

    /// The enterprise registered under the customs code `code`.
    pub async fn get_enterprise(&self, code: &str) -> Result<Enterprise> {
        let row: Option<EnterpriseRow> =
            with_pool!(self, |pool| { sqlx::query_as(SELECT_ENTERPRISE).bind(code).fetch_optional(pool).await? });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Creates an account. A card already bound to an account is
    /// [`StoreError::Duplicate`]; an enterprise that is not registered, or
    /// one that does not fit the role, is [`StoreError::InvalidInput`].
    pub async fn create_user(&self, new: NewUser) -> Result<User> {
        match (new.role, &new.enterprise) {
            (Role::Enterprise, None) => {
                return Err(StoreError::InvalidInput("an enterprise user needs an enterprise".to_owned()));
            }
            (Role::Officer, Some(_)) => {
                return Err(StoreError::InvalidInput("a customs officer belongs to no enterprise".to_owned()));
            }
            _ => {}
        }
        let id = Uuid::new_v4();
        let created_at = to_millis(now());
        let inserted: Result<UserRow, sqlx::Error> = with_pool!(self, |pool| {
            sqlx::query_as(INSERT_USER)
                .bind(id.to_string())
                .bind(&new.card_no)
                .bind(&new.cert_no)
                .bind(&new.cert_pem)
                .bind(&new.enterprise)
                .bind(&new.name)
                .bind(new.role.as_str())
                .bind(&new.pin_hash)
                .bind(created_at)
                .fetch_one(pool)
                .await
        });
        match inserted {
            Ok(row) => row.try_into(),
            Err(error) if is_unique_violation(&error) => Err(StoreError::Duplicate { what: "card number" }),
            Err(error) if is_foreign_key_violation(&error) => Err(StoreError::InvalidInput(format!(
                "unknown enterprise {}",
                new.enterprise.as_deref().unwrap_or_default()
            ))),
            Err(error) => Err(error.into()),
        }
    }

    pub async fn get_user(&self, id: Uuid) -> Result<User> {
        let row: Option<UserRow> =
            with_pool!(self, |pool| { sqlx::query_as(SELECT_USER).bind(id.to_string()).fetch_optional(pool).await? });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// The account bound to the E-Port card `card_no`.
    pub async fn get_user_by_card(&self, card_no: &str) -> Result<User> {
        let row: Option<UserRow> =
            with_pool!(self, |pool| { sqlx::query_as(SELECT_USER_BY_CARD).bind(card_no).fetch_optional(pool).await? });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// The enterprise's users, or with `None` every account (officers and
    /// admins included); oldest first.
    pub async fn list_users(&self, enterprise: Option<&str>) -> Result<Vec<User>> {
        let rows: Vec<UserRow> = with_pool!(self, |pool| {
            match enterprise {
                Some(enterprise) => sqlx::query_as(SELECT_ENTERPRISE_USERS).bind(enterprise).fetch_all(pool).await?,
                None => sqlx::query_as(SELECT_USERS).fetch_all(pool).await?,
            }
        });
        rows.into_iter().map(User::try_from).collect()
    }

    /// Binds the account to a certificate (serial number and the certificate
    /// itself), or with `None`s unbinds it.
    pub async fn update_user_certificate(
        &self,
        id: Uuid,
        cert_no: Option<&str>,
        cert_pem: Option<&str>,
    ) -> Result<User> {
        let row: Option<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(UPDATE_USER_CERTIFICATE)
                .bind(cert_no)
                .bind(cert_pem)
                .bind(id.to_string())
                .fetch_optional(pool)
                .await?
        });
        row.ok_or(StoreError::NotFound)?.try_into()
    }

    /// Deletes the account and its sessions.
    pub async fn delete_user(&self, id: Uuid) -> Result<()> {
        let deleted = with_pool!(self, |pool| {
            sqlx::query(DELETE_USER).bind(id.to_string()).execute(pool).await?.rows_affected()
        });
        if deleted == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
