//! Postgres plumbing the features share.
//!
//! - `trigger_support`: what the raw C-ABI triggers share (declaration, TriggerData, column positions)
//! - `check_functions`: the C predicates the tables' CHECK constraints call
//! - `numeric_datum`: exact decimals to and from `numeric` datums
//! - `invalidation`: per-backend caches learn that their source tables changed
//! - `extension_owner`: internal reads and writes run as the extension's owner
//! - `settings`: GUCs (registered in `_PG_init`)
//! - `errors`: raising errors with standard SQLSTATEs

pub mod check_functions;
pub mod errors;
pub mod extension_owner;
pub mod invalidation;
pub mod numeric_datum;
pub mod settings;
pub mod trigger_support;
