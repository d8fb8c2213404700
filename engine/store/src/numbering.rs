use crate::Store;
use crate::error::{Result, StoreError};

/// Which counter to draw the next number from, and how to print it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberRequest {
    /// The bundle's numbering scheme; counters of different schemes are
    /// independent even with equal prefixes.
    pub scheme_id: String,
    pub prefix: String,
    pub year: i32,
    /// Digits of the zero-padded serial.
    pub serial_width: usize,
}

impl NumberRequest {
    /// The widest serial that still fits an `i64` counter.
    const MAX_SERIAL_WIDTH: usize = 18;

    pub(crate) fn validate(&self) -> Result<()> {
        if !(0..=9999).contains(&self.year) {
            return Err(StoreError::InvalidInput(format!("year {} does not have four digits", self.year)));
        }
        if !(1..=Self::MAX_SERIAL_WIDTH).contains(&self.serial_width) {
            return Err(StoreError::InvalidInput(format!(
                "serial width {} is not between 1 and {}",
                self.serial_width,
                Self::MAX_SERIAL_WIDTH
            )));
        }
        Ok(())
    }

    /// Prefix, four-digit year, zero-padded serial: `A2026000000001`.
    pub(crate) fn format(&self, serial: i64) -> Result<String> {
        let limit = 10_i64.pow(self.serial_width as u32);
        if serial >= limit {
            return Err(StoreError::NumberingExhausted {
                scheme: self.scheme_id.clone(),
                prefix: self.prefix.clone(),
                year: self.year,
            });
        }
        Ok(format!("{}{:04}{:0width$}", self.prefix, self.year, serial, width = self.serial_width))
    }
}

/// Allocates the next serial atomically: the first call inserts 1, later
/// ones increment under the row's lock (PostgreSQL) or the write lock
/// (SQLite), so concurrent callers never get the same serial.
/// Parameters: scheme, prefix, year.
pub(crate) const NEXT_SERIAL: &str = "INSERT INTO number_counters (scheme, prefix, year, last_serial) \
     VALUES ($1, $2, $3, 1) \
     ON CONFLICT (scheme, prefix, year) DO UPDATE SET last_serial = number_counters.last_serial + 1 \
     RETURNING last_serial";

impl Store {
    /// The next number of a scheme, e.g. `A2026000000001` for prefix `A`,
    /// year 2026 and width 9. Serials start at 1 per scheme, prefix and year,
    /// and are never handed out twice. A number drawn here and then not used
    /// leaves a gap; [`Transition::assign_unified_no`] draws the number in
    /// the same transaction as the change that stores it.
    ///
    /// [`Transition::assign_unified_no`]: crate::Transition::assign_unified_no
    pub async fn next_number(&self, scheme_id: &str, prefix: &str, year: i32, serial_width: usize) -> Result<String> {
        let request = NumberRequest { scheme_id: scheme_id.to_owned(), prefix: prefix.to_owned(), year, serial_width };
        request.validate()?;
        let serial: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar(NEXT_SERIAL)
                .bind(&request.scheme_id)
                .bind(&request.prefix)
                .bind(request.year)
                .fetch_one(pool)
                .await?
        });
        request.format(serial)
    }
}
