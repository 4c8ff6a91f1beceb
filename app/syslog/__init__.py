"""`usage-metrics syslog`: nginx's syslog datagrams to POST /ingest, through an on-disk spool."""
