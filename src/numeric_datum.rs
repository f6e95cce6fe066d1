//! Returning exact decimals to Postgres as `numeric` without detours.
//!
//! pgrx's `AnyNumeric` copies a numeric into Rust memory and back; on the
//! pricing hot path we build the Postgres numeric once and hand its Datum over.

use crate::decimal::Decimal;
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::callconv::{BoxRet, FcInfo};
use pgrx::IntoDatum;
use std::ffi::CString;

/// A `numeric` Datum allocated by Postgres in the current memory context.
pub struct NumericDatum(pub pg_sys::Datum);

impl NumericDatum {
    pub fn from_decimal(d: Decimal) -> NumericDatum {
        let d = d.normalized();
        // PG14+: build mantissa / 10^scale directly, no text parsing.
        #[cfg(not(feature = "pg13"))]
        if let (Ok(mantissa), Ok(scale)) = (i64::try_from(d.mantissa()), i32::try_from(d.scale())) {
            let n = unsafe { pg_sys::int64_div_fast_to_numeric(mantissa, scale) };
            return NumericDatum(pg_sys::Datum::from(n));
        }
        NumericDatum::from_text(&d.to_string())
    }

    /// `text::numeric`: the scale written is the scale kept.
    pub fn from_text(text: &str) -> NumericDatum {
        let text = CString::new(text).expect("decimal text has no NUL");
        let datum = unsafe {
            pg_sys::DirectFunctionCall3Coll(
                Some(numeric_in),
                pg_sys::InvalidOid,
                pg_sys::Datum::from(text.as_ptr()),
                pg_sys::Datum::from(pg_sys::InvalidOid),
                pg_sys::Datum::from(-1i32),
            )
        };
        NumericDatum(datum)
    }
}

// numeric_in as a "C-unwind" function pointer, which DirectFunctionCall wants.
unsafe extern "C-unwind" fn numeric_in(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    unsafe { pg_sys::numeric_in(fcinfo) }
}

unsafe impl BoxRet for NumericDatum {
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
        unsafe { fcinfo.return_raw_datum(self.0) }
    }
}

impl IntoDatum for NumericDatum {
    fn into_datum(self) -> Option<pg_sys::Datum> {
        Some(self.0)
    }

    fn type_oid() -> pg_sys::Oid {
        pg_sys::NUMERICOID
    }
}

unsafe impl SqlTranslatable for NumericDatum {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(NumericDatum);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> =
        Ok(SqlMappingRef::Numeric { precision: None, scale: None });
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> =
        Ok(ReturnsRef::One(SqlMappingRef::Numeric { precision: None, scale: None }));
}
