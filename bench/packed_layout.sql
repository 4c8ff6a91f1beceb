-- What integer keys and packed pages would save (docs/benchmarks.md#the-layout-that-would-fit-2026-12-07):
-- the large tables of a database `python -m bench.scale --keep` filled, copied into throwaway
-- tables with integer ids and smallint codes, in key order, without the surrogate id, at
-- fillfactor 100, with today's unique key and second index; their sizes printed, then dropped.
--
--     psql -h 127.0.0.1 -U postgres -d bench_scale_... -f bench/packed_layout.sql
--
-- It adds the dimension values it needs to owner_keys and domains (as the ingest would).
\timing on
CREATE TEMP TABLE x_res AS SELECT row_number() OVER ()::int AS id, resource_type, resource_id
  FROM (SELECT DISTINCT resource_type, resource_id FROM usage_daily) r;
CREATE UNIQUE INDEX ON x_res (resource_type, resource_id);
CREATE TEMP TABLE x_app AS SELECT row_number() OVER ()::int AS id, referer_app
  FROM (SELECT DISTINCT referer_app FROM usage_daily) a;
CREATE UNIQUE INDEX ON x_app (referer_app);
INSERT INTO owner_keys (owner_type, owner_id) SELECT DISTINCT owner_type, owner_id FROM usage_daily
  ON CONFLICT DO NOTHING;
INSERT INTO domains (referer_domain) SELECT DISTINCT referer_domain FROM usage_daily
  ON CONFLICT DO NOTHING;
INSERT INTO user_groups (user_group) SELECT DISTINCT user_group FROM usage_daily
  ON CONFLICT DO NOTHING;
INSERT INTO categories (referer_category) SELECT DISTINCT referer_category FROM usage_daily
  ON CONFLICT DO NOTHING;

CREATE TEMP TABLE x_daily (requests bigint NOT NULL, bytes bigint NOT NULL,
  duration_ms bigint NOT NULL, owner_key int NOT NULL, day date NOT NULL,
  resource_key int NOT NULL, domain_key int NOT NULL, app_key int NOT NULL,
  operation smallint NOT NULL, status smallint NOT NULL, group_key smallint NOT NULL,
  category_key smallint NOT NULL);
INSERT INTO x_daily SELECT t.requests, t.bytes, t.duration_ms, o.id, t.day, r.id, d.id, a.id,
  CASE t.operation WHEN 'api' THEN 1 WHEN 'download' THEN 2 WHEN 'app' THEN 3 ELSE 4 END,
  CASE t.status_class WHEN 'ok' THEN 1 WHEN 'redirect' THEN 2 WHEN 'client_error' THEN 3
    WHEN 'server_error' THEN 4 ELSE 5 END,
  g.id, c.id
  FROM usage_daily t
  JOIN owner_keys o ON o.owner_type = t.owner_type AND o.owner_id = t.owner_id
  JOIN x_res r ON r.resource_type = t.resource_type AND r.resource_id = t.resource_id
  JOIN domains d ON d.referer_domain = t.referer_domain
  JOIN x_app a ON a.referer_app = t.referer_app
  JOIN user_groups g ON g.user_group = t.user_group
  JOIN categories c ON c.referer_category = t.referer_category
  ORDER BY o.id, t.day, r.id;
CREATE UNIQUE INDEX ON x_daily (owner_key, day, resource_key, operation, status, group_key,
  domain_key, category_key, app_key);
CREATE INDEX ON x_daily (resource_key, day);

CREATE TEMP TABLE x_dataset (api_calls bigint NOT NULL, downloads bigint NOT NULL,
  downloaded_bytes bigint NOT NULL, app_opens bigint NOT NULL, day date NOT NULL,
  resource_key int NOT NULL, owner_key int NOT NULL, resource_type smallint NOT NULL,
  span smallint NOT NULL);
INSERT INTO x_dataset SELECT t.api_calls, t.downloads, t.downloaded_bytes, t.app_opens, t.day,
  r.id, o.id, CASE t.resource_type WHEN 'datasets' THEN 1 ELSE 2 END, t.span
  FROM usage_by_dataset t
  JOIN owner_keys o ON o.owner_type = t.owner_type AND o.owner_id = t.owner_id
  JOIN x_res r ON r.resource_type = t.resource_type AND r.resource_id = t.resource_id
  ORDER BY 8, 9, 5, 6;
CREATE UNIQUE INDEX ON x_dataset (resource_type, span, day, resource_key, owner_key);
CREATE INDEX ON x_dataset (resource_type, span, day, owner_key);

CREATE TEMP TABLE x_caller AS SELECT resource_type, span, day, owner_key, group_key, domain_key,
  category_key, api_calls, downloads, downloaded_bytes, app_opens FROM usage_by_caller
  ORDER BY resource_type, span, day, owner_key, group_key, domain_key, category_key;
CREATE UNIQUE INDEX ON x_caller (resource_type, span, day, owner_key, group_key, domain_key,
  category_key);

SELECT name, pg_size_pretty(pg_total_relation_size(today)) AS today,
  pg_size_pretty(pg_total_relation_size(packed)) AS packed
  FROM (VALUES ('usage_daily', 'usage_daily'::regclass, 'x_daily'::regclass),
               ('usage_by_dataset', 'usage_by_dataset'::regclass, 'x_dataset'::regclass),
               ('usage_by_caller', 'usage_by_caller'::regclass, 'x_caller'::regclass))
    AS t(name, today, packed);
-- Every row copied (an inner join that lost one would show here).
SELECT (SELECT count(*) FROM x_daily) AS packed_rows, (SELECT count(*) FROM usage_daily) AS rows;
