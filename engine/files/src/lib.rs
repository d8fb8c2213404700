//! certflow-files: what users hand in as files, checked and turned into data.
//!
//! - [`pdf`]: is an upload really a PDF (by content, not by name), within
//!   the size limits of its attachment slot per file and per page;
//! - [`excel`]: the goods-line template of a document type's table as an
//!   xlsx workbook, and the import of a filled-in xls/xlsx back into rows
//!   with per-row, per-column errors.
//!
//! It must not store anything or know any particular certificate: limits
//! and columns come from the bundle's definitions. It must stay bounded in
//! memory and time on hostile files.

pub mod excel;
pub mod pdf;
