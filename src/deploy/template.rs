//! The SAM template of a stage: the API function (and checkoff's authorizer function where the
//! stage uses it) on `provided.al2023`, a REST API whose routes and their auth come from the
//! route table, the DynamoDB table with its indexes, least-privilege roles, log groups with
//! retention, stage throttling, gateway answers in checkoff's error shape, and outputs.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Map, Value, json};

use crate::api::{RouteSpec, route_specs};
use crate::config::{API_HANDLER, AUTHORIZER_HANDLER, AuthorizerKind, Stage};
use crate::store::dynamodb::layout;

mod pool;

/// A generated template and the facts worth telling the person who asked for it.
pub struct Template {
    /// The template as data, for checks.
    pub document: Value,
    pub yaml: String,
    pub routes: usize,
}

fn sub(text: &str) -> Value {
    json!({ "Fn::Sub": text })
}

fn reference(name: &str) -> Value {
    json!({ "Ref": name })
}

fn arn_of(resource: &str) -> Value {
    json!({ "Fn::GetAtt": [resource, "Arn"] })
}

/// `/todos/{uid}` → `TodosUid`: part of a CloudFormation logical id.
fn id_part(path: &str) -> String {
    path.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn event_name(method: &str, path: &str) -> String {
    let method = id_part(&method.to_ascii_lowercase());
    match id_part(path) {
        p if p.is_empty() => format!("{method}Root"),
        p => format!("{method}{p}"),
    }
}

/// The log group Lambda writes `function`'s logs to, named up front so it can carry a retention
/// and the role can be limited to it.
fn log_group_name(function: &str) -> String {
    format!("/aws/lambda/${{AWS::StackName}}-{function}")
}

/// A role Lambda can take on, allowed to write to its own log group and whatever
/// `statements` add.
fn role(function: &str, statements: Vec<Value>) -> Value {
    let mut all = vec![json!({
        "Effect": "Allow",
        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": arn_of(&format!("{}Logs", id_part(function))),
    })];
    all.extend(statements);
    json!({
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [{
                    "Effect": "Allow",
                    "Principal": { "Service": "lambda.amazonaws.com" },
                    "Action": "sts:AssumeRole",
                }],
            },
            "Policies": [{
                "PolicyName": format!("checkoff-{function}"),
                "PolicyDocument": { "Version": "2012-10-17", "Statement": all },
            }],
        },
    })
}

fn log_group(function: &str, stage: &Stage) -> Value {
    json!({
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {
            "LogGroupName": sub(&log_group_name(function)),
            "RetentionInDays": stage.log_retention_days,
        },
    })
}

/// What the functions may do with data: this table and its indexes, this parameter.
fn data_statements(actions: &[&str]) -> Vec<Value> {
    vec![
        json!({
            "Effect": "Allow",
            "Action": actions.iter().map(|a| format!("dynamodb:{a}")).collect::<Vec<_>>(),
            "Resource": [
                sub("arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}"),
                sub("arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}/index/*"),
            ],
        }),
        json!({
            "Effect": "Allow",
            "Action": ["ssm:GetParameter"],
            "Resource": sub(
                "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${JwtSecretParameter}"
            ),
        }),
    ]
}

fn function(
    name: &str,
    handler: &str,
    code: &Path,
    stage: &Stage,
    environment: Map<String, Value>,
    events: Option<Map<String, Value>>,
) -> Value {
    let mut properties = json!({
        "FunctionName": sub(&format!("${{AWS::StackName}}-{name}")),
        "CodeUri": code.display().to_string(),
        "Handler": handler,
        "Runtime": "provided.al2023",
        "Architectures": [stage.architecture.as_str()],
        "MemorySize": stage.memory_mb,
        "Timeout": stage.timeout_s,
        "Role": arn_of(&format!("{}Role", id_part(name))),
        "Environment": { "Variables": environment },
    });
    if let Some(events) = events {
        properties["Events"] = Value::Object(events);
    }
    json!({
        "Type": "AWS::Serverless::Function",
        "DependsOn": [format!("{}Logs", id_part(name))],
        "Properties": properties,
    })
}

/// The gateway's own answers (no route, a refused token, …) in checkoff's error shape, with
/// the CORS headers a browser needs to read them.
fn gateway_responses(cors_origins: &[String], kind: AuthorizerKind) -> Value {
    let mut headers = Map::new();
    match cors_origins {
        [] => {}
        [one] => {
            headers.insert(
                "Access-Control-Allow-Origin".into(),
                json!(format!("'{one}'")),
            );
        }
        // Several origins: the gateway cannot choose among them, so an error answer names the
        // caller's own; it carries no data.
        _ => {
            headers.insert(
                "Access-Control-Allow-Origin".into(),
                json!("method.request.header.Origin"),
            );
            headers.insert("Vary".into(), json!("'Origin'"));
        }
    }
    // No status for the DEFAULT_ answers: the gateway keeps the one of the actual failure.
    let answer = |status: Option<u16>, message: &str| {
        let mut response = json!({
            "ResponseTemplates": {
                "application/json": json!({ "message": message }).to_string(),
            },
        });
        if let Some(status) = status {
            response["StatusCode"] = json!(status.to_string());
        }
        if !headers.is_empty() {
            response["ResponseParameters"] = json!({ "Headers": headers });
        }
        response
    };
    // Without a route API Gateway answers "missing authentication token"; behind IAM an unsigned
    // request to a real route gets the same answer, and for those callers it means 401.
    let missing = match kind {
        AuthorizerKind::Iam => answer(Some(401), "Unauthorized"),
        _ => answer(Some(404), "Not found"),
    };
    json!({
        "UNAUTHORIZED": answer(Some(401), "Unauthorized"),
        "INVALID_SIGNATURE": answer(Some(401), "Unauthorized"),
        "ACCESS_DENIED": answer(Some(403), "User is not authorized to access this resource"),
        "MISSING_AUTHENTICATION_TOKEN": missing,
        "REQUEST_TOO_LARGE": answer(Some(413), "Request body is larger than 64 KiB"),
        "THROTTLED": answer(Some(429), "Too many requests; try again later"),
        "DEFAULT_4XX": answer(None, "Bad request"),
        "DEFAULT_5XX": answer(None, "Service temporarily unavailable; try again"),
    })
}

/// The Api's `Auth` for the stage's authorizer kind.
fn api_auth(stage: &Stage) -> Value {
    let auth = &stage.authorizer;
    let (name, definition) = match auth.kind {
        // No gateway authorizer; SAM still needs an Auth block to write the gateway answers.
        AuthorizerKind::Builtin => {
            return json!({ "AddDefaultAuthorizerToCorsPreflight": false });
        }
        AuthorizerKind::Iam => {
            // InvokeRole NONE: API Gateway calls the function as itself, not as the caller.
            return json!({
                "DefaultAuthorizer": "AWS_IAM",
                "InvokeRole": "NONE",
                "AddDefaultAuthorizerToCorsPreflight": false,
            });
        }
        AuthorizerKind::Lambda => (
            "CheckoffAuthorizer",
            json!({
                "FunctionArn": arn_of("AuthorizerFunction"),
                "FunctionPayloadType": "TOKEN",
                "Identity": { "Header": "Authorization", "ReauthorizeEvery": 300 },
            }),
        ),
        AuthorizerKind::Custom => (
            "CustomAuthorizer",
            json!({
                "FunctionArn": auth.function_arn.clone().unwrap_or_default(),
                "FunctionPayloadType": "TOKEN",
                "Identity": { "Header": "Authorization", "ReauthorizeEvery": 300 },
            }),
        ),
        AuthorizerKind::Cognito => (
            "CognitoAuthorizer",
            match &auth.user_pool_arn {
                // Someone else's pool: its ID tokens, as API Gateway takes them without scopes.
                Some(arn) => {
                    json!({ "UserPoolArn": arn, "Identity": { "Header": "Authorization" } })
                }
                // The stack's pool: access tokens, which is what they are for. Both kinds a
                // person can get carry one of these scopes: the hosted page's (`openid`) and
                // `initiate-auth`'s (`aws.cognito.signin.user.admin`).
                None => json!({
                    "UserPoolArn": arn_of(pool::USER_POOL),
                    "Identity": { "Header": "Authorization" },
                    "AuthorizationScopes": pool::API_SCOPES,
                }),
            },
        ),
    };
    json!({
        "DefaultAuthorizer": name,
        "AddDefaultAuthorizerToCorsPreflight": false,
        "Authorizers": { name: definition },
    })
}

/// One Api event per route, public ones exempt from the default authorizer; with CORS, an
/// OPTIONS event per path so the function answers preflights for exactly its origins.
fn api_events(routes: &[RouteSpec], stage: &Stage) -> Map<String, Value> {
    let gateway_auth = stage.authorizer.kind.is_gateway();
    let mut events = Map::new();
    let mut add = |method: &str, path: &str, public: bool| {
        let mut properties = json!({
            "RestApiId": reference("Api"),
            "Path": path,
            "Method": method,
        });
        if public && gateway_auth {
            properties["Auth"] = json!({ "Authorizer": "NONE" });
        }
        events.insert(
            event_name(method, path),
            json!({ "Type": "Api", "Properties": properties }),
        );
    };
    for route in routes {
        add(&route.method, &route.path, !route.protected);
    }
    if !stage.cors_origins.is_empty() {
        let paths: BTreeSet<&str> = routes.iter().map(|r| r.path.as_str()).collect();
        for path in paths {
            add("OPTIONS", path, true);
        }
    }
    events
}

/// The table, made by the stack unless `CreateTable` is `false` (it exists already: made by
/// `checkoff resources create`, or kept from an earlier stack, as the stack never deletes it).
fn table() -> Value {
    let key = |attribute: &str, kind: &str| json!({ "AttributeName": attribute, "KeyType": kind });
    json!({
        "Type": "AWS::DynamoDB::Table",
        "Condition": "CreateTable",
        // The data outlives the stack: deleting or replacing the stack never deletes todos.
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "TableName": reference("TableName"),
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": layout::KEY_ATTRIBUTES
                .iter()
                .map(|a| json!({ "AttributeName": a, "AttributeType": "S" }))
                .collect::<Vec<_>>(),
            "KeySchema": [key(layout::PK, "HASH"), key(layout::SK, "RANGE")],
            "GlobalSecondaryIndexes": [{
                "IndexName": layout::GSI1,
                "KeySchema": [key(layout::GSI1PK, "HASH"), key(layout::GSI1SK, "RANGE")],
                "Projection": { "ProjectionType": "ALL" },
            }],
            "LocalSecondaryIndexes": [{
                "IndexName": layout::LSI1,
                "KeySchema": [key(layout::PK, "HASH"), key(layout::LSI1SK, "RANGE")],
                "Projection": { "ProjectionType": "ALL" },
            }],
            "PointInTimeRecoverySpecification": { "PointInTimeRecoveryEnabled": true },
            "SSESpecification": { "SSEEnabled": true },
            "TimeToLiveSpecification": { "AttributeName": layout::EXPIRES, "Enabled": true },
        },
    })
}

/// The template of stage `name`, with the functions' code at `code` (the zip `cargo lambda
/// build` makes).
pub fn template(
    name: &str,
    stage: &Stage,
    table_name: &str,
    secret_param: &str,
    code: &Path,
) -> Template {
    let routes = route_specs();
    let environment = environment(stage);
    let mut resources = functions(stage, code, environment, &routes);
    resources.insert("Table".into(), table());
    resources.insert("Api".into(), api(name, stage));
    if stage.authorizer.makes_pool() {
        resources.extend(pool::resources(name, stage));
    }
    let document = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": format!("checkoff, stage {name}: the Todo API on AWS Lambda, API Gateway and DynamoDB"),
        "Parameters": parameters(table_name, secret_param),
        "Conditions": {
            "CreateTable": { "Fn::Equals": [reference("CreateTable"), "true"] },
        },
        "Resources": resources,
        "Outputs": outputs(name, stage),
    });
    let body = super::yaml::to_yaml(&document);
    Template {
        yaml: format!(
            "# Generated by `checkoff package --stage {name}` from the route table and checkoff.toml.\n# Edit those and generate it again rather than editing this file.\n{body}"
        ),
        routes: routes.len(),
        document,
    }
}

/// The functions' environment: what the Lambda entry reads (under Lambda only the environment
/// counts), from the stage.
pub fn environment(stage: &Stage) -> Map<String, Value> {
    let mut environment = Map::new();
    let mut set = |key: &str, value: Value| {
        environment.insert(key.into(), value);
    };
    set("CHECKOFF_STORE", json!("dynamodb"));
    set("CHECKOFF_TABLE", reference("TableName"));
    // Inside the function's own timeout, so a slow store gets a 503 rather than a killed call.
    let request_timeout = stage.timeout_s.saturating_sub(1).max(1);
    set(
        "CHECKOFF_REQUEST_TIMEOUT",
        json!(format!("{request_timeout}s")),
    );
    set("CHECKOFF_JWT_SECRET_PARAM", reference("JwtSecretParameter"));
    let auth = &stage.authorizer;
    set("CHECKOFF_AUTHORIZER", json!(auth.kind.as_str()));
    let texts = [
        ("CHECKOFF_IDENTITY_CLAIM", auth.claim.clone()),
        ("CHECKOFF_OIDC_ISSUER", auth.oidc_issuer.clone()),
        ("CHECKOFF_OIDC_AUDIENCE", auth.oidc_audience.clone()),
        ("CHECKOFF_OIDC_CLAIM", auth.oidc_claim.clone()),
        ("CHECKOFF_OIDC_JWKS_URL", auth.oidc_jwks_url.clone()),
        (
            "CHECKOFF_TOKEN_TTL",
            stage.token_ttl.as_ref().map(|t| t.as_str().to_owned()),
        ),
        (
            "CHECKOFF_SESSION_TTL",
            stage.session_ttl.as_ref().map(|t| t.as_str().to_owned()),
        ),
        (
            "CHECKOFF_QUOTA_TODOS",
            stage.quota_todos.map(|n| n.to_string()),
        ),
        ("CHECKOFF_QUOTA_BYTES", stage.quota_bytes.clone()),
        (
            "CHECKOFF_WRITE_RATE",
            stage.write_rate.map(|n| n.to_string()),
        ),
        (
            "CHECKOFF_SIGNUP",
            stage.signup.map(|s| s.as_str().to_owned()),
        ),
        (
            "CHECKOFF_CORS_ORIGINS",
            (!stage.cors_origins.is_empty()).then(|| stage.cors_origins.join(",")),
        ),
    ];
    for (key, value) in texts {
        if let Some(value) = value {
            set(key, json!(value));
        }
    }
    set("RUST_LOG", json!("info"));
    environment
}

/// The API function, and checkoff's authorizer function when the stage has it: each with its
/// role (only this table, only what it does) and its log group.
fn functions(
    stage: &Stage,
    code: &Path,
    environment: Map<String, Value>,
    routes: &[RouteSpec],
) -> Map<String, Value> {
    let mut resources = Map::new();
    let api_actions = [
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "BatchWriteItem",
        "ConditionCheckItem",
        "DescribeTable",
    ];
    resources.insert("ApiRole".into(), role("api", data_statements(&api_actions)));
    resources.insert("ApiLogs".into(), log_group("api", stage));
    let events = Some(api_events(routes, stage));
    let api = function("api", API_HANDLER, code, stage, environment.clone(), events);
    resources.insert("ApiFunction".into(), api);
    if stage.authorizer.kind == AuthorizerKind::Lambda {
        // The token check reads only profiles.
        let role = role("authorizer", data_statements(&["GetItem"]));
        resources.insert("AuthorizerRole".into(), role);
        resources.insert("AuthorizerLogs".into(), log_group("authorizer", stage));
        let authorizer = function(
            "authorizer",
            AUTHORIZER_HANDLER,
            code,
            stage,
            environment,
            None,
        );
        resources.insert("AuthorizerFunction".into(), authorizer);
    }
    resources
}

fn api(name: &str, stage: &Stage) -> Value {
    let mut api = json!({
        "Type": "AWS::Serverless::Api",
        "Properties": {
            "Name": sub("${AWS::StackName}"),
            "StageName": name,
            "OpenApiVersion": "3.0.1",
            "EndpointConfiguration": { "Type": "REGIONAL" },
            "MethodSettings": [{
                "ResourcePath": "/*",
                "HttpMethod": "*",
                "ThrottlingRateLimit": stage.throttle_rate,
                "ThrottlingBurstLimit": stage.throttle_burst,
            }],
            "GatewayResponses": gateway_responses(&stage.cors_origins, stage.authorizer.kind),
            "Auth": api_auth(stage),
        },
    });
    if stage.authorizer.makes_pool() {
        api["Properties"]["Variables"] = pool::stage_variables();
    }
    api
}

fn parameters(table_name: &str, secret_param: &str) -> Value {
    json!({
        "TableName": {
            "Type": "String",
            "Default": table_name,
            "AllowedPattern": "^[A-Za-z0-9_.\\-]{3,255}$",
            "Description": "The DynamoDB table of the stage",
        },
        "CreateTable": {
            "Type": "String",
            "Default": "true",
            "AllowedValues": ["true", "false"],
            "Description": "false when the table exists already (checkoff resources create made it, or an earlier stack left it)",
        },
        "JwtSecretParameter": {
            "Type": "String",
            "Default": secret_param,
            "AllowedPattern": "^/[A-Za-z0-9_.\\-/]+$",
            "Description": "SSM SecureString parameter holding the JWT secret (checkoff resources create --only secret makes it)",
        },
    })
}

/// Where stage `name` answers, its web app included.
fn api_url(name: &str) -> Value {
    sub(&format!(
        "https://${{Api}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{name}/"
    ))
}

fn outputs(name: &str, stage: &Stage) -> Value {
    let kind = stage.authorizer.kind;
    let mut outputs = json!({
        "ApiUrl": {
            "Description": if stage.authorizer.makes_pool() {
                "The API's address and its web app: open it, or GET {ApiUrl}todos with a token of the pool"
            } else {
                "The API's address: POST {ApiUrl}login, then GET {ApiUrl}todos"
            },
            "Value": api_url(name),
        },
        "TableName": { "Description": "The DynamoDB table", "Value": reference("TableName") },
        "ApiFunctionArn": { "Description": "The API function", "Value": arn_of("ApiFunction") },
    });
    if kind == AuthorizerKind::Lambda {
        outputs["AuthorizerFunctionArn"] = json!({ "Description": "The authorizer function", "Value": arn_of("AuthorizerFunction") });
    }
    if stage.authorizer.makes_pool()
        && let (Some(all), Value::Object(more)) = (outputs.as_object_mut(), pool::outputs())
    {
        all.extend(more);
    }
    outputs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logical_ids_come_from_method_and_path() {
        assert_eq!(event_name("GET", "/todos/{uid}"), "GetTodosUid");
        assert_eq!(event_name("POST", "/login"), "PostLogin");
        assert_eq!(event_name("GET", "/openapi.json"), "GetOpenapiJson");
        assert_eq!(event_name("GET", "/"), "GetRoot");
    }

    #[test]
    fn a_stages_oidc_issuer_reaches_both_functions_environment() {
        let mut stage = Stage::default();
        stage.authorizer.kind = AuthorizerKind::Lambda;
        stage.authorizer.oidc_issuer = Some("https://idp.example.com".into());
        stage.authorizer.oidc_audience = Some("client".into());
        let t = template("dev", &stage, "checkoff-dev", "/p", Path::new("code"));
        for function in ["ApiFunction", "AuthorizerFunction"] {
            let env = &t.document["Resources"][function]["Properties"]["Environment"]["Variables"];
            assert_eq!(
                env["CHECKOFF_OIDC_ISSUER"], "https://idp.example.com",
                "{function}"
            );
            assert_eq!(env["CHECKOFF_OIDC_AUDIENCE"], "client", "{function}");
            assert!(env.get("CHECKOFF_OIDC_CLAIM").is_none(), "{function}");
        }
    }
}
