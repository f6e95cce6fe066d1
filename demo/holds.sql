-- llm_cost demo, part 4: budgets that hold under a burst. Run by
-- scripts/demo.sh after trust.sql (same throwaway server): it sets up the
-- budgets, demo/burst.sh fires the burst, then this file's second half
-- (psql -v part=results) shows what happened.
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;

\if :{?part}
\else
\echo
\echo '== Budgets that hold: a $1.00 hard cap and a 20-requests-per-minute limit, 24 agents at once'
INSERT INTO llm_cost.budgets (name, amount, period, tenant_id, hard_limit, thresholds)
VALUES ('burst: check-then-act cap', 1.00, 'total', 'burst-a', true, '{100}'),
       ('burst: reserved cap', 1.00, 'total', 'burst-b', true, '{100}');
INSERT INTO llm_cost.budgets (name, amount, unit, period, "window", tenant_id, hard_limit, thresholds)
VALUES ('burst: 20 rpm', 20, 'calls', 'rolling', '1 minute', 'burst-c', true, '{100}');
\echo 'each agent makes calls estimated at $0.05 (actual $0.02-$0.05) until refused:'
\echo '  tenant burst-a asks can_spend() first (check-then-act), tenant burst-b reserve()s,'
\echo '  tenant burst-c reserve()s against a rolling one-minute calls budget (an RPM limit)'
\endif

\if :{?part}
\echo
SELECT b.name, b.amount AS "limit", s.spent, s.calls,
       CASE WHEN s.spent > b.amount THEN 'OVER by ' || (s.spent - b.amount) ELSE 'held' END AS outcome
  FROM llm_cost.budgets AS b
  JOIN llm_cost.budget_status AS s ON s.budget_id = b.id
 WHERE b.name LIKE 'burst:%'
 ORDER BY b.name;
\echo 'reserve() holds the estimate against the cap at once (serialised per budget), and the'
\echo 'usage row that names the reservation settles it at its own commit: the cap cannot be passed.'
SELECT count(*) AS "burst-c calls (limit: 20 in any minute)",
       extract(epoch FROM max(occurred_at) - min(occurred_at))::numeric(6, 2) AS "over seconds"
  FROM llm_cost.usage WHERE tenant_id = 'burst-c';
SELECT (SELECT count(*) FROM llm_cost.budget_holds WHERE expires_at > clock_timestamp()) AS live_holds_left,
       (SELECT count(*) FROM llm_cost.budget_spend_drift) AS drift;
\endif
