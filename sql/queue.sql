-- The notification queue API: claim with a lease, ack, fail with backoff.
-- NOTIFY is only a wake-up; the table is the truth (as in pgmq, graphile-worker,
-- river): a consumer that was down drains what it missed with claim_notifications.

CREATE FUNCTION llm_cost.claim_notifications(max integer DEFAULT 100, lease interval DEFAULT '1 minute')
RETURNS SETOF llm_cost.notifications
LANGUAGE plpgsql AS $$
BEGIN
    IF max IS NULL OR max < 1 THEN
        RAISE EXCEPTION 'llm_cost.claim_notifications: max must be at least 1 (got %)', coalesce(max::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF lease IS NULL OR lease <= interval '0' THEN
        RAISE EXCEPTION 'llm_cost.claim_notifications: lease must be a positive interval (got %)', coalesce(lease::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- clock_timestamp(): a lease is about wall time, not the transaction's start.
    RETURN QUERY
    UPDATE llm_cost.notifications AS n
       SET claimed_until = clock_timestamp() + lease,
           attempts = n.attempts + 1
     WHERE n.id IN (SELECT q.id
                      FROM llm_cost.notifications AS q
                     WHERE q.delivered_at IS NULL
                       AND q.next_attempt_at <= clock_timestamp()
                       AND (q.claimed_until IS NULL OR q.claimed_until < clock_timestamp())
                     ORDER BY q.next_attempt_at, q.id
                     LIMIT max
                       FOR UPDATE SKIP LOCKED)
    RETURNING n.*;
END $$;
COMMENT ON FUNCTION llm_cost.claim_notifications(integer, interval) IS
  'Claims up to max undelivered notifications for lease (FOR UPDATE SKIP LOCKED: concurrent consumers never get the same row while its lease holds). Unacked rows return to the queue when the lease ends.';

CREATE FUNCTION llm_cost.ack_notification(id bigint) RETURNS boolean
LANGUAGE sql AS $$
    WITH acked AS (
        UPDATE llm_cost.notifications AS n
           SET delivered_at = clock_timestamp(), claimed_until = NULL, last_error = NULL
         WHERE n.id = ack_notification.id AND n.delivered_at IS NULL
        RETURNING 1)
    SELECT EXISTS (SELECT FROM acked)
$$;
COMMENT ON FUNCTION llm_cost.ack_notification(bigint) IS
  'Marks a notification delivered. Returns false when it does not exist or was already delivered.';

CREATE FUNCTION llm_cost.fail_notification(id bigint, error text) RETURNS timestamptz
LANGUAGE sql AS $$
    -- Exponential backoff: 2^attempts seconds (attempts counts claims), capped at an hour.
    UPDATE llm_cost.notifications AS n
       SET claimed_until = NULL,
           last_error = left(fail_notification.error, 2000),
           next_attempt_at = clock_timestamp() + least(interval '1 hour', interval '1 second' * power(2, least(n.attempts, 12)))
     WHERE n.id = fail_notification.id AND n.delivered_at IS NULL
    RETURNING n.next_attempt_at
$$;
COMMENT ON FUNCTION llm_cost.fail_notification(bigint, text) IS
  'Records a failed delivery and puts the notification back after an exponential backoff (2^attempts s, at most 1 hour). Returns when it will be retried, NULL if unknown or delivered.';
