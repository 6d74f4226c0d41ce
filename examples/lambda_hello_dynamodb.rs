//! The minimal Lambda function of `lambda_hello` plus the two DynamoDB requests checkoff's first
//! list makes (the caller's profile, one page of todos), with the same client settings: the
//! benchmark's reference for what DynamoDB itself adds to a cold start. Table: `HELLO_TABLE`.

use aws_sdk_dynamodb::types::AttributeValue;
use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let table = std::env::var("HELLO_TABLE").expect("HELLO_TABLE");
    let client = checkoff::store::dynamodb::client_from_env().await;
    let hello = move || {
        let (client, table) = (client.clone(), table.clone());
        async move {
            {
                let user = AttributeValue::S("USER#bench".into());
                let profile = client
                    .get_item()
                    .table_name(&table)
                    .key("PK", user.clone())
                    .key("SK", AttributeValue::S("PROFILE".into()))
                    .consistent_read(true)
                    .send()
                    .await;
                let todos = client
                    .query()
                    .table_name(&table)
                    .key_condition_expression("PK = :pk AND begins_with(SK, :todo)")
                    .expression_attribute_values(":pk", user)
                    .expression_attribute_values(":todo", AttributeValue::S("TODO#".into()))
                    .limit(101)
                    .consistent_read(true)
                    .send()
                    .await;
                if profile.is_err() || todos.is_err() {
                    return "DynamoDB failed";
                }
            }
            "hello"
        }
    };
    let app = Router::new().route("/hello", get(hello));
    lambda_http::run(app).await
}
