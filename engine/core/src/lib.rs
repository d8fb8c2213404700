//! certflow-core: the definition bundle and everything that interprets it.
//!
//! It loads `forms/` (YAML), `rules/` (Rhai) and `certificate-templates/`
//! into an immutable, content-hashed [`CompiledBundle`], reporting every
//! problem as a [`Diagnostic`] with file, line and column; validates
//! documents (generated JSON Schema, then Rhai rules) into [`FieldError`]s
//! with user-facing paths and bilingual messages; and interprets the
//! workflows' state machines.
//!
//! It must not know any particular certificate: everything specific to a
//! document type is bundle data. It does no I/O beyond reading a bundle
//! directory, and holds no database, network or HTTP code.

pub mod canonical;
pub mod checks;
pub mod compile;
pub mod diag;
pub mod lints;
pub mod listview;
pub mod model;
pub mod raw;
pub mod records;
pub mod rules;
pub mod scenario;
pub mod schema;
pub mod validate;
pub mod workflow;

pub use compile::{BundleError, BundleSource, compile, load};
pub use diag::{Diagnostic, Diagnostics, Severity, SourceSpan};
pub use lints::lints;
pub use model::{CompiledBundle, DocType, Field, Layout, ParamTable, Table};
pub use raw::{Text, Variant};
pub use schema::Mode;
pub use validate::{FieldError, ValidationReport};
pub use workflow::{ActionPlan, ActionRefused, Step, Workflow};
