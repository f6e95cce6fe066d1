//! Exact decimals to and from Postgres `numeric` without detours.
//!
//! pgrx's `AnyNumeric` copies a numeric into Rust memory and back; on the
//! pricing hot path we build the Postgres numeric once and hand its Datum over,
//! and the budget triggers read a row's cost from its stored digits rather
//! than printing it to text and parsing that.

use crate::pricing::decimal::Decimal;
use pgrx::callconv::{BoxRet, FcInfo};
use pgrx::pg_sys;
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
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
            // SAFETY: a plain function of two integers; it returns a numeric
            // palloc'd in the current memory context (or raises an ERROR).
            let n = unsafe { pg_sys::int64_div_fast_to_numeric(mantissa, scale) };
            return NumericDatum(pg_sys::Datum::from(n));
        }
        NumericDatum::from_text(&d.to_string())
    }

    /// `text::numeric`: the scale written is the scale kept.
    pub fn from_text(text: &str) -> NumericDatum {
        let text = CString::new(text).expect("decimal text has no NUL");
        // SAFETY: numeric_in's three arguments, as it declares them: a
        // NUL-terminated string (`text`, alive until the end of this function),
        // a type OID and a typmod. The result is palloc'd in the current context.
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

/// Reads a numeric Datum (any varlena form) as an exact Decimal; None for NaN
/// and infinities, and for values a Decimal cannot hold.
///
/// The stored form (PostgreSQL's numeric.c): a 16-bit header, then base-10000
/// digits, most significant first. Short form (header bit 0x8000): sign bit
/// 0x2000, display scale in bits 0x1F80, a 7-bit signed weight in the low bits.
/// Long form: sign in 0xC000 (0x4000 negative), display scale in 0x3FFF, then
/// a 16-bit weight.
/// The value is Σ digit[i] × 10000^(weight − i).
///
/// # Safety
/// `datum` must be a non-NULL numeric datum (of a row, an argument or a jsonb)
/// that stays valid for the duration of the call.
pub unsafe fn decimal_from_numeric(datum: pg_sys::Datum) -> Option<Decimal> {
    // SAFETY: `datum` is a valid numeric varlena (caller's guarantee);
    // pg_detoast_datum_packed returns it or a palloc'd copy in the current
    // memory context, and `bytes` covers exactly its data, read before return.
    let bytes = unsafe {
        let packed = pg_sys::pg_detoast_datum_packed(datum.cast_mut_ptr());
        let len = pgrx::varlena::varsize_any_exhdr(packed);
        std::slice::from_raw_parts(pgrx::varlena::vardata_any(packed) as *const u8, len)
    };
    let word = |at: usize| -> Option<u16> { Some(u16::from_ne_bytes([*bytes.get(at)?, *bytes.get(at + 1)?])) };
    let header = word(0)?;
    // (the display scale only adds trailing zeros, which Decimal drops)
    let (negative, weight, digits_at) = if header & 0xC000 == 0xC000 {
        return None; // NaN, +Infinity, -Infinity
    } else if header & 0x8000 != 0 {
        let weight = if header & 0x0040 != 0 { (header | !0x003F) as i16 } else { (header & 0x003F) as i16 };
        (header & 0x2000 != 0, weight as i32, 2)
    } else {
        (header & 0xC000 == 0x4000, word(2)? as i16 as i32, 4)
    };
    let ndigits = (bytes.len() - digits_at) / 2;
    let mut mantissa: i128 = 0;
    for i in 0..ndigits {
        mantissa = mantissa.checked_mul(10_000)?.checked_add(word(digits_at + 2 * i)? as i128)?;
    }
    // mantissa × 10000^(weight − ndigits + 1) = mantissa × 10^exponent
    let exponent = 4 * (weight - ndigits as i32 + 1);
    let scale = if exponent >= 0 {
        mantissa = mantissa.checked_mul(10i128.checked_pow(exponent as u32)?)?;
        0
    } else {
        -exponent
    };
    Decimal::from_parts(if negative { -mantissa } else { mantissa }, scale as u32).ok()
}

/// numeric_out: the text Postgres prints for a numeric Datum (for messages).
///
/// # Safety
/// `datum` must be a non-NULL numeric datum valid for the duration of the call.
pub unsafe fn numeric_text(datum: pg_sys::Datum) -> String {
    // SAFETY: numeric_out gets the numeric it declares (caller's guarantee) and
    // returns a palloc'd NUL-terminated string, copied before it can be freed.
    unsafe {
        let cstr = pg_sys::DirectFunctionCall1Coll(Some(numeric_out), pg_sys::InvalidOid, datum);
        std::ffi::CStr::from_ptr(cstr.cast_mut_ptr::<std::ffi::c_char>()).to_string_lossy().into_owned()
    }
}

/// numeric_out as a "C-unwind" function pointer, which DirectFunctionCall wants.
///
/// # Safety
/// Called only through DirectFunctionCall, with numeric_out's arguments.
unsafe extern "C-unwind" fn numeric_out(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: `fcinfo` is what DirectFunctionCall built for numeric_out.
    unsafe { pg_sys::numeric_out(fcinfo) }
}

/// numeric_in as a "C-unwind" function pointer, which DirectFunctionCall wants.
///
/// # Safety
/// Called only through DirectFunctionCall, with numeric_in's arguments.
unsafe extern "C-unwind" fn numeric_in(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: `fcinfo` is what DirectFunctionCall built for numeric_in.
    unsafe { pg_sys::numeric_in(fcinfo) }
}

// SAFETY: the Datum returned is a numeric palloc'd in the current memory
// context (see NumericDatum), which the function's declared result type says.
unsafe impl BoxRet for NumericDatum {
    /// # Safety
    /// `BoxRet`'s contract: `fcinfo` is the current call's.
    unsafe fn box_into<'fcx>(self, fcinfo: &mut FcInfo<'fcx>) -> pgrx::datum::Datum<'fcx> {
        // SAFETY: `fcinfo` is the call's (pgrx's contract for box_into), and
        // `self.0` a valid numeric for the declared numeric result.
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

// SAFETY: the SQL type declared (numeric, both ways) is the type of the Datum.
unsafe impl SqlTranslatable for NumericDatum {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(NumericDatum);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> =
        Ok(SqlMappingRef::Numeric { precision: None, scale: None });
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> =
        Ok(ReturnsRef::One(SqlMappingRef::Numeric { precision: None, scale: None }));
}
