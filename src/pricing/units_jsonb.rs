//! `units` read straight from jsonb's binary form, for the insert trigger and
//! the pricing functions: one walk over the top-level object's pairs, numbers
//! read from their numeric digits. Going through text and serde instead
//! (jsonb_out, then a JSON parse into owned maps and strings) made a call
//! with units several times slower than one without (BENCHMARKS.md).

use crate::pg::numeric_datum::decimal_from_numeric;
use crate::pricing::units::{UnitValue, Units, UnitsBuilder, UnitsError};
use pgrx::callconv::{Arg, ArgAbi};
use pgrx::pgrx_sql_entity_graph::metadata::{
    ArgumentError, ReturnsError, ReturnsRef, SqlMappingRef, SqlTranslatable, TypeOrigin,
};
use pgrx::prelude::*;
use std::fmt;

/// A `jsonb` argument left as its datum (pgrx's `JsonB` converts it to serde
/// JSON through text first). Valid for the duration of the call.
#[derive(Clone, Copy)]
pub struct JsonbDatum(pub pg_sys::Datum);

impl FromDatum for JsonbDatum {
    /// # Safety
    /// `FromDatum`'s contract: `datum` is a jsonb datum (unless `is_null`),
    /// valid for as long as the `JsonbDatum` is used (the call).
    unsafe fn from_polymorphic_datum(datum: pg_sys::Datum, is_null: bool, _typoid: pg_sys::Oid) -> Option<Self> {
        (!is_null).then_some(JsonbDatum(datum))
    }
}

// SAFETY: unboxing goes through `FromDatum` (above), which keeps the argument's
// Datum as it is; a NULL argument panics (pgrx turns that into an ERROR) instead
// of being read. The datum is valid for the call, as `JsonbDatum` says.
unsafe impl<'fcx> ArgAbi<'fcx> for JsonbDatum {
    /// # Safety
    /// `ArgAbi`'s contract: `arg` is an argument of the current call.
    unsafe fn unbox_arg_unchecked(arg: Arg<'_, 'fcx>) -> Self {
        let index = arg.index();
        // SAFETY: pgrx calls this with an argument of this call (its own
        // contract for unbox_arg_unchecked); unbox_arg_using_from_datum reads it
        // with its null flag.
        unsafe { arg.unbox_arg_using_from_datum().unwrap_or_else(|| panic!("argument {index} must not be null")) }
    }
}

// SAFETY: the SQL type declared (jsonb, both ways) is the type of the Datum
// `JsonbDatum` holds.
unsafe impl SqlTranslatable for JsonbDatum {
    const TYPE_IDENT: &'static str = pgrx::pgrx_resolved_type!(JsonbDatum);
    const TYPE_ORIGIN: TypeOrigin = TypeOrigin::External;
    const ARGUMENT_SQL: Result<SqlMappingRef, ArgumentError> = Ok(SqlMappingRef::literal("jsonb"));
    const RETURN_SQL: Result<ReturnsRef, ReturnsError> = Ok(ReturnsRef::One(SqlMappingRef::literal("jsonb")));
}

/// A numeric inside the jsonb, printed (numeric_out) only for an error message.
/// Made only by `units_from_jsonb`, from a numeric of the jsonb it is reading,
/// and dropped before that call returns.
struct NumericText(pg_sys::Numeric);

impl fmt::Display for NumericText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: `self.0` points at a numeric inside the jsonb `units_from_jsonb`
        // is reading (the only place a NumericText is made), which lives in the
        // caller's memory context for the whole call; numeric_out returns a
        // palloc'd NUL-terminated string, copied here before it can be freed.
        let text = unsafe {
            let out =
                pg_sys::DirectFunctionCall1Coll(Some(numeric_out), pg_sys::InvalidOid, pg_sys::Datum::from(self.0));
            std::ffi::CStr::from_ptr(out.cast_mut_ptr::<std::ffi::c_char>()).to_string_lossy().into_owned()
        };
        f.write_str(&text)
    }
}

/// numeric_out as a "C-unwind" function pointer, which DirectFunctionCall wants.
///
/// # Safety
/// Called only through DirectFunctionCall, with a valid `fcinfo` whose one
/// argument is a numeric.
unsafe extern "C-unwind" fn numeric_out(fcinfo: pg_sys::FunctionCallInfo) -> pg_sys::Datum {
    // SAFETY: `fcinfo` is what DirectFunctionCall built for numeric_out (above).
    unsafe { pg_sys::numeric_out(fcinfo) }
}

/// The kind of a nested container, for messages.
///
/// # Safety
/// `container` must point at a jsonb container (a jbvBinary value's `data`).
unsafe fn container_kind(container: *const pg_sys::JsonbContainer) -> &'static str {
    // SAFETY: the caller guarantees `container` points at a live container header.
    if unsafe { (*container).header } & pg_sys::JB_FARRAY != 0 {
        "an array"
    } else {
        "an object"
    }
}

/// Parses a `units` jsonb datum (not NULL) into `Units`, with the same rules
/// and messages as `Units::parse` on serde JSON.
///
/// # Safety
/// `datum` must be a jsonb datum valid for the duration of the call.
pub unsafe fn units_from_jsonb(datum: pg_sys::Datum) -> Result<Units, UnitsError> {
    // SAFETY: `datum` is a valid jsonb (caller's guarantee); pg_detoast_datum
    // returns it, or a palloc'd untoasted copy in the current memory context,
    // either of which outlives this call. The iterator walks that Jsonb only;
    // every JsonbValue it fills points into it (strings, numerics, containers),
    // and `key`/`text` borrowed from them do not outlive the loop. A zeroed
    // JsonbValue is a valid jbvNull to be overwritten by JsonbIteratorNext.
    unsafe {
        let jsonb = pg_sys::pg_detoast_datum(datum.cast_mut_ptr()) as *mut pg_sys::Jsonb;
        let root: *mut pg_sys::JsonbContainer = &mut (*jsonb).root;
        let header = (*root).header;
        if header & pg_sys::JB_FOBJECT == 0 {
            let got = if header & pg_sys::JB_FSCALAR != 0 { "a scalar" } else { "an array" };
            return Err(UnitsError(format!("units must be a JSON object of unit names to quantities, got {got}")));
        }
        let mut it = pg_sys::JsonbIteratorInit(root);
        let mut v: pg_sys::JsonbValue = std::mem::zeroed();
        let mut builder = UnitsBuilder::default();
        let mut key: &str = "";
        loop {
            match pg_sys::JsonbIteratorNext(&mut it, &mut v, true) {
                pg_sys::JsonbIteratorToken::WJB_DONE => break,
                pg_sys::JsonbIteratorToken::WJB_KEY => key = jsonb_str(&v),
                pg_sys::JsonbIteratorToken::WJB_VALUE => {
                    let text;
                    let value = match v.type_ {
                        pg_sys::jbvType::jbvNull => UnitValue::Null,
                        pg_sys::jbvType::jbvString => UnitValue::String(jsonb_str(&v)),
                        pg_sys::jbvType::jbvNumeric => {
                            text = NumericText(v.val.numeric);
                            UnitValue::Number {
                                value: decimal_from_numeric(pg_sys::Datum::from(v.val.numeric)),
                                text: &text,
                            }
                        }
                        pg_sys::jbvType::jbvBool => UnitValue::Other("a boolean"),
                        pg_sys::jbvType::jbvBinary => UnitValue::Other(container_kind(v.val.binary.data)),
                        _ => UnitValue::Other("an unsupported value"),
                    };
                    builder.add(key, &value)?;
                }
                _ => {}
            }
        }
        Ok(builder.finish())
    }
}

/// The text of a jsonb string value (keys and strings are stored as UTF-8
/// in a UTF-8 database; anything else reads as an unknown name).
///
/// # Safety
/// `v` must be a jbvString value whose bytes (inside a jsonb) outlive `'a`.
unsafe fn jsonb_str<'a>(v: &pg_sys::JsonbValue) -> &'a str {
    // SAFETY: `v` is a string value (caller's guarantee): `val.string` is the
    // active union field, and `val`/`len` describe bytes inside the jsonb.
    unsafe {
        let s = v.val.string;
        let bytes = std::slice::from_raw_parts(s.val as *const u8, s.len.max(0) as usize);
        std::str::from_utf8(bytes).unwrap_or("\u{FFFD}")
    }
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests {
    use super::units_from_jsonb;
    use crate::pricing::units::Units;
    use pgrx::prelude::*;
    use serde_json::json;

    /// The binary walk reads every input exactly as `Units::parse` reads its JSON.
    #[pg_test]
    fn the_jsonb_walk_agrees_with_the_serde_reader() {
        for v in [
            json!({}),
            json!({"web_search_queries": 3, "search_context_size": " HIGH ", "audio_seconds": 12.5}),
            json!({"cache_write_1h_tokens": 100, "audio_input_tokens": 5, "image_output_tokens": 0, "pages": null}),
            json!({"images": 2, "size": "1024-x-1792", "quality": "hd", "resolution": "4K"}),
            json!({"video_seconds": 0.000000000000000000000000000001, "characters": 123456789012345678_i64}),
            json!({"web_searches": 1}),
            json!({"images": -1}),
            json!({"images": "2"}),
            json!({"images": [2]}),
            json!({"images": {"n": 2}}),
            json!({"images": true}),
            json!({"size": 1024}),
            json!({"audio_input_tokens": 1.5}),
            json!({"audio_input_tokens": 1e30}),
            json!([1]),
            json!(5),
            // beyond f64: jsonb keeps the digits, serde (arbitrary_precision) the text
            serde_json::from_str(r#"{"pages": 1e400}"#).unwrap(),
        ] {
            let datum = pgrx::JsonB(v.clone()).into_datum().expect("jsonb datum");
            // SAFETY: `datum` is the jsonb just made, in this memory context.
            let walked = unsafe { units_from_jsonb(datum) };
            let parsed = Units::parse(&v);
            match (&walked, &parsed) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{v}"),
                // rejected by both (the words may differ in how a number is written)
                (Err(_), Err(_)) => {}
                _ => panic!("{v}: walked {walked:?}, parsed {parsed:?}"),
            }
        }
    }
}
