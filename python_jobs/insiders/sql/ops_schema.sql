-- Operations schema, owned by the `insiders` job: the history of cycles for `insiders status`.
create schema if not exists ops;

create table if not exists ops.job_runs (
    job_run_id     bigint generated always as identity primary key,
    command        text        not null,               -- run, backtest...
    started_at     timestamptz not null default now(),
    finished_at    timestamptz,
    status         text        not null check (status in ('running', 'succeeded', 'failed', 'abandoned')),
    exit_code      integer,
    sources        text[]      not null default '{}',
    files_loaded   integer     not null default 0,
    files_skipped  integer     not null default 0,
    files_failed   integer     not null default 0,
    rows_loaded    bigint      not null default 0,
    rows_rejected  bigint      not null default 0,
    step_seconds   jsonb       not null default '{}',  -- {"load": 2.1, "dbt build": 5.3, ...}
    segmentation_run_id text,
    hostname       text,
    pid            integer,
    error          text
);
create index if not exists job_runs_started_at_idx on ops.job_runs (started_at desc);

-- Set by the publish in its swap transaction: a run whose marts went out is never marked abandoned,
-- even when its process died before it could record its end.
alter table ops.job_runs add column if not exists published_at timestamptz;
