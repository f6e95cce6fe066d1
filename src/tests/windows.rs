//! `#[pg_test]`s for rolling windows where Rust and SQL must agree: the slot
//! width and slot start the insert trigger computes (src/budgets) against
//! `llm_cost.window_slot_seconds` and `llm_cost.window_slot` (sql/budgets.sql).

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use super::*;
    use crate::budgets::budget_cache::slot_micros;
    use crate::budgets::budget_period::window_slot;

    #[pg_test]
    fn rust_and_sql_slot_rolling_windows_alike() {
        let windows = [
            "1 second",
            "59 seconds",
            "1 minute",
            "90 seconds",
            "1 hour",
            "1 hour 1 second",
            "3601.5 seconds",
            "2 hours",
            "24 hours",
            "1 day",
            "7 days",
            "30 days",
            "366 days",
            "1 day 00:00:00.5",
        ];
        let instants = [
            "2026-03-10 12:00:00+00",
            "2026-03-10 12:00:00.999999+00",
            "1999-12-31 23:59:59.5+00",
            "2000-01-01 00:00:00+00",
            "2024-02-29 23:59:59+00",
            "1970-01-01 00:00:00+00",
            "2038-01-19 03:14:08+00",
        ];
        for window in windows {
            let sql_seconds =
                Spi::get_one::<i64>(&format!("SELECT llm_cost.window_slot_seconds('{window}')")).unwrap().unwrap();
            let epoch = Spi::get_one::<String>(&format!("SELECT extract(epoch FROM interval '{window}')::text"))
                .unwrap()
                .unwrap();
            let micros = slot_micros(&epoch);
            assert_eq!(micros, sql_seconds * 1_000_000, "slot width of {window}");
            for at in instants {
                // Postgres timestamps: microseconds since 2000-01-01 UTC
                let at_micros = Spi::get_one::<i64>(&format!(
                    "SELECT ((extract(epoch FROM '{at}'::timestamptz) - 946684800) * 1000000)::bigint"
                ))
                .unwrap()
                .unwrap();
                let agree = Spi::get_one_with_args::<bool>(
                    "SELECT llm_cost.window_slot($1::interval, $2::timestamptz)
                          = '2000-01-01 00:00:00+00'::timestamptz + $3::bigint * interval '1 microsecond'",
                    &[window.into(), at.into(), window_slot(micros, at_micros).into()],
                )
                .unwrap()
                .unwrap();
                assert!(agree, "slot of {at} in a {window} window");
            }
        }
    }
}
