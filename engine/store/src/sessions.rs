use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::accounts::{User, UserRow};
use crate::error::{Result, StoreError, is_foreign_key_violation, is_unique_violation};
use crate::sql::{from_millis, now, parse_uuid, to_millis};

/// The key a session is stored under: the SHA-256 (hex) of the cookie's
/// token, so that the database never holds a usable token.
pub fn session_token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A login kept on the server, so that every server instance sharing the
/// database knows it. Deliberately not serializable: it holds the CSRF
/// token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// See [`session_token_hash`].
    pub token_hash: String,
    pub user_id: Uuid,
    pub csrf_token: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    /// See [`session_token_hash`].
    pub token_hash: String,
    pub user_id: Uuid,
    pub csrf_token: String,
    pub expires_at: OffsetDateTime,
}

/// A single-use nonce for the card's challenge–response login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginChallenge {
    pub nonce: String,
    /// The card the challenge was issued for, if it was issued for one.
    pub card_no: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    token_hash: String,
    user_id: String,
    csrf_token: String,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;

    fn try_from(row: SessionRow) -> Result<Self> {
        Ok(Self {
            token_hash: row.token_hash,
            user_id: parse_uuid(&row.user_id)?,
            csrf_token: row.csrf_token,
            created_at: from_millis(row.created_at)?,
            last_seen_at: from_millis(row.last_seen_at)?,
            expires_at: from_millis(row.expires_at)?,
        })
    }
}

/// A session joined with its user; the session's `created_at` is renamed so
/// that it does not clash with the user's.
#[derive(sqlx::FromRow)]
struct SessionUserRow {
    token_hash: String,
    user_id: String,
    csrf_token: String,
    session_created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    #[sqlx(flatten)]
    user: UserRow,
}

#[derive(sqlx::FromRow)]
struct ChallengeRow {
    nonce: String,
    card_no: Option<String>,
    created_at: i64,
    expires_at: i64,
    used_at: Option<i64>,
}

impl TryFrom<ChallengeRow> for LoginChallenge {
    type Error = StoreError;

    fn try_from(row: ChallengeRow) -> Result<Self> {
        Ok(Self {
            nonce: row.nonce,
            card_no: row.card_no,
            created_at: from_millis(row.created_at)?,
            expires_at: from_millis(row.expires_at)?,
            used_at: row.used_at.map(from_millis).transpose()?,
        })
    }
}

/// Parameters: token hash, user id, CSRF token, created_at (also
/// last_seen_at), expires_at.
const INSERT_SESSION: &str = "INSERT INTO sessions \
     (token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at) \
     VALUES ($1, $2, $3, $4, $4, $5) \
     RETURNING token_hash, user_id, csrf_token, created_at, last_seen_at, expires_at";

/// The live session `$1` at time `$2`, with its user.
const SELECT_SESSION: &str = "SELECT s.token_hash, s.user_id, s.csrf_token, s.created_at AS session_created_at, \
     s.last_seen_at, s.expires_at, \
     u.id, u.card_no, u.cert_no, u.cert_pem, u.enterprise, u.name, u.role, u.pin_hash, u.created_at \
     FROM sessions s JOIN users u ON u.id = s.user_id \
     WHERE s.token_hash = $1 AND s.expires_at > $2";

const DELETE_SESSION_IF_EXPIRED: &str = "DELETE FROM sessions WHERE token_hash = $1 AND expires_at <= $2";

const TOUCH_SESSION: &str =
    "UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE token_hash = $1 AND expires_at > $2";

const DELETE_SESSION: &str = "DELETE FROM sessions WHERE token_hash = $1";

const DELETE_EXPIRED_SESSIONS: &str = "DELETE FROM sessions WHERE expires_at <= $1";

const INSERT_CHALLENGE: &str =
    "INSERT INTO login_challenges (nonce, card_no, created_at, expires_at) VALUES ($1, $2, $3, $4)";

/// Marks the challenge used if it is known, unused and unexpired; the row
/// lock (PostgreSQL) or the write lock (SQLite) lets exactly one of
/// concurrent consumers match.
const CONSUME_CHALLENGE: &str = "UPDATE login_challenges SET used_at = $2 \
     WHERE nonce = $1 AND used_at IS NULL AND expires_at > $2 \
     RETURNING nonce, card_no, created_at, expires_at, used_at";

const DELETE_EXPIRED_CHALLENGES: &str = "DELETE FROM login_challenges WHERE expires_at <= $1";

impl Store {
    /// Stores a new session for an existing user. A user that does not
    /// exist is [`StoreError::InvalidInput`], a token hash already in use
    /// [`StoreError::Duplicate`].
    pub async fn create_session(&self, new: NewSession) -> Result<Session> {
        let created_at = to_millis(now());
        let inserted: Result<SessionRow, sqlx::Error> = with_pool!(self, |pool| {
            sqlx::query_as(INSERT_SESSION)
                .bind(&new.token_hash)
                .bind(new.user_id.to_string())
                .bind(&new.csrf_token)
                .bind(created_at)
                .bind(to_millis(new.expires_at))
                .fetch_one(pool)
                .await
        });
        match inserted {
            Ok(row) => row.try_into(),
            Err(error) if is_unique_violation(&error) => Err(StoreError::Duplicate { what: "session token" }),
            Err(error) if is_foreign_key_violation(&error) => {
                Err(StoreError::InvalidInput(format!("unknown user {}", new.user_id)))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The session stored under `token_hash` and its user, if the session
    /// has not expired at `now`. An expired session is deleted on the way
    /// and is [`StoreError::NotFound`], like a missing one.
    pub async fn get_session(&self, token_hash: &str, now: OffsetDateTime) -> Result<(Session, User)> {
        let now = to_millis(now);
        let row: Option<SessionUserRow> = with_pool!(self, |pool| {
            let row = sqlx::query_as(SELECT_SESSION).bind(token_hash).bind(now).fetch_optional(pool).await?;
            if row.is_none() {
                sqlx::query(DELETE_SESSION_IF_EXPIRED).bind(token_hash).bind(now).execute(pool).await?;
            }
            row
        });
        let row = row.ok_or(StoreError::NotFound)?;
        let session = Session {
            token_hash: row.token_hash,
            user_id: parse_uuid(&row.user_id)?,
            csrf_token: row.csrf_token,
            created_at: from_millis(row.session_created_at)?,
            last_seen_at: from_millis(row.last_seen_at)?,
            expires_at: from_millis(row.expires_at)?,
        };
        Ok((session, row.user.try_into()?))
    }

    /// Records activity at `now` and moves the expiry to `expires_at` (a
    /// sliding expiry). [`StoreError::NotFound`] when the session is missing
    /// or already expired at `now`.
    pub async fn touch_session(&self, token_hash: &str, now: OffsetDateTime, expires_at: OffsetDateTime) -> Result<()> {
        let touched = with_pool!(self, |pool| {
            sqlx::query(TOUCH_SESSION)
                .bind(token_hash)
                .bind(to_millis(now))
                .bind(to_millis(expires_at))
                .execute(pool)
                .await?
                .rows_affected()
        });
        if touched == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Ends the session (a logout). Succeeds also when there is no such
    /// session any more, e.g. after it expired and was cleaned up.
    pub async fn delete_session(&self, token_hash: &str) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(DELETE_SESSION).bind(token_hash).execute(pool).await?;
        });
        Ok(())
    }

    /// Deletes the sessions expired at `now`; returns how many.
    pub async fn delete_expired_sessions(&self, now: OffsetDateTime) -> Result<u64> {
        Ok(with_pool!(self, |pool| {
            sqlx::query(DELETE_EXPIRED_SESSIONS).bind(to_millis(now)).execute(pool).await?.rows_affected()
        }))
    }

    /// Stores a login challenge valid until `expires_at`. A nonce used
    /// before is [`StoreError::Duplicate`].
    pub async fn create_challenge(&self, nonce: &str, expires_at: OffsetDateTime) -> Result<()> {
        self.insert_challenge(nonce, None, expires_at).await
    }

    /// Like [`Store::create_challenge`], for a challenge issued to one card;
    /// [`Store::consume_challenge`] returns the card so that the caller can
    /// check that the card answering is that one.
    pub async fn create_card_challenge(&self, nonce: &str, card_no: &str, expires_at: OffsetDateTime) -> Result<()> {
        self.insert_challenge(nonce, Some(card_no), expires_at).await
    }

    async fn insert_challenge(&self, nonce: &str, card_no: Option<&str>, expires_at: OffsetDateTime) -> Result<()> {
        let created_at = to_millis(now());
        with_pool!(self, |pool| {
            sqlx::query(INSERT_CHALLENGE)
                .bind(nonce)
                .bind(card_no)
                .bind(created_at)
                .bind(to_millis(expires_at))
                .execute(pool)
                .await
                .map_err(|error| StoreError::unique_as_duplicate(error, "login challenge nonce"))?;
        });
        Ok(())
    }

    /// Uses up the challenge: marks it used at `now` and returns it, once.
    /// Unknown, expired or already used is [`StoreError::ChallengeInvalid`];
    /// of concurrent calls for one nonce exactly one succeeds.
    pub async fn consume_challenge(&self, nonce: &str, now: OffsetDateTime) -> Result<LoginChallenge> {
        let row: Option<ChallengeRow> = with_pool!(self, |pool| {
            sqlx::query_as(CONSUME_CHALLENGE).bind(nonce).bind(to_millis(now)).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::ChallengeInvalid)?.try_into()
    }

    /// Deletes the challenges expired at `now`, used or not; returns how
    /// many.
    pub async fn delete_expired_challenges(&self, now: OffsetDateTime) -> Result<u64> {
        Ok(with_pool!(self, |pool| {
            sqlx::query(DELETE_EXPIRED_CHALLENGES).bind(to_millis(now)).execute(pool).await?.rows_affected()
        }))
    }
}
