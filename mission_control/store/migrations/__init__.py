"""Alembic migrations of the store's schema (``env.py`` + ``versions/``).

Applied by :meth:`mission_control.store.Store.open` up to head at start-up. Shipped inside
the package so an installed service finds them; :func:`mission_control.store.engine.alembic_config`
builds the configuration, so no ``alembic.ini`` is needed. To write a new revision::

    python -c "from alembic import command; from mission_control.store.engine import \\
        alembic_config; command.revision(alembic_config(), 'what it does', rev_id='0002')"

then edit it by hand (keep it independent of ``models.py``, which keeps moving) and make
``models.py`` match: ``tests/integration/test_store.py`` compares the two.
"""
