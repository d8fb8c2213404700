//! The store's tests; each body in these modules runs on SQLite and on
//! PostgreSQL (see `harness`).

#[macro_use]
mod harness;
mod fixtures;

mod accounts;
mod attachments;
mod audit;
mod documents;
mod lookups;
mod migrations;
mod numbering;
mod outbox;
mod receipts;
mod sessions;
mod templates;
mod transitions;
mod versions;
