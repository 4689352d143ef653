# PostgreSQL only: the common case of a window booking written in one statement (see
# heatdesk/bookings/quick_create.py). SQLite keeps the Python path. The function takes the same
# locks in the same order as that path (the window's resource row, then the slot counter, then
# the house quota) and leaves every race to the same constraints; anything unusual (a reused
# key, a run-out hold, a full slot or window, the house limit) makes it write nothing and
# answer so, and the caller then takes the full path, which answers as it always has.

from django.db import migrations

FUNCTION_SQL = r"""
CREATE OR REPLACE FUNCTION hd_booking_create(
    p_created_by bigint, p_key text, p_fingerprint text,
    p_service_id bigint, p_resource_id bigint, p_capacity integer,
    p_starts_at timestamptz, p_ends_at timestamptz,
    p_blocked_from timestamptz, p_blocked_until timestamptz,
    p_now timestamptz, p_lock_timeout text,
    p_house_id bigint, p_quota_limit integer,
    p_public_id text, p_code text, p_resident_id bigint,
    p_contact_name text, p_contact_phone text, p_note text, p_status text,
    p_hold_expires_at timestamptz, p_remind_at timestamptz, p_written_at timestamptz,
    p_actor_label text,
    p_sms_phone text, p_sms_phone_hash text, p_sms_template text, p_sms_params text,
    p_task_id uuid, p_task_path text, p_task_priority integer, p_task_queue text,
    p_task_backend text, p_task_run_after timestamptz,
    OUT o_outcome text, OUT o_booking bigint, OUT o_event bigint, OUT o_sms bigint,
    OUT o_slot bigint
) LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    v_window integer;
    v_slot bigint;
    v_peak integer;
    v_quota bigint;
    v_booking bigint;
    v_event bigint;
    v_sms bigint;
BEGIN
    IF p_key IS NOT NULL AND EXISTS (
        SELECT 1 FROM bookings_booking b
        WHERE b.created_by_id = p_created_by AND b.idempotency_key = p_key
    ) THEN
        o_outcome := 'replay';
        RETURN;
    END IF;
    IF p_quota_limit IS NOT NULL AND p_quota_limit < 1 THEN
        o_outcome := 'house_limit';
        RETURN;
    END IF;
    PERFORM set_config('lock_timeout', p_lock_timeout, true);

    -- The window's row lock queues its takers; each statement below runs on a new snapshot
    -- (READ COMMITTED), so the count sees what the previous holder committed.
    SELECT r.capacity_per_slot INTO v_window
    FROM bookings_resource r WHERE r.id = p_resource_id FOR UPDATE;
    IF NOT FOUND THEN
        o_outcome := 'gone';
        RETURN;
    END IF;
    SELECT s.id INTO v_slot FROM bookings_slot s
    WHERE s.resource_id = p_resource_id AND s.service_id = p_service_id
      AND s.starts_at = p_starts_at;
    IF v_slot IS NOT NULL AND EXISTS (
        SELECT 1 FROM bookings_booking b
        WHERE b.status = 'held' AND b.hold_expires_at <= p_now AND b.slot_id = v_slot
    ) THEN
        o_outcome := 'stale_holds';
        RETURN;
    END IF;
    -- The most active bookings of any service on this window at one moment of the range:
    -- rules.peak_overlap, counted at the range's start and where a booking begins inside it.
    WITH iv AS (
        SELECT b.starts_at AS s, b.ends_at AS e FROM bookings_booking b
        WHERE b.resource_id = p_resource_id AND NOT b.exclusive
          AND b.starts_at < p_ends_at AND b.ends_at > p_starts_at
          AND (b.status IN ('pending', 'confirmed')
               OR (b.status = 'held' AND b.hold_expires_at > p_now))
    )
    SELECT coalesce(max((SELECT count(*) FROM iv WHERE iv.s <= m.t AND m.t < iv.e)), 0)
    INTO v_peak
    FROM (SELECT p_starts_at AS t UNION ALL SELECT iv.s FROM iv WHERE iv.s > p_starts_at) m;
    IF v_peak >= v_window THEN
        o_outcome := 'full';
        RETURN;
    END IF;

    -- The place: a new counter at 1, or one more on the existing one while it has room. The
    -- row lock serialises takers; the WHERE is re-checked on the newest row version.
    v_slot := NULL;
    INSERT INTO bookings_slot AS s (resource_id, service_id, starts_at, ends_at, capacity, booked)
    VALUES (p_resource_id, p_service_id, p_starts_at, p_ends_at, p_capacity, 1)
    ON CONFLICT (resource_id, service_id, starts_at)
    DO UPDATE SET booked = s.booked + 1 WHERE s.booked + 1 <= s.capacity
    RETURNING s.id INTO v_slot;
    IF v_slot IS NULL THEN
        o_outcome := 'full';
        RETURN;
    END IF;
    IF p_house_id IS NOT NULL THEN
        INSERT INTO bookings_housequota AS q (house_id, service_id, active)
        VALUES (p_house_id, p_service_id, 1)
        ON CONFLICT (house_id, service_id)
        DO UPDATE SET active = q.active + 1
        WHERE p_quota_limit IS NULL OR q.active + 1 <= p_quota_limit
        RETURNING q.id INTO v_quota;
        IF v_quota IS NULL THEN
            -- Undo the place taken above with the whole statement.
            RAISE EXCEPTION 'house booking limit reached' USING ERRCODE = 'HDB01';
        END IF;
    END IF;

    INSERT INTO bookings_booking (
        public_id, code, service_id, resource_id, slot_id, exclusive, resident_id, house_id,
        contact_name, contact_phone, note, starts_at, ends_at, blocked_from, blocked_until,
        status, hold_expires_at, technician_id, outcome_notes, remind_at, reminder_sent_at,
        idempotency_key, request_fingerprint, version, created_by_id, created_at, updated_at
    ) VALUES (
        p_public_id, p_code, p_service_id, p_resource_id, v_slot, false, p_resident_id,
        p_house_id, p_contact_name, p_contact_phone, p_note, p_starts_at, p_ends_at,
        p_blocked_from, p_blocked_until, p_status, p_hold_expires_at, NULL, '', p_remind_at,
        NULL, p_key, p_fingerprint, 1, p_created_by, p_written_at, p_written_at
    ) RETURNING id INTO v_booking;
    INSERT INTO bookings_bookingevent (
        booking_id, occurred_at, kind, from_status, to_status, actor_id, actor_label, reason,
        data
    ) VALUES (
        v_booking, p_written_at, 'created', '', p_status, p_created_by, p_actor_label, '', NULL
    ) RETURNING id INTO v_event;
    IF p_sms_phone IS NOT NULL THEN
        INSERT INTO notifications_outboundsms (
            phone, phone_hash, template, params_json, status, provider, provider_message_id,
            error, created_at, sent_at, attempts
        ) VALUES (
            p_sms_phone, p_sms_phone_hash, p_sms_template, p_sms_params, 'queued', '', '', '',
            p_written_at, NULL, 0
        ) RETURNING id INTO v_sms;
        IF p_task_id IS NOT NULL THEN
            INSERT INTO django_tasks_database_dbtaskresult (
                id, status, enqueued_at, started_at, finished_at, args_kwargs, priority,
                task_path, worker_ids, queue_name, backend_name, run_after, return_value,
                exception_class_path, traceback
            ) VALUES (
                p_task_id, 'READY', p_written_at, NULL, NULL,
                jsonb_build_object('args', jsonb_build_array(v_sms), 'kwargs', '{}'::jsonb),
                p_task_priority, p_task_path, '[]'::jsonb, p_task_queue, p_task_backend,
                p_task_run_after, NULL, '', ''
            );
        END IF;
    END IF;
    o_outcome := 'created';
    o_booking := v_booking;
    o_event := v_event;
    o_sms := v_sms;
    o_slot := v_slot;
END
$fn$
"""

DROP_SQL = "DROP FUNCTION IF EXISTS hd_booking_create"


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION_SQL)


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("bookings", "0001_initial_bookings"),
        ("notifications", "0001_initial"),
        (
            "django_tasks_database",
            "0019_rename_django_task_new_ordering_idx_tasks_db_new_ordering_idx_and_more",
        ),
    ]

    operations = [migrations.RunPython(create_function, drop_function)]
