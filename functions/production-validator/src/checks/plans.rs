//! functionality / `plan_catalog`: the plans users can have. The free plan's limits must exist
//! (every user without a subscription gets them); no sellable paid plan (an active Stripe
//! product with a `plan_limits` row, or any active product once `paid_default` exists) is a
//! warning: a checkout would entitle nothing.

use crate::check::{start, Category, Check, Severity, Status};
use serde_json::json;
use shared::db::Db;

pub fn catalog(db: &Db) -> Check {
    let p = start(Category::Functionality, "plan_catalog", Severity::High);
    let rows = db.query(
        "SELECT EXISTS (SELECT 1 FROM public.plan_limits WHERE plan_key = 'free') AS free,
                (SELECT count(*) FROM public.stripe_products s
                  JOIN public.plan_limits l ON l.plan_key = s.id WHERE s.active) AS paid,
                (SELECT count(*) FROM public.stripe_products WHERE active) AS products,
                EXISTS (SELECT 1 FROM public.plan_limits WHERE plan_key = 'paid_default') AS paid_default",
        &[],
    );
    let rows = match rows {
        Ok(r) => r,
        Err(e) => return p.unavailable("the plan catalog", super::error_kind(&e)),
    };
    let Some(r) = rows.first() else { return p.unavailable("the plan catalog", "no row") };
    let (Ok(free), Ok(paid), Ok(products), Ok(paid_default)) =
        (r.flag("free"), r.i64("paid"), r.i64("products"), r.flag("paid_default"))
    else {
        return p.unavailable("the plan catalog", "unexpected row shape");
    };
    let evidence = json!({
        "free_plan": free, "sellable_paid_plans": paid, "active_products": products, "paid_default": paid_default,
    });
    // Products without limits of their own entitle paid_default's (0009).
    let paid = if paid_default { paid.max(products) } else { paid };
    if !free {
        return p.done(
            Status::Fail,
            "the free plan's limits (plan_limits 'free') are missing: users without a subscription get no limits",
            evidence,
            "restore the plan_limits row 'free' (migration 0002 seeds it)",
        );
    }
    if paid == 0 {
        return p.done(
            Status::Warning,
            format!("no sellable paid plan: {products} active Stripe products, none with plan limits"),
            evidence,
            "create the products in Stripe with max_quotes metadata (webhook-handler copies them into plan_limits), or add plan_limits rows for them",
        );
    }
    p.done(Status::Pass, format!("free plan configured; {paid} paid plans sellable"), evidence, "")
}
