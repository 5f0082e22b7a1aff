"""Customer history: per customer, how many withdrawals are recorded and how many of them
screening counts, kept with every withdrawal written and every change of whether it counts.
A request reads these two numbers (they move whenever the customer's amounts or
destinations that screening compares with change) by the customer's key; counting the rows
instead took time in proportion to the customer's whole history, twice a request. Filled
here from the withdrawals recorded so far.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# the states screening counts (kinko.store.screening_sql.COUNTED, kept equal by a test)
COUNTED = ("allowed", "review", "approved", "sending", "sent", "confirmed")


def upgrade() -> None:
    op.create_table(
        "customer_history",
        sa.Column("customer", sa.String(128), primary_key=True),
        sa.Column("recorded", sa.BigInteger, nullable=False),
        sa.Column("counted", sa.BigInteger, nullable=False),
    )
    op.get_bind().execute(sa.text(
        "INSERT INTO customer_history (customer, recorded, counted) SELECT customer, "
        "count(*), sum(CASE WHEN state IN :counted THEN 1 ELSE 0 END) FROM withdrawals "
        "GROUP BY customer").bindparams(sa.bindparam("counted", expanding=True)),
        {"counted": list(COUNTED)})


def downgrade() -> None:
    op.drop_table("customer_history")
