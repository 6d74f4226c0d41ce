//! POST /batch over HTTP on both stores: each operation answered as its own request would be.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, error_message, status_json};

async fn batch(app: &TestApp, token: &str, operations: Value) -> (StatusCode, Value) {
    let response = app
        .authed(Method::POST, "/batch", token)
        .json(&json!({ "operations": operations }))
        .send()
        .await
        .unwrap();
    status_json(response).await
}

fn statuses(answers: &Value) -> Vec<u64> {
    answers["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_u64().unwrap())
        .collect()
}

async fn descriptions(app: &TestApp, token: &str) -> Vec<String> {
    let (_, body) = status_json(app.list_todos(token, "?limit=1000").await).await;
    body.as_array()
        .unwrap()
        .iter()
        .map(|t| t["description"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn each_operation_is_answered_as_its_own_request_would_be() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let kept = app.create_todo(&token, "kept").await;
    let gone = app.create_todo(&token, "gone").await;
    let (kept, gone) = (kept["uid"].as_str().unwrap(), gone["uid"].as_str().unwrap());
    let queue = json!([
        { "op": "create", "todo": { "description": "made offline" }, "key": "offline-1" },
        { "op": "update", "uid": kept, "changes": { "state": "completed" }, "if_match": "\"1\"" },
        { "op": "update", "uid": kept, "changes": { "description": "lost" }, "if_match": "\"1\"" },
        { "op": "delete", "uid": gone },
        { "op": "delete", "uid": gone },
    ]);
    let (status, answers) = batch(&app, &token, queue.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answers}");
    assert_eq!(statuses(&answers), [201, 200, 412, 204, 404]);
    let results = answers["results"].as_array().unwrap();
    assert_eq!(results[0]["body"]["description"], "made offline");
    assert_eq!(results[0]["etag"], "\"1\"");
    assert_eq!(
        (&results[1]["body"]["state"], &results[1]["etag"]),
        (&json!("completed"), &json!("\"2\""))
    );
    assert_eq!(results[4]["body"]["message"], "Todo not found");
    assert!(results[3].get("body").is_none());
    assert_eq!(descriptions(&app, &token).await, ["kept", "made offline"]);

    // Sent again (the answer was lost): the keyed create is not made twice.
    let (_, again) = batch(&app, &token, json!([queue[0]])).await;
    assert_eq!(statuses(&again), [201]);
    assert_eq!(again["results"][0]["replayed"], true);
    assert_eq!(
        again["results"][0]["body"]["uid"],
        answers["results"][0]["body"]["uid"]
    );
    assert_eq!(descriptions(&app, &token).await, ["kept", "made offline"]);
}

#[tokio::test]
async fn a_batch_is_one_to_a_hundred_operations() {
    let app = TestApp::spawn().await;
    let token = app.user_token("alice").await;
    let create = json!({ "op": "create", "todo": { "description": "x" } });
    for operations in [json!([]), Value::Array(vec![create.clone(); 101])] {
        let (status, body) = batch(&app, &token, operations).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    assert!(
        descriptions(&app, &token).await.is_empty(),
        "nothing was done"
    );
    // An operation that does not read is answered on its own: a queue is not stuck behind it.
    let uid = uuid::Uuid::new_v4();
    let bad = [
        json!({ "op": "rename", "uid": uid }),
        json!({ "op": "create", "todo": { "description": "x" }, "extra": 1 }),
        json!({ "op": "create", "todo": { "description": "" } }),
        json!({ "op": "create", "todo": { "description": "x", "title": true } }),
        json!({ "op": "create", "todo": { "description": "x" }, "key": "" }),
        json!({ "op": "update", "uid": uid, "changes": {} }),
        json!({ "op": "update", "uid": uid, "changes": { "state": "done" } }),
        json!({ "op": "update", "uid": uid, "changes": { "state": "started" }, "if_match": "nonsense" }),
        json!({ "op": "delete", "uid": uid, "if_match": " \"1\"" }),
        json!({ "op": "delete" }),
        json!("create"),
    ];
    let mut operations = bad.to_vec();
    operations.push(create.clone());
    let (status, answers) = batch(&app, &token, Value::Array(operations)).await;
    assert_eq!(status, StatusCode::OK, "{answers}");
    let mut expected = vec![400; bad.len()];
    expected.push(201);
    assert_eq!(statuses(&answers), expected);
    let message = answers["results"][0]["body"]["message"].as_str().unwrap();
    assert!(message.starts_with("invalid operation"), "{message}");
    assert_eq!(descriptions(&app, &token).await, ["x"]);
    let (status, answers) = batch(&app, &token, Value::Array(vec![create; 100])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(statuses(&answers), vec![201; 100]);
    assert_eq!(descriptions(&app, &token).await.len(), 101);
    let anonymous = app
        .request(Method::POST, "/batch")
        .json(&json!({ "operations": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_message(anonymous, StatusCode::UNAUTHORIZED).await,
        "Unauthorized"
    );
}

#[tokio::test]
async fn operations_keep_to_what_the_caller_may_do_in_a_shared_list() {
    let app = TestApp::spawn().await;
    let alice = app.user_token("alice").await;
    let bob = app.user_token("bob").await;
    let made = app
        .authed(Method::POST, "/lists", &alice)
        .json(&json!({ "name": "Shared" }))
        .send()
        .await
        .unwrap();
    let list = status_json(made).await.1["id"].as_str().unwrap().to_owned();
    let shared = app
        .authed(Method::PUT, &format!("/lists/{list}/members/bob"), &alice)
        .json(&json!({ "role": "viewer" }))
        .send()
        .await
        .unwrap();
    assert_eq!(shared.status(), StatusCode::CREATED);
    let alices = app.create_todo(&alice, "private").await;
    let (_, answers) = batch(
        &app,
        &bob,
        json!([
            { "op": "create", "todo": { "description": "x", "list": list } },
            { "op": "delete", "uid": alices["uid"] },
        ]),
    )
    .await;
    assert_eq!(statuses(&answers), [403, 404]);
    assert_eq!(descriptions(&app, &alice).await, ["private"]);
}
