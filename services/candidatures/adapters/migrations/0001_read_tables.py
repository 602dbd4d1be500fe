"""Candidatures read tables: campaigns, offers, candidatures (written in the same transaction as
the events they are projected from, so a query never sees an event without its row).

Revision ID: candidatures_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "candidatures_0001"
down_revision = None
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cand_campaigns",
        sa.Column("campaign_id", sa.String(200), primary_key=True),
        sa.Column("academie", sa.String(50), nullable=False),
        sa.Column("dispositif", sa.String(30), nullable=False),
        sa.Column("school_year", sa.String(9), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("submission_deadline", TIMESTAMP, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_cand_campaigns_academie", "cand_campaigns", ["academie", "school_year"])
    op.create_table(
        "cand_offers",
        sa.Column("offer_id", sa.String(200), primary_key=True),
        sa.Column("campaign_id", sa.String(200), nullable=False),
        sa.Column("academie", sa.String(50), nullable=False),
        sa.Column("partner_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("capacity_classes", sa.Integer(), nullable=False),
        sa.Column("reserved_classes", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_cand_offers_campaign", "cand_offers", ["campaign_id"])
    op.create_table(
        "cand_candidatures",
        sa.Column("candidature_id", sa.String(200), primary_key=True),
        sa.Column("campaign_id", sa.String(200), nullable=False),
        sa.Column("academie", sa.String(50), nullable=False),
        sa.Column("departement", sa.String(3), nullable=False),
        sa.Column("uai", sa.String(8), nullable=False),
        sa.Column("school_name", sa.String(300), nullable=False),
        sa.Column("education_prioritaire", sa.String(10), nullable=False),
        sa.Column("dispositif", sa.String(30), nullable=False),
        sa.Column("tier", sa.String(20), nullable=True),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("offer_id", sa.String(200), nullable=True),
        sa.Column("partner_id", sa.String(200), nullable=True),
        sa.Column("partnership_id", sa.String(200), nullable=True, unique=True),
        sa.Column("year_index", sa.Integer(), nullable=True),
        sa.Column("classes", sa.Integer(), nullable=False),
        sa.Column("pupils", sa.Integer(), nullable=False),
        sa.Column("avis", sa.String(20), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_cand_candidatures_campaign", "cand_candidatures", ["campaign_id", "status"])
    op.create_index("ix_cand_candidatures_uai", "cand_candidatures", ["uai"])


def downgrade() -> None:
    op.drop_table("cand_candidatures")
    op.drop_table("cand_offers")
    op.drop_table("cand_campaigns")
