//! `#[pg_test]`s for every charge beyond tokens (docs/charges.md): units on
//! the SQL functions, on insert, in reprice, budgets and analytics. Expected
//! costs are worked by hand in the comments.

use pgrx::prelude::*;

#[pg_schema]
mod tests {
    use super::*;

    fn text(sql: &str) -> Option<String> {
        Spi::get_one::<String>(sql).expect(sql)
    }

    fn run(sql: &str) {
        Spi::run(sql).expect(sql)
    }

    /// A call's cost with units, as normalised numeric text, or "NULL".
    fn cost(args: &str, units: &str) -> String {
        text(&format!("SELECT trim_scale(llm_cost.llm_cost({args}, units => '{units}'))::text"))
            .unwrap_or_else(|| "NULL".into())
    }

    /// unitco/u1: input 2, output 8, cache write 2.5 per million; 1-hour cache
    /// writes 4, audio input 20, audio output 80, image input 5 (image output:
    /// none, so the output price); web search 0.01/0.02/0.03 by context size
    /// (default medium), images by quality/size, 0.0001 per audio second.
    fn unit_prices() {
        run("SELECT llm_cost.set_price('unitco', 'u1', 2, 8, cache_write_per_mtok => 2.5, valid_from => '-infinity')");
        run(r#"UPDATE llm_cost.prices SET cache_write_1h_per_mtok = 4, audio_input_per_mtok = 20,
                      audio_output_per_mtok = 80, image_input_per_mtok = 5,
                      unit_prices = llm_cost._unit_prices('{"web_search_queries": {"low": 0.01, "medium": 0.02, "High": 0.03, "default": 0.02},
                                                            "images": {"standard/1024x1024": 0.04, "HD/1024-x-1792": 0.12, "1024x1024": 0.05},
                                                            "audio_seconds": 0.0001}', 'test')
                WHERE provider = 'unitco'"#);
    }

    #[pg_test]
    fn token_subsets_at_their_own_rates() {
        unit_prices();
        // input 10000 of which cache write 3000 (1h: 1000), audio 2000, image 1000;
        // output 4000 of which audio 1000:
        // text input (10000-3000-2000-1000)=4000*2 = 8000; cache write 2000*2.5 = 5000; 1h 1000*4 = 4000;
        // audio in 2000*20 = 40000; image in 1000*5 = 5000; text out 3000*8 = 24000; audio out 1000*80 = 80000
        // = 166000 / 1e6
        assert_eq!(
            cost(
                "'unitco', 'u1', 10000, 4000, cache_write_tokens => 3000",
                r#"{"cache_write_1h_tokens": 1000, "audio_input_tokens": 2000, "image_input_tokens": 1000, "audio_output_tokens": 1000}"#
            ),
            "0.166"
        );
        // image output has no price of its own: the output rate. 1000*8 = 8000 / 1e6
        assert_eq!(cost("'unitco', 'u1', 0, 1000", r#"{"image_output_tokens": 1000}"#), "0.008");
        // without units, the same tokens are plain tokens: 10000*2 + ... no cache write here
        assert_eq!(cost("'unitco', 'u1', 10000, 0", "{}"), "0.02");
    }

    #[pg_test]
    fn counted_units_by_selector() {
        unit_prices();
        // 3 searches at high 0.03 = 0.09, plus 1000 input tokens * 2 / 1e6 = 0.002
        assert_eq!(
            cost("'unitco', 'u1', 1000, 0", r#"{"web_search_queries": 3, "search_context_size": "HIGH"}"#),
            "0.092"
        );
        // no context size: default (medium 0.02)
        assert_eq!(cost("'unitco', 'u1', 0, 0", r#"{"web_search_queries": 3}"#), "0.06");
        // hd/1024x1792 = 0.12 each; standard/1792x1024 is not listed and there is no default: unpriced
        assert_eq!(cost("'unitco', 'u1', 0, 0", r#"{"images": 2, "quality": "hd", "size": "1024x1792"}"#), "0.24");
        assert_eq!(
            cost("'unitco', 'u1', 0, 0", r#"{"images": 1, "quality": "standard", "size": "1792x1024"}"#),
            "NULL"
        );
        // quality/size missing, size listed alone: 0.05
        assert_eq!(cost("'unitco', 'u1', 0, 0", r#"{"images": 1, "quality": "low", "size": "1024x1024"}"#), "0.05");
        // fractional seconds are exact: 12.5 * 0.0001
        assert_eq!(cost("'unitco', 'u1', 0, 0", r#"{"audio_seconds": 12.5}"#), "0.00125");
        // a unit the row has no price for: unpriced, and cost_breakdown says which
        assert_eq!(cost("'unitco', 'u1', 1000, 0", r#"{"pages": 1}"#), "NULL");
        assert_eq!(
            text(r#"SELECT llm_cost.cost_breakdown('unitco', 'u1', 1000, 0, units => '{"pages": 1}') ->> 'reason'"#)
                .as_deref(),
            Some("the price row has no price for pages")
        );
        // quantity 0 is free
        assert_eq!(cost("'unitco', 'u1', 1000, 0", r#"{"pages": 0}"#), "0.002");
    }

    #[pg_test]
    fn cost_breakdown_lists_every_charge_and_adds_up() {
        unit_prices();
        let b = r#"llm_cost.cost_breakdown('unitco', 'u1', 10000, 4000, cache_write_tokens => 3000,
                       units => '{"cache_write_1h_tokens": 1000, "audio_output_tokens": 1000, "web_search_queries": 2, "search_context_size": "low"}')"#;
        // components: input 7000*2, cache_write 2000*2.5, cache_write_1h 1000*4, output 3000*8, audio_output 1000*80
        // = 14000 + 5000 + 4000 + 24000 + 80000 = 127000 / 1e6 = 0.127; searches 2 * 0.01 = 0.02
        assert_eq!(text(&format!("SELECT ({b}) ->> 'cost'")).as_deref(), Some("0.147"));
        assert_eq!(
            text(&format!(
                "SELECT ((SELECT sum((c.value ->> 'cost')::numeric) FROM jsonb_each(({b}) -> 'components') AS c)
                      + (SELECT sum((u ->> 'cost')::numeric) FROM jsonb_array_elements(({b}) -> 'units') AS u)
                      = (({b}) ->> 'cost')::numeric)::text"
            ))
            .as_deref(),
            Some("true")
        );
        assert_eq!(
            text(&format!("SELECT ({b}) -> 'units' -> 0 ->> 'selector' || ' ' || (({b}) -> 'components' -> 'cache_write_1h' ->> 'per_mtok')"))
                .as_deref(),
            Some("low 4")
        );
    }

    #[pg_test]
    fn the_ledger_prices_units_on_insert_and_in_reprice() {
        unit_prices();
        run(r#"INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, units)
               VALUES ('2026-03-01', 'unitco', 'u1', 1000, '{"web_search_queries": 1, "search_context_size": "low"}'),
                      ('2026-03-01', 'unitco', 'u1', 0, '{"images": 1, "size": "512x512"}')"#);
        // 0.002 + 0.01; the second has no price for 512x512 images
        assert_eq!(
            text("SELECT string_agg(coalesce(trim_scale(cost)::text, 'NULL'), ' ' ORDER BY id) FROM llm_cost.usage")
                .as_deref(),
            Some("0.012 NULL")
        );
        assert_eq!(text("SELECT count(*)::text FROM llm_cost.unpriced_usage").as_deref(), Some("1"));
        // the price arrives: reprice finds it, and the search price change reprices the first row too
        run(r#"UPDATE llm_cost.prices SET unit_prices = llm_cost._unit_prices(
                   '{"web_search_queries": {"low": 0.015}, "images": {"512x512": 0.02}}', 'test')
                WHERE provider = 'unitco'"#);
        assert_eq!(text("SELECT llm_cost.reprice()::text").as_deref(), Some("2"));
        assert_eq!(
            text("SELECT string_agg(trim_scale(cost)::text, ' ' ORDER BY id) FROM llm_cost.usage").as_deref(),
            Some("0.017 0.02")
        );
    }

    #[pg_test]
    fn copy_prices_units_like_insert() {
        unit_prices();
        // a file written by the server, then COPY FROM it: the same trigger prices each row
        let file = format!("/tmp/llm_cost_units_{}.copy", std::process::id());
        run(&format!(
            r#"COPY (VALUES ('unitco', 'u1', 1000, '{{"web_search_queries": 2, "search_context_size": "low"}}'::jsonb),
                            ('unitco', 'u1', 0, '{{"audio_seconds": 30}}'::jsonb),
                            ('unitco', 'u1', 500, NULL::jsonb)) TO '{file}'"#
        ));
        run(&format!("COPY llm_cost.usage (provider, model, input_tokens, units) FROM '{file}'"));
        let _ = std::fs::remove_file(&file);
        // 0.002 + 2 * 0.01; 30 * 0.0001; 500 * 2 / 1e6
        assert_eq!(
            text("SELECT string_agg(trim_scale(cost)::text, ' ' ORDER BY id) FROM llm_cost.usage").as_deref(),
            Some("0.022 0.003 0.001")
        );
    }

    #[pg_test]
    fn budgets_count_every_charge() {
        unit_prices();
        run("INSERT INTO llm_cost.budgets (name, amount, period) VALUES ('units', 1, 'total')");
        run(r#"INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, units)
               VALUES ('2026-03-01', 'unitco', 'u1', 0, '{"web_search_queries": 40, "search_context_size": "high"}')"#);
        // 40 * 0.03 = 1.2 > 1: the budget saw the searches
        assert_eq!(
            text("SELECT trim_scale(spent)::text || ' ' || (spent > amount) FROM llm_cost.budget_status_at('2026-03-02') WHERE name = 'units'")
                .as_deref(),
            Some("1.2 true")
        );
    }

    #[pg_test]
    fn analytics_see_units_and_modes() {
        unit_prices();
        run("INSERT INTO llm_cost.models (provider, model, mode) VALUES ('unitco', 'u1', 'image_generation')");
        run(r#"INSERT INTO llm_cost.usage (occurred_at, provider, model, input_tokens, units) VALUES
                 ('2026-03-01 10:00Z', 'unitco', 'u1', 0, '{"images": 2, "size": "1024x1024"}'),
                 ('2026-03-01 11:00Z', 'unitco', 'u1', 0, '{"images": 1, "size": "1024x1024", "audio_seconds": 2.5}'),
                 ('2026-03-01 12:00Z', 'unitco', 'u1', 1000, NULL)"#);
        let daily = "SELECT units::text FROM llm_cost.daily_costs WHERE provider = 'unitco'";
        assert_eq!(text(daily).as_deref(), Some(r#"{"images": 3, "audio_seconds": 2.5}"#));
        // the same after a rollup, and after a rolled-up row is corrected
        run("SELECT llm_cost.refresh_rollups()");
        assert_eq!(text(daily).as_deref(), Some(r#"{"images": 3, "audio_seconds": 2.5}"#));
        run(
            r#"UPDATE llm_cost.usage SET units = '{"images": 5, "size": "1024x1024"}' WHERE occurred_at = '2026-03-01 10:00Z'"#,
        );
        assert_eq!(text("SELECT llm_cost.reprice()::text").as_deref(), Some("1"));
        assert_eq!(text(daily).as_deref(), Some(r#"{"images": 6, "audio_seconds": 2.5}"#));
        // cost_by mode: 6 images * 0.05 + 2.5 s * 0.0001 + 1000 tokens * 2 / 1e6 = 0.3 + 0.00025 + 0.002
        assert_eq!(
            text("SELECT value || ' ' || trim_scale(cost) || ' ' || calls FROM llm_cost.cost_by('mode', '2026-03-01', '2026-03-02')")
                .as_deref(),
            Some("image_generation 0.30225 3")
        );
        assert_eq!(
            text("SELECT string_agg(coalesce(units, '-'), ' ' ORDER BY id) FROM llm_cost.usage_export").as_deref(),
            Some(r#"{"size": "1024x1024", "images": 5} {"size": "1024x1024", "images": 1, "audio_seconds": 2.5} -"#)
        );
    }
}
