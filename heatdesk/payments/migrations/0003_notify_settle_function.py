"""PostgreSQL only: `payments_notify_settle`, the common case of a confirmed payment notify
settled in one statement (see `payments.services.notify_settle_sql`). SQLite has no such
function and keeps the Python path.

It answers the new notify's id when it settled the order; 0 for a redelivery of an event
already stored, for an order we know at this amount (acknowledged, nothing written). It writes
only when every condition of the plain case holds; otherwise it takes no more than row locks
(released with the statement's transaction) and returns NULL, and the Python path
(`order_settle` with its alerts) answers. Table and value names below are those of
the models as of this migration: a later change to any of them needs a new version here.
"""

from typing import Any

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION payments_notify_settle(
    p_provider text,
    p_event_id text,
    p_event_type text,
    p_out_trade_no text,
    p_transaction_id text,
    p_paid_fen bigint,
    p_paid_at timestamptz,
    p_as_of date,
    p_payload jsonb,
    p_now timestamptz,
    p_explanation text
) RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
    v_order bigint;
    v_house bigint;
    v_account_no text;
    v_items integer;
    v_bills integer;
    v_sum bigint;
    v_odd integer;
    v_credit bigint;
    v_notify bigint;
    v_entry bigint;
    v_allocations jsonb;
    v_moved integer;
BEGIN
    -- A redelivery of an event stored before, for an order we know at this amount: 0, to be
    -- acknowledged as it is (the Python path refuses one for an unknown order or amount).
    IF EXISTS (SELECT 1 FROM payments_providernotify
                WHERE provider = p_provider AND event_id = p_event_id) THEN
        IF EXISTS (SELECT 1 FROM payments_paymentorder
                    WHERE provider = p_provider AND out_trade_no = p_out_trade_no
                      AND amount_fen = p_paid_fen) THEN
            RETURN 0;
        END IF;
        RETURN NULL;
    END IF;
    -- The order still waiting for exactly this amount, locked as its compare-and-set would.
    SELECT id INTO v_order FROM payments_paymentorder
     WHERE provider = p_provider AND out_trade_no = p_out_trade_no AND amount_fen = p_paid_fen
       AND status IN ('created', 'pending', 'unknown')
       FOR NO KEY UPDATE;
    IF v_order IS NULL THEN
        RETURN NULL;
    END IF;
    -- One house; every item for a bill, each bill once, the items summing to the order.
    SELECT count(*), count(DISTINCT bill_id), min(house_id), sum(amount_fen),
           count(*) FILTER (WHERE bill_id IS NULL OR amount_fen <= 0)
           + count(DISTINCT house_id) - 1
      INTO v_items, v_bills, v_house, v_sum, v_odd
      FROM payments_paymentorderitem WHERE order_id = v_order;
    IF v_items = 0 OR v_odd <> 0 OR v_bills <> v_items OR v_sum <> p_paid_fen THEN
        RETURN NULL;
    END IF;
    -- The account's one lock, then its state under it.
    SELECT account_no INTO v_account_no FROM estates_house WHERE id = v_house FOR UPDATE;
    IF EXISTS (SELECT 1 FROM billing_ledgerentry
                WHERE source = p_provider AND source_id = p_out_trade_no AND source_id <> '') THEN
        RETURN NULL;
    END IF;
    SELECT -COALESCE((SELECT sum(amount_fen) FROM billing_ledgerentry
                       WHERE house_id = v_house AND kind IN ('payment', 'refund')), 0)
           - COALESCE((SELECT sum(amount_fen) FROM billing_allocation
                        WHERE house_id = v_house), 0)
      INTO v_credit;
    IF v_credit <> 0 THEN
        RETURN NULL;  -- credit on the account also goes to bills: the Python path decides
    END IF;
    -- Every bill of the house, open, owing at least its item, with no late fee and no early
    -- discount that settling it could fix into a line.
    IF EXISTS (
        SELECT 1
          FROM payments_paymentorderitem i
          JOIN billing_bill b ON b.id = i.bill_id
          JOIN billing_heatingseason s ON s.id = b.season_id
         WHERE i.order_id = v_order
           AND (b.house_id <> v_house
                OR b.status NOT IN ('issued', 'partially_paid')
                OR i.amount_fen > b.total_fen - b.paid_fen
                OR NOT (s.late_fee_kind = 'none' OR s.late_fee_start_date IS NULL
                        OR p_as_of < s.late_fee_start_date
                        OR EXISTS (SELECT 1 FROM billing_billline l
                                    WHERE l.bill_id = b.id AND l.kind = 'late_fee'))
                OR NOT (s.early_discount_rate IS NULL OR s.early_discount_last_day IS NULL
                        OR p_as_of > s.early_discount_last_day
                        OR EXISTS (SELECT 1 FROM billing_billline l
                                    WHERE l.bill_id = b.id AND l.kind = 'early_discount')))
    ) THEN
        RETURN NULL;
    END IF;

    -- The plain case: write it all. The notify first: a twin already stored is left to the
    -- Python path (nothing written here yet).
    INSERT INTO payments_providernotify
        (provider, event_id, kind, event_type, out_trade_no, out_refund_no, outcome, payload,
         received_at)
    VALUES (p_provider, p_event_id, 'payment', p_event_type, p_out_trade_no, '', 'applied',
            p_payload, p_now)
    ON CONFLICT DO NOTHING
    RETURNING id INTO v_notify;
    IF v_notify IS NULL THEN
        RETURN NULL;
    END IF;
    UPDATE payments_paymentorder
       SET status = 'paid', transaction_id = p_transaction_id, paid_fen = p_paid_fen,
           paid_at = p_paid_at,
           receipt_no = CASE WHEN receipt_no = '' THEN out_trade_no ELSE receipt_no END,
           next_check_at = NULL, updated_at = p_now
     WHERE id = v_order;
    INSERT INTO billing_ledgerentry
        (kind, amount_fen, explanation, source, source_id, occurred_at, created_at, bill_id,
         created_by_id, house_id, reverses_id)
    VALUES ('payment', -p_paid_fen, p_explanation, p_provider, p_out_trade_no, p_paid_at, p_now,
            NULL, NULL, v_house, NULL)
    RETURNING id INTO v_entry;
    -- Each bill by compare-and-set on the amounts just read under the house lock.
    WITH moved AS (
        UPDATE billing_bill b
           SET paid_fen = b.paid_fen + i.amount_fen,
               status = CASE WHEN b.total_fen - (b.paid_fen + i.amount_fen) <= 0 THEN 'paid'
                             ELSE 'partially_paid' END
          FROM payments_paymentorderitem i
         WHERE i.order_id = v_order AND b.id = i.bill_id
           AND b.status IN ('issued', 'partially_paid')
           AND b.total_fen - b.paid_fen >= i.amount_fen
        RETURNING b.id
    )
    SELECT count(*) INTO v_moved FROM moved;
    IF v_moved <> v_items THEN
        -- Unreachable while the house lock is held; rolls the whole statement back.
        RAISE EXCEPTION 'bill moved under the house lock (order %)', v_order;
    END IF;
    INSERT INTO billing_allocation (amount_fen, occurred_at, created_at, bill_id, house_id,
                                    entry_id)
    SELECT i.amount_fen, p_paid_at, p_now, i.bill_id, v_house, v_entry
      FROM payments_paymentorderitem i
     WHERE i.order_id = v_order
     ORDER BY i.house_id, i.id;
    SELECT jsonb_agg(jsonb_build_array(i.bill_id, i.amount_fen) ORDER BY i.house_id, i.id)
      INTO v_allocations
      FROM payments_paymentorderitem i WHERE i.order_id = v_order;
    INSERT INTO audit_auditentry
        (occurred_at, actor_label, action, object_type, object_id, before, after, reason, ip,
         actor_id)
    VALUES (p_now, 'system', 'billing.payment_post', 'billing.ledgerentry', v_entry::text, NULL,
            jsonb_build_object('house', v_account_no, 'amount_fen', p_paid_fen,
                               'source', p_provider, 'source_id', p_out_trade_no,
                               'allocations', v_allocations),
            '', NULL, NULL);
    RETURN v_notify;
END;
$$;
"""
DROP = "DROP FUNCTION IF EXISTS payments_notify_settle(text, text, text, text, text, bigint,"
DROP += " timestamptz, date, jsonb, timestamptz, text)"


def create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FUNCTION, params=None)


def drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0002_refund_paid_out_shift"),
        ("billing", "0010_ledger_reverses_partial_index"),
        ("audit", "0001_initial"),
        ("estates", "0001_initial"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
