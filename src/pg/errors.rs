//! Raising errors with standard SQLSTATEs. Every user mistake gets a message
//! that names what was wrong and a code a client can branch on.

use pgrx::prelude::*;
use pgrx::PgSqlErrorCode;

/// 22023 invalid_parameter_value: a value of the right type that makes no sense here.
pub fn invalid_parameter(message: impl Into<String>) -> ! {
    raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, message.into(), None)
}

/// 22003 numeric_value_out_of_range.
pub fn out_of_range(message: impl Into<String>) -> ! {
    raise(PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, message.into(), None)
}

/// 22003 for budget spend (pending or written) that left exact arithmetic.
pub fn spend_out_of_range() -> ! {
    out_of_range("budget spend out of range for exact arithmetic")
}

/// 23502 not_null_violation.
pub fn not_null(message: impl Into<String>) -> ! {
    raise(PgSqlErrorCode::ERRCODE_NOT_NULL_VIOLATION, message.into(), None)
}

/// 22P02-family errors for malformed JSON documents use 22023 with a hint.
pub fn invalid_parameter_with_hint(message: impl Into<String>, hint: impl Into<String>) -> ! {
    raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, message.into(), Some(hint.into()))
}

fn raise(code: PgSqlErrorCode, message: String, hint: Option<String>) -> ! {
    let mut report = pgrx::pg_sys::panic::ErrorReport::new(code, message, "llm_cost");
    if let Some(hint) = hint {
        report = report.set_hint(hint);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}
