//! The DynamoDB requests behind `GET /todos/{uid}` and `GET /todos`, made straight through the
//! SDK with the service's own client settings: the benchmark subtracts these latencies from the
//! service's to get checkoff's overhead per request.
//!
//! Usage: `sdk_direct TABLE USERNAME UID [COUNT]` with the AWS environment of the service; prints
//! one JSON line of p50/p99 milliseconds.

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

    let get = timed(count, || async {
        client
            .get_item()
            .table_name(table)
            .key("PK", pk.clone())
            .key("SK", AttributeValue::S(format!("TODO#{uid}")))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem");
    })
    .await;
    // A first page as the service reads it: up to 100 items, one more to see if a next follows.
    let list = timed(count, || async {
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
            .await
            .expect("Query");
    })
    .await;
    println!(
        "{{\"get_p50_ms\":{:.3},\"get_p99_ms\":{:.3},\"list_p50_ms\":{:.3},\"list_p99_ms\":{:.3}}}",
        get.0, get.1, list.0, list.1
    );
}
