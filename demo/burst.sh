#!/usr/bin/env bash
# The burst of demo/holds.sql: 24 agents per tenant at once, each making calls
# until its budget refuses. burst-a checks with can_spend() and then records
# (check-then-act); burst-b and burst-c reserve() first and record the call
# with its reservation_id. Runs against the demo's server (PGHOST and PGPORT set).
set -euo pipefail

agent() {   # tenant, mode, agent number
  psql -X -q -t -A -d postgres -v ON_ERROR_STOP=1 >/dev/null <<SQL
SET llm_cost.tenant_id = '$1';
DO \$\$
DECLARE
    reservation bigint;
    refused int := 0;
BEGIN
    WHILE refused < 3 LOOP
        IF '$2' = 'check' THEN
            IF llm_cost.can_spend(0.05) THEN
                PERFORM pg_sleep(0.01);     -- the call itself
                INSERT INTO llm_cost.usage (provider, model, cost, agent_id)
                VALUES ('openai', 'gpt-4o', 0.02 + (random() * 3)::int / 100.0, 'agent-$3');
            ELSE
                refused := refused + 1;
            END IF;
        ELSE
            reservation := llm_cost.reserve(0.05, lease => '1 minute');
            IF reservation IS NOT NULL THEN
                PERFORM pg_sleep(0.01);     -- the call itself
                INSERT INTO llm_cost.usage (provider, model, cost, agent_id, reservation_id)
                VALUES ('openai', 'gpt-4o', 0.02 + (random() * 3)::int / 100.0, 'agent-$3', reservation);
            ELSE
                refused := refused + 1;
            END IF;
        END IF;
        COMMIT;     -- each call its own transaction, as an app's would be
    END LOOP;
END \$\$;
SQL
}

pids=()
for i in $(seq 24); do
  agent burst-a check "$i" & pids+=($!)
  agent burst-b reserve "$i" & pids+=($!)
  agent burst-c reserve "$i" & pids+=($!)
done
wait "${pids[@]}"
