"""The no-Docker development infrastructure behind ``tachigo dev up|down|status``.

It owns a private PostgreSQL cluster (``postgres.py``), a single-node KRaft Kafka
broker run from the Maven-resolved jars (``kafka.py``), the background app processes
(``tachigo worker``, ``tachigo api``) and their pid and log files (``processes.py``),
and the commands that tie them together (``cli.py``). Everything it writes lives under
``settings.dev.data_dir`` (``.tachigo`` by default). Dev only: the database trusts
every loopback connection and nothing here is meant for production.
"""
