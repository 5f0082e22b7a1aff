"""Customer history: what a withdrawal request reads of the customer's earlier withdrawals
no longer grows with them.

- ``customer_history``: per customer, how many withdrawals are recorded and how many of
  them screening counts, kept with every withdrawal written and every change of whether it
  counts. A request reads these two numbers (they move whenever the customer's amounts
  that screening compares with change) by the customer's key; counting the rows took time
  in proportion to the customer's whole history, twice a request. Filled here from the
  withdrawals recorded so far.
- An index of withdrawals by customer and destination: whether the customer withdrew to
  the request's destination before is one look-up, instead of every destination they ever
  used read again whenever their history moved.

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
    op.create_index("ix_withdrawals_customer_destination", "withdrawals",
                    ["customer", "destination"])
    op.get_bind().execute(sa.text(
        "INSERT INTO customer_history (customer, recorded, counted) SELECT customer, "
        "count(*), sum(CASE WHEN state IN :counted THEN 1 ELSE 0 END) FROM withdrawals "
        "GROUP BY customer").bindparams(sa.bindparam("counted", expanding=True)),
        {"counted": list(COUNTED)})


def downgrade() -> None:
    op.drop_index("ix_withdrawals_customer_destination", "withdrawals")
    op.drop_table("customer_history")
