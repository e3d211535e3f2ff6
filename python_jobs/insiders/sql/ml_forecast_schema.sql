-- Forecast and backtest tables of the ML job (schema ml, read by dbt as the `ml` source).
create schema if not exists ml;

-- One row per forecast: the fitted BG/NBD (purchases) and Gamma-Gamma (spend) parameters.
create table if not exists ml.forecast_fits (
    run_id            text primary key,        -- the segmentation run the forecast goes with
    purpose           text not null check (purpose in ('cycle', 'backtest')),
    as_of_date        date not null,
    fitted_at         timestamptz not null default now(),
    n_customers       integer not null,
    n_repeat_customers integer not null,
    bg_r              double precision not null,
    bg_alpha          double precision not null,
    bg_a              double precision not null,
    bg_b              double precision not null,
    gg_p              double precision not null,
    gg_q              double precision not null,
    gg_v              double precision not null,
    time_unit         text not null default 'day'
);

create table if not exists ml.customer_forecasts (
    run_id                   text not null references ml.forecast_fits (run_id) on delete cascade,
    customer_id              text not null,
    probability_alive        double precision not null,
    expected_order_value     double precision not null,  -- E(spend per purchase day | history)
    expected_purchases_30d   double precision not null,
    expected_purchases_90d   double precision not null,
    expected_purchases_180d  double precision not null,
    expected_revenue_30d     double precision not null,
    expected_revenue_90d     double precision not null,
    expected_revenue_180d    double precision not null,
    primary key (run_id, customer_id)
);

-- Added with the Pareto/NBD model and the holdout choice (issue 13); null on older rows.
alter table ml.forecast_fits add column if not exists pnbd_r double precision;
alter table ml.forecast_fits add column if not exists pnbd_alpha double precision;
alter table ml.forecast_fits add column if not exists pnbd_s double precision;
alter table ml.forecast_fits add column if not exists pnbd_beta double precision;
alter table ml.forecast_fits add column if not exists purchase_model text;   -- gives probability_purchase_*
alter table ml.forecast_fits add column if not exists alive_model text;      -- gives probability_alive
alter table ml.forecast_fits add column if not exists holdout_cutoff date;
alter table ml.forecast_fits add column if not exists holdout_days integer;
alter table ml.customer_forecasts add column if not exists probability_purchase_30d double precision;
alter table ml.customer_forecasts add column if not exists probability_purchase_90d double precision;
alter table ml.customer_forecasts add column if not exists probability_purchase_180d double precision;

alter table ml.forecast_fits add column if not exists holdout_predicted_revenue double precision;
alter table ml.forecast_fits add column if not exists holdout_revenue_low double precision;
alter table ml.forecast_fits add column if not exists holdout_revenue_high double precision;
alter table ml.forecast_fits add column if not exists holdout_actual_revenue double precision;

-- Refit or assign (issue 11): 'assigned' = the parameters, model choice and holdout check of the fitted
-- forecast of model_run_id, applied to this run's customers; null on older rows (= fitted).
alter table ml.forecast_fits add column if not exists fit text not null default 'fitted';
alter table ml.forecast_fits add column if not exists model_run_id text;

-- The revenue forecast of the next horizon_days with a 95% interval, per segment and for all customers.
create table if not exists ml.forecast_revenue_intervals (
    run_id            text not null references ml.forecast_fits (run_id) on delete cascade,
    segment_name      text not null,        -- a segment of the run, or 'All customers'
    horizon_days      integer not null,
    customers         integer not null,
    predicted_revenue double precision not null,
    revenue_low       double precision not null,   -- 2.5% quantile of the simulated revenue
    revenue_high      double precision not null,   -- 97.5% quantile
    is_seasonal       boolean not null,            -- false: the forecast ignores the calendar
    same_period_last_year_revenue double precision, -- all customers, 'All customers' row only
    primary key (run_id, segment_name, horizon_days)
);

-- Days of history before as_of_date (first purchase day to as_of_date): 13 months or more allow a
-- calendar index (is_seasonal). Null on rows written before it.
alter table ml.forecast_revenue_intervals add column if not exists history_days integer;
-- The segment of a segment's row (its segment_name is then 'segment <id>', a key; dbt joins the
-- display name from int_segments_named). Null for 'All customers' and '(no segment)'.
alter table ml.forecast_revenue_intervals add column if not exists segment_id integer;

-- The holdout check of each purchase-probability model: P(buy in the holdout_days after the cutoff).
create table if not exists ml.forecast_model_scores (
    run_id            text not null references ml.forecast_fits (run_id) on delete cascade,
    model_name        text not null,        -- bg_nbd | pareto_nbd | logistic
    customers         integer not null,
    buyers            integer not null,     -- customers who bought in the holdout
    mean_predicted    double precision not null,
    brier_score       double precision not null,
    log_loss          double precision not null,
    base_rate         double precision not null,  -- share of buyers (the constant forecast)
    brier_base_rate   double precision not null,
    brier_skill       double precision,           -- 1 - brier_score / brier_base_rate
    max_decile_gap    double precision not null,  -- largest |predicted - actual| over the deciles
    is_chosen         boolean not null,
    primary key (run_id, model_name)
);

-- Per model and decile of predicted probability: predicted vs actual share of buyers in the holdout.
create table if not exists ml.forecast_calibration (
    run_id            text not null references ml.forecast_fits (run_id) on delete cascade,
    model_name        text not null,
    decile            integer not null,
    customers         integer not null,
    mean_predicted    double precision not null,
    actual_share      double precision not null,
    min_predicted     double precision not null,
    max_predicted     double precision not null,
    gap               double precision not null,  -- mean_predicted - actual_share
    primary key (run_id, model_name, decile)
);

-- A backtest: features and segments as of a past cutoff, compared with what happened after it.
create table if not exists ml.backtests (
    backtest_id        text primary key,
    run_id             text not null,        -- the backtest's segmentation run (purpose backtest)
    cycle_run_id       text,                 -- the cycle run it was made with, if any
    cutoff_date        date not null,
    horizon_days       integer not null,
    created_at         timestamptz not null default now(),
    customers_at_cutoff integer not null,
    group_size         integer not null,     -- = number of Insiders at the cutoff
    future_revenue     double precision not null,  -- of all customers known at the cutoff
    insiders_beat_baselines boolean           -- before per-customer rows; dbt decides it now
);
alter table ml.backtests alter column insiders_beat_baselines drop not null;

-- One row per selection group: the share of the next N days' revenue it captured.
create table if not exists ml.backtest_groups (
    backtest_id        text not null references ml.backtests (backtest_id) on delete cascade,
    group_name         text not null,        -- insiders | top_past_revenue | top_rfm | oracle
    customers          integer not null,
    future_revenue     double precision not null,
    share_of_future_revenue double precision not null,
    future_buyers      integer not null,     -- customers of the group who bought in the horizon
    primary key (backtest_id, group_name)
);

-- One row per customer known at the cutoff and backtest: what the backtest saw (features and segment
-- at the cutoff, the forecast fitted then) and what happened in the horizon (dbt's
-- int_backtest_future_purchases: net of returns). dbt ranks the groups, the shares and the bootstrap
-- from these rows; earlier backtests' rows are kept.
create table if not exists ml.backtest_customer_predictions (
    backtest_id          text not null references ml.backtests (backtest_id) on delete cascade,
    customer_id          text not null,
    segment_name         text not null,        -- the segment at the cutoff (backtest run)
    is_insider           boolean not null,
    past_gross_revenue   double precision not null,  -- gross revenue before the cutoff
    rfm_score            integer not null,
    probability_purchase double precision not null,  -- P(at least one purchase in the horizon)
    expected_purchases   double precision not null,
    expected_revenue     double precision not null,
    actual_purchases     integer not null,     -- purchase days in the horizon
    actual_revenue       double precision not null,  -- purchases minus returns in the horizon
    primary key (backtest_id, customer_id)
);

-- Holdout check of the forecast: predicted vs actual revenue over the horizon, total and per segment.
create table if not exists ml.forecast_validation (
    backtest_id        text not null references ml.backtests (backtest_id) on delete cascade,
    segment_name       text not null,        -- a segment of the backtest run, or 'All customers'
    customers          integer not null,
    predicted_revenue  double precision not null,
    actual_revenue     double precision not null,
    predicted_purchases double precision not null,
    actual_purchases   double precision not null,
    revenue_error      double precision not null,          -- predicted - actual
    revenue_error_pct  double precision,                   -- (predicted - actual) / actual
    primary key (backtest_id, segment_name)
);
-- The total's 95% interval from the customers' own randomness (null on segment rows); dbt widens it by
-- the errors of earlier backtests.
alter table ml.forecast_validation add column if not exists predicted_revenue_low double precision;
alter table ml.forecast_validation add column if not exists predicted_revenue_high double precision;
