//! Background maintenance: rollups that keep up by themselves (sql/maintenance.sql).
//!
//! - `worker`: the per-database dynamic background worker, how it is started
//!   (CREATE EXTENSION, and writes when it is missing) and when it stops

pub mod worker;
