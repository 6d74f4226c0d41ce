//! The DynamoDB requests behind `GET /todos/{uid}` and `GET /todos`, made straight through the
//! SDK with the service's own client settings: the benchmark subtracts these latencies from the
//! service's to get checkoff's overhead per request. Each is also timed with the read of the
//! caller's profile sent beside it, as the service sends it for the revocation check, so the
//! report can tell what that read costs from what the rest of checkoff does.
//!
//! Usage: `sdk_direct TABLE USERNAME UID [COUNT]` with the AWS environment of the service; prints
//! one JSON line of p50/p99 milliseconds (`get_*`, `list_*`, and `get_checked_*`,
//! `list_checked_*` with the profile read).

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

async fn timed<F, Fut>(count: usize, mut call: F) -> (f64, f64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..count / 10 {
        call().await;
    }
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        call().await;
        samples.push(started.elapsed());
    }
    samples.sort();
    (percentile(&samples, 0.5), percentile(&samples, 0.99))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, table, user, uid, rest @ ..] = args.as_slice() else {
        eprintln!("usage: sdk_direct TABLE USERNAME UID [COUNT]");
        std::process::exit(2);
    };
    let count: usize = rest.first().and_then(|c| c.parse().ok()).unwrap_or(2000);
    let client = checkoff::store::dynamodb::client_from_env().await;
    let pk = AttributeValue::S(format!("USER#{user}"));
    let item = |sk: String| {
        client
            .get_item()
            .table_name(table)
            .key("PK", pk.clone())
            .key("SK", AttributeValue::S(sk))
            .consistent_read(true)
            .send()
    };
    let get = || item(format!("TODO#{uid}"));
    let profile = || item("PROFILE".into());
    // A first page as the service reads it: up to 100 items, one more to see if a next follows.
    let list = || {
        client
            .query()
            .table_name(table)
            // The service's own key condition (a range: see `items::starting_with`).
            .key_condition_expression("PK = :pk AND SK BETWEEN :from AND :to")
            .expression_attribute_values(":pk", pk.clone())
            .expression_attribute_values(":from", AttributeValue::S("TODO#".into()))
            .expression_attribute_values(":to", AttributeValue::S("TODO$".into()))
            .consistent_read(true)
            .limit(101)
            .send()
    };

    let get_alone = timed(count, || async {
        get().await.expect("GetItem");
    })
    .await;
    let list_alone = timed(count, || async {
        list().await.expect("Query");
    })
    .await;
    let get_checked = timed(count, || async {
        let (read, checked) = tokio::join!(get(), profile());
        read.expect("GetItem");
        checked.expect("GetItem of the profile");
    })
    .await;
    let list_checked = timed(count, || async {
        let (read, checked) = tokio::join!(list(), profile());
        read.expect("Query");
        checked.expect("GetItem of the profile");
    })
    .await;
    let field = |name: &str, (p50, p99): (f64, f64)| {
        format!("\"{name}_p50_ms\":{p50:.3},\"{name}_p99_ms\":{p99:.3}")
    };
    println!(
        "{{{},{},{},{}}}",
        field("get", get_alone),
        field("list", list_alone),
        field("get_checked", get_checked),
        field("list_checked", list_checked)
    );
}
