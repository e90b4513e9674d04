//! An order pipeline as a durable run: reserve the stock, charge (retried
//! while the payment gateway is flaky), cool off, ship. Each step commits its
//! KV writes with its journaled result, once, so a run picks up where it was
//! after a crash of the host; a step that fails for good is compensated.
//!
//! | entry                  | does                                                              |
//! |------------------------|-------------------------------------------------------------------|
//! | webhook `POST /orders` | checks the order and starts run `fulfil`, once per `orderId`      |
//! | webhook `GET /orders`  | `?id=ORDER`: the order's record (its `status` shows the progress) |
//! | webhook `POST /stock`  | adds `qty` of `sku` to the stock                                  |
//! | webhook `GET /stats`   | the stock of each sku and the number of orders shipped            |
//! | run `fulfil`           | steps `reserve`, `charge`, `cool-off` (a sleep), `ship`           |
//!
//! Tables: `orders` (orderId → record, written by the run's steps),
//! `order-runs` (orderId → run id), `stock` (sku → count), `stats` (`shipped`).

use std::time::Duration;

use floww::{Context, Error, Request, Response, Result, Retry, RunContext};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

floww::workflow! {
    "/orders" => place_order,
    GET "/orders" => order_status,
    "/stock" => restock,
    GET "/stats" => stats,
    run "fulfil" => fulfil,
}

const ORDERS: &str = "orders";
const ORDER_RUNS: &str = "order-runs";
const STOCK: &str = "stock";
const STATS: &str = "stats";

/// An order as `POST /orders` takes it, and the run's input.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Order {
    order_id: String,
    items: Vec<Line>,
    /// How many charge attempts fail before one succeeds (a stand-in for a
    /// flaky payment gateway); 5 or more and the order is cancelled.
    #[serde(default)]
    flaky: u32,
    /// How long the run sleeps between charging and shipping.
    #[serde(default = "default_cool_off")]
    cool_off_secs: u64,
}

fn default_cool_off() -> u64 {
    2
}

#[derive(Serialize, Deserialize)]
struct Line {
    sku: String,
    qty: u32,
}

/// What `orders/<orderId>` holds; each step writes it with its new status.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    order_id: &'a str,
    items: &'a [Line],
    /// `reserved`, `charged`, `shipped`, `rejected` or `cancelled`.
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

fn place_order(ctx: &Context, req: Request) -> Result<Response> {
    let order: Order = req.json()?;
    check_key("orderId", &order.order_id)?;
    if order.items.is_empty() {
        return Err(Error::bad_request("`items` is empty: an order needs at least one item"));
    }
    for line in &order.items {
        check_key("sku", &line.sku)?;
        if line.qty == 0 {
            return Err(Error::bad_request(format!("the quantity of {} is 0", line.sku)));
        }
    }
    // The order id as idempotency key: the same order again gets the same run.
    let run_id = ctx.runs.start("fulfil", &order, Some(&order.order_id))?;
    ctx.kv.set(ORDER_RUNS, &order.order_id, &run_id)?;
    Ok(Response::json(202, &json!({ "orderId": order.order_id, "runId": run_id })))
}

/// A 400 unless `value` can be a KV key (and so an idempotency key).
fn check_key(field: &str, value: &str) -> Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_.:@-".contains(c);
    if value.is_empty() || value.len() > 255 || !value.chars().all(allowed) {
        return Err(Error::bad_request(format!("`{field}` must be 1 to 255 of A-Z a-z 0-9 _ . : @ -, not {value:?}")));
    }
    Ok(())
}

fn order_status(ctx: &Context, req: Request) -> Result<Response> {
    let id = req.query("id").ok_or_else(|| Error::bad_request("say which order: GET /orders?id=ORDER"))?;
    let run_id: Option<String> = ctx.kv.get_optional(ORDER_RUNS, id)?;
    let mut record = match ctx.kv.get_optional::<Map<String, Value>>(ORDERS, id)? {
        Some(record) => record,
        // Started, but its first step has not committed yet.
        None if run_id.is_some() => {
            Map::from_iter([("orderId".into(), json!(id)), ("status".into(), json!("pending"))])
        }
        None => return Err(Error::not_found(format!("no order {id}"))),
    };
    // The run's own account: its status and how far each step got.
    let run = run_id.as_deref().map(|id| ctx.runs.get(id)).transpose()?;
    record.insert("runId".into(), json!(run_id));
    record.insert("run".into(), json!(run));
    Ok(Response::json(200, &record))
}

#[derive(Deserialize)]
struct Restock {
    sku: String,
    qty: i64,
}

fn restock(ctx: &Context, req: Request) -> Result<Response> {
    let restock: Restock = req.json()?;
    check_key("sku", &restock.sku)?;
    let stock = ctx.kv.increment(STOCK, &restock.sku, restock.qty)?;
    Ok(Response::json(200, &json!({ "sku": restock.sku, "stock": stock })))
}

fn stats(ctx: &Context, _req: Request) -> Result<Response> {
    let stock: Map<String, Value> = match ctx.kv.list_items::<i64>(STOCK) {
        Err(e) if e.status_code() == 404 => Map::new(),
        items => items?.into_iter().map(|item| (item.key, json!(item.value))).collect(),
    };
    let shipped: i64 = ctx.kv.get_optional(STATS, "shipped")?.unwrap_or(0);
    Ok(Response::json(200, &json!({ "stock": stock, "shipped": shipped })))
}

/// The run. The code between steps runs again on every replay, so it only
/// looks at the input and at what steps returned.
fn fulfil(ctx: &RunContext, order: Order) -> Result<Value> {
    let save = |status: &str, receipt: Option<&str>, reason: Option<&str>| {
        let record = Record { order_id: &order.order_id, items: &order.items, status, receipt, reason };
        ctx.kv.set(ORDERS, &order.order_id, &record)
    };

    // Out of stock is permanent: no retries, and the decrements are dropped.
    if let Err(error) = ctx.step("reserve", || {
        for line in &order.items {
            let left = ctx.kv.increment(STOCK, &line.sku, -i64::from(line.qty))?;
            if left < 0 {
                return Err(Error::permanent(format!("out of stock: {} ({} short)", line.sku, -left)));
            }
        }
        Ok(save("reserved", None, None)?)
    }) {
        ctx.step("reject", || Ok(save("rejected", None, Some(error.message()))?))?;
        return Err(error);
    }

    let retry = Retry { attempts: 5, initial: Duration::from_secs(1), factor: 2.0, max: Duration::from_secs(10) };
    let charged = ctx.step_with("charge", retry, || {
        let attempt = ctx.attempt();
        floww::info!("charging order {}, attempt {attempt}", order.order_id);
        if attempt <= order.flaky {
            return Err(Error::new(502, format!("the payment gateway timed out (attempt {attempt})")));
        }
        let receipt = format!("receipt-{}-{attempt}", order.order_id);
        save("charged", Some(&receipt), None)?;
        Ok(receipt)
    });
    let receipt = match charged {
        Ok(receipt) => receipt,
        // Compensate: put the stock back.
        Err(error) => {
            ctx.step("release", || {
                for line in &order.items {
                    ctx.kv.increment(STOCK, &line.sku, i64::from(line.qty))?;
                }
                Ok(save("cancelled", None, Some(error.message()))?)
            })?;
            return Err(error);
        }
    };

    ctx.sleep("cool-off", Duration::from_secs(order.cool_off_secs));

    ctx.step("ship", || {
        ctx.kv.increment(STATS, "shipped", 1)?;
        Ok(save("shipped", Some(&receipt), None)?)
    })?;
    Ok(json!({ "orderId": order.order_id, "shipped": true }))
}
