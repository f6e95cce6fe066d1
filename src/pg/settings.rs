//! `SET`-able settings (GUCs). Each is documented in README.md.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};

/// What to do with a usage row whose model has no price.
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum OnUnpriced {
    /// Keep the row with cost NULL and raise a WARNING (once per model per transaction).
    Warn,
    /// Reject the statement.
    Error,
    /// Keep the row with cost NULL, silently.
    Ignore,
}

pub static ON_UNPRICED: GucSetting<OnUnpriced> = GucSetting::<OnUnpriced>::new(OnUnpriced::Warn);
pub static PRICE_STALE_AFTER: GucSetting<Option<std::ffi::CString>> =
    GucSetting::<Option<std::ffi::CString>>::new(Some(c"30 days"));
pub static NOTIFY_CHANNEL: GucSetting<Option<std::ffi::CString>> =
    GucSetting::<Option<std::ffi::CString>>::new(Some(c"llm_cost"));
/// Read by llm_cost.current_tenant() (src/pg/check_functions.rs), which the
/// row-level security policies and the tenant_id column defaults call.
pub static TENANT_ID: GucSetting<Option<std::ffi::CString>> = GucSetting::<Option<std::ffi::CString>>::new(None);
/// Read by the maintenance worker (src/maintenance/) and by the writes that
/// start it: whether each database keeps its rollups up to date by itself.
pub static AUTO_REFRESH: GucSetting<bool> = GucSetting::<bool>::new(true);
/// Seconds between the maintenance worker's rounds.
pub static REFRESH_INTERVAL: GucSetting<i32> = GucSetting::<i32>::new(10);

pub fn register() {
    GucRegistry::define_enum_guc(
        c"llm_cost.on_unpriced",
        c"What to do with a usage row whose model has no price: warn, error or ignore.",
        c"warn and ignore keep the row with cost NULL (see llm_cost.unpriced_usage); error rejects the statement.",
        &ON_UNPRICED,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"llm_cost.price_stale_after",
        c"How old a price's verified_at may be before llm_cost.stale_prices lists it (an interval).",
        c"",
        &PRICE_STALE_AFTER,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"llm_cost.notify_channel",
        c"The pg_notify channel alerts are announced on.",
        c"",
        &NOTIFY_CHANNEL,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"llm_cost.tenant_id",
        c"The tenant this session works for: roles other than llm_cost_admin see and write only its rows.",
        c"Unset: such roles see no tenant's rows. New usage rows without a tenant_id take this one.",
        &TENANT_ID,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"llm_cost.auto_refresh",
        c"Whether a background worker per database keeps the rollups up to date (llm_cost.run_maintenance).",
        c"Set it per database (ALTER DATABASE ... SET) or server-wide; off stops the worker within one interval.",
        &AUTO_REFRESH,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"llm_cost.refresh_interval",
        c"Time between two rounds of the maintenance worker.",
        c"",
        &REFRESH_INTERVAL,
        1,
        86400,
        GucContext::Userset,
        GucFlags::UNIT_S,
    );
}
