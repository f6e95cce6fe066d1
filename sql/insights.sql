-- Insights: anomalies (days whose spend breaks from its own history; the
-- detector is in Rust, src/anomaly.rs) and the alerts they can raise.

CREATE AGGREGATE llm_cost.anomaly_scan(day date, cost numeric, from_day date, to_day date, threshold double precision) (
    SFUNC = llm_cost._anomaly_scan_add,
    STYPE = internal,
    FINALFUNC = llm_cost._anomaly_scan_final,
    COMBINEFUNC = llm_cost._anomaly_scan_combine,
    SERIALFUNC = llm_cost._anomaly_scan_serialize,
    DESERIALFUNC = llm_cost._anomaly_scan_deserialize,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE llm_cost.anomaly_scan(date, numeric, date, date, double precision) IS
  'Over one scope''s daily spend rows: the days in [from_day, to_day) whose spend breaks from the 28 days before (weekday pattern, median and MAD; anomalies found are left out of later baselines), as a jsonb array of {day, spend, expected, score}. |score| >= threshold flags a day; 3.5 is a good start.';
COMMENT ON FUNCTION llm_cost._anomaly_scan_add(internal, date, numeric, date, date, double precision) IS 'Internal: anomaly_scan state function.';
COMMENT ON FUNCTION llm_cost._anomaly_scan_combine(internal, internal) IS 'Internal: combines partial anomaly_scan states (parallel aggregation).';
COMMENT ON FUNCTION llm_cost._anomaly_scan_serialize(internal) IS 'Internal: anomaly_scan state to bytes.';
COMMENT ON FUNCTION llm_cost._anomaly_scan_deserialize(bytea, internal) IS 'Internal: anomaly_scan state from bytes.';
COMMENT ON FUNCTION llm_cost._anomaly_scan_final(internal) IS 'Internal: runs the detector and lists the anomalies.';

CREATE FUNCTION llm_cost.anomalies(from_time timestamptz DEFAULT now() - interval '30 days',
                                   to_time timestamptz DEFAULT now(),
                                   dimension text DEFAULT NULL,
                                   threshold double precision DEFAULT 3.5)
RETURNS TABLE (day date, "time" timestamptz, value text, spend numeric, expected numeric,
               score numeric, direction text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    first_day date := llm_cost._utc_day_ceil(from_time);
    last_day date := llm_cost._utc_day(to_time);      -- exclusive: only whole UTC days are judged
BEGIN
    IF dimension IS NOT NULL AND dimension NOT IN ('provider', 'model', 'tenant_id', 'project_id', 'user_id', 'agent_id', 'operation') THEN
        RAISE EXCEPTION 'llm_cost.anomalies: unknown dimension %', quote_literal(dimension)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use NULL (total spend) or one of provider, model, tenant_id, project_id, user_id, agent_id, operation.';
    END IF;
    IF threshold IS NULL OR NOT threshold > 0 OR threshold = 'Infinity' THEN
        RAISE EXCEPTION 'llm_cost.anomalies: threshold must be a positive number (got %)', coalesce(threshold::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF from_time IS NULL OR to_time IS NULL OR to_time - from_time > interval '3660 days' THEN
        RAISE EXCEPTION 'llm_cost.anomalies: from_time and to_time must be given and at most 3660 days apart'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY EXECUTE format(
        'SELECT (a->>''day'')::date, llm_cost._utc_midnight((a->>''day'')::date), s.value,
                (a->>''spend'')::numeric, (a->>''expected'')::numeric, (a->>''score'')::numeric,
                CASE WHEN (a->>''score'')::numeric > 0 THEN ''spike'' ELSE ''drop'' END
           FROM (SELECT %s AS value,
                        llm_cost.anomaly_scan(f.day, f.cost, $1, $2, $4) AS found
                   FROM llm_cost.usage_facts(llm_cost._utc_midnight($1 - 56), llm_cost._utc_midnight($2)) AS f
                  GROUP BY 1) AS s,
                jsonb_array_elements(s.found) AS a
          ORDER BY 1, abs((a->>''score'')::numeric) DESC',
        CASE WHEN dimension IS NULL THEN 'NULL::text' ELSE format('f.%I', dimension) END)
    USING first_day, last_day, dimension, threshold;
END $$;
COMMENT ON FUNCTION llm_cost.anomalies(timestamptz, timestamptz, text, double precision) IS
  'Whole UTC days in [from_time, to_time) whose model spend breaks from its own recent history, for total spend (dimension NULL; value is NULL) or per value of a dimension: spend, expected, robust score, spike or drop. Robust to weekly seasonality and to earlier outliers.';

-- Queues one 'anomaly' notification per day, dimension and value found.
CREATE FUNCTION llm_cost.queue_anomaly_alerts(day date DEFAULT (now() AT TIME ZONE 'UTC')::date - 1,
                                              dimensions text[] DEFAULT ARRAY[NULL, 'tenant_id', 'project_id', 'agent_id', 'model'],
                                              threshold double precision DEFAULT 3.5)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    d text;
    a record;
    queued integer := 0;
BEGIN
    IF day IS NULL OR dimensions IS NULL THEN
        RAISE EXCEPTION 'llm_cost.queue_anomaly_alerts: day and dimensions must not be NULL'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH d IN ARRAY dimensions LOOP
        FOR a IN SELECT * FROM llm_cost.anomalies(llm_cost._utc_midnight(day), llm_cost._utc_midnight(day + 1), d, threshold) LOOP
            IF llm_cost._queue_notification(
                   'anomaly',
                   format('anomaly:%s:%s:%s', a.day, coalesce(d, 'total'), coalesce(a.value, '')),
                   jsonb_build_object('day', a.day, 'dimension', coalesce(d, 'total'), 'per_value', a.value,
                                      'spend', a.spend, 'expected', a.expected, 'score', a.score,
                                      'direction', a.direction),
                   per_value => a.value) IS NOT NULL THEN
                queued := queued + 1;
            END IF;
        END LOOP;
    END LOOP;
    RETURN queued;
END $$;
COMMENT ON FUNCTION llm_cost.queue_anomaly_alerts(date, text[], double precision) IS
  'Queues an anomaly notification (kind ''anomaly'', once per day, dimension and value: calling it again queues nothing new) for each anomaly on a UTC day, by default yesterday, for total spend and per tenant, project, agent and model; returns how many it queued. Run it daily (e.g. from pg_cron).';
