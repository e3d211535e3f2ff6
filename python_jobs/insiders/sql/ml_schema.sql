-- Segmentation-owned schema (python_jobs/insiders/segment). dbt reads these tables as the `ml` source;
-- nothing else writes here. A run's rows are written in one transaction, so a run is either complete
-- or absent. Consumers take the latest run with status = 'succeeded' (order by finished_at desc).
create schema if not exists ml;

create table if not exists ml.segmentation_runs (
    run_id                text primary key,          -- e.g. 20111210T061502Z-3fa2c1 (sortable)
    status                text not null check (status in ('succeeded', 'failed')),
    error                 text,                      -- why a failed run failed
    started_at            timestamptz not null,
    finished_at           timestamptz not null,
    as_of_date            date,                      -- of the features read
    code_version          text not null,             -- package version + git commit when known
    algorithm             text,                      -- kmeans | gmm (chosen)
    parameters            jsonb not null default '{}'::jsonb,  -- k range, selection rule, tier, ...
    features              text[],                    -- clustering features, in fitted-space order
    random_seed           integer not null,
    features_schema       text,                      -- where customer_features was read
    n_customers           integer,
    chosen_k              integer,
    silhouette            double precision,          -- on a seeded sample of <= 3,000 customers
    davies_bouldin        double precision,
    calinski_harabasz     double precision,
    inertia               double precision,          -- kmeans only
    bic                   double precision,          -- gmm only
    insiders_segment_id   integer,
    insiders_share        double precision,          -- legacy: dbt computes it (marts.segmentation_runs)
    insiders_revenue_share double precision,         -- legacy: dbt computes it
    previous_run_id       text references ml.segmentation_runs (run_id),
    adjusted_rand_index   double precision,          -- vs previous run, on customers in both
    customers_compared    integer,                   -- customers in both runs
    rules_fidelity        double precision,          -- accuracy of ml.insider_rules' tree vs is_insider
    artifact_uri          text,                      -- file:// URI of model.joblib
    seconds               double precision,
    purpose               text not null default 'cycle'  -- cycle | backtest (features as of a cutoff)
                          check (purpose in ('cycle', 'backtest'))
);
alter table ml.segmentation_runs add column if not exists purpose text not null default 'cycle';
create index if not exists segmentation_runs_latest_ix on ml.segmentation_runs (status, finished_at desc);

create table if not exists ml.segmentation_candidates (
    run_id                 text not null references ml.segmentation_runs (run_id) on delete cascade,
    algorithm              text not null,
    k                      integer not null,
    n_segments             integer not null,          -- non-empty segments found
    silhouette             double precision,
    davies_bouldin         double precision,
    calinski_harabasz      double precision,
    inertia                double precision,
    bic                    double precision,
    smallest_share         double precision,          -- smallest segment's share of customers
    insiders_share         double precision,
    insiders_revenue_share double precision,
    selection_tier         integer,                   -- 1 = met every condition of the rule
    is_chosen              boolean not null,
    fit_seconds            double precision,
    primary key (run_id, algorithm, k)
);
create unique index if not exists segmentation_candidates_one_chosen_uq
    on ml.segmentation_candidates (run_id) where is_chosen;

create table if not exists ml.segments (
    run_id             text not null references ml.segmentation_runs (run_id) on delete cascade,
    segment_id         integer not null,              -- stable across runs (matched to the previous run)
    segment_name       text,                          -- legacy: dbt names segments from archetype
    archetype          text,                          -- playbook entry nearest the segment (naming.py)
    is_insider         boolean not null,
    model_label        integer not null,              -- the cluster index inside this run's model
    size               integer not null,
    share_of_customers double precision,              -- legacy: dbt computes the shares
    revenue_share      double precision,              -- legacy
    centre             jsonb not null,                -- {feature: value} in the fitted (scaled) space
    centre_original    jsonb not null,                -- the same point in original feature units
    profile            jsonb not null,                -- rank profile, mean and median of each feature
    matched_by         text,                          -- centre | overlap | null (new segment)
    match_cost         double precision,              -- distance (or 1 - Jaccard) to the matched segment
    primary key (run_id, segment_id),
    unique (run_id, model_label)
);
create unique index if not exists segments_one_insider_uq on ml.segments (run_id) where is_insider;

create table if not exists ml.customer_segments (
    run_id             text not null,
    customer_id        text not null,
    segment_id         integer not null,
    distance_to_centre double precision,              -- Euclidean, in the fitted space
    probability        double precision,              -- gmm: probability of the assigned component
    features           jsonb,                         -- clustering features at this run, original units
    primary key (run_id, customer_id),
    foreign key (run_id, segment_id) references ml.segments (run_id, segment_id) on delete cascade
);

create table if not exists ml.insider_rules (
    run_id           text not null references ml.segmentation_runs (run_id) on delete cascade,
    rule_id          integer not null,                -- insider rules first, then by support
    rule_text        text not null,                   -- e.g. gross_revenue > 3,214.50 and purchases >= 8
    predicts_insider boolean not null,
    support          integer not null,                -- customers matching the rule
    precision        double precision not null,       -- share of them in the predicted class
    recall           double precision not null,       -- share of the predicted class they cover
    primary key (run_id, rule_id)
);

-- Each rule's conditions (the tree's tests, merged per feature): dbt computes each customer's gap to
-- the nearest Insiders rule from them (marts.customer_next_steps).
create table if not exists ml.insider_rule_conditions (
    run_id           text not null,
    rule_id          integer not null,
    condition_id     integer not null,
    feature          text not null,                   -- a column of customer_features
    operator         text not null check (operator in ('>', '<=')),
    threshold        double precision not null,
    primary key (run_id, rule_id, condition_id),
    foreign key (run_id, rule_id) references ml.insider_rules (run_id, rule_id) on delete cascade
);

-- Columns added after the first release (create table above already has them).
alter table ml.customer_segments add column if not exists features jsonb;

-- Segments carry an archetype; dbt owns the shares and the displayed names (a first release wrote
-- "At risk (2)"-style names and the shares here: older rows get their archetype once).
alter table ml.segments add column if not exists archetype text;
alter table ml.segments drop constraint if exists segments_run_id_segment_name_key;
alter table ml.segments alter column segment_name drop not null;
alter table ml.segments alter column share_of_customers drop not null;
alter table ml.segments alter column revenue_share drop not null;
update ml.segments set archetype = regexp_replace(segment_name, ' \(\d+\)$', '') where archetype is null;
