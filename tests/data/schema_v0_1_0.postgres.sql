-- The schema usage-metrics 0.1.0 created (Tortoise.generate_schemas, postgres), before migrations.
-- Frozen here: tests/test_migrations.py upgrades databases made from it.
CREATE TABLE "ingest_batches" (
    "idempotency_key" VARCHAR(200) NOT NULL PRIMARY KEY,
    "body_sha256" VARCHAR(64) NOT NULL,
    "answer" TEXT NOT NULL,
    "received_at" TIMESTAMPTZ NOT NULL
);
CREATE TABLE "resources" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "resource_type" VARCHAR(64) NOT NULL,
    "resource_id" VARCHAR(200) NOT NULL,
    "title" TEXT,
    "owner_type" VARCHAR(32) NOT NULL,
    "owner_id" VARCHAR(200) NOT NULL,
    "first_day" DATE NOT NULL,
    "last_day" DATE NOT NULL,
    CONSTRAINT "uid_resources_resourc_40ccfc" UNIQUE ("resource_type", "resource_id")
);
CREATE INDEX "idx_resources_owner_t_527caa" ON "resources" ("owner_type", "owner_id");
CREATE TABLE "settings" (
    "key" VARCHAR(64) NOT NULL PRIMARY KEY,
    "value" TEXT NOT NULL,
    "updated_at" TIMESTAMPTZ NOT NULL
);
CREATE TABLE "tokens" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(100) NOT NULL,
    "token_sha256" VARCHAR(64) NOT NULL UNIQUE,
    "scope" VARCHAR(300) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "last_used_at" TIMESTAMPTZ
);
CREATE TABLE "usage_by_caller" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "resource_type" VARCHAR(64) NOT NULL,
    "span" SMALLINT NOT NULL,
    "day" DATE NOT NULL,
    "owner_type" VARCHAR(32) NOT NULL,
    "owner_id" VARCHAR(200) NOT NULL,
    "user_group" VARCHAR(32) NOT NULL,
    "referer_domain" VARCHAR(253) NOT NULL,
    "referer_category" VARCHAR(16) NOT NULL,
    "api_calls" BIGINT NOT NULL,
    "downloads" BIGINT NOT NULL,
    "downloaded_bytes" BIGINT NOT NULL,
    "app_opens" BIGINT NOT NULL,
    CONSTRAINT "uid_usage_by_ca_resourc_f69045" UNIQUE ("resource_type", "span", "day", "owner_type", "owner_id", "user_group", "referer_domain", "referer_category")
);
COMMENT ON TABLE "usage_by_caller" IS 'Per owner and caller (user group, calling domain, category): breakdowns and their filters.';
CREATE TABLE "usage_by_dataset" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "resource_type" VARCHAR(64) NOT NULL,
    "span" SMALLINT NOT NULL,
    "day" DATE NOT NULL,
    "resource_id" VARCHAR(200) NOT NULL,
    "owner_type" VARCHAR(32) NOT NULL,
    "owner_id" VARCHAR(200) NOT NULL,
    "api_calls" BIGINT NOT NULL,
    "downloads" BIGINT NOT NULL,
    "downloaded_bytes" BIGINT NOT NULL,
    "app_opens" BIGINT NOT NULL,
    CONSTRAINT "uid_usage_by_da_resourc_f960f3" UNIQUE ("resource_type", "span", "day", "resource_id", "owner_type", "owner_id")
);
COMMENT ON TABLE "usage_by_dataset" IS 'Per dataset (and owner): what ranks datasets and gives each its figures and days.';
CREATE TABLE "usage_by_owner" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "resource_type" VARCHAR(64) NOT NULL,
    "span" SMALLINT NOT NULL,
    "day" DATE NOT NULL,
    "owner_type" VARCHAR(32) NOT NULL,
    "owner_id" VARCHAR(200) NOT NULL,
    "api_calls" BIGINT NOT NULL,
    "downloads" BIGINT NOT NULL,
    "downloaded_bytes" BIGINT NOT NULL,
    "app_opens" BIGINT NOT NULL,
    CONSTRAINT "uid_usage_by_ow_resourc_378d93" UNIQUE ("resource_type", "span", "day", "owner_type", "owner_id")
);
COMMENT ON TABLE "usage_by_owner" IS 'Per owner, every dataset added up: an owner''s (or everyone''s) totals and days.';
CREATE TABLE "usage_daily" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "owner_type" VARCHAR(32) NOT NULL,
    "owner_id" VARCHAR(200) NOT NULL,
    "day" DATE NOT NULL,
    "resource_type" VARCHAR(64) NOT NULL,
    "resource_id" VARCHAR(200) NOT NULL,
    "operation" VARCHAR(16) NOT NULL,
    "status_class" VARCHAR(16) NOT NULL,
    "user_group" VARCHAR(32) NOT NULL,
    "referer_domain" VARCHAR(253) NOT NULL,
    "referer_category" VARCHAR(16) NOT NULL,
    "referer_app" VARCHAR(200) NOT NULL,
    "requests" BIGINT NOT NULL,
    "bytes" BIGINT NOT NULL,
    "duration_ms" BIGINT NOT NULL,
    CONSTRAINT "uid_usage_daily_owner_t_d026a9" UNIQUE ("owner_type", "owner_id", "day", "resource_type", "resource_id", "operation", "status_class", "user_group", "referer_domain", "referer_category", "referer_app")
);
CREATE INDEX "idx_usage_daily_resourc_3b2506" ON "usage_daily" ("resource_type", "resource_id", "day");
ALTER TABLE usage_by_dataset SET (fillfactor = 70);
ALTER TABLE usage_by_owner SET (fillfactor = 70);
ALTER TABLE usage_by_caller SET (fillfactor = 70);
