-- Loader-owned schema. dbt reads these tables as the `shop` source; nothing else writes here.
create schema if not exists raw;

create table if not exists raw.files (
    file_id        bigint generated always as identity primary key,
    file_name      text not null,            -- base name of the file or S3 key
    source_uri     text not null,            -- full path or s3://bucket/key
    sha256         text not null,            -- of the bytes as received (compressed when .gz)
    etag           text,                     -- S3 ETag when the file came from S3
    size_bytes     bigint not null,
    encoding       text,                     -- text encoding used to decode it
    rows_in_file   integer,                  -- data records after the header
    rows_loaded    integer,
    rows_rejected  integer,
    status         text not null check (status in ('loaded', 'failed')),
    error          text,                     -- why a failed file was refused
    started_at     timestamptz not null,
    loaded_at      timestamptz not null default now()
);
-- A file (by content) is loaded at most once; failed attempts may repeat.
create unique index if not exists files_sha256_loaded_uq on raw.files (sha256) where status = 'loaded';

-- No foreign key to raw.files: a per-row FK check doubles the COPY time. The loader writes both in
-- one transaction, and dbt's relationships test on the source checks it after every load.
create table if not exists raw.transactions (
    file_id      bigint  not null,
    line_number  integer not null,   -- physical line in the file where the record starts (header = 1)
    invoice_no   text,
    stock_code   text,
    description  text,
    quantity     text,
    invoice_date text,
    unit_price   text,
    customer_id  text,
    country      text,
    primary key (file_id, line_number)
);

create table if not exists raw.rejected_rows (
    file_id      bigint  not null,
    line_number  integer not null,
    raw_line     text    not null,
    reason       text    not null,
    primary key (file_id, line_number)
);

-- Databases created before the foreign keys were dropped.
alter table raw.transactions drop constraint if exists transactions_file_id_fkey;
alter table raw.rejected_rows drop constraint if exists rejected_rows_file_id_fkey;

-- Export layouts (layouts/*.yml): each file records the layout it was read with and the rules dbt
-- staging casts its text by (one place: insiders.layouts.Layout.parse_rules). Rows loaded before
-- layouts existed are filled with the default layout's rules by the loader.
alter table raw.files add column if not exists layout_name text;
alter table raw.files add column if not exists layout text;                 -- the layout, as JSON
alter table raw.files add column if not exists date_pattern text;           -- regex of the date format
alter table raw.files add column if not exists date_year_group integer;     -- its group of each part
alter table raw.files add column if not exists date_month_group integer;
alter table raw.files add column if not exists date_day_group integer;
alter table raw.files add column if not exists date_hour_group integer;
alter table raw.files add column if not exists date_minute_group integer;
alter table raw.files add column if not exists date_second_group integer;
alter table raw.files add column if not exists date_ampm_group integer;
alter table raw.files add column if not exists is_two_digit_year boolean;
alter table raw.files add column if not exists is_month_name boolean;
alter table raw.files add column if not exists decimal_separator text;
alter table raw.files add column if not exists thousands_separator text;
alter table raw.files add column if not exists cancellation_prefix text;
alter table raw.files add column if not exists adjustment_prefix text;
-- Which process attempted the load ("host:pid:token"): an attempt is recorded (committed) before
-- the file is read, so a process that dies on a file leaves a trace and later cycles skip the file.
alter table raw.files add column if not exists attempted_by text;
