"""Notifications' own tables: durable timers, facts learnt from other services' events, iCal
items and feed tokens, académie contacts and rule overrides.

Revision ID: notifications_0001
Revises:
Create Date: 2025-01-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "notifications_0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
JSON_DATA = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # One row per reminder: the durable timer AND the snapshot of its stream's state, written in
    # the same transaction as each of the stream's events (stream_version says which).
    op.create_table(
        "notif_timers",
        sa.Column("reminder_id", sa.String(60), primary_key=True),
        sa.Column("dedup_key", sa.String(300), nullable=False, unique=True),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("template", sa.String(100), nullable=False),
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("scope_id", sa.String(200), nullable=False),
        sa.Column("school_year", sa.String(9), nullable=True),
        sa.Column("academie", sa.String(50), nullable=False),
        sa.Column("dispositif", sa.String(30), nullable=True),
        sa.Column("campaign_id", sa.String(200), nullable=True),
        sa.Column("partnership_id", sa.String(200), nullable=True),
        sa.Column("action_id", sa.String(200), nullable=True),
        sa.Column("meeting_id", sa.String(200), nullable=True),
        sa.Column("uai", sa.String(8), nullable=True),
        sa.Column("audience", JSON_DATA, nullable=False),
        sa.Column("recipients", JSON_DATA, nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("place", sa.String(500), nullable=True),
        sa.Column("event_at", TS, nullable=True),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("message_id", sa.String(300), nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("stream_version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    # The scheduler's query: pending timers by next attempt. Partial on PostgreSQL so sent and
    # cancelled rows (the vast majority over time) cost the index nothing.
    op.create_index("notif_timers_due", "notif_timers", ["next_attempt_at"],
                    postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
    op.create_index("notif_timers_scope", "notif_timers", ["scope", "scope_id"])
    op.create_index("notif_timers_partnership", "notif_timers", ["partnership_id"])
    op.create_index("notif_timers_uai", "notif_timers", ["uai"])

    op.create_table(
        "notif_campaigns",
        sa.Column("campaign_id", sa.String(200), primary_key=True),
        sa.Column("academie", sa.String(50), nullable=False),
        sa.Column("dispositif", sa.String(30), nullable=False),
        sa.Column("school_year", sa.String(9), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("calendar", JSON_DATA, nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "notif_candidatures",
        sa.Column("candidature_id", sa.String(200), primary_key=True),
        sa.Column("campaign_id", sa.String(200), nullable=False),
        sa.Column("uai", sa.String(8), nullable=False),
        sa.Column("school_name", sa.String(300), nullable=False),
        sa.Column("academie", sa.String(50), nullable=False),
    )
    op.create_table(
        "notif_partnerships",
        sa.Column("partnership_id", sa.String(200), primary_key=True),
        sa.Column("school_year", sa.String(9), primary_key=True),
        sa.Column("year_index", sa.Integer(), nullable=False),
        sa.Column("academie", sa.String(50), nullable=False),
        sa.Column("dispositif", sa.String(30), nullable=False),
        sa.Column("campaign_id", sa.String(200), nullable=True),
        sa.Column("uai", sa.String(8), nullable=False),
        sa.Column("school_name", sa.String(300), nullable=False),
        sa.Column("partner_id", sa.String(200), nullable=True),
        sa.Column("partner_name", sa.String(300), nullable=True),
        sa.Column("calendar", JSON_DATA, nullable=False),
        sa.Column("ended", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "notif_referents",
        sa.Column("partnership_id", sa.String(200), primary_key=True),
        sa.Column("school_year", sa.String(9), primary_key=True),
        sa.Column("referent_id", sa.String(200), primary_key=True),
        sa.Column("side", sa.String(20), nullable=False),
        sa.Column("role", sa.String(30), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    op.create_index("notif_referents_email", "notif_referents", ["email"])
    # Everything a calendar feed shows: actions, meetings, deadlines. uid is stable for the
    # item's life; sequence goes up on every change (RFC 5545 §3.8.7.4).
    op.create_table(
        "notif_calendar_items",
        sa.Column("uid", sa.String(300), primary_key=True),
        sa.Column("partnership_id", sa.String(200), nullable=True),
        sa.Column("campaign_id", sa.String(200), nullable=True),
        sa.Column("school_year", sa.String(9), nullable=True),
        sa.Column("academie", sa.String(50), nullable=False),
        sa.Column("uai", sa.String(8), nullable=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("summary", sa.String(300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=True),
        sa.Column("all_day", sa.Boolean(), nullable=False),
        sa.Column("place", sa.String(500), nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("notif_calendar_items_partnership", "notif_calendar_items", ["partnership_id"])
    op.create_index("notif_calendar_items_uai", "notif_calendar_items", ["uai"])
    op.create_table(
        "notif_feeds",
        sa.Column("token", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("key", sa.String(320), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("kind", "key", name="notif_feeds_kind_key"),
    )
    op.create_table(
        "notif_academie_contacts",
        sa.Column("academie", sa.String(50), primary_key=True),
        sa.Column("role", sa.String(20), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
    )
    op.create_table(
        "notif_rule_overrides",
        sa.Column("academie", sa.String(50), primary_key=True),
        sa.Column("dispositif", sa.String(30), primary_key=True),
        sa.Column("rule", sa.String(100), primary_key=True),
        sa.Column("enabled", sa.Boolean(), nullable=True),
        sa.Column("offset_days", sa.Integer(), nullable=True),
        sa.Column("at_time", sa.String(5), nullable=True),
        sa.Column("fixed_date", sa.Date(), nullable=True),
    )


def downgrade() -> None:
    for table in ("notif_rule_overrides", "notif_academie_contacts", "notif_feeds", "notif_calendar_items",
                  "notif_referents", "notif_partnerships", "notif_candidatures", "notif_campaigns", "notif_timers"):
        op.drop_table(table)
